//! A minimal blocking Kafka client for the built-in tools: one connection, one
//! request at a time, the versions picked from the broker's ApiVersions.
//! Routing to partition leaders and group coordinators is in `session.rs`.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Message, StrBytes};

/// Largest response accepted, in bytes.
const MAX_RESPONSE_BYTES: usize = 100 << 20;

/// One line of the broker's ApiVersions answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiRange {
    pub key: i16,
    pub min: i16,
    pub max: i16,
}

pub struct Client {
    stream: TcpStream,
    correlation: i32,
    versions: Vec<ApiRange>,
    /// The `host:port` this client connected to.
    pub address: String,
}

impl Client {
    /// Connects to the first reachable address of a comma-separated bootstrap list.
    pub fn connect(bootstrap: &str, timeout: Duration) -> Result<Client, String> {
        let mut last = format!("no address in {bootstrap:?}");
        for one in bootstrap
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            match Client::connect_one(one, timeout) {
                Ok(c) => return Ok(c),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Connects to one `host:port` and reads its ApiVersions.
    pub fn connect_one(address: &str, timeout: Duration) -> Result<Client, String> {
        let addr = address
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {address}: {e}"))?
            .next()
            .ok_or_else(|| format!("{address} resolves to nothing"))?;
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .map_err(|e| format!("connect {address}: {e}"))?;
        stream
            .set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        stream
            .set_write_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        let mut c = Client {
            stream,
            correlation: 0,
            versions: Vec::new(),
            address: address.to_string(),
        };
        let r: ApiVersionsResponse =
            c.call_at(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default())?;
        if r.error_code != 0 {
            return Err(format!("ApiVersions error {}", r.error_code));
        }
        c.versions = r
            .api_keys
            .iter()
            .map(|k| ApiRange {
                key: k.api_key,
                min: k.min_version,
                max: k.max_version,
            })
            .collect();
        Ok(c)
    }

    /// The broker's ApiVersions, as it sent them.
    pub fn api_versions(&self) -> &[ApiRange] {
        &self.versions
    }

    /// Whether the broker advertises `key` at all.
    pub fn supports(&self, key: ApiKey) -> bool {
        self.versions.iter().any(|r| r.key == key as i16)
    }

    /// The highest version both sides speak.
    pub fn version_for<Req: Message>(&self, key: ApiKey) -> Result<i16, String> {
        self.version_capped::<Req>(key, i16::MAX)
    }

    /// The highest version both sides speak, at most `cap`.
    fn version_capped<Req: Message>(&self, key: ApiKey, cap: i16) -> Result<i16, String> {
        let r = self
            .versions
            .iter()
            .find(|r| r.key == key as i16)
            .ok_or_else(|| {
                format!(
                    "the broker does not support {key:?} (API key {})",
                    key as i16
                )
            })?;
        let v = r.max.min(Req::VERSIONS.max).min(cap);
        if v < r.min.max(Req::VERSIONS.min) {
            return Err(format!(
                "no common version of {key:?}: broker {}..{}, client {}..{}",
                r.min,
                r.max,
                Req::VERSIONS.min,
                Req::VERSIONS.max.min(cap)
            ));
        }
        Ok(v)
    }

    /// Sends `req` at the best common version.
    pub fn call<Req, Resp>(&mut self, key: ApiKey, req: &Req) -> Result<Resp, String>
    where
        Req: Encodable + HeaderVersion + Message,
        Resp: Decodable + HeaderVersion,
    {
        self.call_capped(key, i16::MAX, req)
    }

    /// Sends `req` at the best common version not above `cap` (for requests whose
    /// newer versions change shape, e.g. Produce and Fetch name topics by id from v13).
    pub fn call_capped<Req, Resp>(
        &mut self,
        key: ApiKey,
        cap: i16,
        req: &Req,
    ) -> Result<Resp, String>
    where
        Req: Encodable + HeaderVersion + Message,
        Resp: Decodable + HeaderVersion,
    {
        let version = self.version_capped::<Req>(key, cap)?;
        self.call_at(key, version, req)
    }

    /// Sends `req` at exactly `version`.
    pub fn call_at<Req, Resp>(
        &mut self,
        key: ApiKey,
        version: i16,
        req: &Req,
    ) -> Result<Resp, String>
    where
        Req: Encodable + HeaderVersion,
        Resp: Decodable + HeaderVersion,
    {
        self.send(key, version, req)?;
        self.receive(key, version)
    }

    /// Sends a request the broker does not answer (Produce with acks=0), at the best
    /// common version not above `cap`.
    pub fn send_only<Req>(&mut self, key: ApiKey, cap: i16, req: &Req) -> Result<(), String>
    where
        Req: Encodable + HeaderVersion + Message,
    {
        let version = self.version_capped::<Req>(key, cap)?;
        self.send(key, version, req)
    }

    /// Sends `req` at the best common version not above `cap` without waiting for
    /// the answer, so several requests can be in flight on this connection (the
    /// broker answers them in order). Returns the version and correlation id to
    /// pass to [`Client::receive_pipelined`].
    pub fn send_pipelined<Req>(
        &mut self,
        key: ApiKey,
        cap: i16,
        req: &Req,
    ) -> Result<(i16, i32), String>
    where
        Req: Encodable + HeaderVersion + Message,
    {
        let version = self.version_capped::<Req>(key, cap)?;
        self.send(key, version, req)?;
        Ok((version, self.correlation))
    }

    /// Reads the answer to the pipelined request `correlation` (the oldest one
    /// still unanswered).
    pub fn receive_pipelined<Resp>(
        &mut self,
        key: ApiKey,
        version: i16,
        correlation: i32,
    ) -> Result<Resp, String>
    where
        Resp: Decodable + HeaderVersion,
    {
        self.receive_expect(key, version, correlation)
    }

    /// Whether an answer has started to arrive within `timeout` (zero: right now),
    /// so a pipelining caller can read answers as they come without blocking.
    pub fn readable_within(&self, timeout: Duration) -> Result<bool, String> {
        let mut byte = [0u8; 1];
        let outcome = if timeout.is_zero() {
            self.stream
                .set_nonblocking(true)
                .map_err(|e| e.to_string())?;
            let r = self.stream.peek(&mut byte);
            self.stream
                .set_nonblocking(false)
                .map_err(|e| e.to_string())?;
            r
        } else {
            let old = self.stream.read_timeout().map_err(|e| e.to_string())?;
            self.stream
                .set_read_timeout(Some(timeout))
                .map_err(|e| e.to_string())?;
            let r = self.stream.peek(&mut byte);
            self.stream
                .set_read_timeout(old)
                .map_err(|e| e.to_string())?;
            r
        };
        match outcome {
            Ok(0) => Err(format!("{} closed the connection", self.address)),
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(format!("read from {}: {e}", self.address)),
        }
    }

    fn send<Req>(&mut self, key: ApiKey, version: i16, req: &Req) -> Result<(), String>
    where
        Req: Encodable + HeaderVersion,
    {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("gregor-tools")));
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[0; 4]);
        header
            .encode(&mut buf, Req::header_version(version))
            .map_err(|e| format!("encode header: {e}"))?;
        req.encode(&mut buf, version)
            .map_err(|e| format!("encode {key:?}: {e}"))?;
        let len = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&len.to_be_bytes());
        self.stream
            .write_all(&buf)
            .map_err(|e| format!("send to {}: {e}", self.address))
    }

    fn receive<Resp>(&mut self, key: ApiKey, version: i16) -> Result<Resp, String>
    where
        Resp: Decodable + HeaderVersion,
    {
        self.receive_expect(key, version, self.correlation)
    }

    fn receive_expect<Resp>(
        &mut self,
        key: ApiKey,
        version: i16,
        correlation: i32,
    ) -> Result<Resp, String>
    where
        Resp: Decodable + HeaderVersion,
    {
        let mut len = [0u8; 4];
        self.stream
            .read_exact(&mut len)
            .map_err(|e| format!("read from {}: {e}", self.address))?;
        let len = usize::try_from(i32::from_be_bytes(len))
            .ok()
            .filter(|l| *l <= MAX_RESPONSE_BYTES)
            .ok_or("malformed response length")?;
        let mut body = vec![0u8; len];
        self.stream
            .read_exact(&mut body)
            .map_err(|e| format!("read from {}: {e}", self.address))?;
        let mut bytes = Bytes::from(body);
        let h = ResponseHeader::decode(&mut bytes, Resp::header_version(version))
            .map_err(|e| format!("decode header: {e}"))?;
        if h.correlation_id != correlation {
            return Err(format!(
                "correlation id {} instead of {correlation}",
                h.correlation_id
            ));
        }
        Resp::decode(&mut bytes, version).map_err(|e| format!("decode {key:?}: {e}"))
    }
}

/// A Kafka error code as its name (`UnknownTopicOrPartition`), with the broker's
/// message when it sent one.
pub fn error_text(code: i16, message: Option<&str>) -> String {
    let name = ResponseError::try_from_code(code)
        .map_or_else(|| format!("error {code}"), |e| format!("{e:?}"));
    match message {
        Some(m) if !m.is_empty() => format!("{name}: {m}"),
        _ => name,
    }
}

/// `Err(error_text(..))` unless `code` is 0.
pub fn check(code: i16, message: Option<&StrBytes>) -> Result<(), String> {
    if code == 0 {
        Ok(())
    } else {
        Err(error_text(code, message.map(|m| m.as_str())))
    }
}

/// Opaque in debug output: it holds sockets, files or locks, not values
/// worth printing.
impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}
