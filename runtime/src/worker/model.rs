//! What the worker answers, in the JSON shapes of Kafka Connect's REST API (COMPAT.md 1.3),
//! and its errors, each carrying the HTTP status Kafka Connect gives it. The REST layer
//! serializes these as they are; the CLI reads them back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use weir_connect_api::ConfigMap;
use weir_connect_api::record::SourceMap;

/// `{"connector":"x","task":0}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskId {
    pub connector: String,
    pub task: u32,
}

/// `ConnectorInfo`: name, config as stored, task ids, `source` / `sink`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorInfo {
    pub name: String,
    pub config: ConfigMap,
    pub tasks: Vec<TaskId>,
    #[serde(rename = "type")]
    pub kind: String,
}

/// The connector part of a status document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorState {
    pub state: String,
    pub worker_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// One task of a status document (`GET /connectors/x/tasks/0/status` answers just this).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskState {
    pub id: u32,
    pub state: String,
    pub worker_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// `ConnectorStateInfo`: tasks sorted by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusDoc {
    pub name: String,
    pub connector: ConnectorState,
    pub tasks: Vec<TaskState>,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `{"id":{"connector":"x","task":0},"config":{…}}` of `GET /connectors/x/tasks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInfo {
    pub id: TaskId,
    pub config: ConfigMap,
}

/// One entry of `{"offsets":[…]}`; `offset: null` in a PATCH resets the partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionOffset {
    pub partition: SourceMap,
    pub offset: Option<SourceMap>,
}

/// The body of `GET` / `PATCH /connectors/x/offsets`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConnectorOffsets {
    pub offsets: Vec<PartitionOffset>,
}

/// `{"message": "..."}` answers (offsets altered or reset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub message: String,
}

/// Which instances a restart covers (`POST /connectors/x/restart?includeTasks&onlyFailed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RestartRequest {
    pub include_tasks: bool,
    pub only_failed: bool,
}

/// `PATCH /connectors/x/config`: `None` removes a key.
pub type ConfigPatch = BTreeMap<String, Option<String>>;

/// A worker operation that did not happen, with the HTTP status Kafka Connect answers and its
/// message (`{"error_code": status, "message": ...}`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerError {
    /// 404, e.g. `Connector x not found`.
    #[error("{0}")]
    NotFound(String),
    /// 409, e.g. `Connector x already exists`.
    #[error("{0}")]
    Conflict(String),
    /// 400: invalid config, name mismatch, offsets changed while not STOPPED.
    #[error("{0}")]
    BadRequest(String),
    /// 403: topic tracking disabled.
    #[error("{0}")]
    Forbidden(String),
    /// 500: the worker could not do it (storage failure, a task that would not stop).
    #[error("{0}")]
    Internal(String),
}

impl WorkerError {
    pub fn status(&self) -> u16 {
        match self {
            WorkerError::NotFound(_) => 404,
            WorkerError::Conflict(_) => 409,
            WorkerError::BadRequest(_) => 400,
            WorkerError::Forbidden(_) => 403,
            WorkerError::Internal(_) => 500,
        }
    }

    pub fn connector_not_found(name: &str) -> Self {
        WorkerError::NotFound(format!("Connector {name} not found"))
    }
}

impl From<super::store::StoreError> for WorkerError {
    fn from(e: super::store::StoreError) -> Self {
        WorkerError::Internal(format!("the worker's internal topics failed: {e}"))
    }
}
