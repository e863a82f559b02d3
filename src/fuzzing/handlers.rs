//! Request frames through the real dispatcher and handlers, against a real
//! in-process broker on a scratch data directory.
//!
//! Input: what a client writes on a connection, i.e. frames each preceded
//! by its 4-byte big-endian size; a size that is negative or runs past the
//! end makes the rest of the input the last frame. At most [`MAX_FRAMES`]
//! frames per input, so one input can be a short conversation (create a
//! topic, produce to it, fetch it back).
//!
//! The broker lives across inputs (opening one costs a Raft election and
//! several fsyncs), so handlers also see the state earlier inputs left;
//! [`HandlerFixture`] is replaced every [`HandlerFixture::RUNS_PER_BROKER`]
//! inputs so that state stays small. It starts with a topic holding a few
//! records and a compacted one, so fetches and offset lookups find data.
//!
//! What must hold, for every frame: the handler returns (a frame still
//! running after [`FRAME_WAIT`] is left running, as a long poll or a parked
//! JoinGroup is on a real connection, and must end by itself); a frame that
//! decodes and is supported gets an answer, not a closed connection; the
//! answer's size prefix matches its bytes, it carries the request's
//! correlation id, and it decodes as the response of that API and version
//! with nothing left over; a request that decodes encodes and decodes back
//! to itself.

use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Decodable;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::broker::Broker;
use crate::cluster::MetadataCommand;
use crate::config::{BrokerConfig, Listener};
use crate::handler::{handle_frame, spec_for, Outcome};
use crate::protocol::{decode_request, Chunk, DecodedRequest, ResponseFrame};
use crate::record::{build_batch, BatchParams, BuilderRecord};
use crate::server::connection::ConnectionInfo;

use super::scratch::Scratch;

const MAX_FRAMES: usize = 8;
/// How long one frame may run before it is left to finish in the background.
const FRAME_WAIT: Duration = Duration::from_millis(200);
/// Partitions a fuzzed CreateTopics or CreatePartitions may ask for: a
/// request for 100,000 (the broker's limit) is legitimate but would make
/// every later input slow and fill the scratch disk.
const MAX_FUZZED_PARTITIONS: i32 = 8;

/// A broker and what a connection to it needs.
pub struct HandlerFixture {
    broker: Arc<Broker>,
    stop: watch::Sender<bool>,
    connection: ConnectionInfo,
    /// Frames still running after [`FRAME_WAIT`].
    background: Vec<JoinHandle<()>>,
    runs: u64,
    _scratch: Scratch,
}

impl HandlerFixture {
    /// Inputs one broker serves before it is replaced by a fresh one.
    pub const RUNS_PER_BROKER: u64 = 2000;

    /// Opens a broker on a new scratch directory and gives it some data.
    /// Must run inside a tokio runtime with time enabled.
    pub async fn open() -> HandlerFixture {
        let scratch = Scratch::new("broker");
        let listeners = vec![Listener {
            name: "PLAINTEXT".into(),
            host: "127.0.0.1".into(),
            port: 9092,
        }];
        let mut config = BrokerConfig {
            data_dir: scratch.path().to_path_buf(),
            advertised_listeners: listeners.clone(),
            listeners,
            cluster_id: Some("fuzz-cluster-00000000".into()),
            ..BrokerConfig::default()
        };
        config.groups.initial_rebalance_delay_ms = 0;
        let (stop, rx) = watch::channel(false);
        let broker = Broker::open(config, rx)
            .await
            .expect("a broker opens on an empty directory");
        broker.spawn_background();
        for (name, configs) in [("t", vec![]), ("c", vec![("cleanup.policy", "compact")])] {
            let configs = configs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let command = MetadataCommand::CreateTopic {
                name: name.to_string(),
                topic_id: uuid::Uuid::new_v4(),
                partitions: 2,
                replication_factor: 1,
                configs,
            };
            broker
                .propose(command)
                .await
                .expect("the fixture's topics are created");
            let partition = broker
                .replicas
                .partition(name, 0)
                .expect("a created partition");
            for i in 0..3u8 {
                let key = [b'k', b'0' + i % 2];
                let value = [b'v', b'0' + i];
                let record = BuilderRecord {
                    offset_delta: 0,
                    timestamp: 1_700_000_000_000 + i64::from(i),
                    key: Some(&key),
                    value: Some(&value),
                    headers: Default::default(),
                };
                let batch = build_batch(&[record], BatchParams::default()).expect("a batch builds");
                partition
                    .with_log(|log| log.append(&batch, 0, 1_700_000_000_000))
                    .expect("the fixture's records are appended");
            }
        }
        HandlerFixture {
            broker,
            stop,
            connection: ConnectionInfo {
                peer: "127.0.0.1:50000".parse().expect("a socket address"),
                listener_name: Arc::from("PLAINTEXT"),
            },
            background: Vec::new(),
            runs: 0,
            _scratch: scratch,
        }
    }

    /// Whether this broker has served its share of inputs.
    pub fn worn_out(&self) -> bool {
        self.runs >= Self::RUNS_PER_BROKER
    }

    /// Stops the broker: frames still running are given a moment, then
    /// cancelled (as a process exit would), and the logs are closed.
    pub async fn close(mut self) {
        let _ = self.stop.send(true);
        for task in self.background.drain(..) {
            let abort = task.abort_handle();
            if tokio::time::timeout(FRAME_WAIT, task).await.is_err() {
                abort.abort();
            }
        }
        self.broker.close().await;
    }

    /// Runs one input's frames, one after another as one connection does.
    pub async fn run(&mut self, data: &[u8]) {
        self.runs += 1;
        self.background.retain(|t| !t.is_finished());
        for frame in frames(data).into_iter().take(MAX_FRAMES) {
            if too_big(&frame) {
                continue;
            }
            let broker = self.broker.clone();
            let connection = ConnectionInfo {
                peer: self.connection.peer,
                listener_name: self.connection.listener_name.clone(),
            };
            let mut task = tokio::spawn(async move {
                let outcome = handle_frame(&broker, &connection, frame.clone()).await;
                check_outcome(&frame, outcome);
            });
            match tokio::time::timeout(FRAME_WAIT, &mut task).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Ok(Err(_)) => {}
                Err(_) => self.background.push(task),
            }
        }
    }
}

/// Splits a connection's bytes into frames (see the module docs).
fn frames(data: &[u8]) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= 4 && out.len() < MAX_FRAMES {
        let size = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        rest = &rest[4..];
        let len = usize::try_from(size)
            .ok()
            .filter(|&n| n <= rest.len())
            .unwrap_or(rest.len());
        out.push(Bytes::copy_from_slice(&rest[..len]));
        rest = &rest[len..];
    }
    out
}

/// Requests the harness does not run (see [`MAX_FUZZED_PARTITIONS`]).
fn too_big(frame: &Bytes) -> bool {
    let Ok(request) = decode_request(frame.clone()) else {
        return false;
    };
    match &request.body {
        RequestKind::CreateTopics(r) => r.topics.iter().any(|t| {
            t.num_partitions > MAX_FUZZED_PARTITIONS
                || t.assignments.len() > MAX_FUZZED_PARTITIONS as usize
        }),
        RequestKind::CreatePartitions(r) => {
            r.topics.iter().any(|t| t.count > MAX_FUZZED_PARTITIONS)
        }
        _ => false,
    }
}

/// The response's bytes, file ranges read in.
fn response_bytes(frame: &ResponseFrame) -> Vec<u8> {
    let mut out = Vec::with_capacity(usize::try_from(frame.len()).unwrap_or(0));
    for chunk in &frame.chunks {
        match chunk {
            Chunk::Bytes(b) => out.extend_from_slice(b),
            Chunk::File(f) => {
                let mut buf = vec![0u8; usize::try_from(f.len).expect("a range fits memory")];
                // The log may have been compacted or deleted since: a read
                // error is the connection's, not the handler's.
                if f.file.read_exact_at(&mut buf, f.position).is_err() {
                    return Vec::new();
                }
                out.extend_from_slice(&buf);
            }
        }
    }
    out
}

fn check_outcome(frame: &Bytes, outcome: Outcome) {
    let decoded = decode_request(frame.clone()).ok();
    let supported = decoded
        .as_ref()
        .and_then(|r| spec_for(r.api_key))
        .is_some_and(|s| decoded.as_ref().is_some_and(|r| s.supports(r.api_version)));
    if let Some(request) = &decoded {
        check_round_trip(request);
    }
    match outcome {
        Outcome::Close(reason) | Outcome::Unsupported(reason) => {
            assert!(
                !supported,
                "a supported, decodable request closed the connection: {reason}"
            );
        }
        Outcome::NoResponse => {
            let request = decoded.expect("only a decoded request goes unanswered");
            assert_eq!(
                request.api_key,
                ApiKey::Produce,
                "only acks=0 produce goes unanswered"
            );
        }
        Outcome::Respond(response) => check_response(frame, decoded.as_ref(), supported, &response),
    }
}

fn check_response(
    frame: &Bytes,
    request: Option<&DecodedRequest>,
    supported: bool,
    response: &ResponseFrame,
) {
    let bytes = response_bytes(response);
    if bytes.is_empty() {
        return;
    }
    let (size, rest) = bytes.split_at(4);
    let size = i32::from_be_bytes([size[0], size[1], size[2], size[3]]);
    assert_eq!(
        usize::try_from(size).ok(),
        Some(rest.len()),
        "size prefix disagrees with the response"
    );
    // Without a decoded body only ApiVersions answers (KIP-511, in v0).
    let (api_key, version, correlation_id) = match request {
        Some(r) if supported => (r.api_key, r.api_version, r.header.correlation_id),
        _ => {
            let key = i16::from_be_bytes([frame[0], frame[1]]);
            assert_eq!(
                key,
                ApiKey::ApiVersions as i16,
                "only ApiVersions answers a request it cannot read"
            );
            let correlation = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
            (ApiKey::ApiVersions, 0, correlation)
        }
    };
    let mut body = Bytes::copy_from_slice(rest);
    let header = ResponseHeader::decode(&mut body, api_key.response_header_version(version))
        .expect("the response header decodes");
    assert_eq!(
        header.correlation_id, correlation_id,
        "response to another request"
    );
    if let Err(e) = ResponseKind::decode(api_key, &mut body, version) {
        panic!("{api_key:?} v{version} response does not decode: {e}");
    }
    assert_eq!(
        body.remaining(),
        0,
        "{api_key:?} v{version} response has trailing bytes"
    );
}

/// A decoded request must encode and decode back to itself: the broker
/// and its own tools (which encode with the same codecs) must agree.
fn check_round_trip(request: &DecodedRequest) {
    let mut buf = BytesMut::new();
    if request.body.encode(&mut buf, request.api_version).is_err() {
        return;
    }
    let mut bytes = buf.freeze();
    let again = RequestKind::decode(request.api_key, &mut bytes, request.api_version)
        .expect("a re-encoded request decodes");
    assert!(
        again == request.body,
        "{:?} v{} changed in an encode/decode round trip",
        request.api_key,
        request.api_version
    );
}

/// Opaque in debug output: it holds sockets, files or locks, not values
/// worth printing.
impl std::fmt::Debug for HandlerFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerFixture").finish_non_exhaustive()
    }
}
