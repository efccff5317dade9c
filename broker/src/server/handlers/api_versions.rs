//! ApiVersions: which APIs and versions weir answers.

use kafka_protocol::messages::ApiVersionsResponse;
use kafka_protocol::messages::api_versions_response::ApiVersion;

use crate::server::Context;
use crate::server::api::{Answer, Request, supported_versions};
use crate::server::errors;

/// The response body with `error_code`; also the v0 fallback for an unknown version.
pub fn response(error_code: i16) -> ApiVersionsResponse {
    let keys = supported_versions()
        .map(|(key, min, max)| {
            ApiVersion::default()
                .with_api_key(key as i16)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(keys)
}

pub async fn handle(_ctx: &Context, req: Request) -> Answer {
    // Version 3+ carries client software name and version; nothing in it changes the answer.
    req.respond(&response(errors::NONE))
}
