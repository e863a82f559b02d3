//! One client connection: 4-byte size-prefixed frames in, responses out in
//! request order.
//!
//! Requests of one connection are handled one after another (as Kafka does),
//! which keeps a pipelining producer's batches in order; responses go to a
//! separate writer task through a bounded queue, so the next request is
//! handled while the previous response is still being written.
//!
//! A connection with no bytes read or written for `connections.max.idle.ms`
//! is closed, as Kafka's selector closes idle channels: that includes a client
//! that stalls in the middle of a frame (its buffer would otherwise be held
//! forever). Handling a request (a long-poll Fetch) and writing a response are
//! activity: the idle clock only runs while the broker waits for the client.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::broker::Broker;
use crate::handler::{self, Outcome};
use crate::protocol::{Chunk, ResponseFrame};
use crate::server::listener::Shutdown;
use crate::server::sendfile::send_file_range;

/// Bytes the reader asks the socket for at a time when no frame size is known.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Buffered response bytes before the writer flushes without waiting for the queue to drain.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

/// Where a connection came from.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    pub peer: SocketAddr,
    /// The listener it was accepted on: Metadata answers with that listener's
    /// advertised address.
    pub listener_name: Arc<str>,
}

/// When the connection last did something, shared by its reader and writer.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    /// Milliseconds from `opened` to the last byte read or written, or the end
    /// of handling a request.
    last_ms: AtomicU64,
    /// The writer holds a response it has not finished writing.
    writing: AtomicBool,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            last_ms: AtomicU64::new(0),
            writing: AtomicBool::new(false),
        }
    }

    fn touch(&self) {
        let ms = self.opened.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.opened + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

pub async fn serve_connection(
    stream: TcpStream,
    info: ConnectionInfo,
    broker: Arc<Broker>,
    mut shutdown: Shutdown,
) {
    tracing::debug!(peer = %info.peer, listener = %info.listener_name, "connection opened");
    let (reader, writer) = stream.into_split();
    let (tx, rx) = mpsc::channel::<ResponseFrame>(broker.config.queued_max_requests);
    let activity = Arc::new(Activity::new());
    let writer_task = tokio::spawn(write_responses(writer, rx, info.peer, activity.clone()));
    let max_frame_bytes = broker.config.socket_request_max_bytes as usize;
    let idle = broker
        .config
        .connections_max_idle_ms
        .map(Duration::from_millis);
    let mut frames = FrameReader::new(reader, max_frame_bytes, idle, activity.clone());
    loop {
        let frame = tokio::select! {
            biased;
            _ = shutdown.recv() => break,
            frame = frames.next_frame() => frame,
        };
        let frame = match frame {
            Ok(Some(frame)) => frame,
            Ok(None) => break, // clean EOF
            Err(FrameError::Io(e)) => {
                tracing::debug!(peer = %info.peer, error = %e, "connection read ended");
                break;
            }
            Err(e @ FrameError::Idle { .. }) => {
                tracing::info!(peer = %info.peer, error = %e, "closing idle connection");
                break;
            }
            Err(e) => {
                tracing::warn!(peer = %info.peer, error = %e, "closing connection");
                break;
            }
        };
        let outcome = handler::handle_frame(&broker, &info, frame).await;
        // The idle clock starts again when the request is done (a long poll is not idle).
        activity.touch();
        match outcome {
            Outcome::Respond(response) => {
                if tx.send(response).await.is_err() {
                    break; // writer failed: the peer is gone
                }
            }
            Outcome::NoResponse => {}
            Outcome::Close(reason) => {
                tracing::warn!(peer = %info.peer, %reason, "closing connection");
                break;
            }
            Outcome::Unsupported(reason) => {
                tracing::info!(peer = %info.peer, %reason, "closing connection: unsupported request");
                break;
            }
        }
    }
    // Let the writer finish every response already queued, then close.
    drop(tx);
    let _ = writer_task.await;
    tracing::debug!(peer = %info.peer, "connection closed");
}

#[derive(Debug, thiserror::Error)]
enum FrameError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("negative frame size {0}")]
    Negative(i32),
    #[error("frame of {size} bytes exceeds socket.request.max.bytes ({max})")]
    TooLarge { size: usize, max: usize },
    #[error("connection closed in the middle of a frame")]
    Truncated,
    #[error("no bytes in or out for {idle_ms} ms (connections.max.idle.ms), {buffered} bytes of a frame buffered")]
    Idle { idle_ms: u128, buffered: usize },
}

struct FrameReader {
    socket: OwnedReadHalf,
    buffer: BytesMut,
    max_frame_bytes: usize,
    /// `connections.max.idle.ms` (None: never).
    idle: Option<Duration>,
    activity: Arc<Activity>,
}

impl FrameReader {
    fn new(
        socket: OwnedReadHalf,
        max_frame_bytes: usize,
        idle: Option<Duration>,
        activity: Arc<Activity>,
    ) -> Self {
        FrameReader {
            socket,
            buffer: BytesMut::with_capacity(READ_CHUNK_BYTES),
            max_frame_bytes,
            idle,
            activity,
        }
    }

    /// One read from the socket, failing with `Idle` once neither side has done
    /// anything for the idle time. `read_buf` is cancel-safe, so the timeout
    /// loses no bytes.
    async fn read_some(&mut self) -> Result<usize, FrameError> {
        let Some(idle) = self.idle else {
            return Ok(self.socket.read_buf(&mut self.buffer).await?);
        };
        // While a response is being written the connection is busy, not idle.
        let mut busy_until: Option<Instant> = None;
        loop {
            let deadline =
                (self.activity.last() + idle).max(busy_until.unwrap_or(self.activity.opened));
            match tokio::time::timeout_at(deadline, self.socket.read_buf(&mut self.buffer)).await {
                Ok(read) => {
                    let read = read?;
                    if read > 0 {
                        self.activity.touch();
                    }
                    return Ok(read);
                }
                Err(_elapsed) => {
                    let now = Instant::now();
                    if self.activity.writing.load(Ordering::Relaxed) {
                        busy_until = Some(now + idle);
                    } else if now >= self.activity.last() + idle {
                        return Err(FrameError::Idle {
                            idle_ms: idle.as_millis(),
                            buffered: self.buffer.len(),
                        });
                    }
                }
            }
        }
    }

    /// The next frame body (size prefix stripped) as frozen `Bytes`, or
    /// `None` at a clean end of stream.
    async fn next_frame(&mut self) -> Result<Option<bytes::Bytes>, FrameError> {
        loop {
            if self.buffer.len() >= 4 {
                let size = (&self.buffer[..4]).get_i32();
                if size < 0 {
                    return Err(FrameError::Negative(size));
                }
                let size = size as usize;
                if size > self.max_frame_bytes {
                    return Err(FrameError::TooLarge {
                        size,
                        max: self.max_frame_bytes,
                    });
                }
                if self.buffer.len() >= 4 + size {
                    let mut frame = self.buffer.split_to(4 + size);
                    frame.advance(4);
                    return Ok(Some(frame.freeze()));
                }
                // Make room for the whole frame at once: one allocation, few reads.
                self.buffer.reserve(4 + size - self.buffer.len());
            } else if self.buffer.capacity() - self.buffer.len() < 4 {
                self.buffer.reserve(READ_CHUNK_BYTES);
            }
            if self.buffer.capacity() == self.buffer.len() {
                self.buffer.reserve(READ_CHUNK_BYTES);
            }
            let read = self.read_some().await?;
            if read == 0 {
                return if self.buffer.is_empty() {
                    Ok(None)
                } else {
                    Err(FrameError::Truncated)
                };
            }
        }
    }
}

/// Writes queued responses in order. Small responses are coalesced in a
/// buffer and flushed when the queue runs dry; file ranges go out with
/// `sendfile(2)` after flushing what precedes them.
async fn write_responses(
    socket: OwnedWriteHalf,
    mut queue: mpsc::Receiver<ResponseFrame>,
    peer: SocketAddr,
    activity: Arc<Activity>,
) {
    let mut out = BufWriter::with_capacity(WRITE_BUFFER_BYTES, socket);
    while let Some(frame) = queue.recv().await {
        activity.writing.store(true, Ordering::Relaxed);
        if let Err(e) = write_frame(&mut out, frame).await {
            tracing::debug!(%peer, error = %e, "response write failed");
            return;
        }
        if queue.is_empty() {
            if let Err(e) = out.flush().await {
                tracing::debug!(%peer, error = %e, "response flush failed");
                return;
            }
            activity.touch();
            activity.writing.store(false, Ordering::Relaxed);
        }
    }
    let _ = out.flush().await;
    let _ = out.get_mut().shutdown().await;
}

async fn write_frame(
    out: &mut BufWriter<OwnedWriteHalf>,
    frame: ResponseFrame,
) -> std::io::Result<()> {
    for chunk in frame.chunks {
        match chunk {
            Chunk::Bytes(bytes) => out.write_all(&bytes).await?,
            Chunk::File(range) => {
                out.flush().await?;
                send_file_range(out.get_ref().as_ref(), &range).await?;
            }
        }
    }
    Ok(())
}
