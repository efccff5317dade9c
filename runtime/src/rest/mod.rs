//! The Kafka Connect REST API (COMPAT.md 1.2) over the [`Worker`], on axum.
//!
//! Every route is registered from one explicit table ([`routes`]) that also names the
//! statuses each route answers; `openapi.json` documents the same table and a test keeps the
//! two in step. Every error, including unknown paths (404), wrong methods (405), malformed
//! JSON (400), oversized bodies (413), missing credentials (401) and timeouts (500), is
//! Kafka's `{"error_code": <status>, "message": "..."}`.
//!
//! - [`error`]: the error body, JSON request bodies, query strings.
//! - [`connectors`] / [`plugins`] / [`loggers`]: the handlers, by resource.
//! - [`auth`]: optional basic or bearer authentication.
//! - [`metrics`]: `/metrics` in Prometheus text format.

mod auth;
mod connectors;
mod error;
pub mod forward;
pub mod loggers;
mod metrics;
mod plugins;
mod root;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use tower::ServiceExt;

use crate::worker::Worker;
use crate::worker::settings::{RestAuth, WorkerSettings};

pub use error::ApiError;
pub use loggers::Loggers;

/// Kafka Connect's default `rest.request.timeout`-style limit on one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);
/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// How the REST API behaves beyond what the worker decides.
#[derive(Debug, Clone)]
pub struct RestOptions {
    pub auth: RestAuth,
    pub topic_tracking: bool,
    pub topic_tracking_reset: bool,
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
}

impl RestOptions {
    pub fn from_settings(settings: &WorkerSettings) -> Self {
        Self {
            auth: settings.rest_auth.clone(),
            topic_tracking: settings.topic_tracking,
            topic_tracking_reset: settings.topic_tracking_reset,
            request_timeout: REQUEST_TIMEOUT,
            max_body_bytes: MAX_BODY_BYTES,
        }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct RestState {
    inner: Arc<Inner>,
}

struct Inner {
    worker: Arc<Worker>,
    loggers: Loggers,
    options: RestOptions,
}

impl RestState {
    pub fn new(worker: Arc<Worker>, loggers: Loggers, options: RestOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                worker,
                loggers,
                options,
            }),
        }
    }

    fn worker(&self) -> &Worker {
        &self.inner.worker
    }

    fn options(&self) -> &RestOptions {
        &self.inner.options
    }

    fn loggers(&self) -> &Loggers {
        &self.inner.loggers
    }
}

/// One route: method, path (axum syntax, as in `openapi.json`) and every status it answers
/// besides the common ones (401, 413, 500).
#[derive(Debug, Clone)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub statuses: &'static [u16],
}

fn route(method: Method, path: &'static str, statuses: &'static [u16]) -> Route {
    Route {
        method,
        path,
        statuses,
    }
}

/// Every route of the API with its handler, in COMPAT.md's order.
#[rustfmt::skip] // one line per route reads as the table it is
pub fn routes() -> Vec<(Route, MethodRouter<RestState>)> {
    use connectors as c;
    vec![
        (route(Method::GET, "/", &[200]), get(root::server_info)),
        (route(Method::GET, "/health", &[200]), get(root::health)),
        (route(Method::GET, "/connectors", &[200]), get(c::list)),
        (route(Method::POST, "/connectors", &[201, 400, 409]), post(c::create)),
        (route(Method::GET, "/connectors/{name}", &[200, 404]), get(c::info)),
        (route(Method::DELETE, "/connectors/{name}", &[204, 404, 409]), delete(c::destroy)),
        (route(Method::GET, "/connectors/{name}/config", &[200, 404]), get(c::config)),
        (route(Method::PUT, "/connectors/{name}/config", &[200, 201, 400, 409]), put(c::put_config)),
        (route(Method::PATCH, "/connectors/{name}/config", &[200, 400, 404, 409]), patch(c::patch_config)),
        (route(Method::GET, "/connectors/{name}/status", &[200, 404]), get(c::status)),
        (route(Method::GET, "/connectors/{name}/tasks", &[200, 404]), get(c::tasks)),
        (route(Method::GET, "/connectors/{name}/tasks-config", &[200, 404]), get(c::tasks_config)),
        (route(Method::GET, "/connectors/{name}/tasks/{task}/status", &[200, 404]), get(c::task_status)),
        (route(Method::POST, "/connectors/{name}/tasks/{task}/restart", &[204, 404, 409]), post(c::restart_task)),
        (route(Method::POST, "/connectors/{name}/restart", &[202, 204, 404, 409]), post(c::restart)),
        (route(Method::PUT, "/connectors/{name}/pause", &[202, 404]), put(c::pause)),
        (route(Method::PUT, "/connectors/{name}/resume", &[202, 404]), put(c::resume)),
        (route(Method::PUT, "/connectors/{name}/stop", &[204, 404]), put(c::stop)),
        (route(Method::GET, "/connectors/{name}/offsets", &[200, 404]), get(c::offsets)),
        (route(Method::PATCH, "/connectors/{name}/offsets", &[200, 400, 404]), patch(c::alter_offsets)),
        (route(Method::DELETE, "/connectors/{name}/offsets", &[200, 400, 404]), delete(c::reset_offsets)),
        (route(Method::GET, "/connectors/{name}/topics", &[200, 403, 404]), get(c::topics)),
        (route(Method::PUT, "/connectors/{name}/topics/reset", &[202, 403, 404]), put(c::reset_topics)),
        (route(Method::GET, "/connector-plugins", &[200]), get(plugins::list)),
        (route(Method::GET, "/connector-plugins/{plugin}/config", &[200, 404]), get(plugins::config)),
        (route(Method::PUT, "/connector-plugins/{plugin}/config/validate", &[200, 400]), put(plugins::validate)),
        (route(Method::GET, "/admin/loggers", &[200]), get(loggers::list)),
        (route(Method::GET, "/admin/loggers/{logger}", &[200, 404]), get(loggers::get)),
        (route(Method::PUT, "/admin/loggers/{logger}", &[200, 204, 400, 404]), put(loggers::set)),
        (route(Method::GET, "/openapi.json", &[200]), get(root::openapi)),
        (route(Method::GET, "/metrics", &[200]), get(metrics::render)),
    ]
}

/// The whole API: routes, JSON errors for everything else, authentication, the request
/// timeout and the body limit.
pub fn router(state: RestState) -> Router {
    let mut router = Router::new();
    for (r, handler) in routes() {
        router = router.route(r.path, handler);
    }
    let api = with_layers(router, state);
    // JAX-RS ignores a trailing slash (`/connectors/`); so does this API.
    Router::new().fallback_service(tower::service_fn(move |mut request: Request| {
        strip_trailing_slash(&mut request);
        api.clone().oneshot(request)
    }))
}

fn strip_trailing_slash(request: &mut Request) {
    let path = request.uri().path();
    if path.len() <= 1 || !path.ends_with('/') {
        return;
    }
    let trimmed = path.trim_end_matches('/');
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    let rebuilt = match request.uri().query() {
        Some(q) => format!("{trimmed}?{q}"),
        None => trimmed.to_string(),
    };
    if let Ok(uri) = rebuilt.parse() {
        *request.uri_mut() = uri;
    }
}

/// Everything around the routes: JSON errors, authentication, timeout, body limit.
fn with_layers(router: Router<RestState>, state: RestState) -> Router {
    let max_body = state.options().max_body_bytes;
    router
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            forward::writes_to_leader,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), with_timeout))
        .layer(middleware::from_fn_with_state(state.clone(), auth::check))
        .layer(middleware::from_fn(error::json_errors))
        .with_state(state)
}

/// Runs the request on its own task so that a timed-out request still completes inside the
/// worker (as Kafka Connect's do) while the client gets `500 Request timed out`.
async fn with_timeout(State(state): State<RestState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let started = std::time::Instant::now();
    let limit = state.options().request_timeout;
    let response = match tokio::time::timeout(limit, tokio::spawn(next.run(request))).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => {
            tracing::error!(%method, path, error = %e, "REST handler panicked");
            ApiError::internal("Request failed: the handler panicked").into_response()
        }
        Err(_) => ApiError::internal("Request timed out").into_response(),
    };
    tracing::debug!(%method, path, status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64, "REST request");
    response
}

#[cfg(test)]
mod tests;
