//! A character cursor that tracks line and column, and the tokenizer for the S-expression
//! syntax (parentheses, brackets, string literals, and bare atoms).

use crate::error::{ParseError, Pos};

/// Reads characters one at a time, keeping the 1-based position of the next one.
pub(crate) struct Cursor<'a> {
    rest: std::str::Chars<'a>,
    pos: Pos,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Cursor {
            rest: src.chars(),
            pos: Pos::START,
        }
    }

    /// Position of the next character (or of the end of input).
    pub(crate) fn pos(&self) -> Pos {
        self.pos
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.rest.clone().next()
    }

    pub(crate) fn bump(&mut self) -> Option<char> {
        let c = self.rest.next()?;
        if c == '\n' {
            self.pos.line += 1;
            self.pos.column = 1;
        } else {
            self.pos.column += 1;
        }
        Some(c)
    }

    /// Skips ASCII whitespace (space, tab, CR, LF). Other characters are never whitespace.
    pub(crate) fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
            self.bump();
        }
    }
}

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// A string literal, escapes already resolved.
    Str(String),
    /// A run of characters up to whitespace or a delimiter: a number, boolean, identifier or
    /// operator name, classified by the parser.
    Atom(String),
    Eof,
}

impl Tok {
    /// How error messages refer to the token ("found ...").
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::LBracket => "'['".into(),
            Tok::RBracket => "']'".into(),
            Tok::Str(_) => "a string".into(),
            Tok::Atom(a) => format!("'{}'", snippet(a)),
            Tok::Eof => "end of input".into(),
        }
    }
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) pos: Pos,
}

/// At most this many characters of user text are quoted in an error message.
const SNIPPET_CHARS: usize = 40;

/// `s` shortened for quoting in an error message, with control characters escaped.
pub(crate) fn snippet(s: &str) -> String {
    let mut out: String = s.chars().take(SNIPPET_CHARS).map(show_char).collect();
    if s.chars().nth(SNIPPET_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// `c` as an error message shows it: control characters escaped (`\n`, `\u{0}`), others as is.
pub(crate) fn show_char(c: char) -> String {
    if c.is_control() {
        c.escape_debug().collect()
    } else {
        c.to_string()
    }
}

/// Splits S-expression policy text into tokens.
pub(crate) struct Lexer<'a> {
    cur: Cursor<'a>,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Lexer {
            cur: Cursor::new(src),
        }
    }

    pub(crate) fn next_token(&mut self) -> Result<Token, ParseError> {
        self.cur.skip_whitespace();
        let pos = self.cur.pos();
        let tok = match self.cur.peek() {
            None => Tok::Eof,
            Some('"') => self.string(pos)?,
            Some(c @ ('(' | ')' | '[' | ']')) => {
                self.cur.bump();
                match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    '[' => Tok::LBracket,
                    _ => Tok::RBracket,
                }
            }
            Some(_) => {
                let mut atom = String::new();
                while let Some(c) = self.cur.peek() {
                    if matches!(c, ' ' | '\t' | '\n' | '\r' | '(' | ')' | '[' | ']' | '"') {
                        break;
                    }
                    atom.push(c);
                    self.cur.bump();
                }
                Tok::Atom(atom)
            }
        };
        Ok(Token { tok, pos })
    }

    /// A string literal starting at `start` (the cursor is on the opening quote).
    fn string(&mut self, start: Pos) -> Result<Tok, ParseError> {
        let unterminated = || {
            ParseError::at(
                start,
                "unterminated string: missing closing '\"' for the string starting here",
            )
        };
        self.cur.bump();
        let mut s = String::new();
        loop {
            let here = self.cur.pos();
            match self.cur.bump() {
                None => return Err(unterminated()),
                Some('"') => return Ok(Tok::Str(s)),
                Some('\\') => match self.cur.bump() {
                    Some('"') => s.push('"'),
                    Some('\\') => s.push('\\'),
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    Some(other) => {
                        return Err(ParseError::at(
                            here,
                            format!(
                                "unknown escape '\\{}' in string (allowed: \\\" \\\\ \\n \\t)",
                                show_char(other)
                            ),
                        ))
                    }
                    None => return Err(unterminated()),
                },
                Some(c) => s.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(src: &str) -> Result<Vec<(Tok, usize, usize)>, ParseError> {
        let mut lx = Lexer::new(src);
        let mut out = Vec::new();
        loop {
            let t = lx.next_token()?;
            let eof = t.tok == Tok::Eof;
            out.push((t.tok, t.pos.line, t.pos.column));
            if eof {
                return Ok(out);
            }
        }
    }

    #[test]
    fn tokens_with_positions() {
        let toks = tokens("(= a\n  [\"x\" -1])").unwrap_or_default();
        assert_eq!(
            toks,
            vec![
                (Tok::LParen, 1, 1),
                (Tok::Atom("=".into()), 1, 2),
                (Tok::Atom("a".into()), 1, 4),
                (Tok::LBracket, 2, 3),
                (Tok::Str("x".into()), 2, 4),
                (Tok::Atom("-1".into()), 2, 8),
                (Tok::RBracket, 2, 10),
                (Tok::RParen, 2, 11),
                (Tok::Eof, 2, 12),
            ]
        );
    }

    #[test]
    fn string_escapes() {
        let toks = tokens(r#""a\"b\\c\nd\te""#).unwrap_or_default();
        assert_eq!(toks[0].0, Tok::Str("a\"b\\c\nd\te".into()));
        // Raw newlines and non-ASCII characters are kept as they are.
        let toks = tokens("\"é\nx\"").unwrap_or_default();
        assert_eq!(toks[0].0, Tok::Str("é\nx".into()));
    }

    #[test]
    fn string_errors_point_at_the_problem() {
        let e = tokens(r#"  "abc"#).err();
        assert_eq!(
            e.map(|e| (e.line, e.column, e.message)),
            Some((
                1,
                3,
                "unterminated string: missing closing '\"' for the string starting here".into()
            ))
        );
        let e = tokens(r#""ab\qc""#).err();
        assert_eq!(
            e.map(|e| (e.line, e.column, e.message)),
            Some((
                1,
                4,
                r#"unknown escape '\q' in string (allowed: \" \\ \n \t)"#.into()
            ))
        );
        let e = tokens("\"ab\\").err();
        assert_eq!(e.map(|e| (e.line, e.column)), Some((1, 1)));
    }

    #[test]
    fn snippets_are_short_and_escaped() {
        assert_eq!(snippet("a\nb"), "a\\nb");
        let long = "x".repeat(100);
        assert_eq!(snippet(&long).chars().count(), SNIPPET_CHARS + 1);
    }
}
