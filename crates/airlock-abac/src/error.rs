//! Errors: where a policy text failed to parse, and why evaluating a policy failed.

use std::fmt;

use thiserror::Error;

/// A 1-based position in a policy text (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

impl Pos {
    /// The first character of the text.
    pub(crate) const START: Pos = Pos { line: 1, column: 1 };
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A policy text that could not be parsed, with the 1-based position of the problem.
///
/// Displays as `line:column: message`, e.g.
/// `1:17: expected ')' to close '(' opened at 1:1`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{line}:{column}: {message}")]
pub struct ParseError {
    /// 1-based line of the problem.
    pub line: usize,
    /// 1-based column of the problem, counted in characters.
    pub column: usize,
    /// What is wrong, written for the person who wrote the policy.
    pub message: String,
}

/// Longest stretch of a source line shown by [`ParseError::render`].
const RENDER_WIDTH: usize = 100;

impl ParseError {
    pub(crate) fn at(pos: Pos, message: impl Into<String>) -> Self {
        ParseError {
            line: pos.line,
            column: pos.column,
            message: message.into(),
        }
    }

    /// Renders the error followed by the offending source line and a caret under the column,
    /// for command-line output. `source` must be the text that was parsed.
    ///
    /// Long lines are shown as a window around the column.
    pub fn render(&self, source: &str) -> String {
        let mut out = self.to_string();
        let Some(line) = source.split('\n').nth(self.line.saturating_sub(1)) else {
            return out;
        };
        let line = line.strip_suffix('\r').unwrap_or(line);
        // Clamp to just past the end of the line (where "end of input" errors point).
        let col = self.column.saturating_sub(1).min(line.chars().count());
        let start = col.saturating_sub(RENDER_WIDTH / 2);
        let shown: Vec<char> = line.chars().skip(start).take(RENDER_WIDTH).collect();
        let caret: String = shown
            .iter()
            .take(col - start)
            .map(|&c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        out.push_str("\n  ");
        out.extend(shown.iter());
        out.push_str("\n  ");
        out.push_str(&caret);
        out.push('^');
        out
    }
}

/// Why a policy could not be evaluated. [`crate::Policy::allows`] treats every one as "deny".
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EvalError {
    /// The policy names an identifier the environment does not define (outside `exists?`).
    #[error("unbound identifier '{0}'")]
    Unbound(String),
    /// An operand had the wrong type, e.g. a string where `and` needs a boolean.
    #[error("'{op}' expects {expected}, got {found}")]
    Type {
        /// The operator that rejected the operand.
        op: &'static str,
        /// What the operator needs.
        expected: &'static str,
        /// The type it got.
        found: &'static str,
    },
    /// Two values that cannot be compared, e.g. `(< "a" 1)` or `(= true 1)`.
    #[error("'{op}' cannot compare {left} with {right}")]
    Incomparable {
        /// The comparison operator.
        op: &'static str,
        /// Type of the left operand.
        left: &'static str,
        /// Type of the right operand.
        right: &'static str,
    },
    /// An operator was given the wrong number of arguments. The parser rejects this, so it is
    /// only reachable for hand-built syntax trees.
    #[error("'{op}' takes {expected}, got {got}")]
    Arity {
        /// The operator.
        op: &'static str,
        /// The accepted count, in words (e.g. "2 arguments").
        expected: String,
        /// The count it got.
        got: usize,
    },
    /// The policy as a whole evaluated to something other than a boolean.
    #[error("a policy must evaluate to a boolean, got {0}")]
    NotBoolean(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_line_column_message() {
        let e = ParseError::at(
            Pos {
                line: 1,
                column: 17,
            },
            "boom",
        );
        assert_eq!(e.to_string(), "1:17: boom");
    }

    #[test]
    fn render_puts_caret_under_column() {
        let src = "(and\n\t(= a \"b\"";
        let e = ParseError::at(
            Pos {
                line: 2,
                column: 10,
            },
            "x",
        );
        assert_eq!(e.render(src), "2:10: x\n  \t(= a \"b\"\n  \t        ^");
    }

    #[test]
    fn render_survives_bad_positions() {
        let e = ParseError::at(
            Pos {
                line: 9,
                column: 99,
            },
            "x",
        );
        assert_eq!(e.render("abc"), "9:99: x");
        let e = ParseError::at(
            Pos {
                line: 1,
                column: 99,
            },
            "x",
        );
        assert_eq!(e.render("abc"), "1:99: x\n  abc\n     ^");
    }

    #[test]
    fn render_windows_long_lines() {
        let src = "a".repeat(1000);
        let e = ParseError::at(
            Pos {
                line: 1,
                column: 900,
            },
            "x",
        );
        let r = e.render(&src);
        let lines: Vec<&str> = r.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].len() <= RENDER_WIDTH + 2);
        assert_eq!(lines[2].find('^'), Some(2 + RENDER_WIDTH / 2));
    }
}
