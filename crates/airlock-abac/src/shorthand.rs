//! The boolean shorthand accepted by `--allow`: `a and not b or (c and d)`.
//!
//! A bare name `NAME` means `(= subject.NAME "true")`; `not` binds tighter than `and`, which
//! binds tighter than `or`; parentheses group. The result is an ordinary [`Expr`], so it prints
//! as (and round-trips through) the S-expression syntax.
//!
//! ```text
//! or_expr  := and_expr ("or" and_expr)*
//! and_expr := not_expr ("and" not_expr)*
//! not_expr := "not" not_expr | atom
//! atom     := NAME | "(" or_expr ")"
//! ```

use crate::ast::{is_ident_char, is_ident_start, Expr, Op};
use crate::error::{ParseError, Pos};
use crate::lexer::{show_char, snippet, Cursor};
use crate::parser::{check_len, too_deep};
use crate::MAX_DEPTH;

/// Parses the shorthand into an expression.
pub(crate) fn parse(src: &str) -> Result<Expr, ParseError> {
    check_len(src)?;
    let mut p = Shorthand {
        cur: Cursor::new(src),
        peeked: None,
    };
    let first = p.peek()?.clone();
    if first.tok == Tok::Eof {
        return Err(ParseError::at(
            first.pos,
            "empty expression: expected names joined by 'and', 'or', 'not' and parentheses, \
             e.g. mongodb-inlet and not banned",
        ));
    }
    let (expr, _) = p.or_expr(0)?;
    let next = p.next()?;
    match next.tok {
        Tok::Eof => Ok(expr),
        Tok::RParen => Err(ParseError::at(
            next.pos,
            "unexpected ')' with no matching '(' (trailing input)",
        )),
        other => Err(ParseError::at(
            next.pos,
            format!(
                "trailing input: expected 'and', 'or' or end of input, found {}",
                other.describe()
            ),
        )),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Word(String),
    Eof,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Word(w) => format!("'{}'", snippet(w)),
            Tok::Eof => "end of input".into(),
        }
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self, Tok::Word(x) if x == w)
    }
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: Pos,
}

struct Shorthand<'a> {
    cur: Cursor<'a>,
    peeked: Option<Token>,
}

/// An expression and its nesting depth (see [`Expr::depth`]), tracked as it is built.
type Built = (Expr, usize);

impl Shorthand<'_> {
    fn lex(&mut self) -> Result<Token, ParseError> {
        self.cur.skip_whitespace();
        let pos = self.cur.pos();
        let tok = match self.cur.peek() {
            None => Tok::Eof,
            Some('(') => {
                self.cur.bump();
                Tok::LParen
            }
            Some(')') => {
                self.cur.bump();
                Tok::RParen
            }
            Some(c) if is_ident_char(c) => {
                let mut w = String::new();
                while let Some(c) = self.cur.peek().filter(|&c| is_ident_char(c)) {
                    w.push(c);
                    self.cur.bump();
                }
                Tok::Word(w)
            }
            Some(c) => {
                let hint = match c {
                    '&' => "; write 'and'",
                    '|' => "; write 'or'",
                    '!' => "; write 'not'",
                    '"' => {
                        "; the shorthand takes bare names (NAME means (= subject.NAME \"true\"))"
                    }
                    _ => "",
                };
                return Err(ParseError::at(
                    pos,
                    format!(
                        "unexpected character '{}' (the shorthand uses names, 'and', 'or', \
                         'not' and parentheses){hint}",
                        show_char(c)
                    ),
                ));
            }
        };
        Ok(Token { tok, pos })
    }

    fn peek(&mut self) -> Result<&Token, ParseError> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lex()?);
        }
        match &self.peeked {
            Some(t) => Ok(t),
            // Unreachable: filled just above. Kept panic-free.
            None => Err(ParseError::at(self.cur.pos(), "internal parser error")),
        }
    }

    fn next(&mut self) -> Result<Token, ParseError> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lex(),
        }
    }

    /// `nest` counts the enclosing parentheses and `not`s, which bound the recursion.
    fn or_expr(&mut self, nest: usize) -> Result<Built, ParseError> {
        self.chain(nest, "or", Op::Or, Self::and_expr)
    }

    fn and_expr(&mut self, nest: usize) -> Result<Built, ParseError> {
        self.chain(nest, "and", Op::And, Self::not_expr)
    }

    /// `operand (word operand)*`, folded into one n-ary `op` call if there are several.
    fn chain(
        &mut self,
        nest: usize,
        word: &str,
        op: Op,
        operand: fn(&mut Self, usize) -> Result<Built, ParseError>,
    ) -> Result<Built, ParseError> {
        let start = self.peek()?.pos;
        let (first, mut depth) = operand(self, nest)?;
        if !self.peek()?.tok.is_word(word) {
            return Ok((first, depth));
        }
        let mut items = vec![first];
        while self.peek()?.tok.is_word(word) {
            self.next()?;
            let (e, d) = operand(self, nest)?;
            items.push(e);
            depth = depth.max(d);
        }
        built(Expr::Call(op, items), depth + 1, start)
    }

    fn not_expr(&mut self, nest: usize) -> Result<Built, ParseError> {
        if self.peek()?.tok.is_word("not") {
            let t = self.next()?;
            if nest >= MAX_DEPTH {
                return Err(too_deep(t.pos));
            }
            let (e, d) = self.not_expr(nest + 1)?;
            return built(Expr::Call(Op::Not, vec![e]), d + 1, t.pos);
        }
        self.atom(nest)
    }

    fn atom(&mut self, nest: usize) -> Result<Built, ParseError> {
        let t = self.next()?;
        match t.tok {
            Tok::LParen => {
                if nest >= MAX_DEPTH {
                    return Err(too_deep(t.pos));
                }
                let inner = self.or_expr(nest + 1)?;
                let close = self.next()?;
                match close.tok {
                    Tok::RParen => Ok(inner),
                    other => Err(ParseError::at(
                        close.pos,
                        format!(
                            "expected ')' to close '(' opened at {}, found {}",
                            t.pos,
                            other.describe()
                        ),
                    )),
                }
            }
            Tok::Word(w) if w == "and" || w == "or" || w == "not" => Err(ParseError::at(
                t.pos,
                format!("expected a name or '(' before '{w}'"),
            )),
            Tok::Word(w) => {
                if !w.starts_with(is_ident_start) {
                    return Err(ParseError::at(
                        t.pos,
                        format!(
                            "invalid name '{}': names start with a letter or '_'",
                            snippet(&w)
                        ),
                    ));
                }
                let attr = Expr::Ident(format!("subject.{w}"));
                Ok((Expr::Call(Op::Eq, vec![attr, Expr::Str("true".into())]), 1))
            }
            other => Err(ParseError::at(
                t.pos,
                format!("expected a name, 'not' or '(', found {}", other.describe()),
            )),
        }
    }
}

/// Accepts `expr` of nesting `depth` unless it exceeds [`MAX_DEPTH`], blaming `pos`.
fn built(expr: Expr, depth: usize, pos: Pos) -> Result<Built, ParseError> {
    if depth > MAX_DEPTH {
        return Err(too_deep(pos));
    }
    Ok((expr, depth))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(src: &str) -> String {
        match parse(src) {
            Ok(e) => e.to_string(),
            Err(e) => panic!("{src:?}: {e}"),
        }
    }

    fn err(src: &str) -> (usize, usize, String) {
        match parse(src) {
            Ok(e) => panic!("{src:?} parsed as {e}"),
            Err(e) => (e.line, e.column, e.message),
        }
    }

    #[test]
    fn bare_name() {
        assert_eq!(ok("mongodb-inlet"), r#"(= subject.mongodb-inlet "true")"#);
        assert_eq!(ok(" (a) "), r#"(= subject.a "true")"#);
    }

    #[test]
    fn precedence_not_and_or() {
        assert_eq!(
            ok("a and not b or (c and d)"),
            r#"(or (and (= subject.a "true") (not (= subject.b "true"))) (and (= subject.c "true") (= subject.d "true")))"#
        );
        assert_eq!(
            ok("a or b and c"),
            r#"(or (= subject.a "true") (and (= subject.b "true") (= subject.c "true")))"#
        );
        assert_eq!(
            ok("not a and b"),
            r#"(and (not (= subject.a "true")) (= subject.b "true"))"#
        );
        assert_eq!(
            ok("not (a and b)"),
            r#"(not (and (= subject.a "true") (= subject.b "true")))"#
        );
        assert_eq!(
            ok("a and b and c or d or e"),
            r#"(or (and (= subject.a "true") (= subject.b "true") (= subject.c "true")) (= subject.d "true") (= subject.e "true"))"#
        );
        assert_eq!(ok("not not a"), r#"(not (not (= subject.a "true")))"#);
    }

    #[test]
    fn errors_have_positions() {
        assert_eq!(
            err("a and (b or c"),
            (
                1,
                14,
                "expected ')' to close '(' opened at 1:7, found end of input".into()
            )
        );
        assert_eq!(
            err("a b"),
            (
                1,
                3,
                "trailing input: expected 'and', 'or' or end of input, found 'b'".into()
            )
        );
        assert_eq!(
            err("a and"),
            (
                1,
                6,
                "expected a name, 'not' or '(', found end of input".into()
            )
        );
        assert_eq!(
            err("and a"),
            (1, 1, "expected a name or '(' before 'and'".into())
        );
        assert_eq!(
            err("a or or b"),
            (1, 6, "expected a name or '(' before 'or'".into())
        );
        assert_eq!(err("a)").0, 1);
        assert_eq!(err("a)").1, 2);
        assert_eq!(err("()").2, "expected a name, 'not' or '(', found ')'");
        assert_eq!(
            err("a &&  b"),
            (
                1,
                3,
                "unexpected character '&' (the shorthand uses names, 'and', 'or', 'not' and \
                 parentheses); write 'and'"
                    .into()
            )
        );
        assert_eq!(
            err("a and\n  1x"),
            (
                2,
                3,
                "invalid name '1x': names start with a letter or '_'".into()
            )
        );
        let (l, c, m) = err("   ");
        assert_eq!((l, c), (1, 4));
        assert!(m.starts_with("empty expression"), "{m}");
    }

    #[test]
    fn depth_limit() {
        // A name is depth 1 and each `not` adds one: 63 `not`s fit, 64 do not.
        let nots = |n: usize| format!("{}a", "not ".repeat(n));
        assert!(parse(&nots(MAX_DEPTH - 1)).is_ok());
        let (l, c, m) = err(&nots(MAX_DEPTH));
        assert_eq!((l, c), (1, 1));
        assert!(m.starts_with("nesting too deep"), "{m}");
        // Redundant parentheses do not deepen the result but are bounded too.
        let parens = |n: usize| format!("{}a{}", "(".repeat(n), ")".repeat(n));
        assert!(parse(&parens(MAX_DEPTH)).is_ok());
        assert_eq!(err(&parens(MAX_DEPTH + 1)).1, MAX_DEPTH + 1);
        assert_eq!(err(&"(".repeat(60_000)).1, MAX_DEPTH + 1);
        assert_eq!(err(&"not ".repeat(16_000)).1, 1 + 4 * MAX_DEPTH);
    }

    #[test]
    fn length_limit() {
        let long = "a or ".repeat(crate::MAX_INPUT_LEN / 5 + 1) + "a";
        assert!(err(&long).2.starts_with("policy is too long"));
    }
}
