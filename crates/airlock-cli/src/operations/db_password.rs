//! The PostgreSQL password of `project create --database`, kept off the command line.
//!
//! A URL given as an argument is visible to every local user (`ps`, `/proc/PID/cmdline`), so the
//! password may come instead from a private file (`--database-password-file PATH`, refused if
//! group or others may read it) or from the environment (`AIRLOCK_DATABASE_PASSWORD`). It is
//! added to a URL given without one as a percent-encoded `password=` parameter, which every
//! display of the URL redacts (`airlock_project::store::redact_url`). Errors here never include
//! the password.

use airlock_project::store::{is_postgres_url, redact_url};
use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The environment variable that may hold the database password.
pub const PASSWORD_ENV: &str = "AIRLOCK_DATABASE_PASSWORD";

/// The `--database` URL with its password filled in from `password_file` (which takes
/// precedence) or from `env_password` (the value of [`PASSWORD_ENV`]; empty counts as unset).
/// A URL that already carries a password is refused when another one is given.
pub fn database_url(
    url: Option<String>,
    password_file: Option<&Path>,
    env_password: Option<OsString>,
) -> Result<Option<String>> {
    let password = match password_file {
        Some(path) => Some(read_password_file(path)?),
        None => match env_password.filter(|v| !v.is_empty()) {
            Some(v) => Some(
                v.into_string()
                    .map_err(|_| anyhow::anyhow!("{PASSWORD_ENV} is not valid UTF-8"))?,
            ),
            None => None,
        },
    };
    let Some(url) = url else {
        if password_file.is_some() {
            bail!(
                "--database-password-file needs --database URL (the PostgreSQL database it opens)"
            );
        }
        return Ok(None);
    };
    let Some(password) = password else {
        return Ok(Some(url));
    };
    if !is_postgres_url(&url) {
        // project create explains what --database must be.
        return Ok(Some(url));
    }
    if redact_url(&url) != url {
        bail!(
            "the --database URL {} already holds a password: give it in one place only (preferably --database-password-file or {PASSWORD_ENV}, not the URL)",
            redact_url(&url)
        );
    }
    Ok(Some(with_password(&url, &password)))
}

/// `url` with a `password=` parameter holding `password`, percent-encoded.
fn with_password(url: &str, password: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}password={}", percent_encode(password))
}

/// Percent-encodes every byte but RFC 3986's unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reads a password file: one line (a final `\n` or `\r\n` is dropped), not empty, and private
/// to its owner (no access for group or others; checked on the opened file).
pub fn read_password_file(path: &Path) -> Result<String> {
    let shown = path.display();
    let mut file = std::fs::File::open(path)
        .with_context(|| format!("cannot open the database password file {shown}"))?;
    let meta = file
        .metadata()
        .with_context(|| format!("cannot read the database password file {shown}"))?;
    if !meta.is_file() {
        bail!("the database password file {shown} is not a regular file");
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "the database password file {shown} is readable by group or others (mode {mode:04o}); make it private to you: chmod 600 {shown}"
        );
    }
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the database password file {shown}: {}",
            e.kind()
        )
    })?;
    let password = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    if password.is_empty() {
        bail!("the database password file {shown} is empty");
    }
    if password.contains(['\n', '\r']) {
        bail!("the database password file {shown} holds more than one line");
    }
    Ok(password.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t p@ss/wörd&x=1";

    /// A file in a fresh folder under the system temporary folder, removed on drop.
    struct TempFile(std::path::PathBuf);

    impl TempFile {
        fn new(content: &str, mode: u32) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "airlock-dbpw-{}-{:016x}",
                std::process::id(),
                airlock_node::random_u64()
            ));
            std::fs::create_dir(&dir).expect("temp dir");
            let p = dir.join("db-password");
            std::fs::write(&p, content).expect("write");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
            TempFile(p)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            if let Some(d) = self.0.parent() {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }

    fn url() -> Option<String> {
        Some("postgres://airlock@db:5432/airlock".into())
    }

    #[test]
    fn password_file_fills_the_url_and_never_shows() {
        let f = TempFile::new(&format!("{SECRET}\n"), 0o600);
        let u = database_url(url(), Some(&f.0), None).unwrap().unwrap();
        assert_eq!(
            u,
            "postgres://airlock@db:5432/airlock?password=s3cr3t%20p%40ss%2Fw%C3%B6rd%26x%3D1"
        );
        // The driver reads it back as it was.
        let cfg: postgres::Config = u.parse().unwrap();
        assert_eq!(cfg.get_password(), Some(SECRET.as_bytes()));
        // Every display of the URL (progress, `project show`, JSON) redacts it.
        let shown = redact_url(&u);
        assert_eq!(shown, "postgres://airlock@db:5432/airlock?password=***");
        let hp = crate::home::HostedProject {
            name: "acme".into(),
            node: "project-acme".into(),
            authority_identity: "authority-acme".into(),
            route: "/ip4/127.0.0.1/tcp/4000".into(),
            credential_ttl: 3600,
            database: Some(u.clone()),
        };
        let json = serde_json::to_string(&hp).unwrap();
        assert!(
            !json.contains("s3cr3t") && json.contains("password=***"),
            "{json}"
        );
        // A URL with other parameters gets one more.
        let u = database_url(
            Some("postgres://a@h/d?sslmode=disable".into()),
            Some(&f.0),
            None,
        )
        .unwrap()
        .unwrap();
        assert!(
            u.starts_with("postgres://a@h/d?sslmode=disable&password=s3cr3t"),
            "{u}"
        );
    }

    #[test]
    fn environment_fills_the_url_file_wins() {
        let u = database_url(url(), None, Some(SECRET.into()))
            .unwrap()
            .unwrap();
        let cfg: postgres::Config = u.parse().unwrap();
        assert_eq!(cfg.get_password(), Some(SECRET.as_bytes()));
        let f = TempFile::new("from-file", 0o400);
        let u = database_url(url(), Some(&f.0), Some(SECRET.into()))
            .unwrap()
            .unwrap();
        assert!(u.ends_with("password=from-file"), "{u}");
        // Unset or empty: the URL as given.
        assert_eq!(database_url(url(), None, None).unwrap(), url());
        assert_eq!(database_url(url(), None, Some("".into())).unwrap(), url());
        // No database: SQLite; the variable alone is ignored, the option alone is an error.
        assert_eq!(database_url(None, None, Some(SECRET.into())).unwrap(), None);
        let e = database_url(None, Some(&f.0), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs --database"), "{e}");
    }

    #[test]
    fn shared_password_files_are_refused_with_the_fix() {
        for mode in [0o644, 0o640, 0o604, 0o660] {
            let f = TempFile::new(SECRET, mode);
            let e = format!("{:#}", database_url(url(), Some(&f.0), None).unwrap_err());
            assert!(
                e.contains(&format!("chmod 600 {}", f.0.display())),
                "{mode:o}: {e}"
            );
            assert!(!e.contains("s3cr3t"), "{e}");
        }
    }

    #[test]
    fn errors_never_contain_the_password() {
        // A password in the URL and another one: refused, the URL shown redacted.
        let e = database_url(
            Some("postgres://airlock:inline-s3cr3t@db/airlock".into()),
            None,
            Some(SECRET.into()),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("already holds a password"), "{e}");
        assert!(!e.contains("s3cr3t"), "{e}");
        for content in ["", "\n", "s3cr3t-one\ns3cr3t-two\n"] {
            let f = TempFile::new(content, 0o600);
            let e = format!("{:#}", database_url(url(), Some(&f.0), None).unwrap_err());
            assert!(!e.contains("s3cr3t"), "{e}");
        }
        let e = format!(
            "{:#}",
            database_url(url(), Some(Path::new("/nonexistent/airlock-db-pw")), None).unwrap_err()
        );
        assert!(e.contains("/nonexistent/airlock-db-pw"), "{e}");
    }

    #[test]
    fn a_final_newline_is_not_part_of_the_password() {
        for content in ["pw\n", "pw\r\n", "pw"] {
            let f = TempFile::new(content, 0o600);
            assert_eq!(read_password_file(&f.0).unwrap(), "pw");
        }
    }
}
