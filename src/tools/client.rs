//! A minimal blocking Kafka client for the built-in tools: one connection, one
//! request at a time, the versions picked from the broker's ApiVersions. The tools
//! talk to one broker (gregor runs as a single node), so no metadata routing.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Message, StrBytes};

/// Largest response accepted, in bytes.
const MAX_RESPONSE_BYTES: usize = 100 << 20;

pub struct Client {
    stream: TcpStream,
    correlation: i32,
    /// (api key, broker's max version)
    versions: Vec<(i16, i16)>,
}

impl Client {
    pub fn connect(bootstrap: &str, timeout: Duration) -> Result<Client, String> {
        let addr = bootstrap
            .split(',')
            .next()
            .unwrap_or(bootstrap)
            .trim()
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {bootstrap}: {e}"))?
            .next()
            .ok_or_else(|| format!("{bootstrap} resolves to nothing"))?;
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .map_err(|e| format!("connect {addr}: {e}"))?;
        stream
            .set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        let mut c = Client {
            stream,
            correlation: 0,
            versions: Vec::new(),
        };
        let r: ApiVersionsResponse =
            c.call_at(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default())?;
        if r.error_code != 0 {
            return Err(format!("ApiVersions error {}", r.error_code));
        }
        c.versions = r
            .api_keys
            .iter()
            .map(|k| (k.api_key, k.max_version))
            .collect();
        Ok(c)
    }

    /// The highest version both sides speak.
    pub fn version_for<Req: Message>(&self, key: ApiKey) -> Result<i16, String> {
        let broker_max = self
            .versions
            .iter()
            .find(|(k, _)| *k == key as i16)
            .map(|(_, v)| *v)
            .ok_or_else(|| format!("the broker does not support {key:?}"))?;
        Ok(broker_max.min(Req::VERSIONS.max))
    }

    /// Sends `req` at the best common version.
    pub fn call<Req, Resp>(&mut self, key: ApiKey, req: &Req) -> Result<Resp, String>
    where
        Req: Encodable + HeaderVersion + Message,
        Resp: Decodable + HeaderVersion,
    {
        let version = self.version_for::<Req>(key)?;
        self.call_at(key, version, req)
    }

    fn call_at<Req, Resp>(&mut self, key: ApiKey, version: i16, req: &Req) -> Result<Resp, String>
    where
        Req: Encodable + HeaderVersion,
        Resp: Decodable + HeaderVersion,
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
            .map_err(|e| format!("send: {e}"))?;
        let mut len = [0u8; 4];
        self.stream
            .read_exact(&mut len)
            .map_err(|e| format!("read: {e}"))?;
        let len = usize::try_from(i32::from_be_bytes(len))
            .ok()
            .filter(|l| *l <= MAX_RESPONSE_BYTES)
            .ok_or("malformed response length")?;
        let mut body = vec![0u8; len];
        self.stream
            .read_exact(&mut body)
            .map_err(|e| format!("read: {e}"))?;
        let mut bytes = Bytes::from(body);
        let h = ResponseHeader::decode(&mut bytes, Resp::header_version(version))
            .map_err(|e| format!("decode header: {e}"))?;
        if h.correlation_id != self.correlation {
            return Err(format!(
                "correlation id {} instead of {}",
                h.correlation_id, self.correlation
            ));
        }
        Resp::decode(&mut bytes, version).map_err(|e| format!("decode {key:?}: {e}"))
    }
}
