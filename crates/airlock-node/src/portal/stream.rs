//! Moving bytes between one TCP socket and its portal stream.
//!
//! Two halves run concurrently in one task:
//! * socket → peer: wait for send credit, read up to `min(credit, MAX_CHUNK)` bytes straight into
//!   a packet with headroom, prepend the Data header, and hand it to the channel (encrypted in
//!   place, framed in place, queued to the TCP writer). EOF becomes `Fin`; errors become `Reset`.
//! * peer → socket: take delivered data from the stream's queue (filled inline by the TCP reader,
//!   bounded by our receive window), write it, and return credit as it is written. `Fin` becomes a
//!   write shutdown (half-close); `Reset` aborts the socket with an RST.

use super::link::Link;
use crate::node::Node;
use airlock_portal::{
    FlowError, PortalFrame, RecvCredit, ResetReason, SendCredit, DEFAULT_WINDOW, MAX_CHUNK,
};
use airlock_wire::Packet;
use bytes::{BufMut, Bytes};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};

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
}

/// Shared state of one stream.
pub struct Stream {
    id: u32,
    send: Mutex<SendCredit>,
    credit: Notify,
    recv: Mutex<RecvCredit>,
    tx: mpsc::UnboundedSender<StreamEvent>,
}

impl Stream {
    /// A stream whose peer offers `peer_window` bytes of receive window.
    pub fn new(id: u32, peer_window: u32) -> (Arc<Self>, mpsc::UnboundedReceiver<StreamEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Arc::new(Stream {
                id,
                send: Mutex::new(SendCredit::new(peer_window)),
                credit: Notify::new(),
                recv: Mutex::new(RecvCredit::new(DEFAULT_WINDOW)),
                tx,
            }),
            rx,
        )
    }

    /// Data arrived from the peer (called inline by the channel's receive path).
    pub fn on_data(&self, data: Bytes) -> Result<(), FlowError> {
        self.recv.lock().expect("recv").on_data(data.len() as u64)?;
        let _ = self.tx.send(StreamEvent::Data(data));
        Ok(())
    }

    /// Credit arrived from the peer.
    pub fn on_credit(&self, bytes: u32) -> Result<(), FlowError> {
        self.send.lock().expect("send").grant(bytes)?;
        self.credit.notify_one();
        Ok(())
    }

    /// Delivers a control event.
    pub fn deliver(&self, ev: StreamEvent) {
        let _ = self.tx.send(ev);
        self.credit.notify_one();
    }

    async fn wait_credit(&self) -> u64 {
        loop {
            let notified = self.credit.notified();
            let a = self.send.lock().expect("send").available();
            if a > 0 {
                return a;
            }
            notified.await;
        }
    }
}

#[derive(PartialEq, Eq, Debug)]
enum HalfEnd {
    Finished,
    Reset,
}

/// Runs the stream until both directions finished or either was reset.
pub async fn run(
    node: &Node,
    link: &Arc<Link>,
    stream: &Arc<Stream>,
    socket: TcpStream,
    mut rx: mpsc::UnboundedReceiver<StreamEvent>,
) {
    let _ = socket.set_nodelay(true);
    let (mut rd, mut wr) = socket.into_split();
    let id = stream.id;

    let upstream = async {
        loop {
            let avail = stream.wait_credit().await;
            if link.is_closed() {
                return HalfEnd::Reset;
            }
            let max = (avail as usize).min(MAX_CHUNK);
            let mut p = Packet::with_headroom(HEADROOM, max + 64);
            let read = {
                let mut limited = p.buf_mut().limit(max);
                rd.read_buf(&mut limited).await
            };
            match read {
                Ok(0) => {
                    link.send_control(node, PortalFrame::Fin { stream: id });
                    return HalfEnd::Finished;
                }
                Ok(n) => {
                    stream.send.lock().expect("send").consume(n as u64);
                    link.stats.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
                    PortalFrame::prepend_data_header(id, &mut p);
                    if !link.send_packet(node, p) {
                        return HalfEnd::Reset;
                    }
                }
                Err(_) => {
                    link.send_control(
                        node,
                        PortalFrame::Reset {
                            stream: id,
                            reason: ResetReason::ConnectionReset,
                        },
                    );
                    return HalfEnd::Reset;
                }
            }
        }
    };

    let downstream = async {
        while let Some(ev) = rx.recv().await {
            match ev {
                StreamEvent::Data(b) => {
                    let n = b.len() as u64;
                    if wr.write_all(&b).await.is_err() {
                        link.send_control(
                            node,
                            PortalFrame::Reset {
                                stream: id,
                                reason: ResetReason::ConnectionReset,
                            },
                        );
                        return HalfEnd::Reset;
                    }
                    link.stats.bytes_in.fetch_add(n, Ordering::Relaxed);
                    let credit = stream.recv.lock().expect("recv").on_consumed(n);
                    if let Some(c) = credit {
                        link.send_control(
                            node,
                            PortalFrame::Credit {
                                stream: id,
                                bytes: c,
                            },
                        );
                    }
                }
                StreamEvent::Fin => {
                    let _ = wr.shutdown().await;
                    return HalfEnd::Finished;
                }
                StreamEvent::Reset(reason) => {
                    if reason != ResetReason::ConnectFailed {
                        // Abort: make the kernel send RST instead of FIN.
                        let _ = wr.as_ref().set_zero_linger();
                    }
                    return HalfEnd::Reset;
                }
            }
        }
        HalfEnd::Reset
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
