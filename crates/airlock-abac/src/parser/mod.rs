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
mod tests;
