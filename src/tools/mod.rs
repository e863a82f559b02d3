//! Command-line tools built into the `gregor` binary (the image has nothing else).

pub mod client;
pub mod health;
pub mod topics;
