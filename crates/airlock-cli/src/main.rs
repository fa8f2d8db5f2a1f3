//! `airlock`: the command line. Parses arguments, opens the local state, and either talks to a
//! running node over its control socket or runs one.

mod cli;
mod commands;
mod control;
mod state;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
