//! Arguments of `kafka-outlet …` and `kafka-inlet …`: the two ends of a Kafka portal; and
//! `kafka-producer …` / `kafka-consumer …`, the short forms of an encrypting Kafka inlet.

use clap::{Args, Subcommand};
use std::time::Duration;

/// Parses `--brokers-port-range FIRST-LAST`.
fn parse_broker_ports(s: &str) -> Result<(u16, u16), String> {
    crate::operations::kafka::parse_broker_ports(s)
}

/// `kafka-outlet …`
#[derive(Debug, Subcommand)]
pub enum KafkaOutletCmd {
    /// Create a Kafka outlet next to the Kafka cluster; prints its route suffix
    /// (`/service/NAME`). Brokers the cluster advertises get outlets `NAME-broker-ID`.
    #[command(after_help = super::examples::KAFKA_OUTLET_CREATE)]
    Create {
        /// The outlet's service name (Kafka inlets name it with --outlet).
        #[arg(long, default_value = crate::operations::kafka::DEFAULT_OUTLET)]
        name: String,
        /// The Kafka cluster's bootstrap server, HOST:PORT.
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9092")]
        bootstrap_server: String,
        /// Speak TLS to the bootstrap server and every broker (a cloud broker's SASL_SSL
        /// listener: clients speak SASL_PLAINTEXT to the Kafka inlet, SASL passes through). The
        /// broker's certificate must name the host dialled (an IP address: an IP SAN).
        #[arg(long)]
        tls: bool,
        /// Trust only the CA certificates of this PEM file for --tls (default: the Mozilla
        /// roots).
        #[arg(long, value_name = "PEM", requires = "tls")]
        tls_ca_file: Option<std::path::PathBuf>,
        /// Node (default node if omitted).
        #[arg(long)]
        at: Option<String>,
    },
    /// List Kafka outlets.
    List {
        /// Node.
        #[arg(long)]
        at: Option<String>,
    },
    /// Show one Kafka outlet.
    Show {
        /// Name.
        name: String,
        /// Node.
        #[arg(long)]
        at: Option<String>,
    },
    /// Delete a Kafka outlet.
    Delete {
        /// Name.
        name: String,
        /// Node.
        #[arg(long)]
        at: Option<String>,
    },
}

/// `kafka-inlet …`
#[derive(Debug, Subcommand)]
pub enum KafkaInletCmd {
    /// Create a Kafka inlet where Kafka clients run; prints the bootstrap address they use.
    /// Record values are encrypted end to end by default: producers through this inlet seal
    /// them for the consumers this node's kafka-consumer policy admits, consumers open what was
    /// sealed for them; brokers, the outlet node and the project node see ciphertext only.
    #[command(after_help = super::examples::KAFKA_INLET_CREATE)]
    Create {
        /// Name of the inlet (default: the first free `kafka-inlet-N`).
        #[arg(long, visible_alias = "alias")]
        name: Option<String>,
        /// Where Kafka clients bootstrap, IP:PORT.
        #[arg(long, value_name = "IP:PORT", default_value = crate::operations::kafka::DEFAULT_FROM)]
        from: String,
        /// Route to the Kafka outlet's node, ending in its secure channel, e.g.
        /// /node/n1/secure/api (the inlet adds /service/<--outlet>).
        #[arg(long, value_name = "ROUTE", conflicts_with = "via")]
        to: Option<String>,
        /// Reach the Kafka outlet's node through this project relay:
        /// /project/P/service/forward_to_VIA/secure/api. The default when --to is not given:
        /// `kafka`. Without --authorized, the inlet accepts only the node the project has relay
        /// VIA bound to (asked when the inlet is created).
        #[arg(long, value_name = "RELAY")]
        via: Option<String>,
        /// Project for --via (default project if omitted).
        #[arg(long, conflicts_with = "to")]
        project: Option<String>,
        /// The Kafka outlet's service name at that node.
        #[arg(long, default_value = crate::operations::kafka::DEFAULT_OUTLET)]
        outlet: String,
        /// Local ports for the brokers, FIRST-LAST (default: the 100 ports after the
        /// bootstrap port, e.g. 9093-9192 for --from 127.0.0.1:9092).
        #[arg(long, value_name = "FIRST-LAST", value_parser = parse_broker_ports)]
        brokers_port_range: Option<(u16, u16)>,
        /// Accept only this identifier at the Kafka outlet's end (repeatable); with --via,
        /// replaces the pinned relay owner.
        #[arg(long, value_name = "IDENTIFIER")]
        authorized: Vec<String>,
        /// Carry records as they are (protected in transit only; the outlet node and the brokers
        /// see them) instead of encrypting values end to end.
        #[arg(long)]
        disable_content_encryption: bool,
        /// Encrypt only this top-level field of JSON record values (repeatable); the rest of
        /// each value stays readable and is NOT authenticated; values must be JSON objects.
        #[arg(
            long = "encrypted-field",
            value_name = "NAME",
            conflicts_with = "disable_content_encryption"
        )]
        encrypted_fields: Vec<String>,
        /// Node.
        #[arg(long)]
        at: Option<String>,
        /// Wait until the bootstrap link is up (30s when given bare, e.g. `--wait=2m`): exit
        /// non-zero if it is not up by then (the inlet stays and keeps trying). A refusal
        /// (the outlet's policy, a revoked member, a wrong identity) is an error either way.
        #[arg(
            long,
            value_name = "DURATION",
            num_args = 0..=1,
            require_equals = true,
            default_missing_value = super::portal::DEFAULT_WAIT,
            value_parser = super::portal::parse_wait
        )]
        wait: Option<Duration>,
    },
    /// List Kafka inlets.
    List {
        /// Node.
        #[arg(long)]
        at: Option<String>,
    },
    /// Show one Kafka inlet.
    Show {
        /// Name.
        name: String,
        /// Node.
        #[arg(long)]
        at: Option<String>,
    },
    /// Delete a Kafka inlet.
    Delete {
        /// Name.
        name: String,
        /// Node.
        #[arg(long)]
        at: Option<String>,
    },
}

/// `kafka-producer …` and `kafka-consumer …`: the short forms of `kafka-inlet` (seed 001).
/// Each creates an encrypting Kafka inlet; which clients use it (producers, consumers, or
/// both) does not change what it does. `list` and `delete` are those of `kafka-inlet`.
#[derive(Debug, Subcommand)]
pub enum KafkaClientCmd {
    /// Create an encrypting Kafka inlet where the Kafka clients run (`kafka-inlet create` with
    /// the bootstrap address given as --bootstrap-server); prints what it created.
    #[command(after_help = super::examples::KAFKA_PRODUCER_CREATE)]
    Create(KafkaClientArgs),
    /// List Kafka inlets (the same as `kafka-inlet list`).
    List {
        /// Node.
        #[arg(long)]
        at: Option<String>,
    },
    /// Delete a Kafka inlet (the same as `kafka-inlet delete`).
    Delete {
        /// Name.
        name: String,
        /// Node.
        #[arg(long)]
        at: Option<String>,
    },
}

/// `kafka-producer create` / `kafka-consumer create`.
#[derive(Debug, Args)]
pub struct KafkaClientArgs {
    /// Name of the inlet (default: the first free `kafka-producer-N` / `kafka-consumer-N`).
    #[arg(long)]
    pub name: Option<String>,
    /// The local address Kafka clients bootstrap at, IP:PORT.
    #[arg(long, value_name = "IP:PORT", default_value = crate::operations::kafka::DEFAULT_FROM)]
    pub bootstrap_server: String,
    /// Local ports for the brokers, FIRST-LAST (default: the 100 ports after the bootstrap
    /// port).
    #[arg(long, value_name = "FIRST-LAST", value_parser = parse_broker_ports)]
    pub brokers_port_range: Option<(u16, u16)>,
    /// Route to the Kafka outlet's node, ending at its secure channel: /node/n1/secure/api, or
    /// /project/default for the project's own Kafka outlet (`project addon configure kafka`).
    #[arg(long, value_name = "ROUTE", conflicts_with = "via")]
    pub to: Option<String>,
    /// Reach the Kafka outlet's node through this project relay (default `kafka` without --to).
    #[arg(long, value_name = "RELAY")]
    pub via: Option<String>,
    /// Project for --via (default project if omitted).
    #[arg(long, conflicts_with = "to")]
    pub project: Option<String>,
    /// The Kafka outlet's service name at that node.
    #[arg(long, default_value = crate::operations::kafka::DEFAULT_OUTLET)]
    pub outlet: String,
    /// Accept only this identifier at the Kafka outlet's end (repeatable).
    #[arg(long, value_name = "IDENTIFIER")]
    pub authorized: Vec<String>,
    /// Encrypt only this top-level field of JSON record values (repeatable); the rest of each
    /// value stays readable and is NOT authenticated; values must be JSON objects.
    #[arg(long = "encrypted-field", value_name = "NAME")]
    pub encrypted_fields: Vec<String>,
    /// Node.
    #[arg(long)]
    pub at: Option<String>,
    /// Wait until the bootstrap link is up (30s when given bare, e.g. `--wait=2m`).
    #[arg(
        long,
        value_name = "DURATION",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = super::portal::DEFAULT_WAIT,
        value_parser = super::portal::parse_wait
    )]
    pub wait: Option<Duration>,
}
