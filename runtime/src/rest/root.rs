//! `GET /` (worker info), `GET /health` and `GET /openapi.json`.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::RestState;

/// The Kafka Connect version whose REST API weir speaks; tools parse `version`.
pub const KAFKA_VERSION: &str = "3.9.0";

/// The API description, written by hand and checked against the route table by a test.
pub const OPENAPI: &str = include_str!("openapi.json");

/// `GET /`, fields in Kafka's order.
#[derive(Serialize)]
struct ServerInfo {
    version: &'static str,
    commit: &'static str,
    kafka_cluster_id: String,
}

/// `GET /health` (KIP-1017).
#[derive(Serialize)]
struct WorkerStatus {
    status: &'static str,
    message: &'static str,
}

pub async fn server_info(State(s): State<RestState>) -> Response {
    Json(ServerInfo {
        version: KAFKA_VERSION,
        commit: concat!("weir-", env!("CARGO_PKG_VERSION")),
        kafka_cluster_id: s.worker().cluster_id().await,
    })
    .into_response()
}

/// KIP-1017. The REST API is served only once the worker has started, so a worker that
/// answers is healthy.
pub async fn health() -> Response {
    Json(WorkerStatus {
        status: "healthy",
        message: "Worker has completed startup and is ready to handle requests.",
    })
    .into_response()
}

pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
