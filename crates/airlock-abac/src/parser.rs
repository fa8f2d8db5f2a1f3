//! The S-expression policy parser: tokens to a checked [`Expr`], with positioned, helpful errors.
//!
//! Recursion is bounded by [`MAX_DEPTH`] (every level is an opening `(` or `[`), and the input
//! length by [`MAX_INPUT_LEN`], so hostile input cannot exhaust the stack or take long.

use crate::ast::{is_ident_char, is_ident_start, Expr, Op, RESERVED_WORDS};
use crate::error::{ParseError, Pos};
use crate::lexer::{show_char, snippet, Lexer, Tok, Token};
use crate::{MAX_DEPTH, MAX_INPUT_LEN};

/// Rejects text longer than [`MAX_INPUT_LEN`] bytes.
pub(crate) fn check_len(src: &str) -> Result<(), ParseError> {
    if src.len() > MAX_INPUT_LEN {
        return Err(ParseError::at(
            Pos::START,
            format!(
                "policy is too long: {} bytes (the limit is {MAX_INPUT_LEN})",
                src.len()
            ),
        ));
    }
    Ok(())
}

/// The error for an opening bracket that goes past [`MAX_DEPTH`].
pub(crate) fn too_deep(pos: Pos) -> ParseError {
    ParseError::at(
        pos,
        format!("nesting too deep: more than {MAX_DEPTH} levels of parentheses and brackets"),
    )
}

/// Parses one S-expression policy.
pub(crate) fn parse(src: &str) -> Result<Expr, ParseError> {
    check_len(src)?;
    let mut p = Parser {
        lexer: Lexer::new(src),
    };
    let first = p.lexer.next_token()?;
    if first.tok == Tok::Eof {
        return Err(ParseError::at(
            first.pos,
            "empty expression: expected a policy such as (= subject.name \"value\")",
        ));
    }
    let expr = p.expr(first, 0)?;
    let next = p.lexer.next_token()?;
    match next.tok {
        Tok::Eof => Ok(expr),
        Tok::RParen => Err(ParseError::at(
            next.pos,
            "unexpected ')' with no matching '(' (trailing input after the policy)",
        )),
        other => Err(ParseError::at(
            next.pos,
            format!(
                "trailing input after the end of the policy: found {}; a policy is a single \
                 expression (combine several with (and ...))",
                other.describe()
            ),
        )),
    }
}

struct Parser<'a> {
    lexer: Lexer<'a>,
}

impl Parser<'_> {
    /// The expression starting with `token`, which sits inside `depth` open brackets.
    fn expr(&mut self, token: Token, depth: usize) -> Result<Expr, ParseError> {
        let pos = token.pos;
        match token.tok {
            Tok::LParen | Tok::LBracket if depth >= MAX_DEPTH => Err(too_deep(pos)),
            Tok::LParen => self.call(pos, depth + 1),
            Tok::LBracket => self.list(pos, depth + 1),
            Tok::Str(s) => Ok(Expr::Str(s)),
            Tok::Atom(a) => atom(&a, pos),
            Tok::RParen => Err(ParseError::at(pos, "unexpected ')' with no matching '('")),
            Tok::RBracket => Err(ParseError::at(pos, "unexpected ']' with no matching '['")),
            Tok::Eof => Err(ParseError::at(
                pos,
                "unexpected end of input: expected an expression",
            )),
        }
    }

    /// `( op args... )`; the `(` at `open` has been consumed.
    fn call(&mut self, open: Pos, depth: usize) -> Result<Expr, ParseError> {
        let head = self.lexer.next_token()?;
        let op = match &head.tok {
            Tok::Atom(name) => match Op::from_name(name) {
                Some(op) => op,
                None => {
                    return Err(ParseError::at(
                        head.pos,
                        format!(
                            "unknown operator '{}'; known operators: {}{}",
                            snippet(name),
                            Op::known_list(),
                            hint(name)
                        ),
                    ))
                }
            },
            Tok::RParen => {
                return Err(ParseError::at(
                    open,
                    format!(
                        "empty expression '()': expected an operator after '(' (one of {})",
                        Op::known_list()
                    ),
                ))
            }
            other => {
                return Err(ParseError::at(
                    head.pos,
                    format!(
                        "expected an operator after '(', found {}; known operators: {}",
                        other.describe(),
                        Op::known_list()
                    ),
                ))
            }
        };
        let mut args = Vec::new();
        loop {
            let t = self.lexer.next_token()?;
            match t.tok {
                Tok::RParen => break,
                Tok::Eof => {
                    return Err(ParseError::at(
                        t.pos,
                        format!("expected ')' to close '(' opened at {open}"),
                    ))
                }
                Tok::RBracket => {
                    return Err(ParseError::at(
                        t.pos,
                        format!("expected ')' to close '(' opened at {open}, found ']'"),
                    ))
                }
                _ => {
                    let pos = t.pos;
                    args.push((self.expr(t, depth)?, pos));
                }
            }
        }
        let arity = op.arity();
        if !arity.accepts(args.len()) {
            return Err(ParseError::at(
                head.pos,
                format!("'{op}' takes {arity}, got {}", args.len()),
            ));
        }
        if op == Op::Exists {
            if let Some((arg, pos)) = args.iter().find(|(a, _)| !matches!(a, Expr::Ident(_))) {
                return Err(ParseError::at(
                    *pos,
                    format!(
                        "'exists?' takes only identifiers (like subject.team), got {}",
                        describe_expr(arg)
                    ),
                ));
            }
        }
        Ok(Expr::Call(op, args.into_iter().map(|(a, _)| a).collect()))
    }

    /// `[ items... ]`; the `[` at `open` has been consumed.
    fn list(&mut self, open: Pos, depth: usize) -> Result<Expr, ParseError> {
        let mut items = Vec::new();
        loop {
            let t = self.lexer.next_token()?;
            match t.tok {
                Tok::RBracket => return Ok(Expr::List(items)),
                Tok::Eof => {
                    return Err(ParseError::at(
                        t.pos,
                        format!("expected ']' to close '[' opened at {open}"),
                    ))
                }
                Tok::RParen => {
                    return Err(ParseError::at(
                        t.pos,
                        format!("expected ']' to close '[' opened at {open}, found ')'"),
                    ))
                }
                _ => items.push(self.expr(t, depth)?),
            }
        }
    }
}

/// How an argument is described in an error message.
fn describe_expr(e: &Expr) -> &'static str {
    match e {
        Expr::Str(_) => "a string",
        Expr::Int(_) | Expr::Float(_) => "a number",
        Expr::Bool(_) => "a boolean",
        Expr::Ident(_) => "an identifier",
        Expr::List(_) => "a list",
        Expr::Call(..) => "an expression",
    }
}

/// A suggestion appended to the unknown-operator message, for common near-misses.
fn hint(name: &str) -> String {
    let suggestion = match name {
        "==" | "eq" | "equal" | "equals" => "=",
        "<>" | "ne" | "neq" | "not=" | "/=" => "!=",
        "&&" | "&" | "all" => "and",
        "||" | "|" | "any" => "or",
        "!" => "not",
        "member" | "in" | "contains" | "member-of" | "includes" => "member?",
        "exists" | "defined?" | "bound?" | "has" | "has?" => "exists?",
        "<=" => return "; there is no '<=': write (not (> a b))".into(),
        ">=" => return "; there is no '>=': write (not (< a b))".into(),
        other => match Op::from_name(&other.to_ascii_lowercase()) {
            Some(op) => op.name(),
            None => return String::new(),
        },
    };
    format!("; did you mean '{suggestion}'?")
}

/// A bare atom outside operator position: a number, boolean or identifier.
fn atom(a: &str, pos: Pos) -> Result<Expr, ParseError> {
    match a {
        "true" => return Ok(Expr::Bool(true)),
        "false" => return Ok(Expr::Bool(false)),
        _ => {}
    }
    let mut chars = a.chars();
    let first = chars.next();
    let second = chars.next();
    if first.is_some_and(|c| c.is_ascii_digit())
        || (first == Some('-') && second.is_some_and(|c| c.is_ascii_digit()))
    {
        return number(a, pos);
    }
    if Op::from_name(a).is_some() || RESERVED_WORDS.contains(&a) {
        return Err(ParseError::at(
            pos,
            format!("'{a}' is an operator; operators go right after '(', as in ({a} ...)"),
        ));
    }
    match first {
        Some(c) if is_ident_start(c) => {}
        Some('\'') => {
            return Err(ParseError::at(
                pos,
                format!(
                    "invalid identifier '{}': strings use double quotes",
                    snippet(a)
                ),
            ))
        }
        _ => {
            return Err(ParseError::at(
                pos,
                format!(
                    "invalid identifier '{}': identifiers start with a letter or '_'",
                    snippet(a)
                ),
            ))
        }
    }
    if let Some((i, c)) = a.chars().enumerate().find(|&(_, c)| !is_ident_char(c)) {
        return Err(ParseError::at(
            Pos {
                line: pos.line,
                column: pos.column + i,
            },
            format!(
                "invalid character '{}' in identifier '{}' (identifiers use letters, digits, \
                 '.', '-', '_' and ':')",
                show_char(c),
                snippet(a)
            ),
        ));
    }
    Ok(Expr::Ident(a.to_owned()))
}

/// A number atom: `-?[0-9]+(\.[0-9]+)?`, an `i64` without a point and a finite `f64` with one.
fn number(a: &str, pos: Pos) -> Result<Expr, ParseError> {
    let digits = a.strip_prefix('-').unwrap_or(a);
    let (int_part, frac_part) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let frac_ok = match frac_part {
        Some(f) => all_digits(f),
        None => true,
    };
    if !all_digits(int_part) || !frac_ok {
        return Err(ParseError::at(
            pos,
            format!(
                "invalid number '{}' (numbers look like 42, -3 or 1.5)",
                snippet(a)
            ),
        ));
    }
    if frac_part.is_none() {
        return a.parse::<i64>().map(Expr::Int).map_err(|_| {
            ParseError::at(
                pos,
                format!(
                    "integer '{}' is out of range (integers are 64-bit; add '.0' for a float)",
                    snippet(a)
                ),
            )
        });
    }
    match a.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(Expr::Float(x)),
        _ => Err(ParseError::at(
            pos,
            format!("number '{}' is out of range", snippet(a)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> (usize, usize, String) {
        match parse(src) {
            Ok(e) => panic!("{src:?} parsed as {e}"),
            Err(e) => (e.line, e.column, e.message),
        }
    }

    fn ok(src: &str) -> Expr {
        match parse(src) {
            Ok(e) => e,
            Err(e) => panic!("{src:?}: {e}"),
        }
    }

    fn s(x: &str) -> Expr {
        Expr::Str(x.into())
    }

    fn id(x: &str) -> Expr {
        Expr::Ident(x.into())
    }

    #[test]
    fn literals() {
        assert_eq!(ok("\"a b\""), s("a b"));
        assert_eq!(ok(r#""q\"\\\n\t""#), s("q\"\\\n\t"));
        assert_eq!(ok("42"), Expr::Int(42));
        assert_eq!(ok("-3"), Expr::Int(-3));
        assert_eq!(ok("007"), Expr::Int(7));
        assert_eq!(ok("1.5"), Expr::Float(1.5));
        assert_eq!(ok("-0.25"), Expr::Float(-0.25));
        assert_eq!(ok("-9223372036854775808"), Expr::Int(i64::MIN));
        assert_eq!(ok("true"), Expr::Bool(true));
        assert_eq!(ok("false"), Expr::Bool(false));
        assert_eq!(ok("  subject.mongodb-inlet\n"), id("subject.mongodb-inlet"));
        assert_eq!(ok("_a:b.c-d_9"), id("_a:b.c-d_9"));
    }

    #[test]
    fn lists() {
        assert_eq!(ok("[]"), Expr::List(vec![]));
        assert_eq!(
            ok(r#"["a" 1 [true] x (not false)]"#),
            Expr::List(vec![
                s("a"),
                Expr::Int(1),
                Expr::List(vec![Expr::Bool(true)]),
                id("x"),
                Expr::Call(Op::Not, vec![Expr::Bool(false)]),
            ])
        );
    }

    #[test]
    fn every_operator() {
        let cases = [
            ("(and)", Op::And, 0),
            ("(and a b c)", Op::And, 3),
            ("(or)", Op::Or, 0),
            ("(or a)", Op::Or, 1),
            ("(not a)", Op::Not, 1),
            ("(if a b c)", Op::If, 3),
            ("(= a b)", Op::Eq, 2),
            ("(!= a b)", Op::Ne, 2),
            ("(< a b)", Op::Lt, 2),
            ("(> a b)", Op::Gt, 2),
            ("(member? a [b])", Op::Member, 2),
            ("(exists? a)", Op::Exists, 1),
            ("(exists? a b)", Op::Exists, 2),
        ];
        for (src, op, n) in cases {
            match ok(src) {
                Expr::Call(got, args) => {
                    assert_eq!((got, args.len()), (op, n), "{src}");
                }
                other => panic!("{src}: {other:?}"),
            }
        }
    }

    #[test]
    fn example_policy() {
        let e = ok(r#"(and (= subject.mongodb-inlet "true") (member? subject.team ["a" "b"]))"#);
        assert_eq!(
            e,
            Expr::Call(
                Op::And,
                vec![
                    Expr::Call(Op::Eq, vec![id("subject.mongodb-inlet"), s("true")]),
                    Expr::Call(
                        Op::Member,
                        vec![id("subject.team"), Expr::List(vec![s("a"), s("b")])]
                    ),
                ]
            )
        );
    }

    #[test]
    fn unclosed_paren_points_at_end() {
        assert_eq!(
            err(r#"(= subject.x "a""#),
            (1, 17, "expected ')' to close '(' opened at 1:1".into())
        );
        assert_eq!(
            parse(r#"(= subject.x "a""#).map_err(|e| e.to_string()),
            Err("1:17: expected ')' to close '(' opened at 1:1".into())
        );
        assert_eq!(
            err("(and\n  (= a b)\n  (not c)"),
            (3, 10, "expected ')' to close '(' opened at 1:1".into())
        );
        assert_eq!(
            err("(and (= a b]"),
            (
                1,
                12,
                "expected ')' to close '(' opened at 1:6, found ']'".into()
            )
        );
        assert_eq!(
            err("[1 2"),
            (1, 5, "expected ']' to close '[' opened at 1:1".into())
        );
        assert_eq!(
            err("(= a [1 2)"),
            (
                1,
                10,
                "expected ']' to close '[' opened at 1:6, found ')'".into()
            )
        );
    }

    #[test]
    fn unknown_operator_lists_known_ones() {
        let (l, c, m) = err("(and (xor a b))");
        assert_eq!((l, c), (1, 7));
        assert_eq!(
            m,
            "unknown operator 'xor'; known operators: and, or, not, if, =, !=, <, >, member?, exists?"
        );
        let (_, _, m) = err("(== a b)");
        assert!(m.ends_with("; did you mean '='?"), "{m}");
        let (_, _, m) = err("(AND a b)");
        assert!(m.ends_with("; did you mean 'and'?"), "{m}");
        let (_, _, m) = err("(<= a b)");
        assert!(m.ends_with("write (not (> a b))"), "{m}");
        let (l, c, m) = err("(\"and\" a)");
        assert_eq!((l, c), (1, 2));
        assert!(
            m.starts_with("expected an operator after '(', found a string; known operators: and"),
            "{m}"
        );
        let (l, c, m) = err("(");
        assert_eq!((l, c), (1, 2));
        assert!(
            m.starts_with("expected an operator after '(', found end of input"),
            "{m}"
        );
    }

    #[test]
    fn wrong_argument_counts() {
        assert_eq!(
            err("(not a b)"),
            (1, 2, "'not' takes 1 argument, got 2".into())
        );
        assert_eq!(err(" (= a)"), (1, 3, "'=' takes 2 arguments, got 1".into()));
        assert_eq!(
            err("(if a b)"),
            (1, 2, "'if' takes 3 arguments, got 2".into())
        );
        assert_eq!(
            err("(exists?)"),
            (1, 2, "'exists?' takes at least 1 argument, got 0".into())
        );
        assert_eq!(
            err("(member? a [b] c)"),
            (1, 2, "'member?' takes 2 arguments, got 3".into())
        );
    }

    #[test]
    fn exists_takes_identifiers() {
        assert_eq!(
            err("(exists? a \"b\")"),
            (
                1,
                12,
                "'exists?' takes only identifiers (like subject.team), got a string".into()
            )
        );
    }

    #[test]
    fn empty_and_trailing() {
        let empty = "empty expression: expected a policy such as (= subject.name \"value\")";
        assert_eq!(err(""), (1, 1, empty.into()));
        assert_eq!(err("  \n "), (2, 2, empty.into()));
        let (l, c, m) = err("()");
        assert_eq!((l, c), (1, 1));
        assert!(m.starts_with("empty expression '()'"), "{m}");
        let (l, c, m) = err("(= a b) (= c d)");
        assert_eq!((l, c), (1, 9));
        assert!(m.starts_with("trailing input after the end of the policy: found '('"));
        assert_eq!(
            err("(= a b))"),
            (
                1,
                8,
                "unexpected ')' with no matching '(' (trailing input after the policy)".into()
            )
        );
        assert_eq!(
            err(")"),
            (1, 1, "unexpected ')' with no matching '('".into())
        );
        assert_eq!(
            err("]"),
            (1, 1, "unexpected ']' with no matching '['".into())
        );
    }

    #[test]
    fn unterminated_string() {
        let (l, c, m) = err("(= subject.x \"abc)");
        assert_eq!((l, c), (1, 14));
        assert!(m.starts_with("unterminated string"), "{m}");
    }

    #[test]
    fn bad_atoms() {
        assert_eq!(
            err("(= subject.x! \"a\")"),
            (
                1,
                13,
                "invalid character '!' in identifier 'subject.x!' (identifiers use letters, \
                 digits, '.', '-', '_' and ':')"
                    .into()
            )
        );
        assert_eq!(
            err("(= -x 1)"),
            (
                1,
                4,
                "invalid identifier '-x': identifiers start with a letter or '_'".into()
            )
        );
        assert_eq!(
            err("(= 'a' 1)").2,
            "invalid identifier ''a'': strings use double quotes"
        );
        assert_eq!(
            err("(and and)"),
            (
                1,
                6,
                "'and' is an operator; operators go right after '(', as in (and ...)".into()
            )
        );
        assert_eq!(
            err("(= 1.2.3 1)").2,
            "invalid number '1.2.3' (numbers look like 42, -3 or 1.5)"
        );
        for bad in ["1.", "1e5", "1x", "-1.", "--1"] {
            let src = format!("(= a {bad})");
            assert_eq!(err(&src).1, 6, "{bad}");
        }
        assert!(err("99999999999999999999").2.contains("out of range"));
        let huge = format!("1{}.0", "0".repeat(400));
        assert!(err(&huge).2.contains("out of range"));
    }

    #[test]
    fn depth_limit() {
        let nested = |n: usize| format!("{}true{}", "(not ".repeat(n), ")".repeat(n));
        assert_eq!(ok(&nested(MAX_DEPTH)).depth(), MAX_DEPTH);
        let (l, c, m) = err(&nested(MAX_DEPTH + 1));
        assert_eq!((l, c), (1, 1 + 5 * MAX_DEPTH));
        assert_eq!(
            m,
            "nesting too deep: more than 64 levels of parentheses and brackets"
        );
        let lists = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(&lists(MAX_DEPTH)).is_ok());
        assert_eq!(err(&lists(MAX_DEPTH + 1)).1, MAX_DEPTH + 1);
        // Far past the limit: still an error, not a stack overflow.
        assert_eq!(err(&"[".repeat(60_000)).1, MAX_DEPTH + 1);
    }

    #[test]
    fn length_limit() {
        let long = format!("\"{}\"", "a".repeat(MAX_INPUT_LEN));
        let (l, c, m) = err(&long);
        assert_eq!((l, c), (1, 1));
        assert_eq!(
            m,
            format!(
                "policy is too long: {} bytes (the limit is 65536)",
                MAX_INPUT_LEN + 2
            )
        );
        let fits = format!("\"{}\"", "a".repeat(MAX_INPUT_LEN - 2));
        assert!(parse(&fits).is_ok());
    }

    #[test]
    fn columns_count_characters() {
        // 'é' is two bytes but one column.
        assert_eq!(err("(= \"é\" x!)").1, 9);
    }
}
