//! Progress while the command waits: a spinner with a message on stderr, only when stderr is a
//! terminal. Scripts and logs (stderr not a terminal) get nothing from here; the command's own
//! final line or error says how it ended.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// A running spinner; stops and clears its line when finished or dropped.
pub struct Spinner {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Spinner {
    /// Starts a spinner showing `message` (and the seconds waited) if stderr is a terminal.
    pub fn start(message: impl Into<String>) -> Spinner {
        Self::start_if(std::io::stderr().is_terminal(), message.into())
    }

    fn start_if(terminal: bool, message: String) -> Spinner {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = terminal.then(|| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let secs = started.elapsed().as_secs();
                    let waited = if secs > 0 {
                        format!(" ({secs} s)")
                    } else {
                        String::new()
                    };
                    let mut err = std::io::stderr().lock();
                    let _ = write!(
                        err,
                        "\r\x1b[2K{} {message}{waited}",
                        FRAMES[i % FRAMES.len()]
                    );
                    let _ = err.flush();
                    drop(err);
                    i += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
                let _ = write!(std::io::stderr(), "\r\x1b[2K");
            })
        });
        Spinner { stop, thread }
    }

    /// Stops the spinner and clears its line.
    pub fn finish(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Runs `f` with a spinner showing `message` on a terminal.
pub fn while_waiting<T>(message: impl Into<String>, f: impl FnOnce() -> T) -> T {
    let spinner = Spinner::start(message);
    let r = f();
    spinner.finish();
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_terminal_there_is_no_thread() {
        let s = Spinner::start_if(false, "waiting".into());
        assert!(s.thread.is_none());
        s.finish();
        let s = Spinner::start_if(true, "waiting".into());
        assert!(s.thread.is_some());
        s.finish();
    }
}
