//! `airlock`: the command line. Parses arguments, opens the home, and either talks to a
//! running node over its control socket or runs one.

mod cli;
mod commands;
mod context;
mod memory;
mod node_file;
mod operations;
mod output;

// The node process, the home and the control API live in `airlock-daemon`; these make
// `crate::home`, `crate::control` and `crate::routes` name them throughout the CLI.
use airlock_daemon::{control, home, routes};

use clap::Parser;

// The data path allocates and frees 256 KiB packets at a high rate; glibc's per-thread arenas
// return them to the kernel and fault them back in (measured: ~20% of node CPU in page faults).
// mimalloc keeps them in its segment cache.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    memory::no_transparent_huge_pages();
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
