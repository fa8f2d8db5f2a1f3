//! Arguments of `project …`: hosting a project, tickets, enrollment, members and relay
//! bindings.

use clap::Subcommand;

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
    #[command(after_help = super::examples::PROJECT_TICKET)]
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
    #[command(after_help = super::examples::PROJECT_ENROLL)]
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
    /// Services the project node runs for its members (on a project hosted here).
    #[command(subcommand)]
    Addon(AddonCmd),
}

/// `project addon …`
#[derive(Debug, Subcommand)]
pub enum AddonCmd {
    /// Configure an add-on (again: replaces its settings).
    #[command(subcommand)]
    Configure(KafkaAddonCmd),
    /// Remove an add-on from the project node.
    Remove {
        /// The add-on: `kafka`.
        #[arg(value_parser = ["kafka"])]
        addon: String,
        /// Project (default project if omitted).
        #[arg(long)]
        project: Option<String>,
    },
}

/// `project addon configure …`
#[derive(Debug, Subcommand)]
pub enum KafkaAddonCmd {
    /// A Kafka cluster the project node reaches (a cloud broker): the project node runs a
    /// Kafka outlet named `kafka` to it, and members' Kafka inlets reach it with
    /// `--to /project/PROJECT` (e.g. `kafka-producer create --to /project/default`).
    #[command(after_help = super::examples::PROJECT_ADDON_CONFIGURE)]
    Kafka {
        /// The cluster's bootstrap server, HOST:PORT.
        #[arg(long, value_name = "HOST:PORT")]
        bootstrap_server: String,
        /// Speak TLS to the brokers (clients speak SASL_PLAINTEXT to their inlets; SASL
        /// passes through).
        #[arg(long)]
        tls: bool,
        /// Trust only the CA certificates of this PEM file for --tls.
        #[arg(long, value_name = "PEM", requires = "tls")]
        tls_ca_file: Option<std::path::PathBuf>,
        /// Project (default project if omitted).
        #[arg(long)]
        project: Option<String>,
    },
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
