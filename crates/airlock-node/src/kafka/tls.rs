//! TLS from the Kafka outlet to the brokers (rustls with ring), for clusters that only take
//! TLS connections — a cloud broker's SASL_SSL listener.
//!
//! The server name checked (and sent as SNI) is the host part of the address dialled: the
//! bootstrap server's host, or the host the cluster advertised for a broker. A host that is an
//! IP address is checked against the certificate's IP address SANs. The roots are the Mozilla
//! roots (webpki-roots), or only the certificates of a CA file (`--tls-ca-file`), read when the
//! outlet is created.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Why the TLS settings of a Kafka outlet cannot be used ([`BrokerTls::new`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// The CA file cannot be opened or read.
    #[error("cannot read the TLS CA file {path}: {error}")]
    UnreadableCaFile {
        /// The file.
        path: String,
        /// Why (part of the message, not a separate cause).
        error: rustls::pki_types::pem::Error,
    },
    /// The CA file is not PEM.
    #[error("the TLS CA file {path} is not PEM: {error}")]
    NotPem {
        /// The file.
        path: String,
        /// Why (part of the message, not a separate cause).
        error: rustls::pki_types::pem::Error,
    },
    /// The CA file holds no certificate.
    #[error("the TLS CA file {path} holds no certificate (PEM)")]
    NoCertificate {
        /// The file.
        path: String,
    },
    /// A certificate of the CA file cannot be a root.
    #[error("the TLS CA file {path} holds a certificate rustls cannot use: {error}")]
    UnusableCertificate {
        /// The file.
        path: String,
        /// Why (part of the message, not a separate cause).
        error: rustls::Error,
    },
    /// rustls refused the configuration.
    #[error("TLS set-up failed: {0}")]
    Setup(rustls::Error),
}

/// The client side of TLS to a Kafka cluster.
#[derive(Clone)]
pub struct BrokerTls {
    connector: TlsConnector,
}

impl std::fmt::Debug for BrokerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BrokerTls")
    }
}

impl BrokerTls {
    /// TLS that trusts the certificates of `ca_file` (PEM) only, or the Mozilla roots without one.
    pub fn new(ca_file: Option<&str>) -> Result<BrokerTls, TlsConfigError> {
        let mut roots = RootCertStore::empty();
        match ca_file {
            Some(path) => {
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                    .map_err(|error| TlsConfigError::UnreadableCaFile {
                        path: path.into(),
                        error,
                    })?
                    .collect::<Result<_, _>>()
                    .map_err(|error| TlsConfigError::NotPem {
                        path: path.into(),
                        error,
                    })?;
                if certs.is_empty() {
                    return Err(TlsConfigError::NoCertificate { path: path.into() });
                }
                for c in certs {
                    roots
                        .add(c)
                        .map_err(|error| TlsConfigError::UnusableCertificate {
                            path: path.into(),
                            error,
                        })?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsConfigError::Setup)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(BrokerTls {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// The TLS handshake on `tcp`, connected to `address` (`host:port`); the error says why
    /// (an unknown CA, a name the certificate does not hold), with a hint.
    pub async fn connect(
        &self,
        address: &str,
        tcp: TcpStream,
    ) -> Result<TlsStream<TcpStream>, String> {
        let host = host_of(address);
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| format!("{host:?} cannot be a TLS server name: {e}"))?;
        self.connector
            .connect(name, tcp)
            .await
            .map_err(|e| describe(&e, host))
    }
}

/// The host part of `host:port` (`[v6]:port` without its brackets).
pub fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// The reason a handshake failed, with what to do about it.
fn describe(e: &std::io::Error, host: &str) -> String {
    use rustls::{CertificateError, Error};
    let tls = e.get_ref().and_then(|i| i.downcast_ref::<Error>());
    let hint = match tls {
        Some(Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
            " (the broker's certificate is not signed by a trusted CA: give its CA with --tls-ca-file)"
                .to_string()
        }
        Some(Error::InvalidCertificate(CertificateError::NotValidForName))
        | Some(Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })) => {
            format!(" (the broker's certificate does not name {host:?}: the address dialled must be among its subject alternative names)")
        }
        Some(Error::InvalidCertificate(CertificateError::Expired))
        | Some(Error::InvalidCertificate(CertificateError::ExpiredContext { .. })) => {
            " (the broker's certificate has expired)".to_string()
        }
        _ => String::new(),
    };
    format!("TLS handshake failed: {e}{hint}")
}

#[cfg(test)]
mod tests {
    use super::{host_of, BrokerTls, TlsConfigError};

    #[test]
    fn unusable_ca_files_are_told_apart() {
        let missing = "/nonexistent/airlock-test/ca.pem";
        match BrokerTls::new(Some(missing)) {
            Err(TlsConfigError::UnreadableCaFile { path, .. }) => assert_eq!(path, missing),
            other => panic!("expected UnreadableCaFile, got {other:?}"),
        }
        let dir = std::env::temp_dir().join(format!("airlock-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let e = BrokerTls::new(Some(empty.to_str().unwrap())).unwrap_err();
        assert!(matches!(e, TlsConfigError::NoCertificate { .. }), "{e:?}");
        assert!(e.to_string().contains("holds no certificate"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
        // Without a CA file: the Mozilla roots.
        assert!(BrokerTls::new(None).is_ok());
    }

    #[test]
    fn host_part_of_addresses() {
        assert_eq!(host_of("broker.example.com:9092"), "broker.example.com");
        assert_eq!(host_of("127.0.0.1:19191"), "127.0.0.1");
        assert_eq!(host_of("[::1]:9093"), "::1");
        assert_eq!(host_of("nohost"), "nohost");
    }
}
