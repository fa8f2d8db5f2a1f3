//! Arguments of `tcp-outlet …` and `tcp-inlet …`: the two ends of a portal.

use clap::Subcommand;
use std::time::Duration;

/// What `--wait` waits when given bare.
pub const DEFAULT_WAIT: &str = "30s";

/// Parses a `--wait` value with the CLI's duration syntax (`30s`, `2m`, `1h`; a bare number
/// is seconds).
pub fn parse_wait(s: &str) -> Result<Duration, String> {
    crate::routes::parse_duration(s)
        .map(Duration::from_secs)
        .map_err(|e| format!("{:#}", anyhow::Error::from(e)))
}

/// `tcp-outlet …`
#[derive(Debug, Subcommand)]
pub enum OutletCmd {
    /// Create an outlet; prints its route suffix (`/service/NAME`).
    #[command(after_help = super::examples::TCP_OUTLET_CREATE)]
    Create {
        /// The target service, HOST:PORT.
        #[arg(long)]
        to: String,
        /// The outlet's service name.
        #[arg(long, default_value = "outlet")]
        from: String,
        /// Node (default node if omitted).
        #[arg(long)]
        at: Option<String>,
    },
    /// List outlets.
    List {
        /// Node.
        #[arg(long)]
        at: Option<String>,
    },
    /// Show one outlet.
    Show {
        /// Name.
        name: String,
        /// Node.
        #[arg(long)]
        at: Option<String>,
    },
    /// Delete an outlet.
    Delete {
        /// Name.
        name: String,
        /// Node.
        #[arg(long)]
        at: Option<String>,
    },
}

/// `tcp-inlet …`
#[derive(Debug, Subcommand)]
pub enum InletCmd {
    /// Create an inlet; prints the address it listens on.
    #[command(after_help = super::examples::TCP_INLET_CREATE)]
    Create {
        /// Local address to listen on (a free port on 127.0.0.1 if omitted).
        #[arg(long, default_value = "127.0.0.1:0")]
        from: String,
        /// Route to the outlet, e.g. /node/n1/secure/api/service/outlet; with --via, the
        /// outlet's name (default `outlet`).
        #[arg(long)]
        to: Option<String>,
        /// Reach the outlet through this project relay:
        /// /project/P/service/forward_to_VIA/secure/api/service/<--to or outlet>. Without
        /// --authorized, the inlet accepts only the node the project has relay VIA bound to
        /// (asked when the inlet is created).
        #[arg(long)]
        via: Option<String>,
        /// Project for --via (default project if omitted).
        #[arg(long)]
        project: Option<String>,
        /// Name of the inlet.
        #[arg(long)]
        alias: Option<String>,
        /// Accept only this identifier at the outlet's end (repeatable); with --via, replaces
        /// the pinned relay owner.
        #[arg(long)]
        authorized: Vec<String>,
        /// Node.
        #[arg(long)]
        at: Option<String>,
        /// Wait until the inlet's link is up (30s when given bare, e.g. `--wait=2m`): exit
        /// non-zero if it is not up by then (the inlet stays and keeps trying). A refusal
        /// (the outlet's policy, a revoked member, a wrong identity) is an error either way.
        #[arg(
            long,
            value_name = "DURATION",
            num_args = 0..=1,
            require_equals = true,
            default_missing_value = DEFAULT_WAIT,
            value_parser = parse_wait
        )]
        wait: Option<Duration>,
    },
    /// List inlets.
    List {
        /// Node.
        #[arg(long)]
        at: Option<String>,
    },
    /// Show one inlet.
    Show {
        /// Name.
        name: String,
        /// Node.
        #[arg(long)]
        at: Option<String>,
    },
    /// Delete an inlet.
    Delete {
        /// Name.
        name: String,
        /// Node.
        #[arg(long)]
        at: Option<String>,
    },
}
