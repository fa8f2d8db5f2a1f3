//! Node processes: starting one in the background (and waiting until it is ready), asking
//! whether one runs, and stopping one. A background node is this same binary running
//! `airlock node run NAME` with its stdout piped to the parent for the readiness line and its
//! stderr appended to `nodes/NAME/node.log`.

use crate::cli::LogFormat;
use crate::cli::RunArgs;
use crate::control::protocol::NodeStatus;
use crate::control::ControlClient;
use crate::home::Home;
use airlock_daemon::{Ready, READY_LINE};
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A node process that has started and said it is ready.
pub struct Started {
    /// What the node said when ready (None if its readiness line could not be read).
    pub ready: Option<Ready>,
    /// Its process id.
    pub pid: u32,
}

/// A control connection to the recorded node `node`.
pub fn client(home: &Home, node: &str) -> Result<ControlClient> {
    home.require_node(node)?;
    Ok(ControlClient::connect(
        &home.node_dir(node).join("control.sock"),
        node,
    )?)
}

/// The node's status, if it runs and answers within `timeout`.
pub fn status(home: &Home, node: &str, timeout: Duration) -> Option<NodeStatus> {
    client(home, node).ok()?.status(timeout).ok()
}

/// Does the node run (answer on its control socket within 2 s)?
pub fn is_running(home: &Home, node: &str) -> bool {
    status(home, node, Duration::from_secs(2)).is_some()
}

/// Starts recorded node `name` in the background with `run`'s options and waits (up to 30 s)
/// until it is ready. A node that fails to start is killed; the error gives the reason from
/// its log.
pub fn spawn(home: &Home, name: &str, run: &RunArgs) -> Result<Started> {
    let dir = home.ensure_node_dir(name)?;
    let log_path = dir.join("node.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let mut child = Command::new(std::env::current_exe()?)
        .args(["node", "run", name])
        .args(run.to_args())
        .env("AIRLOCK_NODE_CHILD", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .process_group(0)
        .spawn()
        .context("cannot start the node process")?;
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(line) if line.starts_with(READY_LINE) => Ok(Started {
            ready: Ready::parse(&line),
            pid: child.id(),
        }),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            bail!("node {name} failed to start: {}", failure_reason(&log))
        }
    }
}

/// Starts recorded node `name` in the background with the default run options.
pub fn spawn_default(home: &Home, name: &str) -> Result<Started> {
    let run = RunArgs {
        log_format: LogFormat::Text,
        metrics: None,
        drain_timeout: "10s".into(),
        kafka_bootstrap: None,
        kafka_replication: 1,
        trust_anyone: false,
    };
    spawn(home, name, &run)
}

/// Why a node failed to start, from the end of its log: the last `error: …` line's reason, or
/// the last five lines.
fn failure_reason(log: &str) -> String {
    let tail: Vec<&str> = log
        .lines()
        .rev()
        .take(5)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    tail.iter()
        .rev()
        .find_map(|l| l.split_once("error: ").map(|(_, r)| r.to_string()))
        .unwrap_or_else(|| tail.join("\n"))
}

/// Stops node `name` gracefully: asks it to stop and waits (20 s) for it to exit, then kills
/// it. Records it as stopped.
pub fn stop(home: &Home, name: &str) -> Result<()> {
    let mut c = client(home, name)?;
    let pid = c.status(Duration::from_secs(5)).ok().map(|s| s.pid);
    c.stop(Duration::from_secs(5))?;
    if !c.wait_closed(Duration::from_secs(20)) {
        if let Some(pid) = pid {
            eprintln!("Node {name} did not stop within 20 s; killing process {pid}");
            // SAFETY: plain kill(2) on a pid reported by the node itself.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
    }
    home.node_stopped(name)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::failure_reason;

    #[test]
    fn the_reason_is_the_last_error_line() {
        let log = "a\nerror: first\nb\nERROR x: error: cannot bind\nc\n";
        assert_eq!(failure_reason(log), "cannot bind");
        assert_eq!(failure_reason("one\ntwo\n"), "one\ntwo");
    }
}
