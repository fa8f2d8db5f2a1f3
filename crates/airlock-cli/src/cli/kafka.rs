//! Arguments of `kafka-outlet …` and `kafka-inlet …`: the two ends of a Kafka portal.

use clap::Subcommand;
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
