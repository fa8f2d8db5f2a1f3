//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};

mod access;
mod channel;
mod examples;
mod kafka;
mod node;
mod portal;
mod project;

pub use access::{PolicyCmd, RelayCmd};
pub use channel::{ChannelCmd, MessageCmd};
pub use kafka::{KafkaClientArgs, KafkaClientCmd, KafkaInletCmd, KafkaOutletCmd};
pub use node::{LogFormat, NodeCmd, NodeCreateArgs, RunArgs};
pub use portal::{InletCmd, OutletCmd};
pub use project::{AddonCmd, KafkaAddonCmd, MemberCmd, ProjectCmd, ProjectRelayCmd};

/// Airlock: end-to-end encrypted, mutually authenticated connections between applications.
#[derive(Debug, Parser)]
#[command(name = "airlock", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Output format of lists, shows and created values.
    #[arg(long, global = true, value_enum, default_value_t = Output::Plain)]
    pub output: Output,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Human-readable.
    Plain,
    /// JSON on stdout.
    Json,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and inspect identities.
    #[command(subcommand)]
    Identity(IdentityCmd),
    /// Create, list, stop and delete nodes.
    #[command(subcommand)]
    Node(NodeCmd),
    /// TCP outlets: the service side of a portal.
    #[command(subcommand, name = "tcp-outlet")]
    TcpOutlet(OutletCmd),
    /// TCP inlets: the client side of a portal.
    #[command(subcommand, name = "tcp-inlet")]
    TcpInlet(InletCmd),
    /// Kafka outlets: the Kafka cluster's side of a Kafka portal.
    #[command(subcommand, name = "kafka-outlet")]
    KafkaOutlet(KafkaOutletCmd),
    /// Kafka inlets: where Kafka clients bootstrap, reaching the cluster through a Kafka outlet.
    #[command(subcommand, name = "kafka-inlet")]
    KafkaInlet(KafkaInletCmd),
    /// Short form of an encrypting Kafka inlet for producers (`kafka-inlet create`).
    #[command(subcommand, name = "kafka-producer")]
    KafkaProducer(KafkaClientCmd),
    /// Short form of an encrypting Kafka inlet for consumers (`kafka-inlet create`).
    #[command(subcommand, name = "kafka-consumer")]
    KafkaConsumer(KafkaClientCmd),
    /// Secure channels between nodes.
    #[command(subcommand, name = "secure-channel")]
    SecureChannel(ChannelCmd),
    /// Send messages along routes.
    #[command(subcommand)]
    Message(MessageCmd),
    /// Access policies (ABAC) on portals and relays.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Relays: be reachable through the project without an inbound port.
    #[command(subcommand)]
    Relay(RelayCmd),
    /// Projects: a self-hosted authority, tickets, enrollment and members.
    #[command(subcommand)]
    Project(ProjectCmd),
    /// Overview of identities and nodes.
    Status,
    /// Stop all nodes and delete all local state: every identity and its keys, every node,
    /// membership and hosted project. Asks first; without a terminal it needs --yes.
    Reset(ResetArgs),
    /// Print a shell completion script, e.g. `airlock completion bash > /etc/bash_completion.d/airlock`.
    Completion {
        /// Shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `identity …`
#[derive(Debug, Subcommand)]
pub enum IdentityCmd {
    /// Create an identity; prints its identifier.
    Create {
        /// Local name of the identity.
        name: String,
    },
    /// Show an identity (the default one without NAME).
    Show {
        /// Name.
        name: Option<String>,
        /// Print the full public identity (change history) as an export string.
        #[arg(long)]
        full: bool,
    },
    /// List identities.
    List,
    /// Rotate the identity's key; the identifier stays the same.
    Rotate {
        /// Name.
        name: String,
    },
    /// Import (verify) an exported identity string and print its identifier.
    #[command(alias = "import")]
    Verify {
        /// The `airlock-identity:…` string.
        export: String,
    },
    /// Make an identity the default.
    Default {
        /// Name.
        name: String,
    },
    /// Delete an identity no node uses.
    Delete {
        /// Name.
        name: String,
    },
}

/// `reset` arguments.
#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Do not ask: confirm deleting every identity, key and node (needed without a terminal).
    #[arg(long, short)]
    pub yes: bool,
}

#[cfg(test)]
mod tests;
