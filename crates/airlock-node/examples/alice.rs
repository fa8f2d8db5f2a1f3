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
use airlock_node::channel::SecureChannel;
use airlock_node::flow_control::Access;
use airlock_node::stream::{HubClient, LinkSpec, Start, StreamLink};
use airlock_node::Node;
use airlock_node::{Deliver, Endpoint, Message};
use airlock_wire::{Address, Packet, Route};
use clap::Parser;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Alice's side of the stream example.
#[derive(Parser)]
struct Args {
    /// The hub's TCP address (`host:port`).
    #[arg(long, required_unless_present = "direct")]
    hub: Option<String>,
    /// Bob's streams as he printed them: `IN,OUT` (Alice writes to IN and reads OUT).
    #[arg(long, value_delimiter = ',', required_unless_present = "direct")]
    to: Vec<String>,
    /// Skip the hub: connect straight to Bob's node at this address (Bob's `listening:` line;
    /// the baseline of bench/streams.sh).
    #[arg(long, value_name = "HOST:PORT")]
    direct: Option<String>,
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
    /// With --count: after this many seconds without an echo while messages are in flight,
    /// open a new secure channel and send them again (Bob restarted).
    #[arg(long, default_value_t = 5)]
    stall_secs: u64,
    /// With --count: put the send time in each message (`message N @MICROS`), so Bob can
    /// print its one-way delay (both on one machine: one clock).
    #[arg(long)]
    stamp: bool,
    /// With --count: print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Microseconds since the Unix epoch.
fn unix_micros() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default()
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
    // The first hop to Bob: a stream link through the hub, or (--direct, the baseline of
    // bench/streams.sh) a TCP connection to Bob's node.
    let (first_hop, link) = match &args.direct {
        Some(bob_addr) => {
            let tcp = airlock_node::transport::connect(&node, bob_addr)
                .await
                .map_err(|e| format!("cannot connect to Bob at {bob_addr}: {e}"))?;
            (tcp, None)
        }
        None => {
            let [to_bob, from_bob] = <[String; 2]>::try_from(args.to.clone()).map_err(|_| {
                "--to takes Bob's two stream names as he printed them: IN,OUT".to_string()
            })?;
            let hub = args.hub.as_deref().unwrap_or_default();
            let hub = HubClient::new(&node, hub, TrustPolicy::Everyone);
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
            (link.address().clone(), Some(link))
        }
    };
    let trust = match &args.bob {
        Some(id) => {
            TrustPolicy::Identifiers(vec![id.parse().map_err(|e| format!("--bob: {e}"))?])
        }
        None => TrustPolicy::Everyone,
    };
    let timeout = Duration::from_secs(args.timeout_secs);
    let deadline = tokio::time::Instant::now() + timeout;
    let (tx, mut echoes) = mpsc::unbounded_channel();
    let mut session = Session {
        node: node.clone(),
        route: Route::new(vec![first_hop, Address::new("api").expect("valid")]),
        trust,
        inbox: Address::new("alice_inbox").expect("valid"),
        echoes: tx,
        channel: None,
    };
    let started = Instant::now();
    session.open(deadline).await?;
    let bob = session.peer();
    let path = match (&args.direct, &args.hub) {
        (Some(d), _) => format!("a direct connection to {d}"),
        (None, h) => format!("streams on {}", h.as_deref().unwrap_or_default()),
    };
    say!(
        "secure channel with {bob} through {path} in {} ms",
        started.elapsed().as_millis()
    );

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
                    Some(l) => session.send(l.as_bytes())?,
                    None => return Ok(true),
                },
                Some(e) = echoes.recv() => {
                    let e: Vec<u8> = e;
                    say!("echo: {}", String::from_utf8_lossy(&e));
                }
            }
        }
    };

    // Scripted: `count` messages, at most `window` in flight; each echo is matched by its text
    // and acknowledges its message. When no echo comes for STALL while messages are in flight,
    // Bob's end of the channel is presumed gone (Bob restarted): Alice opens a new channel
    // through the same streams and sends the unacknowledged messages again, in order. Bob's
    // journal makes the repeats harmless (he delivers each message once).
    let label = |i: usize| {
        let mut m = if args.stamp {
            format!("message {i} @{}", unix_micros())
        } else {
            format!("message {i}")
        }
        .into_bytes();
        if m.len() < args.size {
            m.resize(args.size, b'.');
        }
        m
    };
    let stall = Duration::from_secs(args.stall_secs);
    let mut in_flight: BTreeMap<usize, (Vec<u8>, Instant)> = BTreeMap::new();
    let mut by_text: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut resend: Vec<usize> = Vec::new();
    let mut round_trips: Vec<Duration> = Vec::with_capacity(count);
    let (mut next, mut duplicates, mut strangers, mut reopened) = (0usize, 0usize, 0usize, 0usize);
    let mut seen = std::collections::HashSet::new();
    let t0 = Instant::now();
    while round_trips.len() < count && tokio::time::Instant::now() < deadline {
        for i in std::mem::take(&mut resend) {
            if let Some((m, _)) = in_flight.get(&i) {
                session.send(m)?;
            }
        }
        while next < count && in_flight.len() < args.window.max(1) {
            let m = label(next);
            session.send(&m)?;
            by_text.insert(m.clone(), next);
            in_flight.insert(next, (m, Instant::now()));
            next += 1;
        }
        let wait_until = (tokio::time::Instant::now() + stall).min(deadline);
        match tokio::time::timeout_at(wait_until, echoes.recv()).await {
            Ok(Some(echo)) => match by_text.get(&echo).and_then(|i| in_flight.remove(i)) {
                Some((_, sent)) => {
                    round_trips.push(sent.elapsed());
                    seen.insert(echo);
                }
                None if seen.contains(&echo) => duplicates += 1,
                None => strangers += 1,
            },
            Ok(None) => break,
            Err(_) if !in_flight.is_empty() && tokio::time::Instant::now() < deadline => {
                say!(
                    "no echo for {} s with {} messages in flight: opening a new secure channel",
                    stall.as_secs(),
                    in_flight.len()
                );
                session.open(deadline).await?;
                reopened += 1;
                resend = in_flight.keys().copied().collect();
            }
            Err(_) => {}
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
            "{{\"sent\":{next},\"echoed\":{echoed},\"duplicates\":{duplicates},\"unexpected\":{strangers},\"reopened\":{reopened},\"window\":{},\"size\":{},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3},\"messages_per_s\":{rate:.1},\"peer\":\"{bob}\"}}",
            args.window,
            args.size,
            pct(0.50),
            pct(0.99),
            pct(1.0)
        );
    } else {
        say!(
            "sent {next}, echoed {echoed}, duplicates {duplicates}, new channels {reopened}; round trip p50 {:.2} ms, p99 {:.2} ms; {rate:.0} messages/s",
            pct(0.50),
            pct(0.99)
        );
    }
    if let Some(link) = link {
        link.close();
    }
    Ok(echoed == count && strangers == 0)
}

/// Alice's secure channel with Bob through the link, opened again when Bob restarts.
struct Session {
    node: Node,
    route: Route,
    trust: TrustPolicy,
    inbox: Address,
    echoes: mpsc::UnboundedSender<Vec<u8>>,
    channel: Option<Arc<SecureChannel>>,
}

impl Session {
    /// Opens a (new) channel, retrying until `deadline`; echoes are accepted only from it.
    async fn open(&mut self, deadline: tokio::time::Instant) -> Result<(), String> {
        if let Some(old) = self.channel.take() {
            old.close(&self.node, false);
        }
        self.node.router().unregister(&self.inbox);
        let ch = loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err("no secure channel with Bob through the hub in time".into());
            }
            match airlock_node::channel::create(
                &self.node,
                self.route.clone(),
                self.trust.clone(),
                left.min(Duration::from_secs(20)),
            )
            .await
            {
                Ok(ch) => break ch,
                Err(e @ airlock_node::channel::ChannelError::Refused(_)) => {
                    return Err(format!("Bob refused the secure channel: {e}"))
                }
                Err(e) => say!("no secure channel yet ({e}); trying again"),
            }
        };
        self.node.router().register_endpoint(
            self.inbox.clone(),
            Access::Via(ch.address().clone()),
            Arc::new(Inbox(self.echoes.clone())),
        );
        self.channel = Some(ch);
        Ok(())
    }

    fn peer(&self) -> String {
        self.channel
            .as_ref()
            .and_then(|c| c.peer())
            .map(|p| p.identifier.to_string())
            .unwrap_or_default()
    }

    fn send(&self, text: &[u8]) -> Result<(), String> {
        let ch = self.channel.as_ref().ok_or("no secure channel")?;
        ch.send(
            &self.node,
            &Route::single(Address::new("echoer").expect("valid")),
            &Route::single(self.inbox.clone()),
            Packet::copy_from(text),
        )
        .map_err(|e| e.to_string())
    }
}
