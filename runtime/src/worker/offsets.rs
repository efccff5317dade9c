//! The offsets endpoints (KIP-875): a source connector's offsets in `connect-offsets`, a
//! sink connector's as the commits of consumer group `connect-<name>`, in Kafka Connect's
//! shapes (`{"kafka_topic","kafka_partition"}` / `{"kafka_offset"}` for sinks).

use serde_json::Value as Json;
use weir_connect_api::ConnectorType;
use weir_connect_api::record::SourceMap;

use super::model::{ConnectorOffsets, PartitionOffset, WorkerError};
use super::store::Stores;
use crate::log::{Log, LogError};

type Result<T, E = WorkerError> = std::result::Result<T, E>;

const ALTERED: &str = "The offsets for this connector have been altered successfully";
const RESET: &str = "The offsets for this connector have been reset successfully";

pub async fn read(
    log: &Log,
    stores: &Stores,
    name: &str,
    kind: Option<ConnectorType>,
) -> Result<ConnectorOffsets> {
    let offsets = match kind {
        Some(ConnectorType::Sink) => log
            .group_offsets(&format!("connect-{name}"))
            .await
            .map_err(internal)?
            .into_iter()
            .map(|(topic, partition, offset)| PartitionOffset {
                partition: sink_partition(&topic, partition),
                offset: Some(one("kafka_offset", Json::from(offset))),
            })
            .collect(),
        _ => stores
            .read_offsets(name)
            .await?
            .into_iter()
            .filter_map(|(partition, offset)| {
                let Ok(Json::Object(p)) = serde_json::from_str(&partition) else {
                    return None;
                };
                Some(PartitionOffset {
                    partition: p,
                    offset: Some(offset),
                })
            })
            .collect(),
    };
    Ok(ConnectorOffsets { offsets })
}

pub async fn alter(
    log: &Log,
    stores: &Stores,
    name: &str,
    kind: Option<ConnectorType>,
    changes: ConnectorOffsets,
) -> Result<String> {
    if changes.offsets.is_empty() {
        return Err(WorkerError::BadRequest(
            "The offsets to be modified must not be null or empty".to_string(),
        ));
    }
    match kind {
        Some(ConnectorType::Sink) => {
            let mut commits = Vec::new();
            let mut resets = Vec::new();
            for change in &changes.offsets {
                let (topic, partition) = parse_sink_partition(&change.partition)?;
                match &change.offset {
                    None => resets.push((topic, partition)),
                    Some(o) => commits.push((topic, partition, parse_sink_offset(o)?)),
                }
            }
            let group = format!("connect-{name}");
            log.commit_offsets(&group, commits)
                .await
                .map_err(internal)?;
            log.delete_offsets(&group, resets).await.map_err(internal)?;
            Ok(ALTERED.to_string())
        }
        _ => {
            let entries: Vec<(SourceMap, Option<SourceMap>)> = changes
                .offsets
                .into_iter()
                .map(|c| (c.partition, c.offset))
                .collect();
            if entries.iter().any(|(p, _)| p.is_empty()) {
                return Err(WorkerError::BadRequest(
                    "Source partitions may not be null or empty".to_string(),
                ));
            }
            stores.put_offsets(name, &entries).await?;
            Ok(ALTERED.to_string())
        }
    }
}

pub async fn reset(
    log: &Log,
    stores: &Stores,
    name: &str,
    kind: Option<ConnectorType>,
) -> Result<String> {
    match kind {
        Some(ConnectorType::Sink) => {
            let group = format!("connect-{name}");
            let all: Vec<(String, i32)> = log
                .group_offsets(&group)
                .await
                .map_err(internal)?
                .into_iter()
                .map(|(t, p, _)| (t, p))
                .collect();
            log.delete_offsets(&group, all).await.map_err(internal)?;
            Ok(RESET.to_string())
        }
        _ => {
            let entries: Vec<(SourceMap, Option<SourceMap>)> = stores
                .read_offsets(name)
                .await?
                .into_keys()
                .filter_map(|p| match serde_json::from_str(&p) {
                    Ok(Json::Object(p)) => Some((p, None)),
                    _ => None,
                })
                .collect();
            stores.put_offsets(name, &entries).await?;
            Ok(RESET.to_string())
        }
    }
}

fn internal(e: LogError) -> WorkerError {
    WorkerError::Internal(format!(
        "cannot read or change the sink's group offsets: {e}"
    ))
}

fn one(key: &str, value: Json) -> SourceMap {
    let mut m = SourceMap::new();
    m.insert(key.to_string(), value);
    m
}

fn sink_partition(topic: &str, partition: i32) -> SourceMap {
    let mut m = one("kafka_topic", Json::from(topic));
    m.insert("kafka_partition".to_string(), Json::from(partition));
    m
}

fn parse_sink_partition(p: &SourceMap) -> Result<(String, i32)> {
    let topic = p.get("kafka_topic").and_then(Json::as_str);
    let partition = p
        .get("kafka_partition")
        .and_then(Json::as_i64)
        .and_then(|n| i32::try_from(n).ok());
    match (topic, partition) {
        (Some(t), Some(n)) if n >= 0 => Ok((t.to_string(), n)),
        _ => Err(WorkerError::BadRequest(format!(
            "Partitions of sink connectors must have the keys \"kafka_topic\" (a string) and \
             \"kafka_partition\" (a non-negative integer); got {}",
            Json::Object(p.clone())
        ))),
    }
}

fn parse_sink_offset(o: &SourceMap) -> Result<i64> {
    match o.get("kafka_offset").and_then(Json::as_i64) {
        Some(n) if n >= 0 && o.len() == 1 => Ok(n),
        _ => Err(WorkerError::BadRequest(format!(
            "Offsets of sink connectors must be {{\"kafka_offset\": <non-negative integer>}}; got {}",
            Json::Object(o.clone())
        ))),
    }
}
