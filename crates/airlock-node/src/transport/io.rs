//! The two tasks of a connection: the reader, which decodes frames (within the handshake and
//! idle timeouts) and delivers each message inline, and the flusher, which drains the outbox
//! with vectored writes once the socket is writable and sends heartbeats when idle.

use super::{Connection, HANDSHAKE_TIMEOUT, HEARTBEAT_INTERVAL, IDLE_TIMEOUT};
use crate::flow_control::Origin;
use crate::message::Message;
use crate::router::Deliver;
use airlock_wire::transport_frame::{self, FrameDecoder, InboundFrame};
use bytes::{Buf, Bytes, BytesMut};
use std::io::IoSlice;
use std::sync::Arc;
use tokio::net::TcpStream;

/// Reads and delivers frames until the peer closes, errs, or stays silent too long.
pub(super) async fn read_loop(deliver: &Deliver, conn: &Arc<Connection>) -> std::io::Result<()> {
    // The read buffer grows with the traffic: idle connections keep 16 KiB, busy ones read up
    // to 512 KiB per call (fewer syscalls).
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut chunk = 16 * 1024;
    let mut decoder = FrameDecoder::new();
    let mut first = true;
    loop {
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(InboundFrame::Message {
                    onward,
                    mut ret,
                    payload,
                })) => {
                    ret.push_front(conn.addr.clone());
                    deliver.deliver(Message::with_origin(
                        onward,
                        ret,
                        payload,
                        Origin::Transport(conn.addr.clone()),
                    ));
                }
                Ok(Some(InboundFrame::Heartbeat)) => {}
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(peer = %conn.peer, "closing connection: {e}");
                    return Ok(());
                }
            }
        }
        if buf.capacity() - buf.len() < chunk / 4 {
            buf.reserve(chunk);
        }
        let wait = if first {
            HANDSHAKE_TIMEOUT
        } else {
            IDLE_TIMEOUT
        };
        let n = match tokio::time::timeout(wait, read_some(&conn.stream, &mut buf)).await {
            Ok(r) => r?,
            Err(_) => {
                tracing::info!(peer = %conn.peer, "closing idle connection");
                return Ok(());
            }
        };
        if n == 0 {
            return Ok(());
        }
        // A read that filled most of the space asks for more next time; small reads shrink it.
        chunk = if n * 2 >= chunk {
            (chunk * 2).min(512 * 1024)
        } else {
            (chunk / 2).max(16 * 1024)
        };
        first = false;
    }
}

async fn read_some(stream: &TcpStream, buf: &mut BytesMut) -> std::io::Result<usize> {
    loop {
        stream.readable().await?;
        match stream.try_read_buf(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            r => return r,
        }
    }
}

/// Drains the outbox whenever writers handed it over; sends heartbeats when idle.
pub(super) async fn flush_loop(conn: &Connection) -> std::io::Result<()> {
    let mut batch: Vec<Bytes> = Vec::with_capacity(64);
    loop {
        let notified = conn.wake.notified();
        let flushing = {
            let out = conn.out.lock().expect("outbox");
            if out.failed {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            out.flushing
        };
        if !flushing {
            if tokio::time::timeout(HEARTBEAT_INTERVAL, notified)
                .await
                .is_err()
            {
                conn.send_bytes(Bytes::from_static(&HEARTBEAT));
            }
            continue;
        }
        loop {
            {
                let mut out = conn.out.lock().expect("outbox");
                if out.failed {
                    return Err(std::io::ErrorKind::BrokenPipe.into());
                }
                if out.queue.is_empty() {
                    out.flushing = false;
                    break;
                }
                let n = out.queue.len().min(64);
                for b in out.queue.drain(..n) {
                    batch.push(b);
                }
                let taken: usize = batch.iter().map(|b| b.len()).sum();
                out.queued = out.queued.saturating_sub(taken);
            }
            write_all_vectored(&conn.stream, &mut batch).await?;
        }
    }
}

const HEARTBEAT: [u8; 5] = [0, 0, 0, 1, transport_frame::KIND_HEARTBEAT];

/// Writes every buffer in `batch` (vectored, waiting for writability, handling partial writes)
/// and empties it.
pub async fn write_all_vectored(stream: &TcpStream, batch: &mut Vec<Bytes>) -> std::io::Result<()> {
    let mut idx = 0;
    while idx < batch.len() {
        stream.writable().await?;
        let slices: Vec<IoSlice<'_>> = batch[idx..]
            .iter()
            .take(64)
            .map(|b| IoSlice::new(b))
            .collect();
        let mut n = match stream.try_write_vectored(&slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        while n > 0 {
            let len = batch[idx].len();
            if n >= len {
                n -= len;
                idx += 1;
            } else {
                batch[idx].advance(n);
                n = 0;
            }
        }
    }
    batch.clear();
    Ok(())
}
