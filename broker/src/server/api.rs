//! The registry of Kafka APIs weir answers: one handler per API, listed once with the
//! versions it supports, and the single fallback for everything else.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::{Decodable, Encodable};

use super::handlers;
use super::{Context, errors, frame};

/// A request frame, its header decoded.
pub struct Request {
    pub api_key: ApiKey,
    pub version: i16,
    pub correlation_id: i32,
    pub client_id: Option<String>,
    /// The request body, after the header.
    pub body: Bytes,
}

/// Why a connection is closed instead of answered (Kafka closes it in these cases too).
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("request of {0} bytes is too short for a request header")]
    Short(usize),
    #[error("unknown API key {0}")]
    UnknownApi(i16),
    #[error("{api:?} (key {key}) is not supported by weir")]
    Unsupported { api: ApiKey, key: i16 },
    #[error("{api:?} v{version} is not supported (weir supports v{min} to v{max})")]
    UnsupportedVersion {
        api: ApiKey,
        version: i16,
        min: i16,
        max: i16,
    },
    #[error("cannot decode {api:?} v{version}: {reason}")]
    Decode {
        api: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("internal error: {0}")]
    Internal(String),
    #[error("cannot encode the {api:?} v{version} response: {reason}")]
    Encode {
        api: ApiKey,
        version: i16,
        reason: String,
    },
}

pub type Answer = Result<Option<Bytes>, ProtocolError>;
type Handler =
    for<'a> fn(&'a Context, Request) -> Pin<Box<dyn Future<Output = Answer> + Send + 'a>>;

/// One supported API.
pub struct Api {
    pub key: ApiKey,
    pub min: i16,
    pub max: i16,
    handler: Handler,
}

macro_rules! api {
    ($key:ident, $min:expr, $max:expr, $module:ident) => {
        Api {
            key: ApiKey::$key,
            min: $min,
            max: $max,
            handler: |ctx, req| Box::pin(handlers::$module::handle(ctx, req)),
        }
    };
}

/// Every API weir answers and the versions it supports. Maxima stop before versions that
/// address topics by id only (Fetch 13+, Produce 13+) or need features weir lacks.
pub static APIS: &[Api] = &[
    api!(Produce, 3, 12, produce),
    api!(Fetch, 4, 12, fetch),
    api!(ListOffsets, 1, 8, list_offsets),
    api!(Metadata, 0, 12, metadata),
    api!(OffsetCommit, 2, 8, offset_commit),
    api!(OffsetFetch, 1, 8, offset_fetch),
    api!(FindCoordinator, 0, 4, find_coordinator),
    api!(JoinGroup, 0, 9, join_group),
    api!(Heartbeat, 0, 4, heartbeat),
    api!(LeaveGroup, 0, 5, leave_group),
    api!(SyncGroup, 0, 5, sync_group),
    api!(DescribeGroups, 0, 5, describe_groups),
    api!(ListGroups, 0, 4, list_groups),
    api!(ApiVersions, 0, 4, api_versions),
    api!(CreateTopics, 2, 7, create_topics),
    api!(DeleteTopics, 1, 5, delete_topics),
    api!(InitProducerId, 0, 4, init_producer_id),
    api!(DescribeConfigs, 1, 4, describe_configs),
    api!(DeleteGroups, 0, 2, delete_groups),
    api!(CreatePartitions, 0, 3, create_partitions),
];

impl Api {
    /// The supported range, within what the codec can decode.
    pub fn versions(&self) -> (i16, i16) {
        let codec = self.key.valid_versions();
        (self.min.max(codec.min), self.max.min(codec.max))
    }
}

fn find(key: ApiKey) -> Option<&'static Api> {
    APIS.iter().find(|a| a.key == key)
}

/// Answers one request frame; `Ok(None)` sends nothing (Produce with acks=0).
pub async fn handle(ctx: &Context, mut frame: Bytes) -> Answer {
    if frame.len() < 8 {
        return Err(ProtocolError::Short(frame.len()));
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let api_key = ApiKey::try_from(key).map_err(|_| ProtocolError::UnknownApi(key))?;
    let Some(api) = find(api_key) else {
        return Err(ProtocolError::Unsupported { api: api_key, key });
    };
    let (min, max) = api.versions();
    if !(min..=max).contains(&version) {
        if api_key == ApiKey::ApiVersions {
            // Kafka's answer to an ApiVersions it does not know: a v0 response with
            // UNSUPPORTED_VERSION and the versions it does support, so the client retries.
            let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
            let body = handlers::api_versions::response(errors::UNSUPPORTED_VERSION);
            return encode(api_key, correlation_id, 0, &body, 0).map(Some);
        }
        return Err(ProtocolError::UnsupportedVersion {
            api: api_key,
            version,
            min,
            max,
        });
    }
    let header_version = api_key.request_header_version(version);
    let header: RequestHeader = decode_with(api_key, version, &mut frame, header_version)?;
    let request = Request {
        api_key,
        version,
        correlation_id: header.correlation_id,
        client_id: header.client_id.map(|c| c.to_string()),
        body: frame,
    };
    (api.handler)(ctx, request).await
}

fn decode_with<T: Decodable>(
    api: ApiKey,
    version: i16,
    buf: &mut Bytes,
    as_version: i16,
) -> Result<T, ProtocolError> {
    // The codec is generated code; a malformed frame must close one connection, never
    // panic a task, so a panic in it is caught and reported like any decode error.
    let decoded = std::panic::catch_unwind(AssertUnwindSafe(|| T::decode(buf, as_version)));
    match decoded {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ProtocolError::Decode {
            api,
            version,
            reason: format!("{e:#}"),
        }),
        Err(_) => Err(ProtocolError::Decode {
            api,
            version,
            reason: "malformed request".to_string(),
        }),
    }
}

fn encode<R: Encodable>(
    api: ApiKey,
    correlation_id: i32,
    header_version: i16,
    body: &R,
    version: i16,
) -> Result<Bytes, ProtocolError> {
    frame::encode_response(correlation_id, header_version, body, version).map_err(|e| {
        ProtocolError::Encode {
            api,
            version,
            reason: format!("{e:#}"),
        }
    })
}

impl Request {
    /// Decodes the request body as `T`.
    pub fn decode<T: Decodable>(&self) -> Result<T, ProtocolError> {
        let mut body = self.body.clone();
        let v = decode_with(self.api_key, self.version, &mut body, self.version)?;
        if body.has_remaining() {
            tracing::debug!(api = ?self.api_key, version = self.version, extra = body.remaining(),
                "request has trailing bytes");
        }
        Ok(v)
    }

    /// Encodes `body` as this request's response.
    pub fn respond<R: Encodable>(&self, body: &R) -> Answer {
        let header_version = if self.api_key == ApiKey::ApiVersions {
            0 // ApiVersions responses always use header v0, so any client can read them.
        } else {
            self.api_key.response_header_version(self.version)
        };
        encode(
            self.api_key,
            self.correlation_id,
            header_version,
            body,
            self.version,
        )
        .map(Some)
    }
}

/// The ApiVersions list: every registered API with its supported range.
pub fn supported_versions() -> impl Iterator<Item = (ApiKey, i16, i16)> {
    APIS.iter().map(|a| {
        let (min, max) = a.versions();
        (a.key, min, max)
    })
}
