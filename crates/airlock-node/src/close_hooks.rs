//! Callbacks that run once when a connection or a secure channel closes.
//!
//! Channels close when the connection (or outer channel) under them closes, portal links close
//! with their channel, relay registrations with theirs: each registers a hook on the thing it
//! depends on, and removes it if it goes away first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// A callback run once on close.
pub type CloseHook = Box<dyn FnOnce() + Send>;

/// The hooks of one closable object.
#[derive(Default)]
pub struct CloseHooks {
    hooks: Mutex<HashMap<u64, CloseHook>>,
}

impl CloseHooks {
    /// Registers `hook`, or runs it at once if `closed` is already set. `closed` is checked again
    /// after inserting, so a close racing with the registration never loses the hook. Returns an
    /// id for [`CloseHooks::remove`].
    pub fn add(&self, closed: &AtomicBool, hook: CloseHook) -> u64 {
        let id = crate::random_u64();
        if closed.load(Ordering::Acquire) {
            hook();
            return id;
        }
        self.hooks.lock().expect("hooks").insert(id, hook);
        if closed.load(Ordering::Acquire) {
            self.run();
        }
        id
    }

    /// Forgets a hook.
    pub fn remove(&self, id: u64) {
        self.hooks.lock().expect("hooks").remove(&id);
    }

    /// Runs (and forgets) every registered hook.
    pub fn run(&self) {
        let hooks = std::mem::take(&mut *self.hooks.lock().expect("hooks"));
        for (_, h) in hooks {
            h();
        }
    }
}

/// The life of something that closes once and then runs its hooks: a link that is not a TCP
/// connection (a stream pair), so channels over it close with it like over a connection.
#[derive(Default)]
pub struct Lifetime {
    closed: AtomicBool,
    hooks: CloseHooks,
}

impl Lifetime {
    /// Runs `hook` when this closes (at once if already closed); returns an id for
    /// [`Lifetime::remove_hook`].
    pub fn on_close(&self, hook: CloseHook) -> u64 {
        self.hooks.add(&self.closed, hook)
    }

    /// Forgets a hook.
    pub fn remove_hook(&self, id: u64) {
        self.hooks.remove(id);
    }

    /// Closes (once) and runs the hooks.
    pub fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.hooks.run();
        }
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    #[test]
    fn hooks_run_once_and_late_hooks_run_at_once() {
        let closed = AtomicBool::new(false);
        let hooks = CloseHooks::default();
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        hooks.add(
            &closed,
            Box::new(move || {
                c.fetch_add(1, Ordering::SeqCst);
            }),
        );
        let c = count.clone();
        let removed = hooks.add(
            &closed,
            Box::new(move || {
                c.fetch_add(100, Ordering::SeqCst);
            }),
        );
        hooks.remove(removed);
        closed.store(true, Ordering::Release);
        hooks.run();
        hooks.run();
        assert_eq!(count.load(Ordering::SeqCst), 1);
        let c = count.clone();
        hooks.add(
            &closed,
            Box::new(move || {
                c.fetch_add(10, Ordering::SeqCst);
            }),
        );
        assert_eq!(count.load(Ordering::SeqCst), 11);
    }
}
