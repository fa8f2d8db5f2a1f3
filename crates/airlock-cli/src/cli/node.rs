//! Arguments of `node …`: creating, starting and stopping nodes, and how a node process runs.

use clap::{Args, Subcommand};

/// `node …`
#[derive(Debug, Subcommand)]
pub enum NodeCmd {
    /// Create and start a node (in the background unless --foreground).
    #[command(after_help = super::examples::NODE_CREATE)]
    Create(NodeCreateArgs),
    /// Start a stopped node again, with its portals and the options it last ran with (options
    /// given here replace them).
    Start {
        /// Node name.
        name: String,
        #[command(flatten)]
        run: RunArgs,
    },
    /// List nodes.
    List,
    /// Show a node.
    Show {
        /// Node name (default node without it).
        name: Option<String>,
    },
    /// Print a node's log.
    #[command(after_help = super::examples::NODE_LOGS)]
    Logs {
        /// Node name.
        name: Option<String>,
        /// Number of lines from the end.
        #[arg(long, short = 'n', default_value_t = 100)]
        lines: usize,
        /// Keep printing lines as the node writes them (like `tail -f`), until Ctrl-C.
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// Stop a node gracefully.
    Stop {
        /// Node name.
        name: Option<String>,
    },
    /// Stop and delete a node and its portals.
    ///
    /// Deleting a node you name goes ahead at once, unless it is in use: it carries open portal
    /// connections, its outlets are linked to inlets, others reach it through a relay, it hosts
    /// a project, or another node's inlet points at it. Then, as for the default node (no NAME)
    /// and --all, it asks first. Without a terminal to ask on it deletes nothing and fails; pass
    /// --yes to confirm.
    #[command(
        after_help = "Examples:\n  airlock node delete n1              # a named node without open connections\n  airlock node delete --all --yes     # in a script: every node, without asking"
    )]
    Delete {
        /// Node name (the default node if omitted; asks first).
        name: Option<String>,
        /// Delete all nodes (asks first).
        #[arg(long, conflicts_with = "name")]
        all: bool,
        /// Do not ask: confirm the deletion (needed without a terminal).
        #[arg(long, short)]
        yes: bool,
    },
    /// Run a node in this process (used by `node create`/`node start`).
    #[command(hide = true)]
    Run {
        /// Node name.
        name: String,
        #[command(flatten)]
        run: RunArgs,
    },
}

/// Log output format of a node process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines on stderr.
    #[default]
    Text,
    /// One JSON object per line on stdout (foreground) or in the node log (background).
    Json,
}

/// The default of `--drain-timeout`.
pub const DEFAULT_DRAIN: &str = "10s";

/// How a node process runs (`node create`, `node start`). The options a node was created or
/// last started with are remembered: `node start` reuses them, and what its command line sets
/// replaces them ([`RunArgs::over`]).
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Log format: `text` (stderr) or `json` (one object per line; stdout in the foreground).
    #[arg(long, value_enum, default_value = "text", env = "AIRLOCK_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Serve Prometheus metrics at /metrics and probes at /healthz and /readyz on this
    /// address, e.g. 127.0.0.1:9464 (off by default).
    #[arg(long, value_name = "IP:PORT", env = "AIRLOCK_METRICS")]
    pub metrics: Option<std::net::SocketAddr>,
    /// On SIGTERM or Ctrl-C, stop taking portal connections and give the open ones this long
    /// to finish before cutting them (e.g. 10s, 0 to cut at once).
    #[arg(long, default_value = DEFAULT_DRAIN, value_name = "DURATION")]
    pub drain_timeout: String,
    /// Serve stream mailboxes backed by this Kafka broker (`host:port`, plaintext): the
    /// services `stream_kafka` and `stream_kafka_index` that library programs use to run
    /// secure channels through Kafka topics (docs/protocol.md §12).
    #[arg(long, value_name = "HOST:PORT")]
    pub kafka_bootstrap: Option<String>,
    /// With --kafka-bootstrap: copies of each topic the hub creates.
    #[arg(
        long,
        default_value_t = 1,
        value_name = "N",
        requires = "kafka_bootstrap"
    )]
    pub kafka_replication: i16,
    /// Accept secure channels from any identity, and let the default policies admit it: a
    /// stream hub open to anyone (they see only ciphertext). Do not use on a node with outlets.
    #[arg(long)]
    pub trust_anyone: bool,
}

impl RunArgs {
    /// The options for the node runner.
    pub fn options(&self) -> anyhow::Result<airlock_daemon::RunOptions> {
        Ok(airlock_daemon::RunOptions {
            log_format: match self.log_format {
                LogFormat::Text => airlock_daemon::LogFormat::Text,
                LogFormat::Json => airlock_daemon::LogFormat::Json,
            },
            metrics: self.metrics,
            drain: std::time::Duration::from_secs(crate::routes::parse_duration(
                &self.drain_timeout,
            )?),
            release_memory: Some(crate::memory::collect),
            stream_hub: self.kafka_bootstrap.as_ref().map(|b| {
                airlock_node::stream::KafkaSettings {
                    bootstrap: b.split(',').map(|s| s.trim().to_string()).collect(),
                    replication: self.kafka_replication,
                }
            }),
            trust_anyone: self.trust_anyone,
        })
    }

    /// These options on top of `before` (a node's remembered ones): what this command line
    /// sets wins, the rest is as before. (A flag cannot be unset this way: recreate the node.)
    pub fn over(&self, before: &RunArgs) -> RunArgs {
        let (kafka_bootstrap, kafka_replication) = if self.kafka_bootstrap.is_some() {
            (self.kafka_bootstrap.clone(), self.kafka_replication)
        } else {
            (before.kafka_bootstrap.clone(), before.kafka_replication)
        };
        RunArgs {
            log_format: self.log_format,
            metrics: self.metrics.or(before.metrics),
            drain_timeout: if self.drain_timeout != DEFAULT_DRAIN {
                self.drain_timeout.clone()
            } else {
                before.drain_timeout.clone()
            },
            kafka_bootstrap,
            kafka_replication,
            trust_anyone: self.trust_anyone || before.trust_anyone,
        }
    }

    /// Reads options back from [`RunArgs::to_args`]'s form; `None` if they no longer parse.
    pub fn from_args(args: &[String]) -> Option<RunArgs> {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            run: RunArgs,
        }
        <Wrapper as clap::Parser>::try_parse_from(
            std::iter::once("node-run".to_string()).chain(args.iter().cloned()),
        )
        .ok()
        .map(|w| w.run)
    }

    /// The same options as command-line arguments (for the background process).
    pub fn to_args(&self) -> Vec<String> {
        let mut v = vec![
            "--log-format".to_string(),
            match self.log_format {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            }
            .to_string(),
            "--drain-timeout".to_string(),
            self.drain_timeout.clone(),
        ];
        if let Some(m) = self.metrics {
            v.push("--metrics".into());
            v.push(m.to_string());
        }
        if let Some(b) = &self.kafka_bootstrap {
            v.extend([
                "--kafka-bootstrap".into(),
                b.clone(),
                "--kafka-replication".into(),
                self.kafka_replication.to_string(),
            ]);
        }
        if self.trust_anyone {
            v.push("--trust-anyone".into());
        }
        v
    }
}

/// `node create` arguments.
#[derive(Debug, Args)]
pub struct NodeCreateArgs {
    /// Node name (generated if omitted), or a configuration file (./airlock.yaml).
    pub name: Option<String>,
    /// Run in the foreground (for containers); stop with Ctrl-C or SIGTERM.
    #[arg(long, short)]
    pub foreground: bool,
    /// TCP listener address of the node.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub tcp_listener_address: String,
    /// Identity to run the node with (default identity if omitted).
    #[arg(long)]
    pub identity: Option<String>,
    #[command(flatten)]
    pub run: RunArgs,
}
