//! The source partition and offset, with Debezium's keys (COMPAT.md 3.8) plus the snapshot
//! position weir needs to resume a snapshot chunk by chunk.
//!
//! `lsn_commit` is the position the slot may be acknowledged to: the end LSN of the last
//! transaction whose every record precedes this one, or an idle position past which nothing
//! was pending. A record committed by the worker with this offset proves everything before
//! `lsn_commit` is durable. `txId` + `lsn_proc` say how far into the next transaction the
//! records went, so a restart mid-transaction skips the changes already emitted.

use serde_json::{Value as Json, json};
use weir_connect_api::record::SourceMap;

use crate::wire::Lsn;

/// `{"server": "<topic.prefix>"}`.
pub fn partition(prefix: &str) -> SourceMap {
    let mut m = SourceMap::new();
    m.insert("server".into(), Json::String(prefix.to_string()));
    m
}

/// Where a snapshot stands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SnapshotPosition {
    /// The LSN streaming starts from once the snapshot is done (the slot's consistent point).
    pub start_lsn: Lsn,
    /// Tables (`schema.table`) finished.
    pub done: Vec<String>,
    /// The table being read, and the key (text values of its primary key) of the last row
    /// emitted from it.
    pub table: Option<String>,
    pub after: Option<Vec<Option<String>>>,
    pub completed: bool,
}

/// A record's source offset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Offset {
    pub lsn: Option<Lsn>,
    pub lsn_proc: Option<Lsn>,
    pub lsn_commit: Option<Lsn>,
    pub tx_id: Option<i64>,
    pub ts_usec: Option<i64>,
    pub message_type: Option<&'static str>,
    pub snapshot: Option<SnapshotPosition>,
}

impl Offset {
    pub fn to_map(&self) -> SourceMap {
        let mut m = SourceMap::new();
        let mut put = |k: &str, v: Json| {
            m.insert(k.to_string(), v);
        };
        if let Some(v) = self.lsn {
            put("lsn", json!(v));
        }
        if let Some(v) = self.lsn_proc {
            put("lsn_proc", json!(v));
        }
        if let Some(v) = self.lsn_commit {
            put("lsn_commit", json!(v));
        }
        if let Some(v) = self.tx_id {
            put("txId", json!(v));
        }
        if let Some(v) = self.ts_usec {
            put("ts_usec", json!(v));
        }
        if let Some(v) = self.message_type {
            put("messageType", json!(v));
        }
        if let Some(s) = &self.snapshot {
            put("snapshot", json!(if s.completed { "last" } else { "true" }));
            put("last_snapshot_record", json!(s.completed));
            put("snapshot_completed", json!(s.completed));
            if !s.completed {
                put("weir_snapshot_start_lsn", json!(s.start_lsn));
                put("weir_snapshot_done", json!(s.done));
                if let Some(t) = &s.table {
                    put("weir_snapshot_table", json!(t));
                }
                if let Some(a) = &s.after {
                    put("weir_snapshot_after", json!(a));
                }
            }
        }
        m
    }

    pub fn from_map(m: &SourceMap) -> Offset {
        let lsn = |k: &str| m.get(k).and_then(Json::as_u64);
        let in_snapshot = m
            .get("snapshot_completed")
            .and_then(Json::as_bool)
            .is_some_and(|c| !c)
            && m.contains_key("weir_snapshot_start_lsn");
        let snapshot = in_snapshot.then(|| SnapshotPosition {
            start_lsn: lsn("weir_snapshot_start_lsn").unwrap_or(0),
            done: m
                .get("weir_snapshot_done")
                .and_then(Json::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            table: m
                .get("weir_snapshot_table")
                .and_then(Json::as_str)
                .map(str::to_string),
            after: m
                .get("weir_snapshot_after")
                .and_then(Json::as_array)
                .map(|a| a.iter().map(|v| v.as_str().map(str::to_string)).collect()),
            completed: false,
        });
        Offset {
            lsn: lsn("lsn"),
            lsn_proc: lsn("lsn_proc"),
            lsn_commit: lsn("lsn_commit"),
            tx_id: m.get("txId").and_then(Json::as_i64),
            ts_usec: m.get("ts_usec").and_then(Json::as_i64),
            message_type: None,
            snapshot,
        }
    }

    /// The LSN the slot may be acknowledged to once this offset is durable.
    pub fn flushable(&self) -> Option<Lsn> {
        self.lsn_commit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let o = Offset {
            lsn: Some(100),
            lsn_proc: Some(100),
            lsn_commit: Some(90),
            tx_id: Some(7),
            ts_usec: Some(1),
            message_type: Some("INSERT"),
            snapshot: None,
        };
        let back = Offset::from_map(&o.to_map());
        assert_eq!(back.lsn_commit, Some(90));
        assert_eq!(back.tx_id, Some(7));
        let s = Offset {
            snapshot: Some(SnapshotPosition {
                start_lsn: 5,
                done: vec!["public.a".into()],
                table: Some("public.b".into()),
                after: Some(vec![Some("10".into()), None]),
                completed: false,
            }),
            ..Offset::default()
        };
        assert_eq!(Offset::from_map(&s.to_map()).snapshot, s.snapshot);
        let done = Offset {
            snapshot: Some(SnapshotPosition {
                completed: true,
                ..SnapshotPosition::default()
            }),
            ..Offset::default()
        };
        assert_eq!(Offset::from_map(&done.to_map()).snapshot, None);
    }
}
