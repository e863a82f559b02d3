//! One client connection: 4-byte size-prefixed frames in, responses out in
//! request order.
//!
//! Requests of one connection are handled one after another (as Kafka does),
//! which keeps a pipelining producer's batches in order; responses go to a
//! separate writer task through a bounded queue, so the next request is
//! handled while the previous response is still being written.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

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

pub async fn serve_connection(
    stream: TcpStream,
    info: ConnectionInfo,
    broker: Arc<Broker>,
    mut shutdown: Shutdown,
) {
    tracing::debug!(peer = %info.peer, listener = %info.listener_name, "connection opened");
    let (reader, writer) = stream.into_split();
    let (tx, rx) = mpsc::channel::<ResponseFrame>(broker.config.queued_max_requests);
    let writer_task = tokio::spawn(write_responses(writer, rx, info.peer));
    let max_frame_bytes = broker.config.socket_request_max_bytes as usize;
    let mut frames = FrameReader::new(reader, max_frame_bytes);
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
            Err(e) => {
                tracing::warn!(peer = %info.peer, error = %e, "closing connection");
                break;
            }
        };
        match handler::handle_frame(&broker, &info, frame).await {
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
}

struct FrameReader {
    socket: OwnedReadHalf,
    buffer: BytesMut,
    max_frame_bytes: usize,
}

impl FrameReader {
    fn new(socket: OwnedReadHalf, max_frame_bytes: usize) -> Self {
        FrameReader {
            socket,
            buffer: BytesMut::with_capacity(READ_CHUNK_BYTES),
            max_frame_bytes,
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
            let read = self.socket.read_buf(&mut self.buffer).await?;
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
) {
    let mut out = BufWriter::with_capacity(WRITE_BUFFER_BYTES, socket);
    while let Some(frame) = queue.recv().await {
        if let Err(e) = write_frame(&mut out, frame).await {
            tracing::debug!(%peer, error = %e, "response write failed");
            return;
        }
        if queue.is_empty() {
            if let Err(e) = out.flush().await {
                tracing::debug!(%peer, error = %e, "response flush failed");
                return;
            }
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
