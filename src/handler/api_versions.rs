//! ApiVersions (key 18), v0-v4: the version ranges of every API in
//! `SUPPORTED_APIS`, and the KIP-511 fallback for versions we don't know.

use bytes::{BufMut, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};

use super::{ApiSpec, Outcome, RequestContext, SUPPORTED_APIS};
use crate::protocol::ResponseFrame;

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::ApiVersions, 0, 4);

fn api_list() -> Vec<ApiVersion> {
    SUPPORTED_APIS
        .iter()
        .map(|spec| {
            ApiVersion::default()
                .with_api_key(spec.key as i16)
                .with_min_version(spec.advertised_min_version)
                .with_max_version(spec.max_version)
        })
        .collect()
}

pub fn handle(ctx: &RequestContext<'_>, _request: ApiVersionsRequest) -> Outcome {
    let response = ApiVersionsResponse::default()
        .with_error_code(0)
        .with_api_keys(api_list())
        .with_finalized_features_epoch(-1);
    ctx.respond(&response)
}

/// KIP-511: a client that sent a newer ApiVersions than we know gets a v0
/// response (header v0, no tagged fields) with UNSUPPORTED_VERSION and our
/// ranges, then retries with a version from the list.
pub fn unsupported_version(correlation_id: i32) -> Outcome {
    let apis = api_list();
    let mut buf = BytesMut::with_capacity(16 + apis.len() * 6);
    buf.put_i32(0); // size, patched below
    buf.put_i32(correlation_id);
    buf.put_i16(ResponseError::UnsupportedVersion.code());
    buf.put_i32(apis.len() as i32);
    for api in &apis {
        buf.put_i16(api.api_key);
        buf.put_i16(api.min_version);
        buf.put_i16(api.max_version);
    }
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Outcome::Respond(ResponseFrame::from_bytes(buf.freeze()))
}
