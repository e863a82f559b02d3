//! `gregor health`: exit 0 when a broker answers ApiVersions, 1 otherwise — what a
//! container HEALTHCHECK needs, with no client library and no shell in the image.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// ApiVersions (key 18) v0: the one request every Kafka broker answers.
const API_VERSIONS_KEY: i16 = 18;
const CORRELATION_ID: i32 = 1;
const CLIENT_ID: &[u8] = b"gregor-health";
/// Largest response accepted, in bytes (an ApiVersions answer is well under 4 KiB).
const MAX_RESPONSE_BYTES: usize = 1 << 20;

fn request() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&API_VERSIONS_KEY.to_be_bytes());
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&CORRELATION_ID.to_be_bytes());
    body.extend_from_slice(&(CLIENT_ID.len() as i16).to_be_bytes());
    body.extend_from_slice(CLIENT_ID);
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

/// Asks `bootstrap` (host:port) for its API versions. Ok(number of APIs).
pub fn check(bootstrap: &str, timeout: Duration) -> Result<usize, String> {
    let addr = bootstrap
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {bootstrap}: {e}"))?
        .next()
        .ok_or_else(|| format!("{bootstrap} resolves to nothing"))?;
    let mut s =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.write_all(&request()).map_err(|e| format!("send: {e}"))?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len).map_err(|e| format!("read: {e}"))?;
    let len = i32::from_be_bytes(len);
    let len = usize::try_from(len)
        .ok()
        .filter(|l| (10..=MAX_RESPONSE_BYTES).contains(l));
    let len = len.ok_or("malformed response length")?;
    let mut resp = vec![0u8; len];
    s.read_exact(&mut resp).map_err(|e| format!("read: {e}"))?;
    let correlation = i32::from_be_bytes([resp[0], resp[1], resp[2], resp[3]]);
    let error = i16::from_be_bytes([resp[4], resp[5]]);
    let count = i32::from_be_bytes([resp[6], resp[7], resp[8], resp[9]]);
    if correlation != CORRELATION_ID {
        return Err(format!(
            "correlation id {correlation}, expected {CORRELATION_ID}"
        ));
    }
    if error != 0 {
        return Err(format!("ApiVersions error {error}"));
    }
    Ok(usize::try_from(count).unwrap_or(0))
}
