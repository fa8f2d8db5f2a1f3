//! `node logs --follow` prints what is appended to the node's log after it started.

mod common;

use common::Home;
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::Duration;

#[test]
fn follow_prints_lines_appended_later() {
    let home = Home::new("logs-follow");
    home.ok(&["node", "create", "n1"]);
    let log = home.path().join("nodes/n1/node.log");
    assert!(log.is_file());
    // A stopped node writes nothing more: only this test appends.
    home.ok(&["node", "stop", "n1"]);

    let mut child = home
        .command(&["node", "logs", "n1", "--follow", "-n", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Written after `logs --follow` printed the (empty) tail.
    std::thread::sleep(Duration::from_millis(500));
    let marker = format!("marker-{}", std::process::id());
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    writeln!(f, "first {marker}").unwrap();
    write!(f, "second {marker}").unwrap(); // completed later
    f.flush().unwrap();
    std::thread::sleep(Duration::from_millis(400));
    writeln!(f, " done").unwrap();

    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while seen.len() < 2 && std::time::Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            if l.contains(&marker) {
                seen.push(l);
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        seen,
        [format!("first {marker}"), format!("second {marker} done")]
    );

    // Without --follow it ends at once.
    let r = home.ok(&["node", "logs", "n1", "-n", "2"]);
    assert!(
        r.stdout.contains(&format!("second {marker} done")),
        "{}",
        r.stdout
    );
}
