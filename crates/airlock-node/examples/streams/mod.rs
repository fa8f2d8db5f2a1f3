//! What the `alice` and `bob` examples share: an identity kept in a file, a node, logging.

use airlock_identity::{IdentitySecret, PurposeKeySecret};
use airlock_node::{Node, NodeConfig, NodeIdentity};
use std::path::Path;

/// Loads the identity in `path` (hex of its secret bytes), creating the file on first use, or a
/// fresh identity without a path. The purpose key is new on each run.
pub fn identity(path: Option<&Path>) -> Result<NodeIdentity, String> {
    let now = airlock_node::unix_now();
    let secret = match path {
        Some(p) if p.exists() => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let bytes = hex::decode(text.trim()).map_err(|e| format!("{}: {e}", p.display()))?;
            IdentitySecret::from_secret_bytes(&bytes, now)
                .map_err(|e| format!("{}: {e}", p.display()))?
        }
        Some(p) => {
            let s = IdentitySecret::create(now);
            write_private(p, &hex::encode(s.to_secret_bytes()))?;
            s
        }
        None => IdentitySecret::create(now),
    };
    let purpose = PurposeKeySecret::create(&secret, now, 24 * 3600);
    Ok(NodeIdentity { secret, purpose })
}

fn write_private(p: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(p).map_err(|e| format!("{}: {e}", p.display()))?;
    f.write_all(text.as_bytes())
        .map_err(|e| format!("{}: {e}", p.display()))
}

/// A node on a free loopback port that accepts secure channels from any identity (a demo:
/// it serves only the example's own service).
pub async fn node(name: &str, identity: NodeIdentity) -> Result<Node, String> {
    let mut config = NodeConfig::loopback(name);
    config.identity = identity;
    Node::start(config).await.map_err(|e| e.to_string())
}

/// Logs to stderr, `RUST_LOG` (default: warnings).
pub fn logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Prints a line on stdout at once (the examples' output is read by scripts).
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, $($t)*);
        let _ = out.flush();
    }};
}
