//! Moving bytes between one local socket (a TCP connection or an in-process socket pair, see
//! [`super::socket`]) and its portal stream. The stream's protocol state (its
//! credit in both directions) lives in the link's [`airlock_portal::LinkCore`]; this is the
//! socket side.
//!
//! * socket → peer (the stream's task): wait for send credit, read up to `min(credit,
//!   MAX_CHUNK)` bytes straight into a packet with headroom, prepend the Data header and hand it to
//!   the channel (encrypted in place, framed in place, written to the node connection). EOF
//!   becomes `Fin`; errors become `Reset`.
//! * peer → socket: data arrives inline on the task that decrypted it. If nothing is queued, it is
//!   written to the socket right there with a non-blocking write and credit is returned at once;
//!   what the socket does not take is queued (bounded by our receive window) and written by the
//!   stream's task when the socket drains. `Fin` becomes a write shutdown (half-close); `Reset`
//!   aborts the socket with an RST.

use super::link::Link;
use super::socket::PortalSocket;
use super::PortalContext;
use airlock_portal::{PortalFrame, ResetReason, MAX_CHUNK};
use airlock_wire::Packet;
use bytes::{Buf, BufMut, Bytes};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::Notify;

/// Headroom reserved in front of socket data for all headers added on the way out.
pub const HEADROOM: usize = 256;

/// Something delivered to the socket side of a stream.
#[derive(Debug)]
pub enum StreamEvent {
    /// Bytes to write.
    Data(Bytes),
    /// The peer will send no more data.
    Fin,
    /// The peer aborted the stream (or the link went down).
    Reset(ResetReason),
    /// A direct write to the socket failed.
    WriteFailed,
}

#[derive(Default)]
struct Downstream {
    queue: VecDeque<StreamEvent>,
    /// The stream task owns the socket's write side until the queue is empty.
    flushing: bool,
}

/// The socket side of one stream, shared by its task and the link's receive path.
pub struct Stream {
    id: u32,
    /// Woken when the peer returned credit (or the stream ends).
    credit: Notify,
    down: Mutex<Downstream>,
    wake: Notify,
    socket: OnceLock<Arc<PortalSocket>>,
}

impl Stream {
    /// The socket side of stream `id`.
    pub fn new(id: u32) -> Arc<Self> {
        Arc::new(Stream {
            id,
            credit: Notify::new(),
            down: Mutex::new(Downstream::default()),
            wake: Notify::new(),
            socket: OnceLock::new(),
        })
    }

    /// Data arrived from the peer, already within the window (called inline by the channel's
    /// receive path). Returns the number of bytes written to the socket right away.
    pub fn on_data(&self, mut data: Bytes) -> usize {
        let mut down = self.down.lock().expect("down");
        let mut written = 0;
        if !down.flushing && down.queue.is_empty() {
            if let Some(sock) = self.socket.get() {
                match sock.try_write(&data) {
                    Ok(n) if n == data.len() => return n,
                    Ok(n) => {
                        data.advance(n);
                        written = n;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => {
                        down.queue.push_back(StreamEvent::WriteFailed);
                        down.flushing = true;
                        drop(down);
                        self.wake.notify_one();
                        return 0;
                    }
                }
            }
        }
        down.queue.push_back(StreamEvent::Data(data));
        if !down.flushing {
            down.flushing = true;
            drop(down);
            self.wake.notify_one();
        }
        written
    }

    /// The peer returned credit: wakes the sender.
    pub fn credit_arrived(&self) {
        self.credit.notify_one();
    }

    /// Delivers a control event (after any queued data).
    pub fn deliver(&self, ev: StreamEvent) {
        let mut down = self.down.lock().expect("down");
        down.queue.push_back(ev);
        down.flushing = true;
        drop(down);
        self.wake.notify_one();
        self.credit.notify_one();
    }

    async fn wait_credit(&self, link: &Link) -> u64 {
        loop {
            let notified = self.credit.notified();
            let a = link.send_available(self.id);
            if a > 0 {
                return a;
            }
            notified.await;
        }
    }

    /// Next queued event for the stream task; clears `flushing` and waits when the queue is empty.
    async fn next_event(&self) -> StreamEvent {
        loop {
            let notified = self.wake.notified();
            {
                let mut down = self.down.lock().expect("down");
                if let Some(ev) = down.queue.pop_front() {
                    down.flushing = true;
                    return ev;
                }
                down.flushing = false;
            }
            notified.await;
        }
    }
}

/// Smallest socket read buffer: what a stream starts with and shrinks back to.
pub const MIN_READ: usize = 16 * 1024;

/// The size of the next socket read: it doubles while reads fill the buffer (bulk transfer, up
/// to [`MAX_CHUNK`]) and halves while they use less than a quarter of it (interactive traffic),
/// never below [`MIN_READ`]. Together with allocating only once the socket is readable, a
/// quiet connection costs no buffer at all and a busy one reads in large chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadSize(usize);

impl Default for ReadSize {
    fn default() -> Self {
        ReadSize(MIN_READ)
    }
}

impl ReadSize {
    /// Bytes to read next, given the send credit available.
    pub fn next(&self, credit: u64) -> usize {
        usize::try_from(credit)
            .unwrap_or(usize::MAX)
            .min(self.0)
            .max(1)
    }

    /// Adapts to a read that returned `n` bytes into a buffer of `max`.
    pub fn observe(&mut self, n: usize, max: usize) {
        if n >= max {
            // A full buffer: more was waiting. (A buffer cut short by credit says nothing.)
            if max >= self.0 {
                self.0 = (self.0 * 2).min(MAX_CHUNK);
            }
        } else if n < self.0 / 4 {
            self.0 = (self.0 / 2).max(MIN_READ);
        }
    }
}

#[derive(PartialEq, Eq, Debug)]
enum HalfEnd {
    Finished,
    Reset,
}

async fn write_all(sock: &PortalSocket, mut b: &[u8]) -> std::io::Result<()> {
    while !b.is_empty() {
        sock.writable().await?;
        match sock.try_write(b) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => b = &b[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Runs the stream until both directions finished or either was reset.
pub async fn run(
    ctx: &PortalContext,
    link: &Arc<Link>,
    stream: &Arc<Stream>,
    socket: PortalSocket,
) {
    socket.set_nodelay();
    let sock = Arc::new(socket);
    // From now on data may be written directly by the receive path.
    let _ = stream.socket.set(sock.clone());
    let id = stream.id;
    // Our side of the TCP connection failed: abort the peer's side of the stream too.
    let reset_peer = || link.reset_stream(ctx, id, ResetReason::ConnectionReset);

    let upstream = async {
        let mut read_size = ReadSize::default();
        loop {
            let avail = stream.wait_credit(link).await;
            if link.is_closed() {
                return HalfEnd::Reset;
            }
            // Wait for bytes before allocating: an idle connection holds no buffer.
            let mut p: Option<Packet> = None;
            let mut max = 0;
            let read = loop {
                if let Err(e) = sock.readable().await {
                    break Err(e);
                }
                let buf = p.get_or_insert_with(|| {
                    max = read_size.next(avail);
                    Packet::with_headroom(HEADROOM, max + 64)
                });
                let mut limited = buf.buf_mut().limit(max);
                match sock.try_read_buf(&mut limited) {
                    // Readiness was stale (tokio clears it only now): the socket is idle, so
                    // give the buffer back while waiting.
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => p = None,
                    r => break r,
                }
            };
            if let Ok(n) = read {
                read_size.observe(n, max);
            }
            match read {
                Ok(0) => {
                    link.finish_stream(ctx, id);
                    return HalfEnd::Finished;
                }
                Ok(n) => {
                    let mut p = p.expect("a read of n > 0 bytes had a buffer");
                    link.on_sent(id, n);
                    link.stats.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
                    PortalFrame::prepend_data_header(id, &mut p);
                    if !link.send_packet(ctx, p) {
                        return HalfEnd::Reset;
                    }
                }
                Err(_) => {
                    reset_peer();
                    return HalfEnd::Reset;
                }
            }
        }
    };

    let downstream = async {
        loop {
            match stream.next_event().await {
                StreamEvent::Data(b) => {
                    let n = b.len();
                    if write_all(&sock, &b).await.is_err() {
                        reset_peer();
                        return HalfEnd::Reset;
                    }
                    link.stats.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                    link.consumed(ctx, id, n);
                }
                StreamEvent::Fin => {
                    sock.shutdown_write();
                    return HalfEnd::Finished;
                }
                StreamEvent::WriteFailed => {
                    reset_peer();
                    return HalfEnd::Reset;
                }
                StreamEvent::Reset(reason) => {
                    if reason != ResetReason::ConnectFailed {
                        // Abort: make the kernel send RST instead of FIN.
                        sock.abort_on_close();
                    }
                    return HalfEnd::Reset;
                }
            }
        }
    };

    tokio::pin!(upstream);
    tokio::pin!(downstream);
    tokio::select! {
        up = &mut upstream => {
            if up == HalfEnd::Finished {
                downstream.await;
            }
        }
        down = &mut downstream => {
            if down == HalfEnd::Finished {
                upstream.await;
            }
        }
    }
    link.forget_stream(id);
}
