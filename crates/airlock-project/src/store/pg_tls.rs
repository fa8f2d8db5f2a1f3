//! TLS to PostgreSQL (rustls): `sslmode` and `sslrootcert` in the database URL.
//!
//! | `sslmode` | TLS | server certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` | if the server offers it | not verified |
//! | `require` | always | not verified; with `sslrootcert` the chain is verified (as libpq does) |
//! | `verify-ca` | always | chain verified against the roots |
//! | `verify-full` | always | chain and host name verified |
//!
//! Roots: the PEM file `sslrootcert=PATH` (all certificates in it), else (or with
//! `sslrootcert=system`) the Mozilla roots of `webpki-roots`. Without `sslmode` the mode is
//! `verify-full`, unless every host is a Unix socket or a loopback address, where it is
//! `prefer` (docs/protocol.md §9.8). TLS never applies to Unix sockets (PostgreSQL does not
//! offer it there; libpq ignores `sslmode` for them too).

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_postgres::config::{Host, SslMode as PgSslMode};

/// Why the TLS settings of a database URL cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// `sslmode=allow` (plaintext first, TLS only if the server insists) is not offered.
    #[error("sslmode=allow is not supported: use prefer, require, verify-ca or verify-full")]
    AllowUnsupported,
    /// Not one of the modes.
    #[error("unknown sslmode {0:?}: use disable, prefer, require, verify-ca or verify-full")]
    UnknownMode(String),
    /// `sslrootcert=` with no path.
    #[error("sslrootcert is empty: give the path of a PEM file with the CA")]
    EmptyRootCert,
    /// The CA file cannot be read.
    #[error("cannot read sslrootcert {}", .path.display())]
    UnreadableRootCert {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rustls::pki_types::pem::Error,
    },
    /// The CA file holds no certificate rustls can use.
    #[error(
        "sslrootcert {} holds no usable CA certificate (expected PEM \"CERTIFICATE\" blocks)",
        .path.display()
    )]
    NoUsableCa {
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the configuration.
    #[error("TLS set-up failed")]
    Rustls(#[from] rustls::Error),
    /// The certificate verifier could not be built from the roots.
    #[error("TLS set-up failed")]
    Verifier(#[from] rustls::client::VerifierBuilderError),
}

type Result<T, E = TlsConfigError> = std::result::Result<T, E>;

/// How the connection uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            "allow" => return Err(TlsConfigError::AllowUnsupported),
            other => return Err(TlsConfigError::UnknownMode(other.to_string())),
        })
    }

    /// The URL spelling.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where the trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Roots {
    /// `webpki-roots` (no `sslrootcert`, or `sslrootcert=system`).
    Builtin,
    /// A PEM file.
    File(PathBuf),
}

/// The TLS settings of a database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TlsSettings {
    /// The mode asked for, or the default chosen for the hosts.
    pub mode: SslMode,
    /// True when the URL named the mode.
    pub explicit: bool,
    /// Roots.
    pub roots: Roots,
    /// True when `sslrootcert` was given.
    pub root_given: bool,
}

impl TlsSettings {
    /// For messages: `sslmode=verify-full, CA file /x/ca.pem`.
    pub(super) fn describe(&self) -> String {
        let how = if self.explicit { "" } else { " (default)" };
        let roots = match (&self.roots, self.mode) {
            (_, SslMode::Disable) => String::new(),
            (_, SslMode::Prefer) => ", certificate not verified".into(),
            (_, SslMode::Require) if !self.root_given => ", certificate not verified".into(),
            (Roots::Builtin, _) => ", built-in web PKI roots".into(),
            (Roots::File(p), _) => format!(", CA file {}", p.display()),
        };
        format!("sslmode={}{how}{roots}", self.mode.as_str())
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits `sslmode` and `sslrootcert` out of `url` (the `postgres` crate knows only some modes
/// and no root file); returns the rest of the URL and their values.
pub(super) fn split_url(url: &str) -> (String, Option<String>, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None, None);
    };
    let (mut mode, mut root) = (None, None);
    let mut rest = Vec::new();
    for p in query.split('&').filter(|p| !p.is_empty()) {
        match p.split_once('=') {
            Some(("sslmode", v)) => mode = Some(percent_decode(v)),
            Some(("sslrootcert", v)) => root = Some(percent_decode(v)),
            _ => rest.push(p),
        }
    }
    let url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    (url, mode, root)
}

/// True when every host of `config` is on this machine (a Unix socket, `localhost` or a
/// loopback address) — also the addresses given by `hostaddr`.
pub(super) fn all_local(config: &tokio_postgres::Config) -> bool {
    let host_local = |h: &Host| match h {
        Host::Tcp(name) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        #[cfg(unix)]
        Host::Unix(_) => true,
    };
    config.get_hosts().iter().all(host_local)
        && config.get_hostaddrs().iter().all(|a| a.is_loopback())
}

/// True when every host of `config` is a Unix socket.
pub(super) fn all_unix(config: &tokio_postgres::Config) -> bool {
    #[cfg(unix)]
    {
        !config.get_hosts().is_empty()
            && config
                .get_hosts()
                .iter()
                .all(|h| matches!(h, Host::Unix(_)))
    }
    #[cfg(not(unix))]
    {
        let _ = config;
        false
    }
}

/// Reads the TLS settings from `mode` and `root` (as split from the URL) for `config`'s hosts,
/// and sets `config`'s own TLS mode to match.
pub(super) fn settings(
    config: &mut tokio_postgres::Config,
    mode: Option<&str>,
    root: Option<&str>,
) -> Result<TlsSettings> {
    let explicit = mode.is_some();
    let mut mode = match mode {
        Some(m) => SslMode::parse(m)?,
        None if all_local(config) => SslMode::Prefer,
        None => SslMode::VerifyFull,
    };
    if all_unix(config) {
        mode = SslMode::Disable;
    }
    let roots = match root {
        None | Some("system") => Roots::Builtin,
        Some("") => return Err(TlsConfigError::EmptyRootCert),
        Some(p) => Roots::File(PathBuf::from(p)),
    };
    config.ssl_mode(match mode {
        SslMode::Disable => PgSslMode::Disable,
        SslMode::Prefer => PgSslMode::Prefer,
        _ => PgSslMode::Require,
    });
    Ok(TlsSettings {
        mode,
        explicit,
        roots,
        root_given: root.is_some(),
    })
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn root_store(roots: &Roots) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::Builtin => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Roots::File(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|source| TlsConfigError::UnreadableRootCert {
                    path: path.clone(),
                    source,
                })?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(TlsConfigError::NoUsableCa { path: path.clone() });
            }
        }
    }
    Ok(store)
}

/// Accepts any server certificate (modes that do not verify it) but still checks that the
/// server holds its key (handshake signatures).
#[derive(Debug)]
struct NoCertificateCheck(Arc<CryptoProvider>);

impl ServerCertVerifier for NoCertificateCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Verifies the chain but not the host name (`verify-ca`).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The name is checked after the chain: a name mismatch means the chain was good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The rustls connector for `s`, or `None` for plaintext (`disable`).
pub(super) fn connector(
    s: &TlsSettings,
) -> Result<Option<tokio_postgres_rustls::MakeRustlsConnect>> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let verify_chain = match s.mode {
        SslMode::Disable => return Ok(None),
        SslMode::Prefer => false,
        SslMode::Require => s.root_given,
        SslMode::VerifyCa | SslMode::VerifyFull => true,
    };
    let config = if !verify_chain {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoCertificateCheck(provider)))
            .with_no_client_auth()
    } else {
        let webpki =
            WebPkiServerVerifier::builder_with_provider(Arc::new(root_store(&s.roots)?), provider)
                .build()?;
        if s.mode == SslMode::VerifyFull {
            builder.with_webpki_verifier(webpki).with_no_client_auth()
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)))
                .with_no_client_auth()
        }
    };
    Ok(Some(tokio_postgres_rustls::MakeRustlsConnect::new(config)))
}

/// What to do about a failed connection, when TLS is the likely reason (`None` otherwise).
pub(super) fn hint(e: &(dyn std::error::Error + 'static), s: &TlsSettings) -> Option<String> {
    let mut cur = Some(e);
    let mut text = String::new();
    while let Some(err) = cur {
        // rustls' error comes as a cause, or inside the I/O error of the handshake.
        let tls = err.downcast_ref::<rustls::Error>().or_else(|| {
            err.downcast_ref::<std::io::Error>()?
                .get_ref()?
                .downcast_ref::<rustls::Error>()
        });
        if let Some(r) = tls {
            return Some(rustls_hint(r, s));
        }
        text.push_str(&err.to_string());
        cur = err.source();
    }
    if text.contains("server does not support TLS") {
        return Some(
            "the database server does not offer TLS: enable ssl on it, or (on a trusted network \
             only) add sslmode=disable to the URL"
                .into(),
        );
    }
    None
}

fn rustls_hint(e: &rustls::Error, s: &TlsSettings) -> String {
    let roots = match &s.roots {
        Roots::Builtin => "the built-in web PKI roots".to_string(),
        Roots::File(p) => format!("the CA file {}", p.display()),
    };
    match e {
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => "the database server's certificate is not valid for the host name in the URL: \
              connect with a name its certificate lists, or use sslmode=verify-ca to check only \
              the certificate chain"
            .into(),
        rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        ) => format!(
            "the database server's certificate is not signed by a CA trusted here ({roots}): \
             set sslrootcert=PATH to the PEM file of the CA that signed it"
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => "the database server's certificate has expired: renew it".into(),
        rustls::Error::InvalidCertificate(_) => {
            format!("the database server's certificate was refused (checked against {roots})")
        }
        _ => "the TLS handshake with the database server failed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> (tokio_postgres::Config, TlsSettings) {
        let (rest, mode, root) = split_url(url);
        let mut c: tokio_postgres::Config = rest.parse().unwrap();
        let s = settings(&mut c, mode.as_deref(), root.as_deref()).unwrap();
        (c, s)
    }

    #[test]
    fn the_url_names_the_mode_and_roots() {
        let (c, s) = parse(
            "postgres://u@db.example:5432/a?sslmode=verify-ca&application_name=x&sslrootcert=%2Fetc%2Fca.pem",
        );
        assert_eq!(s.mode, SslMode::VerifyCa);
        assert!(s.explicit);
        assert_eq!(s.roots, Roots::File("/etc/ca.pem".into()));
        assert_eq!(c.get_ssl_mode(), PgSslMode::Require);
        assert_eq!(c.get_application_name(), Some("x"));
        let (c, s) = parse("postgres://u@db.example/a?sslmode=disable");
        assert_eq!(
            (s.mode, c.get_ssl_mode()),
            (SslMode::Disable, PgSslMode::Disable)
        );
        assert!(split_url("postgres://h/db?sslmode=require").0 == "postgres://h/db");
    }

    #[test]
    fn defaults_verify_unless_the_database_is_local() {
        for url in [
            "postgres://u@db.example/a",
            "postgres://u@10.0.0.5/a",
            "postgres://u@localhost/a?hostaddr=10.0.0.5",
            "postgres://u@127.0.0.1,db.example/a",
        ] {
            let (_, s) = parse(url);
            assert_eq!(s.mode, SslMode::VerifyFull, "{url}");
            assert!(!s.explicit);
            assert_eq!(s.roots, Roots::Builtin);
        }
        for url in [
            "postgres://u@127.0.0.1:5432/a",
            "postgres://u@localhost/a",
            "postgres://u@[::1]/a",
        ] {
            assert_eq!(parse(url).1.mode, SslMode::Prefer, "{url}");
        }
        // A Unix socket never uses TLS, whatever the URL says.
        let (c, s) = parse("postgres://u@%2Frun%2Fpostgresql/a?sslmode=verify-full");
        assert_eq!(
            (s.mode, c.get_ssl_mode()),
            (SslMode::Disable, PgSslMode::Disable)
        );
    }

    #[test]
    fn bad_settings_are_clear_errors() {
        let (rest, _, _) = split_url("postgres://h/db");
        let mut c: tokio_postgres::Config = rest.parse().unwrap();
        let e = settings(&mut c, Some("verify_full"), None).unwrap_err();
        assert!(format!("{e:#}").contains("unknown sslmode"), "{e:#}");
        let s = settings(&mut c, Some("verify-full"), Some("/nonexistent/ca.pem")).unwrap();
        let e = connector(&s).err().expect("no such file");
        assert!(
            format!("{e:#}").contains("cannot read sslrootcert /nonexistent/ca.pem"),
            "{e:#}"
        );
    }
}
