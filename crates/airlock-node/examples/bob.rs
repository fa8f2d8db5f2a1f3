//! Bob: behind a network that lets him only connect out to a hub, he makes two streams there —
//! one others write to him in, one he answers in — and runs an echoer reachable only through
//! secure channels that come in through them (seed 003).
//!
//! ```text
//! cargo run --example bob -- --hub 127.0.0.1:4000 [--name bob] [--identity-file bob.id]
//! ```
//! Prints the two stream names to give Alice, then `received: …` for every message.

#[path = "streams/mod.rs"]
mod streams;

use airlock_channel::TrustPolicy;
use airlock_node::flow_control::Access;
use airlock_node::stream::{HubClient, LinkSpec, Start, StreamLink};
use airlock_node::{Deliver, Endpoint, Message};
use airlock_wire::{Address, Route};
use clap::Parser;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Bob's side of the stream example.
#[derive(Parser)]
struct Args {
    /// The hub's TCP address (`host:port`).
    #[arg(long)]
    hub: String,
    /// Base name of Bob's streams (`NAME.in`, `NAME.out`); the same name after a restart
    /// resumes them. Default: a new random name.
    #[arg(long)]
    name: Option<String>,
    /// Keep Bob's identity in this file (created on first use): a restarted Bob is the same
    /// Bob, and resumes his position in his stream.
    #[arg(long)]
    identity_file: Option<PathBuf>,
    /// The application's journal: each message is delivered by appending one line
    /// `SENDER<TAB>TEXT` here, once — a message that is already in the journal (sent again
    /// after Bob restarted) is echoed but not delivered twice. Read back at start.
    #[arg(long)]
    journal: Option<PathBuf>,
    /// Trust only this hub identifier (default: any hub).
    #[arg(long)]
    hub_identifier: Option<String>,
}

/// Delivers what arrives (once, through the journal), prints it and sends it back along its
/// return route — the echo is also Alice's acknowledgement.
struct Echoer {
    journal: Option<Mutex<Journal>>,
}

/// The messages delivered so far and the file that records them.
struct Journal {
    seen: HashSet<String>,
    file: std::fs::File,
}

impl Journal {
    fn open(path: &std::path::Path) -> Result<Journal, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let seen = text.lines().map(str::to_string).collect();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Journal { seen, file })
    }

    /// Records `line` with one write (so a crash leaves it whole or absent); false if it was
    /// there already.
    fn deliver(&mut self, line: String) -> std::io::Result<bool> {
        use std::io::Write;
        if self.seen.contains(&line) {
            return Ok(false);
        }
        self.file.write_all(format!("{line}\n").as_bytes())?;
        self.seen.insert(line);
        Ok(true)
    }
}

impl Endpoint for Echoer {
    fn handle(&self, deliver: &Deliver, msg: Message) {
        let from = msg
            .peer()
            .map(|p| p.identifier.to_string())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(msg.payload.data()).replace(['\n', '\t'], " ");
        let fresh = match &self.journal {
            Some(j) => match j
                .lock()
                .expect("journal")
                .deliver(format!("{from}\t{text}"))
            {
                Ok(fresh) => fresh,
                Err(e) => {
                    // Not recorded, not delivered: no echo, so Alice sends it again.
                    eprintln!("bob: journal write failed: {e}");
                    return;
                }
            },
            None => true,
        };
        if fresh {
            // A stamped message (`alice --stamp`: `… @MICROS`) also gets its one-way delay.
            let one_way = text
                .rsplit_once(" @")
                .and_then(|(_, t)| t.trim_end_matches('.').parse::<u128>().ok())
                .map(|sent| {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_micros())
                        .unwrap_or_default();
                    format!(" one-way {} us", now.saturating_sub(sent))
                })
                .unwrap_or_default();
            say!("received: {text} (from {from}){one_way}");
        } else {
            say!("already delivered: {text} (from {from}); echoing again");
        }
        deliver.deliver(Message::new(msg.ret, Route::empty(), msg.payload));
    }
}

#[tokio::main]
async fn main() {
    streams::logging();
    if let Err(e) = run(Args::parse()).await {
        eprintln!("bob: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), String> {
    let node = streams::node("bob", streams::identity(args.identity_file.as_deref())?).await?;
    say!("identifier: {}", node.identifier());
    say!("listening: {}", node.listen_addr());
    let trust = match &args.hub_identifier {
        Some(id) => TrustPolicy::Identifiers(vec![id
            .parse()
            .map_err(|e| format!("--hub-identifier: {e}"))?]),
        None => TrustPolicy::Everyone,
    };
    let hub = HubClient::new(&node, &args.hub, trust);
    let name = args
        .name
        .unwrap_or_else(|| format!("bob-{:08x}", airlock_node::random_u64() as u32));
    let inbox = hub
        .create_stream(Some(&format!("{name}.in")))
        .await
        .map_err(|e| e.to_string())?;
    let outbox = hub
        .create_stream(Some(&format!("{name}.out")))
        .await
        .map_err(|e| e.to_string())?;
    // The echoer is there before the first message is pulled.
    node.router().register_endpoint(
        Address::new("echoer").expect("valid"),
        Access::Service,
        Arc::new(Echoer {
            journal: match &args.journal {
                Some(p) => Some(Mutex::new(Journal::open(p)?)),
                None => None,
            },
        }),
    );
    let link = StreamLink::open(
        &node,
        hub,
        LinkSpec {
            sending: outbox.clone(),
            receiving: inbox.clone(),
            client_id: "bob".into(),
            start: Start::Beginning,
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    say!("streams: {inbox},{outbox}");
    say!("resumed at: {}", link.position());
    say!(
        "next: cargo run --example alice -- --hub {} --to {inbox},{outbox}",
        args.hub
    );
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    link.close();
    node.shutdown().await;
    Ok(())
}
