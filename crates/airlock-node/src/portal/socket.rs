//! The local end of a portal stream: a TCP connection (a client of an inlet, or the outlet's
//! connection to its target) or one end of a private socket pair that a protocol-aware service
//! in this process (the Kafka interceptor) holds the other end of.
//!
//! A socket pair is not reachable by any other process, so an interceptor that sits between a
//! client and a portal cannot be bypassed by connecting to a port behind it.

use std::os::fd::AsRawFd;
use tokio::io::Interest;
use tokio::net::{TcpStream, UnixStream};

/// One local end of a portal stream.
#[derive(Debug)]
pub enum PortalSocket {
    /// A TCP connection.
    Tcp(TcpStream),
    /// One end of a socket pair inside this process.
    Local(UnixStream),
}

impl From<TcpStream> for PortalSocket {
    fn from(s: TcpStream) -> Self {
        PortalSocket::Tcp(s)
    }
}

impl From<UnixStream> for PortalSocket {
    fn from(s: UnixStream) -> Self {
        PortalSocket::Local(s)
    }
}

impl PortalSocket {
    /// A connected pair: the first end is carried by a portal stream, the second goes to the
    /// in-process service.
    pub fn pair() -> std::io::Result<(PortalSocket, UnixStream)> {
        let (a, b) = UnixStream::pair()?;
        Ok((PortalSocket::Local(a), b))
    }

    /// Sets `TCP_NODELAY` (nothing to do for a socket pair).
    pub fn set_nodelay(&self) {
        if let PortalSocket::Tcp(s) = self {
            let _ = s.set_nodelay(true);
        }
    }

    /// Waits until the socket is readable.
    pub async fn readable(&self) -> std::io::Result<()> {
        match self {
            PortalSocket::Tcp(s) => s.readable().await,
            PortalSocket::Local(s) => s.readable().await,
        }
    }

    /// Waits until the socket is writable.
    pub async fn writable(&self) -> std::io::Result<()> {
        match self {
            PortalSocket::Tcp(s) => s.ready(Interest::WRITABLE).await.map(|_| ()),
            PortalSocket::Local(s) => s.ready(Interest::WRITABLE).await.map(|_| ()),
        }
    }

    /// A non-blocking read into `buf`.
    pub fn try_read_buf<B: bytes::BufMut>(&self, buf: &mut B) -> std::io::Result<usize> {
        match self {
            PortalSocket::Tcp(s) => s.try_read_buf(buf),
            PortalSocket::Local(s) => s.try_read_buf(buf),
        }
    }

    /// A non-blocking write of (a prefix of) `data`.
    pub fn try_write(&self, data: &[u8]) -> std::io::Result<usize> {
        match self {
            PortalSocket::Tcp(s) => s.try_write(data),
            PortalSocket::Local(s) => s.try_write(data),
        }
    }

    /// Half-closes the write side (the peer reads EOF).
    pub fn shutdown_write(&self) {
        let fd = match self {
            PortalSocket::Tcp(s) => s.as_raw_fd(),
            PortalSocket::Local(s) => s.as_raw_fd(),
        };
        // SAFETY: shutdown(2) on the socket's valid descriptor; half-closes writes.
        unsafe {
            libc::shutdown(fd, libc::SHUT_WR);
        }
    }

    /// Makes the close an abort: a TCP connection sends RST instead of FIN (a socket pair has
    /// no such thing; its peer sees the close).
    pub fn abort_on_close(&self) {
        if let PortalSocket::Tcp(s) = self {
            let _ = s.set_zero_linger();
        }
    }
}
