//! Network layer: listeners (accept, connection limit, shutdown) and
//! connections (framing, sequential handling, in-order pipelined responses).
//!
//! It owns sockets and frames only; what a request means is `handler`'s job.

pub mod connection;
pub mod listener;
pub mod sendfile;

pub use listener::{run_listeners, Shutdown};
