//! Alice: opens a secure channel with Bob through his streams on a hub — she never connects to
//! Bob, and Bob never accepts a connection — then sends him lines and prints his echoes
//! (seed 003).
//!
//! ```text
//! cargo run --example alice -- --hub 127.0.0.1:4000 --to bob.in,bob.out
//! cargo run --example alice -- --hub 127.0.0.1:4000 --to bob.in,bob.out --count 100
//! ```
//! Interactive by default (a line on stdin is a message); `--count N` sends N messages itself,
//! waits for every echo, prints a summary (`--json`: one JSON object) and exits non-zero if an
//! echo is missing.

#[path = "streams/mod.rs"]
mod streams;

use airlock_channel::TrustPolicy;
use airlock_node::flow_control::Access;
use airlock_node::stream::{HubClient, LinkSpec, Start, StreamLink};
use airlock_node::{Deliver, Endpoint, Message};
use airlock_wire::{Address, Packet, Route};
use clap::Parser;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Alice's side of the stream example.
#[derive(Parser)]
struct Args {
    /// The hub's TCP address (`host:port`).
    #[arg(long)]
    hub: String,
    /// Bob's streams as he printed them: `IN,OUT` (Alice writes to IN and reads OUT).
    #[arg(long, value_delimiter = ',', required = true)]
    to: Vec<String>,
    /// Trust only this identifier for Bob (default: whoever answers; printed).
    #[arg(long)]
    bob: Option<String>,
    /// Alice's name for her position in Bob's OUT stream.
    #[arg(long, default_value = "alice")]
    client_id: String,
    /// Keep Alice's identity in this file (created on first use).
    #[arg(long)]
    identity_file: Option<PathBuf>,
    /// Send this many messages, wait for their echoes and exit (no stdin).
    #[arg(long)]
    count: Option<usize>,
    /// With --count: messages in flight at once (1 = one round trip at a time).
    #[arg(long, default_value_t = 1)]
    window: usize,
    /// With --count: size of each message in bytes (at least its label).
    #[arg(long, default_value_t = 0)]
    size: usize,
    /// How long to wait for the secure channel and, with --count, for all echoes.
    #[arg(long, default_value = "120")]
    timeout_secs: u64,
    /// With --count: print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Hands each echo to the main task.
struct Inbox(mpsc::UnboundedSender<Vec<u8>>);

impl Endpoint for Inbox {
    fn handle(&self, _: &Deliver, msg: Message) {
        let _ = self.0.send(msg.payload.data().to_vec());
    }
}

#[tokio::main]
async fn main() {
    streams::logging();
    match run(Args::parse()).await {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("alice: {e}");
            std::process::exit(2);
        }
    }
}

async fn run(args: Args) -> Result<bool, String> {
    let node = streams::node("alice", streams::identity(args.identity_file.as_deref())?).await?;
    let [to_bob, from_bob] = <[String; 2]>::try_from(args.to.clone())
        .map_err(|_| "--to takes Bob's two stream names as he printed them: IN,OUT".to_string())?;
    let hub = HubClient::new(&node, &args.hub, TrustPolicy::Everyone);
    let link = StreamLink::open(
        &node,
        hub,
        LinkSpec {
            sending: to_bob,
            receiving: from_bob,
            client_id: args.client_id.clone(),
            start: Start::End,
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    let trust = match &args.bob {
        Some(id) => {
            TrustPolicy::Identifiers(vec![id.parse().map_err(|e| format!("--bob: {e}"))?])
        }
        None => TrustPolicy::Everyone,
    };
    let timeout = Duration::from_secs(args.timeout_secs);
    let started = Instant::now();
    let route = Route::new(vec![
        link.address().clone(),
        Address::new("api").expect("valid"),
    ]);
    let channel = airlock_node::channel::create(&node, route, trust, timeout)
        .await
        .map_err(|e| format!("no secure channel with Bob through the hub: {e}"))?;
    let bob = channel
        .peer()
        .map(|p| p.identifier.to_string())
        .unwrap_or_default();
    say!(
        "secure channel with {bob} through streams on {} in {} ms",
        args.hub,
        started.elapsed().as_millis()
    );
    let (tx, mut echoes) = mpsc::unbounded_channel();
    let inbox = Address::new("alice_inbox").expect("valid");
    node.router().register_endpoint(
        inbox.clone(),
        Access::Via(channel.address().clone()),
        Arc::new(Inbox(tx)),
    );
    let echoer = Route::single(Address::new("echoer").expect("valid"));
    let reply = Route::single(inbox);
    let send = |text: &[u8]| {
        channel
            .send(&node, &echoer, &reply, Packet::copy_from(text))
            .map_err(|e| e.to_string())
    };

    let Some(count) = args.count else {
        // Interactive: lines from stdin (read on a thread of their own), echoes as they come.
        let (line_tx, mut lines) = mpsc::unbounded_channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::stdin().lines().map_while(Result::ok) {
                if line_tx.send(line).is_err() {
                    return;
                }
            }
        });
        loop {
            tokio::select! {
                line = lines.recv() => match line {
                    Some(l) => send(l.as_bytes())?,
                    None => return Ok(true),
                },
                Some(e) = echoes.recv() => {
                    let e: Vec<u8> = e;
                    say!("echo: {}", String::from_utf8_lossy(&e));
                }
            }
        }
    };

    // Scripted: `count` messages, at most `window` in flight; each echo is matched by its text.
    let label = |i: usize| {
        let mut m = format!("message {i}").into_bytes();
        if m.len() < args.size {
            m.resize(args.size, b'.');
        }
        m
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let mut in_flight: HashMap<Vec<u8>, Instant> = HashMap::new();
    let mut round_trips: Vec<Duration> = Vec::with_capacity(count);
    let (mut next, mut duplicates, mut strangers) = (0usize, 0usize, 0usize);
    let mut seen = std::collections::HashSet::new();
    let t0 = Instant::now();
    while round_trips.len() < count {
        while next < count && in_flight.len() < args.window.max(1) {
            let m = label(next);
            send(&m)?;
            in_flight.insert(m, Instant::now());
            next += 1;
        }
        let echo = match tokio::time::timeout_at(deadline, echoes.recv()).await {
            Ok(Some(e)) => e,
            _ => break,
        };
        match in_flight.remove(&echo) {
            Some(sent) => {
                round_trips.push(sent.elapsed());
                seen.insert(echo);
            }
            None if seen.contains(&echo) => duplicates += 1,
            None => strangers += 1,
        }
    }
    let elapsed = t0.elapsed();
    round_trips.sort();
    let pct = |p: f64| -> f64 {
        if round_trips.is_empty() {
            return 0.0;
        }
        let i = ((round_trips.len() as f64 * p).ceil() as usize).clamp(1, round_trips.len()) - 1;
        round_trips[i].as_secs_f64() * 1e3
    };
    let echoed = round_trips.len();
    let rate = echoed as f64 / elapsed.as_secs_f64().max(1e-9);
    if args.json {
        say!(
            "{{\"sent\":{next},\"echoed\":{echoed},\"duplicates\":{duplicates},\"unexpected\":{strangers},\"window\":{},\"size\":{},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"messages_per_s\":{rate:.1},\"peer\":\"{bob}\"}}",
            args.window,
            args.size,
            pct(0.50),
            pct(0.99)
        );
    } else {
        say!(
            "sent {next}, echoed {echoed}, duplicates {duplicates}; round trip p50 {:.2} ms, p99 {:.2} ms; {rate:.0} messages/s",
            pct(0.50),
            pct(0.99)
        );
    }
    link.close();
    Ok(echoed == count && duplicates == 0 && strangers == 0)
}
