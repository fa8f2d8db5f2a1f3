//! The opt-in operations endpoint of a node (`--metrics ADDR`): Prometheus metrics at
//! `/metrics`, liveness at `/healthz`, readiness at `/readyz`.
//!
//! A deliberately small HTTP/1.x responder: one request per connection, request head capped at
//! 8 KiB and 2 s, only `GET`; anything else gets a 4xx and the connection is closed. Nothing
//! here can change the node.

use super::relays::RelayKeepers;
use super::views::link_status;
use crate::control::protocol::{LinkStatus, RelayStatus};
use airlock_node::{unix_now, Node};
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const STARTING: u8 = 0;
const RUNNING: u8 = 1;
const STOPPING: u8 = 2;
const MAX_HEAD: usize = 8 * 1024;
/// Requests served at once; more connections are closed at once (scrapers and probes need few).
const MAX_CONCURRENT: usize = 32;

/// Lifecycle as the probes see it.
#[derive(Default)]
pub struct Health {
    phase: AtomicU8,
}

impl Health {
    /// Recorded resources are restored: the node can be ready.
    pub fn set_started(&self) {
        self.phase.store(RUNNING, Ordering::Release);
    }

    /// Shutting down: not ready any more (traffic should go elsewhere).
    pub fn set_stopping(&self) {
        self.phase.store(STOPPING, Ordering::Release);
    }
}

/// How long a client may take to send its request head before it gets a 400 and its slot
/// is freed.
const HEAD_TIMEOUT: Duration = Duration::from_secs(2);

/// Binds `addr` and serves the endpoint in the background; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    node: Node,
    relays: Arc<RelayKeepers>,
    health: Arc<Health>,
) -> Result<SocketAddr> {
    serve_with(addr, node, relays, health, HEAD_TIMEOUT).await
}

/// [`serve`] with the head timeout given (tests choose it so no assertion races the clock).
async fn serve_with(
    addr: SocketAddr,
    node: Node,
    relays: Arc<RelayKeepers>,
    health: Arc<Health>,
    head_timeout: Duration,
) -> Result<SocketAddr> {
    let listener = airlock_node::listener::bind(addr)
        .with_context(|| format!("cannot listen on --metrics {addr}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT));
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            // Bounded: slow or idle clients cannot pile up tasks and file descriptors.
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                drop(sock);
                continue;
            };
            let (node, relays, health) = (node.clone(), relays.clone(), health.clone());
            tokio::spawn(async move {
                let _permit = permit;
                let head = tokio::time::timeout(head_timeout, read_head(&mut sock)).await;
                let (status, ctype, body) = match head {
                    Ok(Some(line)) => respond(&line, &node, &relays, &health),
                    _ => (400, "text/plain", "bad request\n".to_string()),
                };
                let reason = match status {
                    200 => "OK",
                    400 => "Bad Request",
                    404 => "Not Found",
                    405 => "Method Not Allowed",
                    _ => "Service Unavailable",
                };
                let msg = format!(
                    "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ =
                    tokio::time::timeout(Duration::from_secs(2), sock.write_all(msg.as_bytes()))
                        .await;
                // The slot is free before the client sees the end of the answer.
                drop(_permit);
                let _ = sock.shutdown().await;
            });
        }
    });
    Ok(addr)
}

/// Reads until the end of the request head; returns its first line, or None if the head is
/// malformed, too long or the peer went away.
async fn read_head(sock: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            break;
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
    }
    let text = std::str::from_utf8(&buf).ok()?;
    text.lines().next().map(str::to_string)
}

/// The answer to a request line: status, content type, body.
fn respond(
    line: &str,
    node: &Node,
    relays: &RelayKeepers,
    health: &Health,
) -> (u16, &'static str, String) {
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return (400, "text/plain", "bad request\n".into());
    };
    if method != "GET" {
        return (405, "text/plain", "only GET\n".into());
    }
    let path = target.split('?').next().unwrap_or(target);
    match path {
        "/metrics" => (
            200,
            "text/plain; version=0.0.4",
            render_metrics(node, relays, health),
        ),
        "/healthz" => (200, "text/plain", "ok\n".into()),
        "/readyz" => match not_ready(node, relays, health) {
            None => (200, "text/plain", "ready\n".into()),
            Some(why) => (503, "text/plain", format!("not ready: {why}\n")),
        },
        _ => (
            404,
            "text/plain",
            "try /metrics, /healthz or /readyz\n".into(),
        ),
    }
}

/// Why the node is not ready, if it is not: still starting, stopping, a project member
/// without a valid credential, or a relay that is not registered.
fn not_ready(node: &Node, relays: &RelayKeepers, health: &Health) -> Option<String> {
    match health.phase.load(Ordering::Acquire) {
        STARTING => return Some("starting".into()),
        STOPPING => return Some("shutting down".into()),
        _ => {}
    }
    let now = unix_now();
    if node.has_project() && !node.credential_expiries().iter().any(|(_, exp)| *exp > now) {
        return Some("no valid project credential yet".into());
    }
    let down: Vec<String> = relays
        .infos()
        .into_iter()
        .filter(|r| r.status != RelayStatus::Up)
        .map(|r| r.name)
        .collect();
    if !down.is_empty() {
        return Some(format!("relay(s) not registered: {}", down.join(", ")));
    }
    None
}

/// Prometheus label value escaping.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The metrics in the Prometheus text format.
pub fn render_metrics(node: &Node, relays: &RelayKeepers, health: &Health) -> String {
    let mut o = String::new();
    let family = |o: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    family(
        &mut o,
        "airlock_node_info",
        "gauge",
        "Node identity (value 1).",
    );
    let _ = writeln!(
        o,
        "airlock_node_info{{name=\"{}\",identifier=\"{}\"}} 1",
        label(node.name()),
        node.identifier()
    );
    family(
        &mut o,
        "airlock_node_ready",
        "gauge",
        "1 when /readyz answers 200.",
    );
    let _ = writeln!(
        o,
        "airlock_node_ready {}",
        u8::from(not_ready(node, relays, health).is_none())
    );

    let inlets = node.inlets();
    family(
        &mut o,
        "airlock_inlet_up",
        "gauge",
        "1 while the inlet has a live link to its outlet.",
    );
    for i in &inlets {
        let _ = writeln!(
            o,
            "airlock_inlet_up{{inlet=\"{}\"}} {}",
            label(&i.name),
            u8::from(link_status(i.status) == LinkStatus::Up)
        );
    }
    family(
        &mut o,
        "airlock_inlet_connections",
        "gauge",
        "Open client connections of an inlet.",
    );
    for i in &inlets {
        let _ = writeln!(
            o,
            "airlock_inlet_connections{{inlet=\"{}\"}} {}",
            label(&i.name),
            i.connections
        );
    }
    family(
        &mut o,
        "airlock_inlet_connections_total",
        "counter",
        "Client connections accepted by an inlet.",
    );
    for i in &inlets {
        let _ = writeln!(
            o,
            "airlock_inlet_connections_total{{inlet=\"{}\"}} {}",
            label(&i.name),
            i.connections_total
        );
    }
    family(
        &mut o,
        "airlock_portal_bytes_total",
        "counter",
        "Bytes carried by a portal, by direction (out = towards the peer).",
    );
    for i in &inlets {
        let _ = writeln!(
            o,
            "airlock_portal_bytes_total{{portal=\"{}\",kind=\"inlet\",direction=\"out\"}} {}",
            label(&i.name),
            i.bytes_out
        );
        let _ = writeln!(
            o,
            "airlock_portal_bytes_total{{portal=\"{}\",kind=\"inlet\",direction=\"in\"}} {}",
            label(&i.name),
            i.bytes_in
        );
    }
    let outlets = node.outlets();
    for t in &outlets {
        let _ = writeln!(
            o,
            "airlock_portal_bytes_total{{portal=\"{}\",kind=\"outlet\",direction=\"out\"}} {}",
            label(&t.name),
            t.bytes_out
        );
        let _ = writeln!(
            o,
            "airlock_portal_bytes_total{{portal=\"{}\",kind=\"outlet\",direction=\"in\"}} {}",
            label(&t.name),
            t.bytes_in
        );
    }
    family(
        &mut o,
        "airlock_outlet_connections",
        "gauge",
        "Open connections of an outlet to its target.",
    );
    for t in &outlets {
        let _ = writeln!(
            o,
            "airlock_outlet_connections{{outlet=\"{}\"}} {}",
            label(&t.name),
            t.connections
        );
    }
    family(
        &mut o,
        "airlock_outlet_refused_total",
        "counter",
        "Links or connections an outlet refused by policy.",
    );
    for t in &outlets {
        let _ = writeln!(
            o,
            "airlock_outlet_refused_total{{outlet=\"{}\"}} {}",
            label(&t.name),
            t.refused
        );
    }

    let channels = node.channels();
    family(
        &mut o,
        "airlock_secure_channels",
        "gauge",
        "Secure channels by status.",
    );
    for status in ["handshaking", "open"] {
        let n = channels
            .iter()
            .filter(|c| c.info().status == status)
            .count();
        let _ = writeln!(o, "airlock_secure_channels{{status=\"{status}\"}} {n}");
    }
    let hs = node.handshake_counts();
    family(
        &mut o,
        "airlock_channel_handshakes_total",
        "counter",
        "Finished secure-channel handshakes by result.",
    );
    for (result, n) in [
        ("established", hs.established),
        ("failed", hs.failed),
        ("refused", hs.refused),
    ] {
        let _ = writeln!(
            o,
            "airlock_channel_handshakes_total{{result=\"{result}\"}} {n}"
        );
    }

    render_kafka_records(&mut o, &node.kafka().record_counts());

    family(
        &mut o,
        "airlock_relay_up",
        "gauge",
        "1 while a relay this node keeps is registered.",
    );
    for r in relays.infos() {
        let _ = writeln!(
            o,
            "airlock_relay_up{{relay=\"{}\",at=\"{}\"}} {}",
            label(&r.name),
            label(&r.at),
            u8::from(r.status == RelayStatus::Up)
        );
    }
    family(
        &mut o,
        "airlock_credential_expiry_timestamp_seconds",
        "gauge",
        "When the credential this node presents expires (Unix time), by issuing authority.",
    );
    for (issuer, exp) in node.credential_expiries() {
        let _ = writeln!(
            o,
            "airlock_credential_expiry_timestamp_seconds{{authority=\"{issuer}\"}} {exp}"
        );
    }
    o
}

/// The per-topic record counters of the node's encrypting Kafka inlets (label values bounded:
/// topics beyond the first [`airlock_node::kafka::metrics::MAX_TOPICS`] are counted under
/// `(other)`).
fn render_kafka_records(
    o: &mut String,
    counts: &[(String, airlock_node::kafka::TopicRecordCounts)],
) {
    type Pick = fn(&airlock_node::kafka::TopicRecordCounts) -> u64;
    let families: [(&str, &str, Pick); 4] = [
        (
            "airlock_kafka_records_encrypted_total",
            "Kafka record values encrypted on Produce by this node's inlets, by topic.",
            |c| c.encrypted,
        ),
        (
            "airlock_kafka_records_decrypted_total",
            "Kafka record values decrypted on Fetch by this node's inlets, by topic.",
            |c| c.decrypted,
        ),
        (
            "airlock_kafka_records_refused_total",
            "Fetch partitions withheld from the client by refusal (plaintext on an encrypted topic, a key not granted to this node or from a producer not admitted), by topic.",
            |c| c.refused,
        ),
        (
            "airlock_kafka_records_failed_total",
            "Fetch partitions withheld from the client because a record could not be decrypted or read, by topic.",
            |c| c.failed,
        ),
    ];
    for (name, help, pick) in families {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter");
        for (topic, c) in counts {
            let _ = writeln!(o, "{name}{{topic=\"{}\"}} {}", label(topic), pick(c));
        }
    }
}

#[cfg(test)]
mod tests;
