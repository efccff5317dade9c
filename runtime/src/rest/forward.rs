//! Distributed mode: REST writes run on the group's leader. A follower forwards them (with
//! `forward=true`, as Kafka Connect does) and relays the leader's answer; during a
//! rebalance, or when no leader is known, a write gets Kafka Connect's 409 so clients
//! retry.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::RestState;
use super::error::{ApiError, connector_location};
use crate::rest_client::{Auth, RestClient, RestError, RetryPolicy};
use crate::worker::cluster::View;
use crate::worker::model::WorkerError;
use crate::worker::settings::RestAuth;

pub const REBALANCING: &str =
    "Cannot complete request because of a conflicting operation (e.g. worker rebalance)";
pub const NO_LEADER: &str = "Cannot complete request momentarily due to no known leader URL, \
     likely because a rebalance was underway.";

/// Writes that change the cluster's connectors (read-only calls, config validation, logger
/// levels and topic-tracking resets are answered by any worker).
fn is_cluster_write(method: &Method, path: &str) -> bool {
    let write = ![Method::GET, Method::HEAD, Method::OPTIONS].contains(method);
    write && path.starts_with("/connectors") && !path.ends_with("/topics/reset")
}

/// A task restart forwarded by the leader to the worker that runs the task.
fn is_task_restart(path: &str) -> bool {
    path.contains("/tasks/") && path.ends_with("/restart")
}

fn forwarded(query: Option<&str>) -> bool {
    query.is_some_and(|q| q.split('&').any(|p| p.eq_ignore_ascii_case("forward=true")))
}

fn conflict(message: &str) -> Response {
    ApiError {
        status: StatusCode::CONFLICT,
        message: message.to_string(),
    }
    .into_response()
}

/// The middleware: passes reads and, on the leader, writes through; forwards a follower's
/// writes to the leader.
pub async fn writes_to_leader(
    State(state): State<RestState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(view) = state.worker().cluster_view() else {
        return next.run(request).await;
    };
    let path = request.uri().path().to_string();
    if !is_cluster_write(request.method(), &path) {
        return next.run(request).await;
    }
    let was_forwarded = forwarded(request.uri().query());
    match view {
        View::Rebalancing => conflict(REBALANCING),
        View::Stable { leader: true, .. } => next.run(request).await,
        // The leader sent the restart of a task this worker runs.
        View::Stable { .. } if was_forwarded && is_task_restart(&path) => next.run(request).await,
        // A forwarded write reached a worker that is not the leader: its view is stale.
        View::Stable { .. } if was_forwarded => conflict(REBALANCING),
        View::Stable { leader_url, .. } if leader_url.is_empty() => conflict(NO_LEADER),
        View::Stable { leader_url, .. } => {
            let auth = &state.worker().settings().rest_auth;
            relay(&leader_url, request, auth, state.options().max_body_bytes).await
        }
    }
}

fn client_auth(auth: &RestAuth) -> Option<Auth> {
    match auth {
        RestAuth::None => None,
        RestAuth::Basic { username, password } => Some(Auth::Basic {
            user: username.clone(),
            password: password.clone(),
        }),
        RestAuth::Bearer(token) => Some(Auth::Bearer(token.clone())),
    }
}

fn client(url: &str, auth: &RestAuth) -> Result<RestClient, RestError> {
    Ok(
        RestClient::new(url, client_auth(auth))?.with_retry(RetryPolicy {
            refused_retries: 0,
            conflict_retries: 0,
            ..RetryPolicy::default()
        }),
    )
}

/// Sends the request to the leader and answers what it answered.
async fn relay(leader_url: &str, request: Request, auth: &RestAuth, max_body: usize) -> Response {
    let method = request.method().as_str().to_string();
    let path = request.uri().path().to_string();
    let query = match request.uri().query() {
        Some(q) if !q.is_empty() => format!("?{q}&forward=true"),
        _ => "?forward=true".to_string(),
    };
    let body: Bytes = match axum::body::to_bytes(request.into_body(), max_body).await {
        Ok(b) => b,
        Err(e) => {
            return ApiError::bad_request(format!("cannot read the request body: {e}"))
                .into_response();
        }
    };
    let client = match client(leader_url, auth) {
        Ok(c) => c,
        Err(e) => {
            return ApiError::internal(format!("cannot forward to the leader: {e}"))
                .into_response();
        }
    };
    let body = (!body.is_empty()).then_some(body);
    match client
        .send_bytes(&method, &format!("{path}{query}"), body)
        .await
    {
        Ok(answer) => {
            let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
            // A created connector's name is in the answer (`POST /connectors` has it in the
            // body only).
            let created = (status == StatusCode::CREATED)
                .then(|| serde_json::from_slice::<serde_json::Value>(&answer.body).ok())
                .flatten()
                .and_then(|v| v.get("name").and_then(|n| n.as_str()).map(str::to_string));
            let mut response = Response::new(Body::from(answer.body));
            *response.status_mut() = status;
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if let Some(name) = created {
                headers.insert(header::LOCATION, connector_location(&name));
            }
            response
        }
        Err(RestError::Status { status, message }) => ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            message,
        }
        .into_response(),
        Err(e) => {
            tracing::warn!(leader = leader_url, error = %e, "cannot forward a request to the leader");
            conflict(NO_LEADER)
        }
    }
}

/// POSTs to another worker (`host:port`) with `forward=true` and no body; its error
/// answer becomes the same error here.
pub async fn post_to(worker_id: &str, path: &str, auth: &RestAuth) -> Result<(), WorkerError> {
    let url = format!("http://{worker_id}");
    let client = client(&url, auth).map_err(|e| WorkerError::Internal(e.to_string()))?;
    match client
        .send_bytes("POST", &format!("{path}?forward=true"), None)
        .await
    {
        Ok(_) => Ok(()),
        Err(RestError::Status { status, message }) => Err(match status {
            400 => WorkerError::BadRequest(message),
            404 => WorkerError::NotFound(message),
            409 => WorkerError::Conflict(message),
            _ => WorkerError::Internal(message),
        }),
        Err(e) => Err(WorkerError::Conflict(format!("{REBALANCING}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_connector_writes_go_to_the_leader() {
        assert!(is_cluster_write(&Method::POST, "/connectors"));
        assert!(is_cluster_write(&Method::PUT, "/connectors/a/config"));
        assert!(is_cluster_write(&Method::DELETE, "/connectors/a/offsets"));
        assert!(is_cluster_write(
            &Method::POST,
            "/connectors/a/tasks/0/restart"
        ));
        assert!(!is_cluster_write(&Method::GET, "/connectors/a/status"));
        assert!(!is_cluster_write(
            &Method::PUT,
            "/connectors/a/topics/reset"
        ));
        assert!(!is_cluster_write(
            &Method::PUT,
            "/connector-plugins/x/config/validate"
        ));
        assert!(!is_cluster_write(&Method::PUT, "/admin/loggers/root"));
        assert!(is_task_restart("/connectors/a/tasks/2/restart"));
        assert!(!is_task_restart("/connectors/a/restart"));
        assert!(forwarded(Some("includeTasks=true&forward=true")));
        assert!(!forwarded(Some("forward=false")));
        assert!(!forwarded(None));
    }
}
