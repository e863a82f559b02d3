//! Kafka wire protocol around the `kafka-protocol` crate: request headers of
//! every header version, typed request bodies, and response frames.
//!
//! Requests are decoded from a frozen `Bytes` frame so that record batches in
//! Produce requests stay zero-copy slices of the received frame. This module
//! never touches the log or the metadata: it only turns bytes into typed
//! values and back.

mod prescan;
pub mod request;
#[rustfmt::skip]
mod request_layouts;
pub mod response;

pub use request::{decode_request, DecodedRequest, RequestError};
pub use response::{encode_response, Chunk, ResponseFrame};
