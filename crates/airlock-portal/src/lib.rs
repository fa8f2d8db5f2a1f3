//! The Airlock portal core: many TCP connections carried as streams over one secure channel.
//!
//! * [`frame`] — the portal frames (link hello, stream open/data/credit/fin/reset).
//! * [`link`] — the protocol state of one link and its streams ([`LinkCore`]), fed frames and
//!   drained for frames to send and events, in the style of `quinn-proto`.
//! * [`flow`] — credit-based flow control per stream, so one slow reader never stalls the other
//!   streams that share the channel: a sender may only have `window` unacknowledged bytes in
//!   flight, and the receiver returns credit as its application consumes data.
//!
//! The tokio shell in `airlock-node` owns the sockets; this crate only decides what may be sent.

#![warn(missing_docs)]

pub mod flow;
pub mod frame;
pub mod link;

pub use flow::{FlowError, RecvCredit, SendCredit};
pub use frame::{PortalFrame, ResetReason};
pub use link::{CloseReason, LinkCore, LinkEvent, LinkRole, LinkState};

/// Default receive window per stream (bytes in flight before the sender must wait).
pub const DEFAULT_WINDOW: u32 = 2 * 1024 * 1024;
/// The largest window a peer may advertise; larger ones are taken as this (a peer cannot make
/// this side push unbounded data towards it).
pub const MAX_WINDOW: u32 = 16 * 1024 * 1024;
/// Most streams one link carries at once; further `Open`s are reset (refused).
pub const MAX_STREAMS_PER_LINK: usize = 1024;
/// Most portal links one secure channel may hold at one outlet.
pub const MAX_LINKS_PER_CHANNEL: usize = 16;
/// Largest data chunk carried in one frame.
pub const MAX_CHUNK: usize = 256 * 1024;
