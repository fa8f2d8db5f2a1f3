//! Arguments of `secure-channel …` and `message …`.

use clap::Subcommand;

/// `secure-channel …`
#[derive(Debug, Subcommand)]
pub enum ChannelCmd {
    /// Open a secure channel; prints its address for use in routes.
    Create {
        /// Node that initiates.
        #[arg(long)]
        from: Option<String>,
        /// Route to the listener, e.g. /node/n1/service/api.
        #[arg(long)]
        to: String,
        /// Accept only this peer identifier (repeatable).
        #[arg(long)]
        authorized: Vec<String>,
        /// Handshake timeout in seconds.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
    /// List secure channels of a node.
    List {
        /// Node.
        #[arg(long)]
        at: Option<String>,
    },
    /// Close a secure channel.
    Delete {
        /// Channel address (as printed by create).
        address: String,
        /// Node.
        #[arg(long)]
        at: Option<String>,
    },
}

/// `message …`
#[derive(Debug, Subcommand)]
pub enum MessageCmd {
    /// Send a message and print the reply.
    Send {
        /// The message.
        message: String,
        /// Node that sends.
        #[arg(long)]
        from: Option<String>,
        /// Route, e.g. /node/n1/secure/api/service/uppercase.
        #[arg(long)]
        to: String,
        /// Accept only this identifier at the last secure channel (repeatable).
        #[arg(long)]
        authorized: Vec<String>,
        /// Reply timeout in seconds.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
}
