//! Kafka Connect's error body `{"error_code": <status>, "message": "..."}`, JSON request
//! bodies that fail with a message naming the problem and its position, and query strings
//! (keys may repeat: `?expand=status&expand=info`).

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::worker::model::WorkerError;

/// A failed request: its status and Kafka Connect's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error_code: u16,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error_code: self.status.as_u16(),
            message: &self.message,
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            json,
        )
            .into_response()
    }
}

impl From<WorkerError> for ApiError {
    fn from(e: WorkerError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self::new(status, e.to_string())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// 404 for a path no route knows (Jersey's text).
pub async fn not_found() -> ApiError {
    ApiError::not_found("HTTP 404 Not Found")
}

/// 405 for a known path with another method (Jersey's text).
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "HTTP 405 Method Not Allowed",
    )
}

/// Turns any error answer that is not JSON yet (axum's own rejections: bad path segments,
/// 413 from the body limit) into the error body, so clients always get one shape.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).trim().to_string(),
        _ => status.canonical_reason().unwrap_or("Error").to_string(),
    };
    let mut fixed = ApiError::new(status, text).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fixed.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fixed
}

/// The raw request body; 413 past the body limit.
///
/// An oversized body is still read (and dropped) up to [`DRAIN_FACTOR`] times the limit
/// before the 413 goes out: a server that answers and closes while the client is still
/// sending resets the connection, and most clients then report a broken pipe instead of
/// the answer.
pub struct RawBody(pub Bytes);

/// How far past the limit an oversized body is drained, as a multiple of the limit.
const DRAIN_FACTOR: usize = 4;

impl FromRequest<super::RestState> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &super::RestState) -> Result<Self, ApiError> {
        use axum::body::HttpBody;
        use http_body_util::BodyExt;
        let limit = state.options().max_body_bytes;
        let mut body = req.into_body();
        let declared = usize::try_from(body.size_hint().lower()).unwrap_or(usize::MAX);
        let mut kept = Vec::with_capacity(declared.min(limit));
        let mut seen = 0usize;
        while seen <= limit.saturating_mul(DRAIN_FACTOR) {
            let Some(frame) = body.frame().await else {
                break;
            };
            let frame = frame.map_err(|e| {
                ApiError::bad_request(format!("Could not read the request body: {e}"))
            })?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            seen = seen.saturating_add(data.len());
            if seen <= limit {
                kept.extend_from_slice(&data);
            } else {
                kept = Vec::new();
            }
        }
        if seen > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Request body is larger than the limit of {limit} bytes"),
            ));
        }
        Ok(RawBody(Bytes::from(kept)))
    }
}

impl RawBody {
    /// Whether the body is empty or only whitespace.
    pub fn is_blank(&self) -> bool {
        self.0.iter().all(u8::is_ascii_whitespace)
    }

    /// The body as JSON: 400 naming the problem and position when it is not.
    pub fn json<T: DeserializeOwned>(&self) -> ApiResult<T> {
        serde_json::from_slice(&self.0).map_err(json_error)
    }
}

/// `400` for a body that is not the JSON expected, with serde's line and column.
pub fn json_error(e: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Syntax | Category::Eof => "Malformed JSON in the request body",
        Category::Data | Category::Io => "Unexpected JSON in the request body",
    };
    ApiError::bad_request(format!("{what}: {e}"))
}

/// `(key, value)` pairs of a query string, percent-decoded, in order.
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// The last value of `key`, if any.
pub fn query_value(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
}

/// A JAX-RS boolean parameter: `true` (any case) is true, anything else false.
pub fn query_flag(pairs: &[(String, String)], key: &str, default: bool) -> bool {
    query_value(pairs, key).map_or(default, |v| v.eq_ignore_ascii_case("true"))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A `Location` header value for `/connectors/<name>` with the name percent-encoded.
pub fn connector_location(name: &str) -> HeaderValue {
    let mut out = String::from("/connectors/");
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    HeaderValue::from_str(&out).unwrap_or_else(|_| HeaderValue::from_static("/connectors"))
}

/// An empty answer with `status` (202, 204).
pub fn empty(status: StatusCode) -> Response {
    (status, Body::empty()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode_and_repeat() {
        let pairs = query_pairs(Some(
            "expand=status&expand=info&x=a%20b+c&flag=TRUE&bad=%zz",
        ));
        assert_eq!(pairs[0], ("expand".into(), "status".into()));
        assert_eq!(pairs[1], ("expand".into(), "info".into()));
        assert_eq!(query_value(&pairs, "x").as_deref(), Some("a b c"));
        assert!(query_flag(&pairs, "flag", false));
        assert!(!query_flag(&pairs, "missing", false));
        assert_eq!(query_value(&pairs, "bad").as_deref(), Some("%zz"));
        assert!(query_pairs(None).is_empty());
    }

    #[test]
    fn locations_encode_the_name() {
        assert_eq!(connector_location("a b/c"), "/connectors/a%20b%2Fc");
        assert_eq!(connector_location("file-1"), "/connectors/file-1");
    }

    #[test]
    fn json_errors_name_the_position() {
        let e = json_error(
            serde_json::from_str::<serde_json::Value>("{\"a\": nope}").expect_err("bad"),
        );
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(
            e.message
                .starts_with("Malformed JSON in the request body: "),
            "{}",
            e.message
        );
        assert!(e.message.contains("line 1 column"), "{}", e.message);
    }
}
