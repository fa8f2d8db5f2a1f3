//! The policy syntax tree — operators and expressions — and its canonical S-expression text.
//!
//! `Display` for [`Expr`] prints the canonical form: single spaces between items, strings with
//! the four escapes (`\"`, `\\`, `\n`, `\t`), floats always with a decimal point. Parsing the
//! printed text gives back the same tree.

use std::collections::BTreeSet;
use std::fmt;

/// An operator: the word right after `(` in a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// `and`: true if every argument is true (true with no arguments).
    And,
    /// `or`: true if any argument is true (false with no arguments).
    Or,
    /// `not`: negates its one argument.
    Not,
    /// `if`: `(if cond then else)`.
    If,
    /// `=`: equality (strings compare with the canonical text of booleans and numbers).
    Eq,
    /// `!=`: inequality, the negation of `=`.
    Ne,
    /// `<`: numbers numerically, strings lexicographically.
    Lt,
    /// `>`: numbers numerically, strings lexicographically.
    Gt,
    /// `member?`: `(member? element list)`.
    Member,
    /// `exists?`: true if every identifier argument is defined in the environment.
    Exists,
}

/// How many arguments an operator accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// Exactly this many.
    Exactly(usize),
    /// This many or more.
    AtLeast(usize),
}

impl Arity {
    /// Whether `n` arguments are acceptable.
    pub fn accepts(self, n: usize) -> bool {
        match self {
            Arity::Exactly(k) => n == k,
            Arity::AtLeast(k) => n >= k,
        }
    }
}

impl fmt::Display for Arity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (prefix, n) = match *self {
            Arity::Exactly(n) => ("", n),
            Arity::AtLeast(n) => ("at least ", n),
        };
        let noun = if n == 1 { "argument" } else { "arguments" };
        write!(f, "{prefix}{n} {noun}")
    }
}

impl Op {
    /// Every operator, in the order error messages list them.
    pub const ALL: [Op; 10] = [
        Op::And,
        Op::Or,
        Op::Not,
        Op::If,
        Op::Eq,
        Op::Ne,
        Op::Lt,
        Op::Gt,
        Op::Member,
        Op::Exists,
    ];

    /// The operator's spelling in policy text.
    pub fn name(self) -> &'static str {
        match self {
            Op::And => "and",
            Op::Or => "or",
            Op::Not => "not",
            Op::If => "if",
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Gt => ">",
            Op::Member => "member?",
            Op::Exists => "exists?",
        }
    }

    /// The operator spelled `name`, if any.
    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.name() == name)
    }

    /// How many arguments the operator takes.
    pub fn arity(self) -> Arity {
        match self {
            Op::And | Op::Or => Arity::AtLeast(0),
            Op::Not => Arity::Exactly(1),
            Op::If => Arity::Exactly(3),
            Op::Eq | Op::Ne | Op::Lt | Op::Gt | Op::Member => Arity::Exactly(2),
            Op::Exists => Arity::AtLeast(1),
        }
    }

    /// The known operators as a comma-separated list, for error messages.
    pub(crate) fn known_list() -> String {
        Op::ALL.map(Op::name).join(", ")
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A policy expression.
///
/// Trees built by the parsers always satisfy the language rules (valid identifiers, finite
/// floats, operator arities, `exists?` arguments are identifiers, nesting within
/// [`crate::MAX_DEPTH`]); hand-built trees that break them may not print as parseable text.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A string literal.
    Str(String),
    /// An integer literal.
    Int(i64),
    /// A float literal (always finite when parsed).
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// A name looked up in the environment, e.g. `subject.team`.
    Ident(String),
    /// A list literal `[e1 e2 ...]`.
    List(Vec<Expr>),
    /// An operator applied to arguments: `(op a b ...)`.
    Call(Op, Vec<Expr>),
}

impl Expr {
    /// Nesting depth: the largest number of enclosing `(`/`[` around any part of the printed
    /// form (a literal or identifier is 0, `(= a "b")` is 1).
    pub fn depth(&self) -> usize {
        match self {
            Expr::List(items) | Expr::Call(_, items) => {
                1 + items.iter().map(Expr::depth).max().unwrap_or(0)
            }
            _ => 0,
        }
    }

    /// Adds every identifier the expression mentions to `out`.
    pub(crate) fn collect_identifiers<'a>(&'a self, out: &mut BTreeSet<&'a str>) {
        match self {
            Expr::Ident(name) => {
                out.insert(name);
            }
            Expr::List(items) | Expr::Call(_, items) => {
                for item in items {
                    item.collect_identifiers(out);
                }
            }
            _ => {}
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Str(s) => write_string(f, s),
            Expr::Int(i) => write!(f, "{i}"),
            Expr::Float(x) => f.write_str(&format_float(*x)),
            Expr::Bool(b) => write!(f, "{b}"),
            Expr::Ident(name) => f.write_str(name),
            Expr::List(items) => {
                f.write_str("[")?;
                write_spaced(f, items)?;
                f.write_str("]")
            }
            Expr::Call(op, args) => {
                write!(f, "({op}")?;
                if !args.is_empty() {
                    f.write_str(" ")?;
                    write_spaced(f, args)?;
                }
                f.write_str(")")
            }
        }
    }
}

fn write_spaced<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

/// Writes `s` as a quoted string literal with the language's escapes.
pub(crate) fn write_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

/// The canonical text of a float: the shortest digits that round-trip, never in exponent
/// notation, always with a decimal point (`2.0`, `-0.5`). Non-finite values print as Rust does
/// (`inf`, `NaN`); the parser never produces them.
pub(crate) fn format_float(x: f64) -> String {
    let mut s = x.to_string();
    if x.is_finite() && !s.contains('.') {
        s.push_str(".0");
    }
    s
}

/// Words that look like identifiers but are not: the boolean literals and the operators whose
/// names are made of identifier characters.
pub(crate) const RESERVED_WORDS: [&str; 6] = ["true", "false", "and", "or", "not", "if"];

/// Whether `c` may start an identifier (an ASCII letter or `_`).
pub(crate) fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

/// Whether `c` may appear in an identifier after the first character.
pub(crate) fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':')
}

/// Whether `name` is a valid identifier: ASCII letters, digits, `.`, `-`, `_` and `:`, starting
/// with a letter or `_`, and not one of the reserved words (`true`, `false`, `and`, `or`, `not`,
/// `if`).
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(is_ident_start)
        && chars.all(is_ident_char)
        && !RESERVED_WORDS.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_names_round_trip() {
        for op in Op::ALL {
            assert_eq!(Op::from_name(op.name()), Some(op));
        }
        assert_eq!(Op::from_name("nand"), None);
        assert_eq!(
            Op::known_list(),
            "and, or, not, if, =, !=, <, >, member?, exists?"
        );
    }

    #[test]
    fn arity_wording() {
        assert_eq!(Arity::Exactly(1).to_string(), "1 argument");
        assert_eq!(Arity::Exactly(3).to_string(), "3 arguments");
        assert_eq!(Arity::AtLeast(1).to_string(), "at least 1 argument");
        assert!(Arity::AtLeast(0).accepts(0));
        assert!(!Arity::Exactly(2).accepts(3));
    }

    #[test]
    fn identifiers() {
        for ok in [
            "subject.mongodb-inlet",
            "_x",
            "a:b",
            "resource.name",
            "subject.if",
        ] {
            assert!(is_identifier(ok), "{ok}");
        }
        for bad in ["", "1a", "-a", ".a", "a b", "a!", "é", "true", "and", "if"] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn floats_always_have_a_point() {
        assert_eq!(format_float(2.0), "2.0");
        assert_eq!(format_float(-0.0), "-0.0");
        assert_eq!(format_float(1.5), "1.5");
        assert_eq!(format_float(1e300).parse::<f64>().ok(), Some(1e300));
        assert!(!format_float(1e-300).contains('e'));
    }

    #[test]
    fn canonical_display() {
        let e = Expr::Call(
            Op::And,
            vec![
                Expr::Call(Op::And, vec![]),
                Expr::List(vec![
                    Expr::Str("a\"b\\c\nd\te".into()),
                    Expr::Int(-3),
                    Expr::Float(1.0),
                    Expr::Bool(false),
                ]),
                Expr::List(vec![]),
                Expr::Ident("subject.x".into()),
            ],
        );
        assert_eq!(
            e.to_string(),
            r#"(and (and) ["a\"b\\c\nd\te" -3 1.0 false] [] subject.x)"#
        );
        assert_eq!(e.depth(), 2);
        assert_eq!(Expr::Int(1).depth(), 0);
    }
}
