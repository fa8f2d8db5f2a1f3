//! Asking before destroying: a y/N question on the terminal, `--yes` to skip it, and a refusal
//! (never a guess) when there is no terminal to ask on.

use anyhow::{bail, Result};
use std::io::{BufRead, IsTerminal, Write};

/// Whether a question can be asked: stdin and stderr are both terminals.
pub fn can_ask() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Goes ahead when `yes` (the command's `--yes`), or when the user answers `y` to "ACTION?"
/// on the terminal, after `details` (what would be lost) on stderr. Without a terminal it fails
/// with the details and a hint to pass `--yes`; a refused or empty answer fails too. `action`
/// is a phrase such as "delete node n1".
pub fn confirm(action: &str, details: &[String], yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !can_ask() {
        let mut msg = format!("not going to {action} without confirmation");
        if !details.is_empty() {
            msg.push_str(&format!(" ({})", details.join("; ")));
        }
        bail!(
            "{msg}: there is no terminal to ask on and nothing was deleted; pass --yes to confirm"
        );
    }
    let mut err = std::io::stderr().lock();
    for d in details {
        let _ = writeln!(err, "  {d}");
    }
    let _ = write!(err, "{}? [y/N] ", capitalized(action));
    let _ = err.flush();
    drop(err);
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if is_yes(&answer) {
        Ok(())
    } else {
        bail!("cancelled: nothing was deleted")
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_question_starts_with_a_capital() {
        assert_eq!(capitalized("delete node n1"), "Delete node n1");
        assert_eq!(capitalized(""), "");
    }

    #[test]
    fn only_y_or_yes_confirms() {
        for a in ["y\n", "Y", " yes \n", "YES"] {
            assert!(is_yes(a), "{a:?}");
        }
        for a in ["", "\n", "n", "no", "yy", "sure"] {
            assert!(!is_yes(a), "{a:?}");
        }
    }
}
