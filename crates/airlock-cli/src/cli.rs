//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};

mod access;
pub use access::{PolicyCmd, RelayCmd};

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
    /// Stop all nodes and delete all local state.
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

/// `node …`
#[derive(Debug, Subcommand)]
pub enum NodeCmd {
    /// Create and start a node (in the background unless --foreground).
    Create(NodeCreateArgs),
    /// Start a stopped node again, with its portals.
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
    Logs {
        /// Node name.
        name: Option<String>,
        /// Number of lines from the end.
        #[arg(long, short = 'n', default_value_t = 100)]
        lines: usize,
    },
    /// Stop a node gracefully.
    Stop {
        /// Node name.
        name: Option<String>,
    },
    /// Stop and delete a node and its portals.
    Delete {
        /// Node name.
        name: Option<String>,
        /// Delete all nodes.
        #[arg(long)]
        all: bool,
        /// Accepted for compatibility; deletion never prompts.
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

/// How a node process runs (`node create`, `node start`).
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Log format: `text` (stderr) or `json` (one object per line; stdout in the foreground).
    #[arg(long, value_enum, default_value = "text", env = "AIRLOCK_LOG_FORMAT")]
    pub log_format: crate::daemon::LogFormat,
    /// Serve Prometheus metrics at /metrics and probes at /healthz and /readyz on this
    /// address, e.g. 127.0.0.1:9464 (off by default).
    #[arg(long, value_name = "IP:PORT", env = "AIRLOCK_METRICS")]
    pub metrics: Option<std::net::SocketAddr>,
    /// On SIGTERM or Ctrl-C, stop taking portal connections and give the open ones this long
    /// to finish before cutting them (e.g. 10s, 0 to cut at once).
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub drain_timeout: String,
}

impl RunArgs {
    /// The options for the node runner.
    pub fn options(&self) -> anyhow::Result<crate::daemon::RunOptions> {
        Ok(crate::daemon::RunOptions {
            log_format: self.log_format,
            metrics: self.metrics,
            drain: std::time::Duration::from_secs(crate::routes::parse_duration(
                &self.drain_timeout,
            )?),
        })
    }

    /// The same options as command-line arguments (for the background process).
    pub fn to_args(&self) -> Vec<String> {
        let mut v = vec![
            "--log-format".to_string(),
            match self.log_format {
                crate::daemon::LogFormat::Text => "text",
                crate::daemon::LogFormat::Json => "json",
            }
            .to_string(),
            "--drain-timeout".to_string(),
            self.drain_timeout.clone(),
        ];
        if let Some(m) = self.metrics {
            v.push("--metrics".into());
            v.push(m.to_string());
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

/// `tcp-outlet …`
#[derive(Debug, Subcommand)]
pub enum OutletCmd {
    /// Create an outlet; prints its route suffix (`/service/NAME`).
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

/// `reset` arguments.
#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Accepted for compatibility; reset never prompts.
    #[arg(long, short)]
    pub yes: bool,
}

/// `project …`
#[derive(Debug, Subcommand)]
pub enum ProjectCmd {
    /// Create and start a self-hosted project node (authority); you become its administrator.
    Create {
        /// Project name.
        #[arg(long, default_value = "default")]
        name: String,
        /// Address the project node listens on.
        #[arg(long, default_value = "127.0.0.1:4000")]
        listen: String,
        /// HOST:PORT members use to reach the project node (put in tickets); defaults to --listen.
        #[arg(long)]
        public_address: Option<String>,
        /// Lifetime of member credentials (e.g. 1h, 30m).
        #[arg(long, default_value = "1h")]
        credential_ttl: String,
        /// Administrator identity (the default identity if omitted).
        #[arg(long)]
        identity: Option<String>,
        /// Keep the authority state in PostgreSQL (`postgres://user@host[:port]/db`) instead of
        /// a local SQLite file. Several project nodes given the same database and --name serve
        /// one project: the first creates it, the next ones join it. Give the password with
        /// --database-password-file or AIRLOCK_DATABASE_PASSWORD rather than in the URL (a
        /// command line is visible to every local user in `ps`).
        #[arg(
            long,
            value_name = "URL",
            env = "AIRLOCK_PROJECT_DATABASE",
            hide_env_values = true
        )]
        database: Option<String>,
        /// File holding the --database password (one line; a final newline is ignored). It
        /// must be private to you: a file readable by group or others is refused (`chmod 600
        /// PATH`). Alternatively set the environment variable AIRLOCK_DATABASE_PASSWORD. Either
        /// fills in a URL given without a password.
        #[arg(long, value_name = "PATH")]
        database_password_file: Option<std::path::PathBuf>,
    },
    /// Show a project.
    Show {
        /// Project name (default project if omitted).
        name: Option<String>,
    },
    /// List projects hosted here and projects local identities are members of.
    List,
    /// Create an enrollment ticket; prints it.
    Ticket {
        /// Project (default project if omitted).
        #[arg(long)]
        project: Option<String>,
        /// How many identities may enroll with it.
        #[arg(long, default_value_t = 1)]
        usage_count: u32,
        /// How long it is valid (e.g. 10m, 2h, 1d).
        #[arg(long, default_value = "10m")]
        expires_in: String,
        /// Attribute KEY=VALUE of members enrolled with it (repeatable).
        #[arg(long = "attribute")]
        attributes: Vec<String>,
        /// Relay name members enrolled with it may claim ('*' for any).
        #[arg(long)]
        relay: Option<String>,
        /// Members enrolled with it may create tickets themselves.
        #[arg(long)]
        enroller: bool,
        /// Identity to ask with (an administrator or enroller).
        #[arg(long)]
        identity: Option<String>,
    },
    /// Enroll with a ticket (inline, a file path, or $ENROLLMENT_TICKET).
    Enroll {
        /// The ticket or a path to a file holding it.
        ticket: Option<String>,
        /// Identity to enroll (the default identity if omitted).
        #[arg(long)]
        identity: Option<String>,
        /// Reach the project at HOST:PORT instead of the address in the ticket (e.g. another
        /// project node serving the same project).
        #[arg(long, value_name = "HOST:PORT")]
        project_address: Option<String>,
    },
    /// Manage project members (administrators).
    #[command(subcommand)]
    Member(MemberCmd),
    /// Relay names bound to the member that first registered them (list and release:
    /// administrators; show: members).
    #[command(subcommand)]
    Relay(ProjectRelayCmd),
}

/// `project relay …`: the project's relay bindings. A relay name stays bound to the identity
/// that first registered it at the project; nobody else may register it until an administrator
/// releases it (or deletes that member).
#[derive(Debug, Subcommand)]
pub enum ProjectRelayCmd {
    /// List relay bindings: name and owner (administrators).
    List {
        /// Project.
        #[arg(long)]
        project: Option<String>,
    },
    /// Show who a relay name is bound to (members).
    Show {
        /// Relay name.
        name: String,
        /// Project.
        #[arg(long)]
        project: Option<String>,
    },
    /// Release a relay name, so that another member allowed to may register it
    /// (administrators). A live registration stays until its channel drops; inlets that pinned
    /// the old owner keep refusing a new holder.
    Release {
        /// Relay name.
        name: String,
        /// Project.
        #[arg(long)]
        project: Option<String>,
    },
}

/// `project member …`
#[derive(Debug, Subcommand)]
pub enum MemberCmd {
    /// List members.
    List {
        /// Project.
        #[arg(long)]
        project: Option<String>,
    },
    /// Show a member.
    Show {
        /// Identifier.
        identifier: String,
        /// Project.
        #[arg(long)]
        project: Option<String>,
    },
    /// Add a member directly.
    Add {
        /// Identifier.
        identifier: String,
        /// Attribute KEY=VALUE (repeatable).
        #[arg(long = "attribute")]
        attributes: Vec<String>,
        /// Relay permission.
        #[arg(long)]
        relay: Option<String>,
        /// May create tickets.
        #[arg(long)]
        enroller: bool,
        /// Project.
        #[arg(long)]
        project: Option<String>,
    },
    /// Delete a member: no new credentials, no relay registrations; the relay names bound to
    /// it are released.
    Delete {
        /// Identifier.
        identifier: String,
        /// Project.
        #[arg(long)]
        project: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// `project relay release NAME` and friends parse, with `--project`.
    #[test]
    fn project_relay_commands_parse() {
        let cli = Cli::try_parse_from([
            "airlock",
            "project",
            "relay",
            "release",
            "db",
            "--project",
            "p",
        ])
        .expect("parses");
        let Command::Project(ProjectCmd::Relay(ProjectRelayCmd::Release { name, project })) =
            cli.command
        else {
            panic!("project relay release")
        };
        assert_eq!((name.as_str(), project.as_deref()), ("db", Some("p")));
        for args in [
            &["airlock", "project", "relay", "list"][..],
            &[
                "airlock", "--output", "json", "project", "relay", "show", "db",
            ][..],
        ] {
            Cli::try_parse_from(args).expect("parses");
        }
    }

    /// The database password can be given out of argv: a file, or an environment variable
    /// named in the help.
    #[test]
    fn project_create_takes_the_database_password_out_of_argv() {
        let cli = Cli::try_parse_from([
            "airlock",
            "project",
            "create",
            "--database",
            "postgres://airlock@db/airlock",
            "--database-password-file",
            "/run/secrets/db",
        ])
        .expect("parses");
        let Command::Project(ProjectCmd::Create {
            database_password_file,
            ..
        }) = cli.command
        else {
            panic!("project create")
        };
        assert_eq!(
            database_password_file.as_deref(),
            Some(std::path::Path::new("/run/secrets/db"))
        );
        let mut cmd = Cli::command();
        let help = cmd
            .find_subcommand_mut("project")
            .and_then(|p| p.find_subcommand_mut("create"))
            .expect("project create")
            .render_long_help()
            .to_string();
        assert!(help.contains("--database-password-file"), "{help}");
        assert!(help.contains("AIRLOCK_DATABASE_PASSWORD"), "{help}");
        assert!(help.contains("chmod 600"), "{help}");
    }
}
