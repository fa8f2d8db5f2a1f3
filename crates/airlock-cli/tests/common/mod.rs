//! Running the real `airlock` binary against a temporary `AIRLOCK_HOME`, as a script would: stdin
//! is null and stdout/stderr are pipes, so the binary never sees a terminal.

#![allow(dead_code)] // Each test file uses its own subset.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A loopback port nobody listens on now, never the same one twice in this test process.
///
/// The kernel hands a just-released ephemeral port out again readily, so two calls that each
/// bind port 0 and drop the socket can return the same number (CI saw an inlet's bootstrap
/// and broker ports collide that way): remember what was handed out and ask again.
pub fn free_port() -> u16 {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    for _ in 0..1000 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if given.insert(port) {
            return port;
        }
    }
    panic!("no fresh loopback port after 1000 tries");
}

/// A temporary home folder; its nodes are deleted and the folder removed on drop.
pub struct Home(PathBuf);

impl Home {
    /// A fresh, empty home folder (created on first use by the binary).
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "airlock-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Home(dir)
    }

    /// The `AIRLOCK_HOME` folder.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A `Command` for `airlock ARGS` with this home, stdin null and no ticket in the env.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_airlock"));
        cmd.args(args)
            .env("AIRLOCK_HOME", &self.0)
            .env_remove("ENROLLMENT_TICKET")
            .env_remove("AIRLOCK_LOG_FORMAT")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `airlock ARGS`.
    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().expect("runs airlock");
        Run::from(out)
    }

    /// Runs `airlock ARGS`, which must succeed.
    pub fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert!(
            r.success,
            "airlock {args:?} failed:\nstdout: {}\nstderr: {}",
            r.stdout, r.stderr
        );
        r
    }

    /// Runs `airlock ARGS`, which must fail.
    pub fn fails(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert!(
            !r.success,
            "airlock {args:?} should have failed:\nstdout: {}\nstderr: {}",
            r.stdout, r.stderr
        );
        r
    }

    /// Runs `airlock policy create --at NODE --resource-type TYPE --expression EXPR`, which
    /// must succeed.
    pub fn create_policy(&self, node: &str, resource_type: &str, expression: &str) -> Run {
        self.ok(&[
            "policy",
            "create",
            "--at",
            node,
            "--resource-type",
            resource_type,
            "--expression",
            expression,
        ])
    }

    /// Names of the recorded nodes.
    pub fn nodes(&self) -> Vec<String> {
        let r = self.ok(&["node", "list", "--output", "json"]);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON node list");
        v.as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_string())
            .collect()
    }

    /// Names of the local identities.
    pub fn identities(&self) -> Vec<String> {
        let r = self.ok(&["identity", "list", "--output", "json"]);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON identity list");
        v.as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_string())
            .collect()
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        if self.0.join("nodes").is_dir() {
            let _ = self.command(&["node", "delete", "--all", "--yes"]).output();
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a run printed and whether it succeeded.
pub struct Run {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Self {
        Run {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// A JSON value from a run's stdout.
pub fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.stdout))
}

/// Whether util-linux `script` (a pseudo-terminal for the prompt and spinner tests) is here.
/// Without it a test skips with a line on stderr, except under `CI=true`, where a silent skip
/// would hide it: there this panics.
pub fn pseudo_terminal_available() -> bool {
    let has_script = Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_script {
        assert!(
            std::env::var_os("CI").is_none(),
            "util-linux `script` (for a pseudo-terminal) is needed in CI"
        );
        eprintln!("skipped: util-linux `script` (for a pseudo-terminal) is not installed");
    }
    has_script
}
