//! HTTP to Elasticsearch: every `connection.url` in turn (a failed request moves to the
//! next), basic or API-key auth, a custom CA, connect and read timeouts, gzip bodies, and
//! retries of failed requests (I/O errors, timeouts, 429, 5xx) with exponential backoff
//! and jitter from `retry.backoff.ms`, `max.retries` times.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value as Json;
use weir_connect_api::{ConnectorError, Result};

use crate::config::{Auth, Settings};

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub struct Client {
    http: reqwest::Client,
    urls: Vec<String>,
    next: AtomicUsize,
    auth: Auth,
    compression: bool,
    max_retries: u32,
    backoff: Duration,
}

/// An answer: HTTP status and body.
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
    pub url: String,
}

impl Answer {
    pub fn json(&self) -> Option<Json> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Elasticsearch's `error.type` and `error.reason`, or the body's start.
    pub fn error_text(&self) -> String {
        let parsed = self.json();
        let error = parsed.as_ref().and_then(|j| j.get("error"));
        match error {
            Some(Json::Object(e)) => format!(
                "{}: {}",
                e.get("type").and_then(Json::as_str).unwrap_or("error"),
                e.get("reason").and_then(Json::as_str).unwrap_or("")
            ),
            Some(other) => other.to_string(),
            None => String::from_utf8_lossy(&self.body[..self.body.len().min(300)]).into_owned(),
        }
    }
}

/// A pseudo-random fraction in [0, 1) for backoff jitter (no need for a generator crate).
fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    f64::from(nanos.wrapping_mul(2_654_435_761) % 1000) / 1000.0
}

/// Confluent's backoff: `retry.backoff.ms` doubled per attempt, with jitter, capped.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(16));
    let capped = exp.min(MAX_BACKOFF);
    capped
        .mul_f64(0.5 + jitter() / 2.0)
        .max(Duration::from_millis(1))
}

impl Client {
    pub fn new(settings: &Settings) -> Result<Self> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(settings.connection_timeout.max(Duration::from_millis(1)))
            .read_timeout(settings.read_timeout.max(Duration::from_millis(1)))
            .pool_idle_timeout(settings.max_idle)
            .no_proxy();
        if let Some(pem) = &settings.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                ConnectorError::fatal(format!(
                    "elastic.https.ssl.truststore.location holds no PEM certificates: {e}"
                ))
            })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| ConnectorError::fatal(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            urls: settings.urls.clone(),
            next: AtomicUsize::new(0),
            auth: settings.auth.clone(),
            compression: settings.compression,
            max_retries: settings.max_retries,
            backoff: settings.retry_backoff,
        })
    }

    /// One attempt against the next URL.
    async fn attempt(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&(Vec<u8>, &str)>,
    ) -> std::result::Result<Answer, String> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.urls.len().max(1);
        let base = self.urls.get(i).cloned().unwrap_or_default();
        let url = format!("{base}{path}");
        let mut req = self.http.request(method, &url);
        req = match &self.auth {
            Auth::None => req,
            Auth::Basic { user, password } => req.basic_auth(user, Some(password.expose())),
            Auth::ApiKey(key) => req.header("Authorization", format!("ApiKey {}", key.expose())),
        };
        if let Some((bytes, content_type)) = body {
            req = req.header("Content-Type", *content_type);
            if self.compression {
                use std::io::Write;
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                gz.write_all(bytes).map_err(|e| e.to_string())?;
                let compressed = gz.finish().map_err(|e| e.to_string())?;
                req = req.header("Content-Encoding", "gzip").body(compressed);
            } else {
                req = req.body(bytes.clone());
            }
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("{url}: {}", describe(&e)))?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| format!("{url}: {}", describe(&e)))?;
        Ok(Answer { status, body, url })
    }

    /// A request, retried on I/O errors, timeouts, 429 and 5xx; other answers (2xx, 4xx)
    /// are the caller's. Past `max.retries` the failure is retriable for the worker.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(Vec<u8>, &str)>,
    ) -> Result<Answer> {
        let mut attempt = 0;
        loop {
            let failure = match self.attempt(method.clone(), path, body.as_ref()).await {
                Ok(a) if a.status == 429 || a.status >= 500 => {
                    format!("{} answered HTTP {}: {}", a.url, a.status, a.error_text())
                }
                Ok(a) => return Ok(a),
                Err(e) => e,
            };
            if attempt >= self.max_retries {
                return Err(ConnectorError::retriable(format!(
                    "Elasticsearch request {method} {path} failed after {} attempts: {failure}",
                    attempt + 1
                )));
            }
            let wait = backoff(self.backoff, attempt);
            tracing::warn!(%method, path, error = %failure, ?wait, attempt = attempt + 1, "Elasticsearch request failed; retrying");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Creates `index` (with `mapping` when given) unless it exists.
    pub async fn ensure_index(&self, index: &str, mapping: Option<Json>) -> Result<()> {
        let path = format!("/{index}");
        let head = self.request(reqwest::Method::HEAD, &path, None).await?;
        match head.status {
            200 => return Ok(()),
            404 => {}
            status => return Err(http_failure("check index", &head, status)),
        }
        let body = mapping.map(|m| {
            (
                serde_json::json!({ "mappings": m })
                    .to_string()
                    .into_bytes(),
                "application/json",
            )
        });
        let created = self.request(reqwest::Method::PUT, &path, body).await?;
        match created.status {
            200 | 201 => Ok(()),
            400 if created
                .error_text()
                .starts_with("resource_already_exists_exception") =>
            {
                Ok(())
            }
            status => Err(http_failure(
                &format!("create index {index}"),
                &created,
                status,
            )),
        }
    }

    /// `POST /_bulk`: the parsed answer (HTTP 200, maybe with item errors).
    pub async fn bulk(&self, body: Vec<u8>) -> Result<Json> {
        let answer = self
            .request(
                reqwest::Method::POST,
                "/_bulk",
                Some((body, "application/x-ndjson")),
            )
            .await?;
        if answer.status != 200 {
            return Err(http_failure(
                "index documents (_bulk)",
                &answer,
                answer.status,
            ));
        }
        answer.json().ok_or_else(|| {
            ConnectorError::retriable(format!(
                "{} answered _bulk with a body that is not JSON",
                answer.url
            ))
        })
    }
}

/// A request Elasticsearch refused: authentication and permission problems fail the task
/// with a sentence naming the URL.
fn http_failure(what: &str, answer: &Answer, status: u16) -> ConnectorError {
    let detail = answer.error_text();
    match status {
        401 => ConnectorError::fatal(format!(
            "Elasticsearch at {} refused the credentials (HTTP 401) to {what}: check connection.username/connection.password or connection.api.key: {detail}",
            answer.url
        )),
        403 => ConnectorError::fatal(format!(
            "The Elasticsearch user may not {what} at {} (HTTP 403): {detail}",
            answer.url
        )),
        _ => ConnectorError::fatal(format!(
            "Cannot {what} at {}: HTTP {status}: {detail}",
            answer.url
        )),
    }
}

fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
