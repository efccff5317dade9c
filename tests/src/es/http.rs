//! The HTTP side: the router, what every request goes through (authentication, injected
//! failures, body size limit and decompression, content type), `filter_path`, the product
//! header and the injected delay.

use std::io::Read;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::{Auth, EsError, Shared, api, bulk, glob, json_response};

/// The largest request body accepted (Elasticsearch's `http.max_content_length`), before
/// and after decompression.
const MAX_BODY: usize = 100 * 1024 * 1024;

/// An answer that ends a request early (boxed: answers are large).
type Rejection = Box<Response>;

/// The challenge of a 401 answer.
const BASIC_CHALLENGE: &str = "Basic realm=\"security\" charset=\"UTF-8\"";

impl Shared {
    /// `Err` with the 401 answer unless the request carries the configured credentials.
    fn authenticate(&self, headers: &HeaderMap, path: &str) -> Result<(), Rejection> {
        let Some(auth) = &self.auth else {
            return Ok(());
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let Some(given) = given else {
            let reason = format!("missing authentication credentials for REST request [{path}]");
            return Err(Box::new(unauthorized(auth, &reason)));
        };
        let (scheme, token) = given.trim().split_once(' ').unwrap_or((given, ""));
        let decoded = base64_decode(token.trim()).and_then(|b| String::from_utf8(b).ok());
        let ok = match (auth, decoded) {
            (Auth::Basic { user, password }, Some(d)) if scheme.eq_ignore_ascii_case("basic") => {
                d.split_once(':') == Some((user.as_str(), password.as_str()))
            }
            (Auth::ApiKey { credentials }, Some(d)) if scheme.eq_ignore_ascii_case("apikey") => {
                d == *credentials
            }
            _ => false,
        };
        if ok {
            return Ok(());
        }
        let reason = match (auth, scheme.eq_ignore_ascii_case("basic")) {
            (Auth::Basic { .. }, true) => {
                let decoded = base64_decode(token.trim()).unwrap_or_default();
                let decoded = String::from_utf8_lossy(&decoded).into_owned();
                let user = decoded.split(':').next().unwrap_or_default();
                format!("unable to authenticate user [{user}] for REST request [{path}]")
            }
            _ => "unable to authenticate with provided credentials and anonymous access is not \
                  allowed for this request"
                .to_string(),
        };
        Err(Box::new(unauthorized(auth, &reason)))
    }
}

/// The 401 answer.
fn unauthorized(auth: &Auth, reason: &str) -> Response {
    let mut challenges = vec![BASIC_CHALLENGE];
    if matches!(auth, Auth::ApiKey { .. }) {
        challenges.push("ApiKey");
    }
    let error = EsError::new(401, "security_exception", reason)
        .with("header", json!({"WWW-Authenticate": challenges}));
    let mut response = error.response();
    for challenge in challenges {
        response.headers_mut().append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    response
}

/// The query string's parameters, percent-decoded.
#[derive(Debug, Default)]
pub(super) struct Params(Vec<(String, String)>);

impl Params {
    pub(super) fn parse(uri: &Uri) -> Params {
        let pairs = uri.query().unwrap_or_default().split('&');
        Params(
            pairs
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect(),
        )
    }

    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The router: every endpoint behind [`front`].
pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(api::root))
        .route(
            "/_bulk",
            get(api::no_handler).post(bulk::all).put(bulk::all),
        )
        .route("/_refresh", get(api::refresh_all).post(api::refresh_all))
        .route("/_search", get(api::search_all).post(api::search_all))
        .route("/_count", get(api::count_all).post(api::count_all))
        .route("/_cluster/health", get(api::health))
        .route("/_data_stream", get(api::get_data_streams))
        .route(
            "/_data_stream/{name}",
            get(api::get_data_stream)
                .put(api::create_data_stream)
                .delete(api::delete_data_stream),
        )
        .route(
            "/{index}",
            axum::routing::head(api::index_exists)
                .get(api::get_index)
                .put(api::create_index)
                .delete(api::delete_index),
        )
        .route(
            "/{index}/_bulk",
            get(api::no_handler).post(bulk::index).put(bulk::index),
        )
        .route(
            "/{index}/_mapping",
            get(api::get_mapping)
                .put(api::put_mapping)
                .post(api::put_mapping),
        )
        .route("/{index}/_refresh", get(api::refresh).post(api::refresh))
        .route("/{index}/_count", get(api::count).post(api::count))
        .route("/{index}/_search", get(api::search).post(api::search))
        .route("/{index}/_doc/{id}", get(api::get_doc))
        .fallback(api::no_handler)
        .method_not_allowed_fallback(api::wrong_method)
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(shared.clone(), front))
        .with_state(shared)
}

/// What every request goes through: the bulk counter, authentication, injected failures,
/// body decoding; then `filter_path`, the product header and the injected delay.
async fn front(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let params = Params::parse(request.uri());
    let compat = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("vnd.elasticsearch+json"));
    let delay = {
        let mut store = shared.lock();
        if path == "/_bulk" || path.ends_with("/_bulk") {
            store.bulk_requests += 1;
        }
        store.delay
    };
    let mut response = match admit(&shared, &path, request).await {
        Ok(request) => next.run(request).await,
        Err(response) => *response,
    };
    if let Some(filter) = params.get("filter_path") {
        response = filter_response(response, filter).await;
    }
    let headers = response.headers_mut();
    headers.insert(
        "x-elastic-product",
        HeaderValue::from_static("Elasticsearch"),
    );
    if compat && headers.contains_key(header::CONTENT_TYPE) {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.elasticsearch+json;compatible-with=8"),
        );
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    response
}

/// Authenticates, applies `fail_requests`, and replaces the body by its decoded bytes.
async fn admit(shared: &Shared, path: &str, request: Request) -> Result<Request, Rejection> {
    shared.authenticate(request.headers(), path)?;
    {
        let mut store = shared.lock();
        if store.fail_requests > 0 {
            store.fail_requests -= 1;
            let reason = "[weir-test][0] primary shard is not active Timeout: [1m]";
            return Err(Box::new(
                EsError::new(503, "unavailable_shards_exception", reason).response(),
            ));
        }
    }
    let too_large = || Box::new(StatusCode::PAYLOAD_TOO_LARGE.into_response());
    let (mut parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let raw = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| too_large())?;
    let encoding = parts
        .headers
        .remove(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok().map(str::to_ascii_lowercase));
    let decoded = match encoding.as_deref() {
        None | Some("identity") => raw.to_vec(),
        Some("gzip") | Some("x-gzip") => inflate(flate2::read::GzDecoder::new(&raw[..]))?,
        Some("deflate") => inflate(flate2::read::ZlibDecoder::new(&raw[..]))?,
        Some(other) => {
            let reason = format!("unsupported Content-Encoding [{other}]");
            return Err(Box::new(EsError::illegal_argument(reason).response()));
        }
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    if !decoded.is_empty() {
        check_content_type(&parts.headers)?;
    }
    Ok(Request::from_parts(parts, Body::from(decoded)))
}

/// Decompresses a body, bounded by [`MAX_BODY`].
fn inflate(decoder: impl Read) -> Result<Vec<u8>, Rejection> {
    let mut out = Vec::new();
    match decoder.take(MAX_BODY as u64 + 1).read_to_end(&mut out) {
        Ok(_) if out.len() > MAX_BODY => {
            Err(Box::new(StatusCode::PAYLOAD_TOO_LARGE.into_response()))
        }
        Ok(_) => Ok(out),
        Err(e) => {
            let reason = format!("failed to decompress the request body: {e}");
            Err(Box::new(EsError::illegal_argument(reason).response()))
        }
    }
}

/// A body must come as JSON or NDJSON (plain or in the compatible-with media types).
fn check_content_type(headers: &HeaderMap) -> Result<(), Rejection> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        let body = json!({"error": "Content-Type header is missing", "status": 406});
        return Err(Box::new(json_response(406, &body)));
    };
    let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
    let media = text.split(';').next().unwrap_or_default().trim();
    let media = media.to_ascii_lowercase();
    let known = [
        "application/json",
        "application/x-ndjson",
        "application/vnd.elasticsearch+json",
        "application/vnd.elasticsearch+x-ndjson",
    ];
    if known.contains(&media.as_str()) {
        return Ok(());
    }
    let body =
        json!({"error": format!("Content-Type header [{text}] is not supported"), "status": 406});
    Err(Box::new(json_response(406, &body)))
}

/// Applies `filter_path` to a JSON answer.
async fn filter_response(response: Response, filter: &str) -> Response {
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let patterns: Vec<Vec<&str>> = filter
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.starts_with('-'))
        .map(|p| p.split('.').collect())
        .collect();
    let refs: Vec<&[&str]> = patterns.iter().map(Vec::as_slice).collect();
    let filtered = filter_value(&value, &refs).unwrap_or(json!({}));
    let mut response = Response::from_parts(parts, Body::from(filtered.to_string()));
    response.headers_mut().remove(header::CONTENT_LENGTH);
    response
}

/// The parts of `value` the (remaining) path patterns select; `*` matches within a name,
/// `**` any number of levels, arrays are transparent.
fn filter_value(value: &Value, patterns: &[&[&str]]) -> Option<Value> {
    if patterns.iter().any(|p| p.is_empty()) {
        return Some(value.clone());
    }
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, child) in map {
                let mut next: Vec<&[&str]> = Vec::new();
                for p in patterns {
                    if p[0] == "**" {
                        next.push(p);
                        if p.len() > 1 && glob(p[1], key) {
                            next.push(&p[2..]);
                        }
                    } else if glob(p[0], key) {
                        next.push(&p[1..]);
                    }
                }
                if next.is_empty() {
                    continue;
                }
                if let Some(v) = filter_value(child, &next) {
                    out.insert(key.clone(), v);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Value::Array(items) => {
            let out: Vec<Value> = items
                .iter()
                .filter_map(|i| filter_value(i, patterns))
                .collect();
            (!out.is_empty()).then_some(Value::Array(out))
        }
        _ => None,
    }
}

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
pub(super) const URL_SAFE: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 without padding in the given alphabet.
pub(super) fn base64_encode(data: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::with_capacity(data.len() * 4 / 3 + 3);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(alphabet[(n >> (18 - 6 * i)) as usize & 63]));
        }
    }
    out
}

/// Decodes standard base64 (padding optional); `None` if it is not base64.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let v = STANDARD.iter().position(|a| *a == c)? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}
