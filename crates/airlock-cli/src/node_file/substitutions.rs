//! `$VAR` / `${VAR}` in a node file, and keeping the values they brought in out of error
//! messages (a value from the environment may be a secret, such as an enrollment ticket).

use anyhow::{Context, Result};

/// Values that [`interpolate`] took from the environment, by variable name: a value in a node
/// file may be a secret (`ticket: ${ENROLLMENT_TICKET}`), so an error about it names the
/// variable instead of printing what it held.
#[derive(Debug, Default)]
pub struct Substitutions(Vec<(String, String)>);

/// Values shorter than this are matched whole only (as a field's entire value), never searched
/// for inside messages: replacing `1` or `db` everywhere would garble them, and hides nothing.
const MIN_SCRUBBED: usize = 4;
/// Values at least this long are also searched for as prefixes (of at least [`MIN_PREFIX`]
/// bytes), since some messages echo only the start of a bad value (`airlock-ticket:…`).
const MIN_PREFIXED: usize = 24;
/// Shortest prefix of a long value that is hidden.
const MIN_PREFIX: usize = 16;

impl Substitutions {
    fn add(&mut self, name: &str, value: &str) {
        if !self.0.iter().any(|(n, v)| n == name && v == value) {
            self.0.push((name.to_string(), value.to_string()));
        }
    }

    /// The variables (as `${VAR}`) whose values make up part or all of `value`.
    pub fn sources(&self, value: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .0
            .iter()
            .filter(|(_, v)| {
                !v.is_empty()
                    && (v == value || (v.len() >= MIN_SCRUBBED && value.contains(v.as_str())))
            })
            .map(|(n, _)| format!("${{{n}}}"))
            .collect();
        names.dedup();
        names
    }

    /// How an error names field `field` holding `value`: `field "value"`, or, when the value
    /// came (in part) from the environment, `field (from ${VAR})` without the value.
    pub fn field(&self, field: &str, value: &str) -> String {
        let from = self.sources(value);
        if from.is_empty() {
            format!("{field} {value:?}")
        } else {
            format!("{field} (from {})", from.join(", "))
        }
    }

    /// Like [`Substitutions::field`], but never shows the value (for secrets such as tickets).
    pub fn secret_field(&self, field: &str, value: &str) -> String {
        let from = self.sources(value);
        if from.is_empty() {
            field.to_string()
        } else {
            format!("{field} (from {})", from.join(", "))
        }
    }

    /// `msg` with every value taken from the environment replaced by `${VAR}`: as written, as
    /// a quoted string would escape it, and, for long values, any prefix of [`MIN_PREFIX`]
    /// bytes or more (a truncated echo). The last line of defence for errors about a node file.
    pub fn scrub(&self, msg: &str) -> String {
        let mut vars: Vec<&(String, String)> = self
            .0
            .iter()
            .filter(|(_, v)| v.len() >= MIN_SCRUBBED)
            .collect();
        vars.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        let mut out = msg.to_string();
        for (name, value) in vars {
            let var = format!("${{{name}}}");
            let quoted = format!("{value:?}");
            let escaped = &quoted[1..quoted.len() - 1];
            // Whole forms first (the escaped one is the longer), then truncated echoes.
            for form in [escaped, value.as_str()] {
                out = out.replace(form, &var);
            }
            for form in [escaped, value.as_str()] {
                if form.len() >= MIN_PREFIXED {
                    for end in (MIN_PREFIX..form.len()).rev() {
                        if let Some(prefix) = form.get(..end) {
                            if out.contains(prefix) {
                                out = out.replace(prefix, &var);
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// `e` (with its causes) scrubbed by [`Substitutions::scrub`]; unchanged if there is
    /// nothing to hide.
    pub fn scrub_error(&self, e: anyhow::Error) -> anyhow::Error {
        let msg = format!("{e:#}");
        let clean = self.scrub(&msg);
        if clean == msg {
            e
        } else {
            anyhow::anyhow!(clean)
        }
    }
}

/// Replaces `$VAR` / `${VAR}` from `lookup`; errors name the line. Returns the text and what
/// was substituted.
pub fn interpolate(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(String, Substitutions)> {
    let mut subs = Substitutions::default();
    let mut out = String::with_capacity(text.len());
    for (n, line) in text.split_inclusive('\n').enumerate() {
        // Comment lines are left as they are: explaining `$ENROLLMENT_TICKET` in a comment must
        // not require the variable.
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let (name, consumed) = if let Some(body) = after.strip_prefix('{') {
                let end = body.find('}').with_context(|| {
                    format!("line {}: unclosed ${{ in {:?}", n + 1, line.trim_end())
                })?;
                (&body[..end], end + 2)
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            };
            if name.is_empty() {
                out.push('$');
                rest = after;
                continue;
            }
            let value = lookup(name).with_context(|| {
                format!(
                    "line {}: environment variable {name} is not set (used in {:?})",
                    n + 1,
                    line.trim_end()
                )
            })?;
            subs.add(name, &value);
            out.push_str(&value);
            rest = &after[consumed..];
        }
        out.push_str(rest);
    }
    Ok((out, subs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_and_errors_name_the_line() {
        let env = |k: &str| (k == "T").then(|| "abc".to_string());
        assert_eq!(
            interpolate("a: $T\nb: ${T}x\nc: $$\n", env).unwrap().0,
            "a: abc\nb: abcx\nc: $$\n"
        );
        let e = interpolate("a: 1\nb: ${MISSING}\n", env)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("line 2:"), "{e}");
    }

    #[test]
    fn errors_name_the_variable_not_its_value() {
        const SECRET: &str = "tok_4e1f9a0b7c2d5e8f3a6b9c0d1e2f";
        let env = |k: &str| match k {
            "TICKET" => Some(SECRET.to_string()),
            "PORT" => Some("1".to_string()),
            _ => None,
        };
        let (text, subs) = interpolate("ticket: ${TICKET}\nport: $PORT\n", env).unwrap();
        assert_eq!(text, format!("ticket: {SECRET}\nport: 1\n"));
        assert_eq!(
            subs.secret_field("ticket", SECRET),
            "ticket (from ${TICKET})"
        );
        assert_eq!(subs.secret_field("ticket", "inline"), "ticket");
        assert_eq!(
            subs.field("at", &format!("/ip4/{SECRET}")),
            "at (from ${TICKET})"
        );
        assert_eq!(subs.field("port", "1"), "port (from ${PORT})");
        // A short value is recognised only whole: "10" is not from $PORT.
        assert_eq!(subs.field("port", "10"), "port \"10\"");
        // Scrubbing: as written, escaped by a quoting message, and a truncated echo.
        let msg = format!("bad {SECRET:?}; starts {}…; line 1", &SECRET[..20]);
        let clean = subs.scrub(&msg);
        assert!(!clean.contains(&SECRET[..16]), "{clean}");
        assert_eq!(clean, "bad \"${TICKET}\"; starts ${TICKET}…; line 1");
        let (_, subs) = interpolate("a: ${Q}\n", |_| Some(format!("{SECRET}\"x"))).unwrap();
        let clean = subs.scrub(&format!(
            "invalid type: string {:?}",
            format!("{SECRET}\"x")
        ));
        assert_eq!(clean, "invalid type: string \"${Q}\"");
        // Nothing to hide: the same error comes back.
        let e = subs.scrub_error(anyhow::anyhow!("plain"));
        assert_eq!(e.to_string(), "plain");
    }

    #[test]
    fn comment_lines_are_not_interpolated() {
        let text = "# the ticket comes from $ENROLLMENT_TICKET\nname: ${N}\n";
        let (out, _) = interpolate(text, |k| (k == "N").then(|| "bank".to_string())).unwrap();
        assert_eq!(
            out,
            "# the ticket comes from $ENROLLMENT_TICKET\nname: bank\n"
        );
    }
}
