//! Command implementations: each file parses its arguments, calls the operations it needs
//! (`crate::operations`, `crate::control`, `crate::home`) and prints. Commands never call each
//! other. Machine-readable values go to stdout, progress and hints to stderr.

mod channel;
mod config;
mod identity;
mod kafka;
mod node;
mod policy;
mod portal;
mod project;
mod relay;

use crate::cli::{Cli, Command, NodeCmd};
use crate::context::Ctx;
use crate::home::Home;
use crate::node_file;
use anyhow::Result;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    if let Command::Completion { shell } = cli.command {
        // Needs no home: works on a fresh machine and in image builds.
        let mut cmd = <Cli as clap::CommandFactory>::command();
        clap_complete::generate(shell, &mut cmd, "airlock", &mut std::io::stdout());
        return Ok(());
    }
    // Running a node builds its own runtime; everything else is synchronous.
    let ctx = Ctx {
        home: Home::open()?,
        output: cli.output,
    };
    match cli.command {
        Command::Identity(c) => identity::run(&ctx, c),
        // `node create ./airlock.yaml`: a node file.
        Command::Node(NodeCmd::Create(args))
            if args
                .name
                .as_deref()
                .is_some_and(node_file::is_node_file_arg) =>
        {
            config::create_from_file(ctx, args)
        }
        Command::Node(c) => node::run(ctx, c),
        Command::TcpOutlet(c) => portal::outlet(&ctx, c),
        Command::TcpInlet(c) => portal::inlet(&ctx, c),
        Command::KafkaOutlet(c) => kafka::outlet(&ctx, c),
        Command::KafkaInlet(c) => kafka::inlet(&ctx, c),
        Command::KafkaProducer(c) => kafka::client(&ctx, "kafka-producer", c),
        Command::KafkaConsumer(c) => kafka::client(&ctx, "kafka-consumer", c),
        Command::SecureChannel(c) => channel::channel(&ctx, c),
        Command::Message(c) => channel::message(&ctx, c),
        Command::Project(c) => project::run(&ctx, c),
        Command::Policy(c) => policy::run(&ctx, c),
        Command::Relay(c) => relay::run(&ctx, c),
        Command::Status => node::status(&ctx),
        Command::Reset(r) => node::reset(ctx, r.yes),
        Command::Completion { .. } => unreachable!("handled above"),
    }
}
