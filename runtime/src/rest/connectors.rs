//! `/connectors/...`: Kafka Connect's `ConnectorsResource`, one handler per endpoint. The
//! worker decides; these handlers parse the request, check what Kafka checks at the REST
//! layer (name mismatch, empty offsets, topic tracking) and pick the status code.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use weir_connect_api::ConfigMap;

use super::RestState;
use super::error::{
    ApiError, ApiResult, RawBody, connector_location, empty, json_error, query_flag, query_pairs,
};
use crate::worker::internal::TargetState;
use crate::worker::model::{
    ConfigPatch, ConnectorInfo, ConnectorOffsets, Message, RestartRequest, StatusDoc, WorkerError,
};

/// Kafka's text for a null config value.
pub const NULL_VALUE: &str = "Null value can not be supplied as the configuration value.";

/// A JSON value of a flat config map as the string Kafka Connect stores (numbers and
/// booleans as written); `Ok(None)` for `null`.
fn config_value(key: &str, v: Value) -> ApiResult<Option<String>> {
    match v {
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Null => Ok(None),
        Value::Array(_) | Value::Object(_) => Err(ApiError::bad_request(format!(
            "Unexpected JSON in the request body: the value of \"{key}\" must be a string, \
             not an {}",
            if matches!(v, Value::Array(_)) {
                "array"
            } else {
                "object"
            }
        ))),
    }
}

/// A flat config map and the keys whose value was `null`.
pub fn config_map(doc: Map<String, Value>) -> ApiResult<(ConfigMap, Vec<String>)> {
    let mut config = ConfigMap::new();
    let mut nulls = Vec::new();
    for (k, v) in doc {
        match config_value(&k, v)? {
            Some(s) => {
                config.insert(k, s);
            }
            None => nulls.push(k),
        }
    }
    Ok((config, nulls))
}

/// A config for create or update: no null values (Kafka's validation message otherwise).
fn full_config(doc: Map<String, Value>) -> ApiResult<ConfigMap> {
    let (config, nulls) = config_map(doc)?;
    if nulls.is_empty() {
        return Ok(config);
    }
    let mut message = format!(
        "Connector configuration is invalid and contains the following {} error(s):",
        nulls.len()
    );
    for _ in &nulls {
        message.push('\n');
        message.push_str(NULL_VALUE);
    }
    message.push_str(
        "\nYou can also find the above list of errors at the endpoint \
         `/connector-plugins/{connectorType}/config/validate`",
    );
    Err(ApiError::bad_request(message))
}

fn object(body: &RawBody, what: &str) -> ApiResult<Map<String, Value>> {
    match body.json::<Value>()? {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::bad_request(format!(
            "Unexpected JSON in the request body: expected {what}"
        ))),
    }
}

/// Kafka's check: a `name` in the config must equal the connector's name; otherwise it is
/// added.
fn check_and_put_name(name: &str, config: &mut ConfigMap) -> ApiResult<()> {
    match config.get("name") {
        Some(given) if given != name => Err(ApiError::bad_request(format!(
            "Connector name configuration ({given}) doesn't match connector name in the URL \
             ({name})"
        ))),
        Some(_) => Ok(()),
        None => {
            config.insert("name".to_string(), name.to_string());
            Ok(())
        }
    }
}

/// `initial_state` of KIP-980.
fn initial_state(v: Option<&Value>) -> ApiResult<Option<TargetState>> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let state = v.as_str().map(str::to_ascii_uppercase);
    match state.as_deref() {
        Some("RUNNING") => Ok(Some(TargetState::Started)),
        Some("PAUSED") => Ok(Some(TargetState::Paused)),
        Some("STOPPED") => Ok(Some(TargetState::Stopped)),
        _ => Err(ApiError::bad_request(format!(
            "Invalid initial_state {v}: expected RUNNING, PAUSED or STOPPED"
        ))),
    }
}

/// One connector of `GET /connectors?expand=...`.
#[derive(Default, Serialize)]
struct Expanded {
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<StatusDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    info: Option<ConnectorInfo>,
}

/// `GET /connectors[?expand=status&expand=info]`.
pub async fn list(State(s): State<RestState>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let pairs = query_pairs(q.as_deref());
    let names = s.worker().connectors();
    if !pairs.iter().any(|(k, _)| k == "expand") {
        return Ok(Json(names).into_response());
    }
    let mut out = BTreeMap::new();
    for name in names {
        let mut entry = Expanded::default();
        let found = pairs
            .iter()
            .filter(|(k, _)| k == "expand")
            .try_for_each(|(_, e)| {
                match e.as_str() {
                    "status" => entry.status = Some(s.worker().connector_status(&name)?),
                    "info" => entry.info = Some(s.worker().connector_info(&name)?),
                    other => tracing::debug!(expansion = other, "ignoring unknown expansion type"),
                }
                Ok::<_, WorkerError>(())
            });
        match found {
            Ok(()) => {
                out.insert(name, entry);
            }
            // Deleted while listing: left out, as Kafka does.
            Err(WorkerError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Json(out).into_response())
}

/// `POST /connectors`: `{"name", "config", "initial_state"}` → 201 with `Location`.
pub async fn create(State(s): State<RestState>, body: RawBody) -> ApiResult<Response> {
    let mut doc = object(&body, "{\"name\": ..., \"config\": {...}}")?;
    let name = match doc.get("name") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(n)) => n.trim().to_string(),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Unexpected JSON in the request body: \"name\" must be a string, got {other}"
            )));
        }
    };
    let initial = initial_state(doc.get("initial_state"))?;
    let mut config = match doc.remove("config") {
        Some(Value::Object(m)) => full_config(m)?,
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request(
                "The request body has no \"config\": expected {\"name\": ..., \"config\": {...}}",
            ));
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "Unexpected JSON in the request body: \"config\" must be an object of \
                 string values",
            ));
        }
    };
    check_and_put_name(&name, &mut config)?;
    let info = s.worker().create_connector(&name, config, initial).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, connector_location(&name))],
        Json(info),
    )
        .into_response())
}

pub async fn info(State(s): State<RestState>, Path(name): Path<String>) -> ApiResult<Response> {
    Ok(Json(s.worker().connector_info(&name)?).into_response())
}

pub async fn config(State(s): State<RestState>, Path(name): Path<String>) -> ApiResult<Response> {
    Ok(Json(s.worker().connector_config(&name)?).into_response())
}

/// `PUT /connectors/x/config`: 201 (created, with `Location`) or 200 (updated).
pub async fn put_config(
    State(s): State<RestState>,
    Path(name): Path<String>,
    body: RawBody,
) -> ApiResult<Response> {
    let mut config = full_config(object(&body, "a flat object of config values")?)?;
    check_and_put_name(&name, &mut config)?;
    let (info, created) = s.worker().put_connector_config(&name, config).await?;
    if created {
        return Ok((
            StatusCode::CREATED,
            [(header::LOCATION, connector_location(&name))],
            Json(info),
        )
            .into_response());
    }
    Ok(Json(info).into_response())
}

/// `PATCH /connectors/x/config`: a partial map; `null` removes a key.
pub async fn patch_config(
    State(s): State<RestState>,
    Path(name): Path<String>,
    body: RawBody,
) -> ApiResult<Response> {
    let mut patch = ConfigPatch::new();
    for (k, v) in object(&body, "a flat object of config values")? {
        let value = config_value(&k, v)?;
        patch.insert(k, value);
    }
    Ok(Json(s.worker().patch_connector_config(&name, patch).await?).into_response())
}

pub async fn destroy(State(s): State<RestState>, Path(name): Path<String>) -> ApiResult<Response> {
    s.worker().delete_connector(&name).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn status(State(s): State<RestState>, Path(name): Path<String>) -> ApiResult<Response> {
    Ok(Json(s.worker().connector_status(&name)?).into_response())
}

pub async fn tasks(State(s): State<RestState>, Path(name): Path<String>) -> ApiResult<Response> {
    Ok(Json(s.worker().task_configs(&name)?).into_response())
}

/// Deprecated `GET /connectors/x/tasks-config`: `{"x-0": {...}}`.
pub async fn tasks_config(
    State(s): State<RestState>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    tracing::warn!(
        "the 'GET /connectors/{{connector}}/tasks-config' endpoint is deprecated; use \
         'GET /connectors/{{connector}}/tasks'"
    );
    let out: BTreeMap<String, ConfigMap> = s
        .worker()
        .task_configs(&name)?
        .into_iter()
        .map(|t| (format!("{}-{}", t.id.connector, t.id.task), t.config))
        .collect();
    Ok(Json(out).into_response())
}

/// A task id from the path; JAX-RS answers a non-number with 404.
fn task_id(task: &str) -> ApiResult<u32> {
    task.parse()
        .map_err(|_| ApiError::not_found("HTTP 404 Not Found"))
}

pub async fn task_status(
    State(s): State<RestState>,
    Path((name, task)): Path<(String, String)>,
) -> ApiResult<Response> {
    Ok(Json(s.worker().task_status(&name, task_id(&task)?)?).into_response())
}

pub async fn restart_task(
    State(s): State<RestState>,
    Path((name, task)): Path<(String, String)>,
) -> ApiResult<Response> {
    s.worker().restart_task(&name, task_id(&task)?).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `POST /connectors/x/restart[?includeTasks&onlyFailed]`: 204 for the legacy form, else
/// 202 with the status document.
pub async fn restart(
    State(s): State<RestState>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let pairs = query_pairs(q.as_deref());
    let request = RestartRequest {
        include_tasks: query_flag(&pairs, "includeTasks", false),
        only_failed: query_flag(&pairs, "onlyFailed", false),
    };
    match s.worker().restart_connector(&name, request).await? {
        Some(status) => Ok((StatusCode::ACCEPTED, Json(status)).into_response()),
        None => Ok(empty(StatusCode::NO_CONTENT)),
    }
}

pub async fn pause(State(s): State<RestState>, Path(name): Path<String>) -> ApiResult<Response> {
    s.worker().pause(&name).await?;
    Ok(empty(StatusCode::ACCEPTED))
}

pub async fn resume(State(s): State<RestState>, Path(name): Path<String>) -> ApiResult<Response> {
    s.worker().resume(&name).await?;
    Ok(empty(StatusCode::ACCEPTED))
}

pub async fn stop(State(s): State<RestState>, Path(name): Path<String>) -> ApiResult<Response> {
    s.worker().stop(&name).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn offsets(State(s): State<RestState>, Path(name): Path<String>) -> ApiResult<Response> {
    Ok(Json(s.worker().offsets(&name).await?).into_response())
}

const NO_OFFSETS: &str = "Partitions / offsets need to be provided for an alter offsets request";

/// `PATCH /connectors/x/offsets`: 400 for an empty request, else as the worker decides.
pub async fn alter_offsets(
    State(s): State<RestState>,
    Path(name): Path<String>,
    body: RawBody,
) -> ApiResult<Response> {
    if body.is_blank() {
        return Err(ApiError::bad_request(NO_OFFSETS));
    }
    let doc: Value = body.json()?;
    let empty_list = match doc.get("offsets") {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    };
    if empty_list {
        return Err(ApiError::bad_request(NO_OFFSETS));
    }
    let offsets: ConnectorOffsets = serde_json::from_value(doc).map_err(json_error)?;
    let message = s.worker().alter_offsets(&name, offsets).await?;
    Ok(Json(Message { message }).into_response())
}

pub async fn reset_offsets(
    State(s): State<RestState>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let message = s.worker().reset_offsets(&name).await?;
    Ok(Json(Message { message }).into_response())
}

/// `GET /connectors/x/topics`: `{"x": {"topics": [...]}}`.
pub async fn topics(State(s): State<RestState>, Path(name): Path<String>) -> ApiResult<Response> {
    if !s.options().topic_tracking {
        return Err(ApiError::forbidden("Topic tracking is disabled."));
    }
    let topics = s.worker().active_topics(&name)?;
    let mut out = Map::new();
    out.insert(name, serde_json::json!({ "topics": topics }));
    Ok(Json(Value::Object(out)).into_response())
}

pub async fn reset_topics(
    State(s): State<RestState>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    if !s.options().topic_tracking {
        return Err(ApiError::forbidden("Topic tracking is disabled."));
    }
    if !s.options().topic_tracking_reset {
        return Err(ApiError::forbidden("Topic tracking reset is disabled."));
    }
    s.worker().reset_active_topics(&name)?;
    Ok(empty(StatusCode::ACCEPTED))
}
