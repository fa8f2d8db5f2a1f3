//! Arguments of `policy …` and `relay …`: who may use what, and where a node is reachable.

use clap::Subcommand;

/// `policy …`
#[derive(Debug, Subcommand)]
pub enum PolicyCmd {
    /// Set the policy of a resource or resource type.
    #[command(after_help = super::examples::POLICY_CREATE)]
    Create {
        /// Resource name (e.g. an outlet's or a relay's name); with --resource-type, only the
        /// resource of that name and type.
        #[arg(long, value_parser = clap::builder::NonEmptyStringValueParser::new())]
        resource: Option<String>,
        /// Resource type: tcp-inlet, tcp-outlet, relay, kafka-inlet, kafka-outlet,
        /// kafka-consumer, kafka-producer; alone,
        /// the policy of every resource of that type without its own policy.
        #[arg(long, value_parser = clap::builder::NonEmptyStringValueParser::new())]
        resource_type: Option<String>,
        /// Policy as an S-expression, e.g. (= subject.mongodb-inlet "true").
        #[arg(long, conflicts_with = "allow")]
        expression: Option<String>,
        /// Policy in boolean shorthand, e.g. 'mongodb-inlet and not contractor'.
        #[arg(long)]
        allow: Option<String>,
        /// Node.
        #[arg(long)]
        at: Option<String>,
    },
    /// List policies of a node.
    List {
        /// Node.
        #[arg(long)]
        at: Option<String>,
    },
    /// Show the policy created for exactly this resource name and/or type.
    Show {
        /// Resource name, as given when the policy was created.
        #[arg(long)]
        resource: Option<String>,
        /// Resource type, as given when the policy was created (both must match).
        #[arg(long)]
        resource_type: Option<String>,
        /// Node.
        #[arg(long)]
        at: Option<String>,
    },
    /// Delete a policy.
    Delete {
        /// Resource name, as given when the policy was created.
        #[arg(long)]
        resource: Option<String>,
        /// Resource type, as given when the policy was created (both must match).
        #[arg(long)]
        resource_type: Option<String>,
        /// Node.
        #[arg(long)]
        at: Option<String>,
    },
}

/// `relay …`
#[derive(Debug, Subcommand)]
pub enum RelayCmd {
    /// Register a relay (at the project by default) and keep it registered.
    #[command(after_help = super::examples::RELAY_CREATE)]
    Create {
        /// Relay name (default `default`).
        #[arg(default_value = "default")]
        name: String,
        /// Where to register it: `/project/NAME` (default: the default project), or a route to
        /// any node, e.g. `/node/n1` or `/ip4/10.0.0.1/tcp/4000`.
        #[arg(long, value_name = "ROUTE")]
        at: Option<String>,
        /// The local node that owns the relay (default node if omitted).
        #[arg(long, value_name = "NODE")]
        to: Option<String>,
        /// Shorthand for `--at /project/PROJECT`.
        #[arg(long, conflicts_with = "at")]
        project: Option<String>,
        /// Accept only this identifier as the relay host (repeatable; for `--at` routes to a
        /// node — the project route always trusts only the project).
        #[arg(long, value_name = "IDENTIFIER")]
        authorized: Vec<String>,
        /// Wait until the relay is registered (30s when given bare, e.g. `--wait=2m`): exit
        /// non-zero if it is not by then (the node keeps trying). A refusal (no permission
        /// for the name, a policy) is an error either way.
        #[arg(
            long,
            value_name = "DURATION",
            num_args = 0..=1,
            require_equals = true,
            default_missing_value = super::portal::DEFAULT_WAIT,
            value_parser = super::portal::parse_wait
        )]
        wait: Option<std::time::Duration>,
    },
    /// List relays of a node.
    List {
        /// Node (default node if omitted).
        #[arg(long, visible_alias = "at", value_name = "NODE")]
        to: Option<String>,
    },
    /// Show a relay.
    Show {
        /// Relay name.
        name: String,
        /// Node (default node if omitted).
        #[arg(long, visible_alias = "at", value_name = "NODE")]
        to: Option<String>,
    },
    /// Delete a relay.
    Delete {
        /// Relay name.
        name: String,
        /// Node (default node if omitted).
        #[arg(long, visible_alias = "at", value_name = "NODE")]
        to: Option<String>,
    },
}
