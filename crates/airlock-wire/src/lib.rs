//! Wire primitives shared by every Airlock protocol core.
//!
//! This crate is sans-IO: it only turns bytes into values and values into bytes.
//! * [`codec`] — a bounds-checked binary reader and the integer/byte-string encodings
//!   every other format is built from.
//! * [`address`] — local addresses and routes (onward / return lists of addresses).
//! * [`packet`] — a byte buffer with headroom, so headers can be prepended without copying
//!   the payload (the way `sk_buff` works in the kernel).
//! * [`transport_frame`] — the TCP transport framing: preamble, length-prefixed frames, routed
//!   messages.
//! * [`multiaddr`] — the textual route syntax users type: `/node/n1/secure/api/service/echo`.
//! * [`time`] — Unix seconds, and durations in words for messages.
//!
//! The formats are specified in `docs/protocol.md`; test vectors there are checked by tests here.

#![warn(missing_docs)]

pub mod address;
pub mod codec;
pub mod multiaddr;
pub mod packet;
pub mod time;
pub mod transport_frame;

pub use address::{Address, Route};
pub use codec::{DecodeError, Reader};
pub use multiaddr::{MultiAddr, Segment};
pub use packet::Packet;
pub use transport_frame::{FrameDecoder, FrameError, InboundFrame};
