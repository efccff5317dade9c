//! Records as connectors, transforms and converters see them.

use crate::schema::SchemaRef;
use crate::value::Value;

/// A source partition or offset: a small JSON object the connector defines (Debezium's
/// `{"server": "dbserver1"}` / `{"lsn": 123, "txId": 7}`), stored by the worker in
/// `connect-offsets` exactly as Kafka Connect stores it.
pub type SourceMap = serde_json::Map<String, serde_json::Value>;

/// One record header: a key and a value with an optional schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub key: String,
    pub schema: Option<SchemaRef>,
    pub value: Value,
}

/// Record headers, in order; keys may repeat, as in Kafka.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    pub fn add(&mut self, key: impl Into<String>, schema: Option<SchemaRef>, value: Value) {
        self.0.push(Header {
            key: key.into(),
            schema,
            value,
        });
    }
    /// The last header with `key` (Kafka's `lastWithName`).
    pub fn last(&self, key: &str) -> Option<&Header> {
        self.0.iter().rev().find(|h| h.key == key)
    }
    pub fn remove_all(&mut self, key: &str) {
        self.0.retain(|h| h.key != key);
    }
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Where a source record came from, so the worker can commit its offset once the record is
/// durable in the log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourcePosition {
    pub partition: SourceMap,
    pub offset: SourceMap,
}

/// A record of the Connect data model. Source tasks fill `source`; the worker fills
/// `kafka_offset` (and the partition and timestamp from the log) for sink tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectRecord {
    pub topic: String,
    /// `None`: the producer's partitioner decides (by key hash).
    pub kafka_partition: Option<i32>,
    pub key_schema: Option<SchemaRef>,
    pub key: Value,
    pub value_schema: Option<SchemaRef>,
    pub value: Value,
    /// Milliseconds since the epoch.
    pub timestamp: Option<i64>,
    pub headers: Headers,
    pub source: Option<SourcePosition>,
    pub kafka_offset: Option<i64>,
}

impl ConnectRecord {
    /// A record with a topic, key and value and nothing else set.
    pub fn new(
        topic: impl Into<String>,
        key_schema: Option<SchemaRef>,
        key: Value,
        value_schema: Option<SchemaRef>,
        value: Value,
    ) -> Self {
        Self {
            topic: topic.into(),
            kafka_partition: None,
            key_schema,
            key,
            value_schema,
            value,
            timestamp: None,
            headers: Headers::default(),
            source: None,
            kafka_offset: None,
        }
    }

    /// A tombstone: a record whose value is null.
    pub fn is_tombstone(&self) -> bool {
        self.value.is_null()
    }
}

/// What the log reported for a produced source record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMetadata {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
}

/// A topic-partition a sink task reads, with the offset to commit up to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}
