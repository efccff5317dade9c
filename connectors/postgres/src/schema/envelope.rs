//! Change-event envelopes and the other records Debezium's Postgres connector emits:
//! tombstones, primary-key changes, truncates, logical decoding messages, heartbeats and
//! transaction metadata.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use weir_connect_api::{ConnectRecord, Headers, SchemaBuilder, SchemaRef, Struct, Value};

use super::Lsn;
use super::convert::base64;
use super::hstore::java_hashmap_order;
use super::mapping::binary_schema;
use super::options::BinaryMode;
use super::table::TableSchema;

/// `source.snapshot` values, in the order of the schema's `allowed` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapshotMarker {
    True,
    First,
    FirstInDataCollection,
    LastInDataCollection,
    Last,
    #[default]
    False,
    Incremental,
}

impl SnapshotMarker {
    /// The lower-case name Debezium writes (`first_in_data_collection`, ...).
    pub fn name(self) -> &'static str {
        match self {
            SnapshotMarker::True => "true",
            SnapshotMarker::First => "first",
            SnapshotMarker::FirstInDataCollection => "first_in_data_collection",
            SnapshotMarker::LastInDataCollection => "last_in_data_collection",
            SnapshotMarker::Last => "last",
            SnapshotMarker::False => "false",
            SnapshotMarker::Incremental => "incremental",
        }
    }
}

/// What goes into the `source` block of one event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceInfo {
    /// Commit time (streaming) or read time (snapshot), µs since the Unix epoch.
    pub ts_us: i64,
    pub snapshot: SnapshotMarker,
    pub db: String,
    /// (last commit LSN, current LSN), printed as the JSON array string `sequence`.
    pub sequence: (Option<Lsn>, Option<Lsn>),
    pub schema: String,
    pub table: String,
    pub tx_id: Option<i64>,
    pub lsn: Option<Lsn>,
    pub xmin: Option<i64>,
}

/// The `transaction` block of a data event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxBlock {
    /// `<txId>:<lsn>`.
    pub id: String,
    pub total_order: i64,
    pub data_collection_order: i64,
}

/// The `op` of a row event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Read,
    Create,
    Update,
    Delete,
    Truncate,
}

impl Op {
    /// Debezium's one-letter code.
    pub fn code(self) -> &'static str {
        match self {
            Op::Read => "r",
            Op::Create => "c",
            Op::Update => "u",
            Op::Delete => "d",
            Op::Truncate => "t",
        }
    }
}

/// The `allowed` list of `source.snapshot`.
pub const SNAPSHOT_ALLOWED: &str =
    "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental";

/// `io.debezium.connector.postgresql.Source` (Debezium 3.0: no schema version).
pub fn source_schema() -> SchemaRef {
    let snapshot = SchemaBuilder::string()
        .name("io.debezium.data.Enum")
        .version(1)
        .parameter("allowed", SNAPSHOT_ALLOWED)
        .default_value(Value::String("false".into()))
        .optional()
        .build();
    SchemaBuilder::structure()
        .name("io.debezium.connector.postgresql.Source")
        .field("version", SchemaBuilder::string().build())
        .field("connector", SchemaBuilder::string().build())
        .field("name", SchemaBuilder::string().build())
        .field("ts_ms", SchemaBuilder::int64().build())
        .field("snapshot", snapshot)
        .field("db", SchemaBuilder::string().build())
        .field("sequence", SchemaBuilder::string().optional().build())
        .field("ts_us", SchemaBuilder::int64().optional().build())
        .field("ts_ns", SchemaBuilder::int64().optional().build())
        .field("schema", SchemaBuilder::string().build())
        .field("table", SchemaBuilder::string().build())
        .field("txId", SchemaBuilder::int64().optional().build())
        .field("lsn", SchemaBuilder::int64().optional().build())
        .field("xmin", SchemaBuilder::int64().optional().build())
        .build()
}

/// `event.block` (optional), version 1.
pub fn transaction_block_schema() -> SchemaRef {
    SchemaBuilder::structure()
        .optional()
        .name("event.block")
        .version(1)
        .field("id", SchemaBuilder::string().build())
        .field("total_order", SchemaBuilder::int64().build())
        .field("data_collection_order", SchemaBuilder::int64().build())
        .build()
}

fn now() -> (i64, i64, i64) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let ns = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    (ns.div_euclid(1_000_000), ns.div_euclid(1000), ns)
}

fn put(s: &mut Struct, field: &str, v: Value) {
    // Every put below matches a schema built in this file; a mismatch is a bug we would
    // rather surface as a missing field than as a panic.
    if let Err(e) = s.put(field, v) {
        tracing::error!(field, error = %e, "event field does not match its schema");
    }
}

fn sequence_string(seq: (Option<Lsn>, Option<Lsn>)) -> String {
    let one = |l: Option<Lsn>| l.map_or("null".to_string(), |l| format!("\"{l}\""));
    format!("[{},{}]", one(seq.0), one(seq.1))
}

/// Builds Debezium's records for one connector (`topic.prefix`).
#[derive(Debug, Clone)]
pub struct EventBuilder {
    /// `topic.prefix`, also `source.name`.
    pub prefix: String,
    /// `tombstones.on.delete`.
    pub tombstones_on_delete: bool,
    /// `topic.heartbeat.prefix`.
    pub heartbeat_prefix: String,
    /// `topic.transaction`.
    pub transaction_topic_suffix: String,
    /// `binary.handling.mode`, for message contents.
    pub binary_handling: BinaryMode,
    /// `source.version`.
    pub version: String,
    source: SchemaRef,
    block: SchemaRef,
}

impl EventBuilder {
    /// A builder with Debezium's defaults for everything but the prefix.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            tombstones_on_delete: true,
            heartbeat_prefix: "__debezium-heartbeat".into(),
            transaction_topic_suffix: "transaction".into(),
            binary_handling: BinaryMode::Bytes,
            version: crate::DEBEZIUM_VERSION.into(),
            source: source_schema(),
            block: transaction_block_schema(),
        }
    }

    /// The `source` struct of an event.
    pub fn source_struct(&self, src: &SourceInfo) -> Struct {
        let mut s = Struct::new(self.source.clone());
        put(&mut s, "version", Value::String(self.version.clone()));
        put(&mut s, "connector", Value::String("postgresql".into()));
        put(&mut s, "name", Value::String(self.prefix.clone()));
        put(&mut s, "ts_ms", Value::Int64(src.ts_us.div_euclid(1000)));
        if src.snapshot != SnapshotMarker::False {
            put(
                &mut s,
                "snapshot",
                Value::String(src.snapshot.name().into()),
            );
        }
        put(&mut s, "db", Value::String(src.db.clone()));
        put(
            &mut s,
            "sequence",
            Value::String(sequence_string(src.sequence)),
        );
        put(&mut s, "ts_us", Value::Int64(src.ts_us));
        put(
            &mut s,
            "ts_ns",
            Value::Int64(src.ts_us.saturating_mul(1000)),
        );
        put(&mut s, "schema", Value::String(src.schema.clone()));
        put(&mut s, "table", Value::String(src.table.clone()));
        if src.snapshot != SnapshotMarker::Incremental {
            if let Some(tx) = src.tx_id {
                put(&mut s, "txId", Value::Int64(tx));
            }
            if let Some(lsn) = src.lsn {
                put(&mut s, "lsn", Value::Int64(lsn as i64));
            }
            if let Some(x) = src.xmin {
                put(&mut s, "xmin", Value::Int64(x));
            }
        }
        s
    }

    fn block(&self, tx: Option<&TxBlock>) -> Value {
        tx.map_or(Value::Null, |tx| {
            let mut b = Struct::new(self.block.clone());
            put(&mut b, "id", Value::String(tx.id.clone()));
            put(&mut b, "total_order", Value::Int64(tx.total_order));
            put(
                &mut b,
                "data_collection_order",
                Value::Int64(tx.data_collection_order),
            );
            Value::Struct(b)
        })
    }

    fn envelope(
        &self,
        t: &TableSchema,
        op: Op,
        before: Option<Struct>,
        after: Option<Struct>,
        src: &SourceInfo,
        tx: Option<&TxBlock>,
    ) -> Struct {
        let mut e = Struct::new(t.envelope_schema().clone());
        put(&mut e, "before", before.map_or(Value::Null, Value::Struct));
        put(&mut e, "after", after.map_or(Value::Null, Value::Struct));
        put(&mut e, "source", Value::Struct(self.source_struct(src)));
        put(&mut e, "op", Value::String(op.code().into()));
        let (ms, us, ns) = now();
        put(&mut e, "ts_ms", Value::Int64(ms));
        put(&mut e, "ts_us", Value::Int64(us));
        put(&mut e, "ts_ns", Value::Int64(ns));
        put(&mut e, "transaction", self.block(tx));
        e
    }

    fn record(
        &self,
        t: &TableSchema,
        key: Option<Struct>,
        value: Struct,
        headers: Headers,
    ) -> ConnectRecord {
        let (key_schema, key) = match key {
            Some(k) => (t.key_schema().cloned(), Value::Struct(k)),
            None => (None, Value::Null),
        };
        let mut r = ConnectRecord::new(
            t.topic(),
            key_schema,
            key,
            Some(t.envelope_schema().clone()),
            Value::Struct(value),
        );
        r.headers = headers;
        r
    }

    /// The tombstone following a delete: same topic, key and headers, null value.
    fn tombstone(of: &ConnectRecord) -> ConnectRecord {
        let mut t = of.clone();
        t.value_schema = None;
        t.value = Value::Null;
        t
    }

    /// A snapshot read (`r`) or insert (`c`).
    pub fn read_or_create(
        &self,
        t: &TableSchema,
        op: Op,
        after: Struct,
        src: &SourceInfo,
        tx: Option<&TxBlock>,
    ) -> ConnectRecord {
        let key = t.key_of(&after);
        let value = self.envelope(t, op, None, Some(after), src, tx);
        self.record(t, key, value, Headers::default())
    }

    /// An update; a changed primary key becomes a delete (header `__debezium.newkey`), its
    /// tombstone, and a create (header `__debezium.oldkey`), as Debezium emits it.
    pub fn update(
        &self,
        t: &TableSchema,
        before: Option<Struct>,
        after: Struct,
        src: &SourceInfo,
        tx: Option<&TxBlock>,
    ) -> Vec<ConnectRecord> {
        let new_key = t.key_of(&after);
        let old_key = before.as_ref().and_then(|b| t.key_of(b));
        match (old_key, new_key) {
            (Some(old), Some(new)) if old != new => {
                let key_schema = t.key_schema().cloned();
                let mut h = Headers::default();
                h.add(
                    "__debezium.newkey",
                    key_schema.clone(),
                    Value::Struct(new.clone()),
                );
                let value = self.envelope(t, Op::Delete, before, None, src, tx);
                let delete = self.record(t, Some(old.clone()), value, h);
                let mut out = vec![delete.clone()];
                if self.tombstones_on_delete {
                    out.push(Self::tombstone(&delete));
                }
                let mut h = Headers::default();
                h.add("__debezium.oldkey", key_schema, Value::Struct(old));
                let value = self.envelope(t, Op::Create, None, Some(after), src, tx);
                out.push(self.record(t, Some(new), value, h));
                out
            }
            (_, new) => {
                let value = self.envelope(t, Op::Update, before, Some(after), src, tx);
                vec![self.record(t, new, value, Headers::default())]
            }
        }
    }

    /// A delete, then its tombstone when `tombstones.on.delete` is set.
    pub fn delete(
        &self,
        t: &TableSchema,
        before: Struct,
        src: &SourceInfo,
        tx: Option<&TxBlock>,
    ) -> Vec<ConnectRecord> {
        let key = t.key_of(&before);
        let value = self.envelope(t, Op::Delete, Some(before), None, src, tx);
        let delete = self.record(t, key, value, Headers::default());
        let mut out = vec![delete.clone()];
        if self.tombstones_on_delete {
            out.push(Self::tombstone(&delete));
        }
        out
    }

    /// A truncate (`t`): null key, no before/after.
    pub fn truncate(
        &self,
        t: &TableSchema,
        src: &SourceInfo,
        tx: Option<&TxBlock>,
    ) -> ConnectRecord {
        let value = self.envelope(t, Op::Truncate, None, None, src, tx);
        self.record(t, None, value, Headers::default())
    }

    /// A logical decoding message (`m`) on `<prefix>.message`; `src` has empty schema and
    /// table, and a txId only when the message was transactional.
    pub fn message(&self, prefix: &str, content: &[u8], src: &SourceInfo) -> ConnectRecord {
        self.message_with_tx(prefix, content, src, None)
    }

    /// [`EventBuilder::message`] with the transaction block of a transactional message.
    pub fn message_with_tx(
        &self,
        prefix: &str,
        content: &[u8],
        src: &SourceInfo,
        tx: Option<&TxBlock>,
    ) -> ConnectRecord {
        let key_schema = SchemaBuilder::structure()
            .name("io.debezium.connector.postgresql.MessageKey")
            .version(1)
            .field("prefix", SchemaBuilder::string().optional().build())
            .build();
        let block_schema = SchemaBuilder::structure()
            .name("io.debezium.connector.postgresql.Message")
            .version(1)
            .field("prefix", SchemaBuilder::string().optional().build())
            .field(
                "content",
                binary_schema(self.binary_handling).optional().build(),
            )
            .build();
        let value_schema = SchemaBuilder::structure()
            .name("io.debezium.connector.postgresql.MessageValue")
            .version(1)
            .field("op", SchemaBuilder::string().build())
            .field("ts_ms", SchemaBuilder::int64().optional().build())
            .field("source", self.source.clone())
            .field("transaction", self.block.clone())
            .field("message", block_schema.clone())
            .build();
        let content = match self.binary_handling {
            BinaryMode::Bytes => Value::Bytes(Bytes::copy_from_slice(content)),
            BinaryMode::Base64 => Value::String(base64(content, false)),
            BinaryMode::Base64UrlSafe => Value::String(base64(content, true)),
            BinaryMode::Hex => Value::String(content.iter().map(|b| format!("{b:02x}")).collect()),
        };
        let mut block = Struct::new(block_schema);
        put(&mut block, "prefix", Value::String(prefix.into()));
        put(&mut block, "content", content);
        let mut key = Struct::new(key_schema.clone());
        put(&mut key, "prefix", Value::String(prefix.into()));
        let mut value = Struct::new(value_schema.clone());
        put(&mut value, "op", Value::String("m".into()));
        put(&mut value, "ts_ms", Value::Int64(now().0));
        put(&mut value, "source", Value::Struct(self.source_struct(src)));
        put(&mut value, "transaction", self.block(tx));
        put(&mut value, "message", Value::Struct(block));
        ConnectRecord::new(
            format!("{}.message", self.prefix),
            Some(key_schema),
            Value::Struct(key),
            Some(value_schema),
            Value::Struct(value),
        )
    }

    /// A heartbeat on `<topic.heartbeat.prefix>.<prefix>`, partition 0 as Debezium sets it.
    pub fn heartbeat(&self, ts_ms: i64) -> ConnectRecord {
        let key_schema = SchemaBuilder::structure()
            .name("io.debezium.connector.common.ServerNameKey")
            .version(1)
            .field("serverName", SchemaBuilder::string().build())
            .build();
        let value_schema = SchemaBuilder::structure()
            .name("io.debezium.connector.common.Heartbeat")
            .version(1)
            .field("ts_ms", SchemaBuilder::int64().build())
            .build();
        let mut key = Struct::new(key_schema.clone());
        put(&mut key, "serverName", Value::String(self.prefix.clone()));
        let mut value = Struct::new(value_schema.clone());
        put(&mut value, "ts_ms", Value::Int64(ts_ms));
        let mut r = ConnectRecord::new(
            format!("{}.{}", self.heartbeat_prefix, self.prefix),
            Some(key_schema),
            Value::Struct(key),
            Some(value_schema),
            Value::Struct(value),
        );
        r.kafka_partition = Some(0);
        r
    }

    fn tx_schemas() -> (SchemaRef, SchemaRef, SchemaRef) {
        let key = SchemaBuilder::structure()
            .name("io.debezium.connector.common.TransactionMetadataKey")
            .version(1)
            .field("id", SchemaBuilder::string().build())
            .build();
        let collection = SchemaBuilder::structure()
            .optional()
            .name("event.collection")
            .version(1)
            .field("data_collection", SchemaBuilder::string().build())
            .field("event_count", SchemaBuilder::int64().build())
            .build();
        let value = SchemaBuilder::structure()
            .name("io.debezium.connector.common.TransactionMetadataValue")
            .version(1)
            .field("status", SchemaBuilder::string().build())
            .field("id", SchemaBuilder::string().build())
            .field("event_count", SchemaBuilder::int64().optional().build())
            .field(
                "data_collections",
                SchemaBuilder::array(collection.clone()).optional().build(),
            )
            .field("ts_ms", SchemaBuilder::int64().build())
            .build();
        (key, value, collection)
    }

    fn tx_record(
        &self,
        id: &str,
        status: &str,
        ts_ms: i64,
        counts: Option<&[(String, i64)]>,
    ) -> ConnectRecord {
        let (key_schema, value_schema, collection) = Self::tx_schemas();
        let mut key = Struct::new(key_schema.clone());
        put(&mut key, "id", Value::String(id.into()));
        let mut value = Struct::new(value_schema.clone());
        put(&mut value, "status", Value::String(status.into()));
        put(&mut value, "id", Value::String(id.into()));
        put(&mut value, "ts_ms", Value::Int64(ts_ms));
        if let Some(counts) = counts {
            put(
                &mut value,
                "event_count",
                Value::Int64(counts.iter().map(|(_, n)| n).sum()),
            );
            // Debezium keeps the per-collection counts in a HashMap: its iteration order.
            let ordered = java_hashmap_order(counts.to_vec());
            let items = ordered
                .into_iter()
                .map(|(name, n)| {
                    let mut c = Struct::new(collection.clone());
                    put(&mut c, "data_collection", Value::String(name));
                    put(&mut c, "event_count", Value::Int64(n));
                    Value::Struct(c)
                })
                .collect();
            put(&mut value, "data_collections", Value::Array(items));
        }
        ConnectRecord::new(
            format!("{}.{}", self.prefix, self.transaction_topic_suffix),
            Some(key_schema),
            Value::Struct(key),
            Some(value_schema),
            Value::Struct(value),
        )
    }

    /// `BEGIN` on `<prefix>.transaction`; `id` is `<txId>:<lsn>`.
    pub fn transaction_begin(&self, id: &str, ts_ms: i64) -> ConnectRecord {
        self.tx_record(id, "BEGIN", ts_ms, None)
    }

    /// `END` with the event count per data collection (`schema.table`).
    pub fn transaction_end(&self, id: &str, ts_ms: i64, counts: &[(String, i64)]) -> ConnectRecord {
        self.tx_record(id, "END", ts_ms, Some(counts))
    }
}
