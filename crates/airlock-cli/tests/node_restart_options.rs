//! `node start` runs a node with the process options it was created (or last started) with;
//! what its own command line sets replaces them.

mod common;

use common::{free_port, Home};
use std::io::{Read, Write};

/// Whether a `/healthz` endpoint answers 200 on `port`.
fn healthz(port: u16) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

#[test]
fn node_start_remembers_the_metrics_address_and_takes_a_new_one() {
    let home = Home::new("restart-options");
    let (first, second) = (free_port(), free_port());
    home.ok(&[
        "node",
        "create",
        "n1",
        "--metrics",
        &format!("127.0.0.1:{first}"),
    ]);
    assert!(healthz(first), "metrics served after create");
    home.ok(&["node", "stop", "n1"]);
    assert!(!healthz(first), "nothing serves once stopped");

    home.ok(&["node", "start", "n1"]);
    assert!(healthz(first), "node start forgot --metrics");
    home.ok(&["node", "stop", "n1"]);

    home.ok(&[
        "node",
        "start",
        "n1",
        "--metrics",
        &format!("127.0.0.1:{second}"),
    ]);
    assert!(healthz(second), "the new address serves");
    assert!(!healthz(first), "the old address is replaced");
    home.ok(&["node", "stop", "n1"]);
    // The last options are the ones remembered.
    home.ok(&["node", "start", "n1"]);
    assert!(healthz(second));
}
