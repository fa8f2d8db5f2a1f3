//! The Airlock portal core: many TCP connections carried as streams over one secure channel.
//!
//! * [`frame`] — the portal frames (link hello, stream open/data/credit/fin/reset).
//! * [`flow`] — credit-based flow control per stream, so one slow reader never stalls the other
//!   streams that share the channel: a sender may only have `window` unacknowledged bytes in
//!   flight, and the receiver returns credit as its application consumes data.
//!
//! The tokio shell in `airlock-node` owns the sockets; this crate only decides what may be sent.

pub mod flow;
pub mod frame;

pub use flow::{FlowError, RecvCredit, SendCredit};
pub use frame::{PortalFrame, ResetReason};

/// Default receive window per stream (bytes in flight before the sender must wait).
pub const DEFAULT_WINDOW: u32 = 2 * 1024 * 1024;
/// Largest data chunk carried in one frame.
pub const MAX_CHUNK: usize = 256 * 1024;
