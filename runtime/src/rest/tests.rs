//! The router in-process over a worker on a real broker: the error shapes every client
//! sees (404, 405, 400, 413, 401, 500), and `openapi.json` against the route table.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;
use weir_broker::{Broker, BrokerOptions};
use weir_connect_api::Secret;

use super::*;
use crate::worker::settings::RestAuth;

struct Fixture {
    _dir: tempfile::TempDir,
    app: Router,
}

async fn fixture(auth: RestAuth, timeout: Duration, max_body: usize) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut options = BrokerOptions::new(dir.path().join("data"));
    options.offsets_partitions = 1;
    let broker = Arc::new(Broker::open(options).expect("broker opens"));
    let worker = Worker::start(crate::log::Log::Embedded(broker), WorkerSettings::default())
        .await
        .expect("worker starts");
    let mut options = RestOptions::from_settings(&WorkerSettings::default());
    options.auth = auth;
    options.request_timeout = timeout;
    options.max_body_bytes = max_body;
    let state = RestState::new(worker, Loggers::with_reload("info", None), options);
    Fixture {
        _dir: dir,
        app: router(state),
    }
}

async fn plain() -> Fixture {
    fixture(RestAuth::None, Duration::from_secs(90), MAX_BODY_BYTES).await
}

async fn call(app: &Router, method: &str, uri: &str, body: &str) -> (StatusCode, Value) {
    let (status, _, json) = call_with(app, method, uri, body, None).await;
    (status, json)
}

async fn call_with(
    app: &Router,
    method: &str,
    uri: &str,
    body: &str,
    authorization: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(a) = authorization {
        request = request.header(header::AUTHORIZATION, a);
    }
    let request = request
        .body(Body::from(body.to_string()))
        .expect("request builds");
    let response = app.clone().oneshot(request).await.expect("router answers");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body reads");
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, headers, json)
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, message: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error_code"], expected.as_u16(), "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains(message)),
        "expected {message:?} in {body}"
    );
}

#[tokio::test]
async fn unknown_paths_wrong_methods_and_bad_json_get_the_error_body() {
    let f = plain().await;
    let (s, b) = call(&f.app, "GET", "/nope", "").await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "HTTP 404 Not Found");
    let (s, b) = call(&f.app, "DELETE", "/connectors", "").await;
    assert_error(
        s,
        &b,
        StatusCode::METHOD_NOT_ALLOWED,
        "HTTP 405 Method Not Allowed",
    );
    let (s, b) = call(&f.app, "POST", "/connectors", "{\"name\": \"x\", ").await;
    assert_error(
        s,
        &b,
        StatusCode::BAD_REQUEST,
        "Malformed JSON in the request body",
    );
    assert!(b["message"].as_str().is_some_and(|m| m.contains("column")));
    let (s, b) = call(&f.app, "POST", "/connectors", "{\"name\": \"x\"}").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "\"config\"");
    let (s, b) = call(&f.app, "GET", "/connectors/missing", "").await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "Connector missing not found");
    let (s, b) = call(&f.app, "GET", "/connectors/x/tasks/abc/status", "").await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "Not Found");
    let (s, b) = call(&f.app, "PATCH", "/connectors/x/offsets", "").await;
    assert_error(
        s,
        &b,
        StatusCode::BAD_REQUEST,
        "Partitions / offsets need to be provided",
    );
    let (s, b) = call(&f.app, "GET", "/", "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["version"], "3.9.0");
    let (s, b) = call(&f.app, "GET", "/connectors/?expand=status", "").await;
    assert_eq!(
        (s, b),
        (StatusCode::OK, serde_json::json!({})),
        "trailing slash"
    );
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let f = fixture(RestAuth::None, Duration::from_secs(90), 64).await;
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(200));
    let (s, b) = call(&f.app, "POST", "/connectors", &big).await;
    assert_error(
        s,
        &b,
        StatusCode::PAYLOAD_TOO_LARGE,
        "Request body is larger than the limit of 64 bytes",
    );
}

#[tokio::test]
async fn slow_requests_time_out_with_500() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Arc::new(Broker::open(BrokerOptions::new(dir.path())).expect("broker"));
    let worker = Worker::start(crate::log::Log::Embedded(broker), WorkerSettings::default())
        .await
        .expect("worker starts");
    let mut options = RestOptions::from_settings(&WorkerSettings::default());
    options.request_timeout = Duration::from_millis(50);
    let state = RestState::new(worker, Loggers::with_reload("info", None), options);
    let slow = Router::new().route(
        "/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }),
    );
    let app = with_layers(slow, state);
    let (s, b) = call(&app, "GET", "/slow", "").await;
    assert_error(
        s,
        &b,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Request timed out",
    );
}

#[tokio::test]
async fn every_request_needs_credentials_when_auth_is_on() {
    let auth = RestAuth::Basic {
        username: "admin".into(),
        password: Secret::new("pw"),
    };
    let f = fixture(auth, Duration::from_secs(90), MAX_BODY_BYTES).await;
    for uri in ["/", "/connectors", "/nope", "/metrics"] {
        let (s, h, b) = call_with(&f.app, "GET", uri, "", None).await;
        assert_error(s, &b, StatusCode::UNAUTHORIZED, "Authentication required");
        assert!(
            h.get(header::WWW_AUTHENTICATE)
                .is_some_and(|v| v.as_bytes().starts_with(b"Basic")),
            "{h:?}"
        );
    }
    // admin:nope, then admin:pw
    let (s, _, b) = call_with(&f.app, "GET", "/", "", Some("Basic YWRtaW46bm9wZQ==")).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "Invalid credentials");
    let (s, _, _) = call_with(&f.app, "GET", "/", "", Some("Basic YWRtaW46cHc=")).await;
    assert_eq!(s, StatusCode::OK);
}

/// `openapi.json` has exactly the routes of the table, each with exactly its statuses.
#[test]
fn openapi_document_matches_the_routes() {
    let doc: Value = serde_json::from_str(root::OPENAPI).expect("openapi.json is JSON");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let paths = doc["paths"].as_object().expect("paths");
    let mut documented = BTreeSet::new();
    for (path, methods) in paths {
        for method in methods.as_object().expect("methods").keys() {
            documented.insert((path.clone(), method.to_ascii_uppercase()));
        }
    }
    let mut routed = BTreeSet::new();
    for (r, _) in routes() {
        let key = (r.path.to_string(), r.method.as_str().to_string());
        assert!(routed.insert(key.clone()), "route {key:?} registered twice");
        let op = &doc["paths"][r.path][r.method.as_str().to_ascii_lowercase()];
        assert!(op.is_object(), "{} {} is not documented", r.method, r.path);
        let statuses: BTreeSet<String> = op["responses"]
            .as_object()
            .expect("responses")
            .keys()
            .filter(|k| *k != "default")
            .cloned()
            .collect();
        let expected: BTreeSet<String> = r.statuses.iter().map(u16::to_string).collect();
        assert_eq!(statuses, expected, "statuses of {} {}", r.method, r.path);
        assert!(
            op["responses"]["default"].is_object(),
            "{} {}: no default (error) response",
            r.method,
            r.path
        );
    }
    assert_eq!(documented, routed, "documented vs routed operations");
}
