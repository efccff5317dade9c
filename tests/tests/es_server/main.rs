//! The Elasticsearch-compatible test server against Elasticsearch 8's REST formats: every
//! endpoint and injection switch, over real HTTP.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use weir_e2e::es::EsServer;
use weir_e2e::{HttpResponse, http};

/// `elastic:changeme` in base64.
pub(crate) const BASIC_OK: &str = "Basic ZWxhc3RpYzpjaGFuZ2VtZQ==";
/// `elastic:wrong` in base64.
pub(crate) const BASIC_WRONG: &str = "Basic ZWxhc3RpYzp3cm9uZw==";
/// `key-id:key-secret` in base64.
pub(crate) const API_KEY: &str = "ApiKey a2V5LWlkOmtleS1zZWNyZXQ=";

pub(crate) fn get(es: &EsServer, path: &str) -> HttpResponse {
    http("GET", &es.addr(), path, None, &[])
}

pub(crate) fn send(es: &EsServer, method: &str, path: &str, body: &Value) -> HttpResponse {
    http(method, &es.addr(), path, Some(&body.to_string()), &[])
}

/// NDJSON of the given lines, newline-terminated.
pub(crate) fn ndjson(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// POSTs a bulk body to `path`; returns the answer.
pub(crate) fn bulk(es: &EsServer, path: &str, lines: &[Value]) -> HttpResponse {
    http("POST", &es.addr(), path, Some(&ndjson(lines)), &[])
}

/// A bulk that must succeed as a request; returns its items (the inner objects).
pub(crate) fn bulk_items(es: &EsServer, path: &str, lines: &[Value]) -> (bool, Vec<Value>) {
    let r = bulk(es, path, lines);
    assert_eq!(r.status, 200, "{}", r.body);
    let doc = r.json();
    let items = doc["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            i.as_object()
                .expect("item")
                .values()
                .next()
                .expect("action")
                .clone()
        })
        .collect();
    (doc["errors"].as_bool().expect("errors"), items)
}

/// Asserts Elasticsearch's whole-request error answer.
pub(crate) fn assert_error(r: &HttpResponse, status: u16, kind: &str, reason: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    let doc = r.json();
    assert_eq!(doc["status"], status, "{}", r.body);
    assert_eq!(doc["error"]["type"], kind, "{}", r.body);
    assert_eq!(doc["error"]["root_cause"][0]["type"], kind, "{}", r.body);
    let got = doc["error"]["reason"].as_str().expect("reason");
    assert!(got.contains(reason), "expected {reason:?} in {got:?}");
}

/// Sends raw bytes as a request body with the given extra headers; returns status and body.
pub(crate) fn raw(
    es: &EsServer,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut stream = TcpStream::connect(es.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        es.addr()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(body).expect("send body");
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().expect("content-length"));
            if answer.len() >= end + 4 + length {
                let status = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .expect("status");
                let body = String::from_utf8_lossy(&answer[end + 4..end + 4 + length]);
                return (status, body.into_owned());
            }
        }
        let n = stream.read(&mut buf).expect("read answer");
        assert!(
            n > 0,
            "connection closed: {:?}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buf[..n]);
    }
}

pub(crate) fn count(es: &EsServer, index: &str) -> u64 {
    let r = get(es, &format!("/{index}/_count"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["count"].as_u64().expect("count")
}

mod documents;
mod faults;
