//! Moving Kafka frames between a client-side and a server-side socket through an interceptor.
//!
//! Used on both sides of a Kafka portal: at the inlet the client is the Kafka client and the
//! server is the portal stream; at the outlet the client is the portal stream and the server the
//! broker. Requests flow client → server, responses server → client, each direction on its own
//! task so that neither a slow reader nor a large frame holds the other direction up. Whole
//! frames are handed to the interceptor ([`airlock_kafka`]); anything it cannot read ends the
//! connection (fail closed), with the reason in the log.

use airlock_kafka::{FrameReader, RequestAction};
use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, WriteHalf};
use tokio::sync::Mutex;

/// Read size per socket read.
const READ_CHUNK: usize = 64 * 1024;

/// The future of an [`Interceptor`] method.
pub(crate) type FrameFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;
/// The future of [`Interceptor::on_response`].
pub(crate) type ResponseFuture<'a> = FrameFuture<'a, Bytes>;

/// Where a request frame goes.
pub(crate) enum Outgoing {
    /// On to the server.
    ToServer(Bytes),
    /// Back to the client (answered by the interceptor).
    ToClient(Bytes),
}

impl Outgoing {
    /// The interceptor core's decision on a request that needs nothing more.
    pub(crate) fn from_action(action: RequestAction) -> Result<Outgoing, String> {
        match action {
            RequestAction::Forward(f) | RequestAction::Sealed { frame: f, .. } => {
                Ok(Outgoing::ToServer(f))
            }
            RequestAction::Reply(f) => Ok(Outgoing::ToClient(f)),
            RequestAction::NeedKey { topic } => Err(format!(
                "a Produce request for {topic:?} needs a data key, and this side encrypts nothing"
            )),
        }
    }
}

/// What one connection's interceptor does with frames (see [`crate::kafka`]).
pub(crate) trait Interceptor: Send + Sync + 'static {
    /// A request frame from the client; may wait (for a data key).
    fn on_request(&self, frame: Bytes) -> FrameFuture<'_, Outgoing>;
    /// A response frame from the server; returns the frame to pass on, after whatever the
    /// response asks for is in place (new broker listeners or outlets). Boxed: the inlet's
    /// future opens listeners whose connections run this same pump.
    fn on_response(&self, frame: Bytes) -> ResponseFuture<'_>;
}

/// Why a connection ended early.
#[derive(Debug)]
enum End {
    /// A socket failed.
    Io(std::io::Error),
    /// The interceptor refused or could not read a frame.
    Refused(String),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Io(e) => write!(f, "{e}"),
            End::Refused(why) => f.write_str(why),
        }
    }
}

/// Reads whole frames from one side.
async fn next_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    frames: &mut FrameReader,
    buf: &mut [u8],
) -> Result<Option<Bytes>, End> {
    loop {
        if let Some(f) = frames.pop().map_err(|e| End::Refused(e.to_string()))? {
            return Ok(Some(f));
        }
        let n = r.read(buf).await.map_err(End::Io)?;
        if n == 0 {
            if frames.buffered() > 0 {
                return Err(End::Refused(format!(
                    "the connection ended inside a frame ({} bytes of it arrived)",
                    frames.buffered()
                )));
            }
            return Ok(None);
        }
        frames.push(&buf[..n]);
    }
}

/// Runs one connection until both directions end; `label` names it in the log.
pub(crate) async fn run<C, S, I>(client: C, server: S, interceptor: Arc<I>, label: String)
where
    C: AsyncRead + AsyncWrite + Send + 'static,
    S: AsyncRead + AsyncWrite + Send + 'static,
    I: Interceptor,
{
    let (mut client_rx, client_tx) = tokio::io::split(client);
    let (mut server_rx, mut server_tx) = tokio::io::split(server);
    let client_tx: Arc<Mutex<WriteHalf<C>>> = Arc::new(Mutex::new(client_tx));

    let requests = {
        let (interceptor, client_tx) = (interceptor.clone(), client_tx.clone());
        async move {
            let mut frames = FrameReader::new();
            let mut buf = vec![0u8; READ_CHUNK];
            loop {
                let Some(frame) = next_frame(&mut client_rx, &mut frames, &mut buf).await? else {
                    let _ = server_tx.shutdown().await;
                    return Ok::<_, End>(());
                };
                match interceptor.on_request(frame).await.map_err(End::Refused)? {
                    Outgoing::ToServer(f) => server_tx.write_all(&f).await.map_err(End::Io)?,
                    Outgoing::ToClient(f) => client_tx
                        .lock()
                        .await
                        .write_all(&f)
                        .await
                        .map_err(End::Io)?,
                }
            }
        }
    };
    let responses = async move {
        let mut frames = FrameReader::new();
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            let Some(frame) = next_frame(&mut server_rx, &mut frames, &mut buf).await? else {
                let _ = client_tx.lock().await.shutdown().await;
                return Ok::<_, End>(());
            };
            let out = interceptor.on_response(frame).await.map_err(End::Refused)?;
            client_tx
                .lock()
                .await
                .write_all(&out)
                .await
                .map_err(End::Io)?;
        }
    };
    tokio::pin!(requests);
    tokio::pin!(responses);
    // Either direction failing ends the connection; a direction that ends cleanly lets the
    // other finish (a client that half-closes still gets its responses).
    let outcome = tokio::select! {
        r = &mut requests => match r {
            Ok(()) => responses.await,
            Err(e) => Err(e),
        },
        r = &mut responses => match r {
            Ok(()) => requests.await,
            Err(e) => Err(e),
        },
    };
    match outcome {
        Ok(()) => tracing::debug!(connection = %label, "kafka connection ended"),
        Err(End::Io(e)) => tracing::debug!(connection = %label, "kafka connection ended: {e}"),
        Err(e) => tracing::warn!(connection = %label, "kafka connection closed: {e}"),
    }
}
