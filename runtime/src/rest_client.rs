//! A small HTTP/1.1 client for a Kafka Connect-compatible REST API (weir's own, or a Kafka
//! Connect worker's), used by `weir connectors` and `weir plugins`.
//!
//! One connection per request (the CLI makes one or two), plain HTTP only. Every request has a
//! connect timeout and an overall deadline, and the answer is read into memory up to a size
//! limit. A request is retried, with backoff, only when it is known not to have been carried
//! out: the connection was refused, or the worker answered 409 `Cannot complete request …`
//! (Kafka Connect's "rebalance in progress", "no known leader" and "stale configuration").
//! Any other error answer becomes [`RestError::Status`] with the server's `message`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use weir_connect_api::Secret;

use crate::converters::json::base64::encode as base64;
pub use url::segment;
use url::{BaseUrl, parse_url};

mod url;

/// Largest answer body read (a listing of many connectors with their configs stays far below).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Credentials sent with every request.
#[derive(Debug, Clone)]
pub enum Auth {
    /// HTTP basic auth.
    Basic { user: String, password: Secret },
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
}

impl Auth {
    /// The `Authorization` header value (carries the secret: never log it).
    fn header_value(&self) -> String {
        match self {
            Auth::Basic { user, password } => {
                let pair = format!("{user}:{}", password.expose());
                format!("Basic {}", base64(pair.as_bytes()))
            }
            Auth::Bearer(token) => format!("Bearer {}", token.expose()),
        }
    }
}

/// Why a request did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("invalid REST API URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot connect to the REST API at {url}")]
    Connect {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the REST API at {url} did not accept a connection within {secs} s")]
    ConnectTimeout { url: String, secs: u64 },
    #[error("the REST API at {url} did not answer {method} {path} within {secs} s")]
    Timeout {
        url: String,
        method: String,
        path: String,
        secs: u64,
    },
    #[error("HTTP exchange with the REST API at {url} failed")]
    Http {
        url: String,
        #[source]
        source: hyper::Error,
    },
    #[error("the answer of {method} {path} is larger than {limit} bytes")]
    TooLarge {
        method: String,
        path: String,
        limit: usize,
    },
    #[error("cannot read the answer of {method} {path}: {reason}")]
    Body {
        method: String,
        path: String,
        reason: String,
    },
    #[error("cannot parse the answer of {method} {path}")]
    Decode {
        method: String,
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// The server answered with an error status; `message` is its `message` field (or the
    /// start of a body that is not Kafka Connect's error shape).
    #[error("{message} ({status})")]
    Status { status: u16, message: String },
}

impl RestError {
    /// The server could not be reached because nothing listens there.
    pub fn is_connection_refused(&self) -> bool {
        matches!(self, RestError::Connect { source, .. }
            if source.kind() == std::io::ErrorKind::ConnectionRefused)
    }

    /// The HTTP status of an error answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            RestError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A 409 that Kafka Connect answers when it did nothing and the request can be repeated
    /// (rebalance, no known leader, stale configuration), unlike `Connector x already exists`.
    fn is_retriable_conflict(&self) -> bool {
        matches!(self, RestError::Status { status: 409, message }
            if message.starts_with("Cannot complete request"))
    }
}

/// A successful answer: its status and body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
    method: String,
    path: String,
}

impl Answer {
    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, RestError> {
        serde_json::from_slice(&self.body).map_err(|source| RestError::Decode {
            method: self.method.clone(),
            path: self.path.clone(),
            source,
        })
    }
}

/// Attempts after a refused connection or a retriable 409, and the pause before each.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub refused_retries: u32,
    pub conflict_retries: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // A refused connection is retried briefly (a `weir serve` that is just starting); a
        // rebalance can take seconds.
        Self {
            refused_retries: 3,
            conflict_retries: 6,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// A client for one REST API base URL.
#[derive(Debug, Clone)]
pub struct RestClient {
    base: BaseUrl,
    auth: Option<Auth>,
    connect_timeout: Duration,
    request_timeout: Duration,
    retry: RetryPolicy,
}

impl RestClient {
    /// `url` is `http://host:port[/prefix]` or `host:port`.
    pub fn new(url: &str, auth: Option<Auth>) -> Result<Self, RestError> {
        Ok(Self {
            base: parse_url(url)?,
            auth,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(120),
            retry: RetryPolicy::default(),
        })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn with_timeouts(mut self, connect: Duration, request: Duration) -> Self {
        self.connect_timeout = connect;
        self.request_timeout = request;
        self
    }

    /// The base URL, for messages (`http://host:port`).
    pub fn url(&self) -> String {
        self.base.to_string()
    }

    pub async fn get(&self, path: &str) -> Result<Answer, RestError> {
        self.send("GET", path, None).await
    }

    /// `GET path`, parsed as `T`.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, RestError> {
        self.get(path).await?.json()
    }

    /// Sends `method path` (path with its query, starting with `/`) with an optional JSON
    /// body, retrying per the [`RetryPolicy`]. A non-2xx answer is an error.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, RestError> {
        let body = match body {
            Some(v) => Some(Bytes::from(serde_json::to_vec(v).map_err(|source| {
                RestError::Decode {
                    method: method.to_owned(),
                    path: path.to_owned(),
                    source,
                }
            })?)),
            None => None,
        };
        let mut refused = 0;
        let mut conflicts = 0;
        let mut backoff = self.retry.first_backoff;
        loop {
            let result = self.send_once(method, path, body.clone()).await;
            let retry = match &result {
                Err(e) if e.is_connection_refused() => {
                    refused += 1;
                    refused <= self.retry.refused_retries
                }
                Err(e) if e.is_retriable_conflict() => {
                    conflicts += 1;
                    conflicts <= self.retry.conflict_retries
                }
                _ => false,
            };
            if !retry {
                return result;
            }
            tracing::debug!(
                method,
                path,
                backoff_ms = backoff.as_millis() as u64,
                "retrying"
            );
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(self.retry.max_backoff);
        }
    }

    /// Sends `method path` with a raw body once (no retries); a non-2xx answer is an
    /// error carrying its status and message.
    pub async fn send_bytes(
        &self,
        method: &str,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Answer, RestError> {
        self.send_once(method, path, body).await
    }

    async fn send_once(
        &self,
        method: &str,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Answer, RestError> {
        let url = self.base.to_string();
        let connect = tokio::net::TcpStream::connect((self.base.host.as_str(), self.base.port));
        let stream = tokio::time::timeout(self.connect_timeout, connect)
            .await
            .map_err(|_| RestError::ConnectTimeout {
                url: url.clone(),
                secs: self.connect_timeout.as_secs(),
            })?
            .map_err(|source| RestError::Connect {
                url: url.clone(),
                source,
            })?;
        let exchange = self.exchange(stream, method, path, body);
        tokio::time::timeout(self.request_timeout, exchange)
            .await
            .map_err(|_| RestError::Timeout {
                url,
                method: method.to_owned(),
                path: path.to_owned(),
                secs: self.request_timeout.as_secs(),
            })?
    }

    async fn exchange(
        &self,
        stream: tokio::net::TcpStream,
        method: &str,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Answer, RestError> {
        let url = self.base.to_string();
        let http = |source| RestError::Http {
            url: url.clone(),
            source,
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(http)?;
        // The connection task lives as long as this one exchange: it is aborted when the
        // exchange ends, also when the request deadline drops this future.
        let _conn = AbortOnDrop(tokio::spawn(conn));
        async {
            let mut req = Request::builder()
                .method(method)
                .uri(format!("{}{path}", self.base.prefix))
                .header(HOST, &self.base.authority)
                .header(ACCEPT, "application/json")
                .header(USER_AGENT, concat!("weir/", env!("CARGO_PKG_VERSION")));
            if body.is_some() {
                req = req.header(CONTENT_TYPE, "application/json");
            }
            if let Some(auth) = &self.auth {
                req = req.header(AUTHORIZATION, auth.header_value());
            }
            let req =
                req.body(Full::new(body.unwrap_or_default()))
                    .map_err(|e| RestError::Body {
                        method: method.to_owned(),
                        path: path.to_owned(),
                        reason: e.to_string(),
                    })?;
            let res = sender.send_request(req).await.map_err(http)?;
            let status = res.status().as_u16();
            let collected = Limited::new(res.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        RestError::TooLarge {
                            method: method.to_owned(),
                            path: path.to_owned(),
                            limit: MAX_RESPONSE_BYTES,
                        }
                    } else {
                        RestError::Body {
                            method: method.to_owned(),
                            path: path.to_owned(),
                            reason: e.to_string(),
                        }
                    }
                })?;
            let body = collected.to_bytes();
            if (200..300).contains(&status) {
                Ok(Answer {
                    status,
                    body,
                    method: method.to_owned(),
                    path: path.to_owned(),
                })
            } else {
                Err(RestError::Status {
                    status,
                    message: error_message(status, &body),
                })
            }
        }
        .await
    }
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The `message` of Kafka Connect's `{"error_code":..,"message":..}`; for another body (a
/// proxy's HTML page) its first line, cut to 200 characters; for an empty one the status's
/// reason phrase.
pub fn error_message(status: u16, body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        message: Option<String>,
    }
    if let Ok(ErrorBody { message: Some(m) }) = serde_json::from_slice::<ErrorBody>(body)
        && !m.trim().is_empty()
    {
        return m;
    }
    let text = String::from_utf8_lossy(body);
    let first = text.lines().map(str::trim).find(|l| !l.is_empty());
    match first {
        Some(line) if line.chars().count() > 200 => {
            format!("{}…", line.chars().take(200).collect::<String>())
        }
        Some(line) => line.to_owned(),
        None => hyper::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("HTTP error")
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    #[test]
    fn error_bodies() {
        let kc = br#"{"error_code":404,"message":"Connector x not found"}"#;
        assert_eq!(error_message(404, kc), "Connector x not found");
        assert_eq!(
            error_message(502, b"\n<html>Bad Gateway</html>\n"),
            "<html>Bad Gateway</html>"
        );
        assert_eq!(error_message(503, b""), "Service Unavailable");
        assert_eq!(
            error_message(500, br#"{"message":""}"#),
            r#"{"message":""}"#
        );
        let long = "x".repeat(300);
        assert_eq!(error_message(500, long.as_bytes()).chars().count(), 201);
        let e = RestError::Status {
            status: 404,
            message: "Connector x not found".into(),
        };
        assert_eq!(e.to_string(), "Connector x not found (404)");
    }

    #[test]
    fn auth_headers_and_hidden_secrets() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        let basic = Auth::Basic {
            user: "Aladdin".into(),
            password: Secret::new("open sesame"),
        };
        assert_eq!(basic.header_value(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(!format!("{basic:?}").contains("sesame"));
        let bearer = Auth::Bearer(Secret::new("t0k"));
        assert_eq!(bearer.header_value(), "Bearer t0k");
        assert!(!format!("{bearer:?}").contains("t0k"));
    }

    /// A loopback server that answers each connection with the next canned response and
    /// hands back the requests it read.
    async fn fake_server(answers: Vec<String>) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr").to_string();
        let task = tokio::spawn(async move {
            let mut requests = Vec::new();
            for answer in answers {
                let (mut sock, _) = listener.accept().await.expect("accept");
                let mut buf = vec![0; 64 * 1024];
                let mut got = Vec::new();
                // Headers end with an empty line; the tests' bodies are small and follow.
                loop {
                    let n = sock.read(&mut buf).await.expect("read request");
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got);
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if got.len() >= end + 4 + len {
                            break;
                        }
                    }
                    if n == 0 {
                        break;
                    }
                }
                requests.push(String::from_utf8_lossy(&got).into_owned());
                sock.write_all(answer.as_bytes())
                    .await
                    .expect("write answer");
                sock.shutdown().await.expect("shutdown");
            }
            requests
        });
        (addr, task)
    }

    fn http_answer(status: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        )
    }

    fn fast_retry() -> RetryPolicy {
        RetryPolicy {
            first_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            ..RetryPolicy::default()
        }
    }

    #[tokio::test]
    async fn requests_carry_path_body_and_auth_and_conflicts_are_retried() {
        let rebalance = r#"{"error_code":409,"message":"Cannot complete request because of a conflicting operation (e.g. worker rebalance)"}"#;
        let (addr, server) = fake_server(vec![
            http_answer("409 Conflict", rebalance),
            http_answer("201 Created", r#"{"name":"a b"}"#),
        ])
        .await;
        let client = RestClient::new(
            &format!("http://{addr}/base"),
            Some(Auth::Bearer(Secret::new("s3cret"))),
        )
        .expect("client")
        .with_retry(fast_retry());
        let body = serde_json::json!({"name": "a b"});
        let answer = client
            .send(
                "PUT",
                &format!("/connectors/{}/config", segment("a b")),
                Some(&body),
            )
            .await
            .expect("retried until created");
        assert_eq!(answer.status, 201);
        let parsed: serde_json::Value = answer.json().expect("json body");
        assert_eq!(parsed["name"], "a b");
        let requests = server.await.expect("server task");
        assert_eq!(requests.len(), 2, "one retry after the 409");
        let last = &requests[1];
        assert!(
            last.starts_with("PUT /base/connectors/a%20b/config HTTP/1.1\r\n"),
            "{last}"
        );
        assert!(last.contains("authorization: Bearer s3cret\r\n"), "{last}");
        assert!(last.contains(&format!("host: {addr}\r\n")), "{last}");
        assert!(last.ends_with(r#"{"name":"a b"}"#), "{last}");
    }

    #[tokio::test]
    async fn other_errors_are_not_retried_and_keep_the_server_message() {
        let exists = r#"{"error_code":409,"message":"Connector a already exists"}"#;
        let (addr, server) = fake_server(vec![http_answer("409 Conflict", exists)]).await;
        let client = RestClient::new(&addr, None)
            .expect("client")
            .with_retry(fast_retry());
        let e = client
            .send("POST", "/connectors", Some(&serde_json::json!({})))
            .await
            .expect_err("409 exists");
        assert_eq!(e.status(), Some(409));
        assert_eq!(e.to_string(), "Connector a already exists (409)");
        assert_eq!(server.await.expect("server task").len(), 1);
    }

    #[tokio::test]
    async fn refused_connections_are_retried_then_reported() {
        // A port that was just free: nothing listens there.
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        drop(listener);
        let client = RestClient::new(&addr, None)
            .expect("client")
            .with_retry(fast_retry());
        let e = client.get("/connectors").await.expect_err("refused");
        assert!(e.is_connection_refused(), "{e:?}");
        assert!(e.to_string().contains(&format!("http://{addr}")), "{e}");
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let client = RestClient::new(&addr, None)
            .expect("client")
            .with_timeouts(Duration::from_secs(5), Duration::from_millis(200));
        // The listener accepts (the kernel's backlog) but never answers.
        let e = client.get("/").await.expect_err("timeout");
        assert!(matches!(e, RestError::Timeout { .. }), "{e:?}");
        drop(listener);
    }
}
