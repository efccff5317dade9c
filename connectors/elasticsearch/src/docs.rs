//! From a record to a bulk action: the index (or data stream), the document id, the
//! external version and the document, as Confluent's `DataConverter` builds them; and the
//! index mapping Confluent's `Mapping.buildMapping` derives from a Connect schema.

use serde_json::{Map, Value as Json, json};
use weir_connect_api::schema::logical;
use weir_connect_api::{ConnectRecord, DataError, Schema, SchemaType, Value};

use crate::config::{NullValues, Settings};

/// What one record asks of Elasticsearch.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `index` (or `create` into a data stream) of a document.
    Index {
        index: String,
        id: Option<String>,
        version: Option<i64>,
        create: bool,
        doc: Vec<u8>,
    },
    /// `update` with the document as the upsert.
    Upsert {
        index: String,
        id: String,
        doc: Vec<u8>,
    },
    Delete {
        index: String,
        id: String,
        version: Option<i64>,
    },
}

impl Action {
    pub fn index(&self) -> &str {
        match self {
            Action::Index { index, .. }
            | Action::Upsert { index, .. }
            | Action::Delete { index, .. } => index,
        }
    }

    /// About how many bytes the action adds to a bulk body.
    pub fn approximate_len(&self) -> usize {
        let doc = match self {
            Action::Index { doc, .. } | Action::Upsert { doc, .. } => doc.len(),
            Action::Delete { .. } => 0,
        };
        doc + 128
    }

    /// The NDJSON lines of this action in a `_bulk` body.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let meta = |index: &str, id: Option<&str>, version: Option<i64>| {
            let mut m = Map::new();
            m.insert("_index".into(), json!(index));
            if let Some(id) = id {
                m.insert("_id".into(), json!(id));
            }
            if let Some(v) = version {
                m.insert("version".into(), json!(v));
                m.insert("version_type".into(), json!("external"));
            }
            m
        };
        let line = |out: &mut Vec<u8>, v: &Json| {
            out.extend_from_slice(v.to_string().as_bytes());
            out.push(b'\n');
        };
        match self {
            Action::Index {
                index,
                id,
                version,
                create,
                doc,
            } => {
                let op = if *create { "create" } else { "index" };
                line(out, &json!({ op: meta(index, id.as_deref(), *version) }));
                out.extend_from_slice(doc);
                out.push(b'\n');
            }
            Action::Upsert { index, id, doc } => {
                let mut m = meta(index, Some(id), None);
                m.insert("retry_on_conflict".into(), json!(5));
                line(out, &json!({ "update": m }));
                out.extend_from_slice(b"{\"doc\":");
                out.extend_from_slice(doc);
                out.extend_from_slice(b",\"doc_as_upsert\":true}\n");
            }
            Action::Delete { index, id, version } => {
                line(out, &json!({ "delete": meta(index, Some(id), *version) }));
            }
        }
    }
}

/// Confluent's index name: the topic lower-cased, at most 255 bytes, without a leading `-`,
/// `_` or `+`; `.` and `..` become `dot` and `dotdot`.
pub fn index_name(topic: &str) -> String {
    let lower = topic.to_lowercase();
    let trimmed = lower.trim_start_matches(['-', '_', '+']);
    let name = match trimmed {
        "." => "dot".to_string(),
        ".." => "dotdot".to_string(),
        other => other.to_string(),
    };
    let mut end = name.len().min(255);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_string()
}

/// The document id from the key: strings as they are, integers in decimal; anything else
/// is an error naming the type.
pub fn key_id(record: &ConnectRecord) -> Result<String, DataError> {
    let id = match &record.key {
        Value::String(s) => s.clone(),
        Value::Int8(n) => n.to_string(),
        Value::Int16(n) => n.to_string(),
        Value::Int32(n) => n.to_string(),
        Value::Int64(n) => n.to_string(),
        Value::Null => {
            return Err(DataError::new(format!(
                "Key is used as document id and can not be null (topic {} partition {} offset {}); set key.ignore=true to use topic+partition+offset",
                record.topic,
                record.kafka_partition.unwrap_or_default(),
                record.kafka_offset.unwrap_or_default()
            )));
        }
        other => {
            return Err(DataError::new(format!(
                "Key is used as document id and can not be of type {}: only strings and integers make ids (set key.ignore=true, or extract a field of the key with ExtractField$Key)",
                other.kind().map_or("null", |k| k.name())
            )));
        }
    };
    if id.is_empty() {
        return Err(DataError::new(
            "Key is used as document id and can not be empty",
        ));
    }
    Ok(id)
}

/// The record's external version: the Kafka offset, or the numeric value of
/// `external.version.header`.
fn version(settings: &Settings, record: &ConnectRecord) -> Result<i64, DataError> {
    let Some(header) = &settings.external_version_header else {
        return Ok(record.kafka_offset.unwrap_or_default());
    };
    let value = record.headers.last(header).map(|h| &h.value);
    match value {
        Some(Value::Int8(n)) => Ok(i64::from(*n)),
        Some(Value::Int16(n)) => Ok(i64::from(*n)),
        Some(Value::Int32(n)) => Ok(i64::from(*n)),
        Some(Value::Int64(n)) => Ok(*n),
        Some(Value::String(s)) => s.trim().parse().map_err(|_| {
            DataError::new(format!(
                "external.version.header {header}: {s:?} is not a number"
            ))
        }),
        _ => Err(DataError::new(format!(
            "external.version.header {header} is missing or not a number on the record at offset {}",
            record.kafka_offset.unwrap_or_default()
        ))),
    }
}

/// The schema of the documents a record makes: the row schema (`after`) of a Debezium
/// change event, else the value schema.
pub fn document_schema(record: &ConnectRecord) -> Option<&Schema> {
    let schema = record.value_schema.as_deref()?;
    if schema
        .name
        .as_deref()
        .is_some_and(|n| n.ends_with(".Envelope"))
        && schema.field("op").is_some()
    {
        return schema.field("after").map(|f| f.schema.as_ref());
    }
    Some(schema)
}

/// A Debezium change event read natively (without ExtractNewRecordState): the record with
/// the row state `after` as its value and a one-column key struct as the plain column, and
/// whether the change is a delete. `None` for anything that is not an envelope.
fn debezium_change(record: &ConnectRecord) -> Option<(ConnectRecord, bool)> {
    let schema = record.value_schema.as_ref()?;
    let is_envelope = schema.kind == SchemaType::Struct
        && schema
            .name
            .as_deref()
            .is_some_and(|n| n.ends_with(".Envelope"))
        && schema.field("op").is_some()
        && schema.field("after").is_some();
    if !is_envelope {
        return None;
    }
    let envelope = record.value.as_struct()?;
    let op = envelope.get("op").and_then(Value::as_str)?;
    let mut change = record.clone();
    if let Value::Struct(key) = &record.key
        && key.schema().fields.len() == 1
    {
        change.key = key.iter().next().map_or(Value::Null, |(_, v)| v.clone());
    }
    if op == "d" {
        change.value = Value::Null;
        return Some((change, true));
    }
    change.value = envelope.get("after").cloned().unwrap_or(Value::Null);
    change.value_schema = schema.field("after").map(|f| f.schema.clone());
    Some((change, false))
}

/// The action for a record; `Ok(None)` when the record is deliberately skipped (a null
/// value under `ignore`, a null-key delete). `doc` turns the value into JSON bytes.
///
/// A Debezium change event is understood natively: creates, updates and snapshot reads
/// index the row's `after` state, a delete (`op` = `d`) deletes the document by key.
pub fn action(
    settings: &Settings,
    record: &ConnectRecord,
    doc: impl FnOnce(&ConnectRecord) -> Result<Vec<u8>, DataError>,
) -> Result<Option<Action>, DataError> {
    let change = debezium_change(record);
    let (record, deleted) = match &change {
        Some((r, deleted)) => (r, *deleted),
        None => (record, false),
    };
    let topic = &record.topic;
    let offset = record.kafka_offset.unwrap_or_default();
    let ignore_key = settings.ignores_key(topic);
    let (index, data_stream) = match &settings.data_stream {
        Some(ds) => (
            index_name(&format!(
                "{}-{}-{}",
                ds.kind,
                ds.dataset,
                ds.namespace.replace("${topic}", topic)
            )),
            Some(ds),
        ),
        None => (index_name(topic), None),
    };
    let id = || -> Result<Option<String>, DataError> {
        if settings.autogenerated_ids && !settings.upsert {
            Ok(None)
        } else if ignore_key {
            Ok(Some(format!(
                "{topic}+{}+{offset}",
                record.kafka_partition.unwrap_or_default()
            )))
        } else {
            key_id(record).map(Some)
        }
    };
    // Confluent versions writes by offset when ids come from keys (replays and older
    // records then lose to newer ones) and never for data streams or upserts.
    let versioned = !ignore_key && data_stream.is_none() && !settings.autogenerated_ids;
    let delete = || -> Result<Option<Action>, DataError> {
        if record.key.is_null() {
            return Ok(None);
        }
        let Some(id) = id()? else {
            return Ok(None);
        };
        let version = if versioned {
            Some(version(settings, record)?)
        } else {
            None
        };
        Ok(Some(Action::Delete {
            index: index.clone(),
            id,
            version,
        }))
    };
    if deleted && !record.key.is_null() && !settings.upsert && data_stream.is_none() {
        return delete();
    }
    if record.value.is_null() {
        return match settings.null_values {
            NullValues::Ignore => Ok(None),
            NullValues::Fail => Err(DataError::new(format!(
                "Sink record with key of {} and null value encountered for topic/partition/offset {topic}/{}/{offset} (to ignore future records like this change the configuration 'behavior.on.null.values' to 'IGNORE')",
                json_key(&record.key),
                record.kafka_partition.unwrap_or_default()
            ))),
            NullValues::Delete => delete(),
        };
    }
    let mut body = doc(record)?;
    if let Some(ds) = data_stream {
        body = with_timestamp(body, record, &ds.timestamp_fields)?;
    }
    if settings.upsert {
        let Some(id) = id()? else {
            return Err(DataError::new("write.method=UPSERT needs document ids"));
        };
        return Ok(Some(Action::Upsert {
            index,
            id,
            doc: body,
        }));
    }
    let version = if versioned {
        Some(version(settings, record)?)
    } else {
        None
    };
    Ok(Some(Action::Index {
        index,
        id: id()?,
        version,
        create: data_stream.is_some(),
        doc: body,
    }))
}

fn json_key(key: &Value) -> String {
    match key {
        Value::Null => "null".into(),
        Value::String(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

/// A data stream document needs `@timestamp`: from the first of `fields` the document has,
/// else the record's timestamp.
fn with_timestamp(
    body: Vec<u8>,
    record: &ConnectRecord,
    fields: &[String],
) -> Result<Vec<u8>, DataError> {
    let mut doc: Json = serde_json::from_slice(&body)
        .map_err(|e| DataError::new(format!("the document is not JSON: {e}")))?;
    let Some(obj) = doc.as_object_mut() else {
        return Err(DataError::new(
            "a data stream document must be a JSON object",
        ));
    };
    let from_field = fields.iter().find_map(|f| obj.get(f).cloned());
    match from_field {
        Some(ts) => {
            obj.insert("@timestamp".into(), ts);
        }
        None if !obj.contains_key("@timestamp") => {
            let ts = record.timestamp.ok_or_else(|| {
                DataError::new(
                    "a data stream document needs @timestamp and the record has no timestamp",
                )
            })?;
            obj.insert("@timestamp".into(), json!(ts));
        }
        None => {}
    }
    Ok(doc.to_string().into_bytes())
}

/// Confluent's mapping of a Connect schema (`Mapping.buildMapping`): the `properties` of a
/// struct, `None` for schemas that do not map to an object.
pub fn mapping(schema: &Schema) -> Option<Json> {
    if schema.kind != SchemaType::Struct {
        return None;
    }
    let mut properties = Map::new();
    for field in &schema.fields {
        properties.insert(field.name.clone(), field_mapping(&field.schema));
    }
    Some(json!({ "properties": properties }))
}

fn field_mapping(schema: &Schema) -> Json {
    match schema.name.as_deref() {
        Some(logical::DATE | logical::TIMESTAMP | logical::TIME) => return json!({"type": "date"}),
        Some(logical::DECIMAL) => return json!({"type": "double"}),
        _ => {}
    }
    let kind = match schema.kind {
        SchemaType::Int8 => "byte",
        SchemaType::Int16 => "short",
        SchemaType::Int32 => "integer",
        SchemaType::Int64 => "long",
        SchemaType::Float32 => "float",
        SchemaType::Float64 => "double",
        SchemaType::Boolean => "boolean",
        SchemaType::String => {
            return json!({"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}});
        }
        SchemaType::Bytes => "binary",
        SchemaType::Array => {
            return schema
                .value_schema
                .as_deref()
                .map_or_else(|| json!({"type": "object"}), field_mapping);
        }
        SchemaType::Map | SchemaType::Struct => {
            return match mapping(schema) {
                Some(m) => m,
                None => json!({"type": "object"}),
            };
        }
    };
    json!({ "type": kind })
}

#[cfg(test)]
mod tests {
    use weir_connect_api::{ConfigMap, SchemaBuilder};

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let mut c: ConfigMap = [("connection.url", "http://127.0.0.1:9200")]
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        for (k, v) in pairs {
            c.insert((*k).to_string(), (*v).to_string());
        }
        Settings::parse(&c).expect("valid")
    }

    fn record(key: Value, value: Value) -> ConnectRecord {
        let mut r = ConnectRecord::new("Orders", None, key, None, value);
        r.kafka_partition = Some(2);
        r.kafka_offset = Some(42);
        r.timestamp = Some(1_700_000_000_000);
        r
    }

    fn doc(_: &ConnectRecord) -> Result<Vec<u8>, DataError> {
        Ok(br#"{"id":7}"#.to_vec())
    }

    fn ndjson(action: &Action) -> String {
        let mut out = Vec::new();
        action.write_to(&mut out);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn index_names_as_confluent() {
        assert_eq!(index_name("Orders"), "orders");
        assert_eq!(index_name("_private-Topic"), "private-topic");
        assert_eq!(index_name("."), "dot");
        assert_eq!(index_name(".."), "dotdot");
        assert_eq!(index_name(&"x".repeat(300)).len(), 255);
    }

    #[test]
    fn ids_versions_and_bulk_lines() {
        let s = settings(&[]);
        let a = action(&s, &record(Value::Int64(1001), Value::Boolean(true)), doc)
            .expect("ok")
            .expect("an action");
        assert_eq!(
            ndjson(&a),
            "{\"index\":{\"_id\":\"1001\",\"_index\":\"orders\",\"version\":42,\"version_type\":\"external\"}}\n{\"id\":7}\n"
        );
        let s = settings(&[("key.ignore", "true")]);
        let a = action(&s, &record(Value::Null, Value::Boolean(true)), doc)
            .expect("ok")
            .expect("action");
        assert_eq!(
            ndjson(&a),
            "{\"index\":{\"_id\":\"Orders+2+42\",\"_index\":\"orders\"}}\n{\"id\":7}\n"
        );
        let s = settings(&[("write.method", "upsert")]);
        let a = action(
            &s,
            &record(Value::String("k".into()), Value::Boolean(true)),
            doc,
        )
        .expect("ok")
        .expect("action");
        assert_eq!(
            ndjson(&a),
            "{\"update\":{\"_id\":\"k\",\"_index\":\"orders\",\"retry_on_conflict\":5}}\n{\"doc\":{\"id\":7},\"doc_as_upsert\":true}\n"
        );
        let e = action(
            &settings(&[]),
            &record(Value::Null, Value::Boolean(true)),
            doc,
        )
        .expect_err("null key");
        assert!(e.to_string().contains("can not be null"), "{e}");
        let e = action(
            &settings(&[]),
            &record(Value::Float64(1.5), Value::Boolean(true)),
            doc,
        )
        .expect_err("float key");
        assert!(e.to_string().contains("float64"), "{e}");
    }

    #[test]
    fn null_values_and_data_streams() {
        let tombstone = record(Value::String("k".into()), Value::Null);
        let e = action(&settings(&[]), &tombstone, doc).expect_err("fail");
        assert!(e.to_string().contains("behavior.on.null.values"), "{e}");
        assert_eq!(
            action(
                &settings(&[("behavior.on.null.values", "ignore")]),
                &tombstone,
                doc
            )
            .expect("ok"),
            None
        );
        let d = action(
            &settings(&[("behavior.on.null.values", "delete")]),
            &tombstone,
            doc,
        )
        .expect("ok")
        .expect("delete");
        assert_eq!(
            ndjson(&d),
            "{\"delete\":{\"_id\":\"k\",\"_index\":\"orders\",\"version\":42,\"version_type\":\"external\"}}\n"
        );
        let s = settings(&[
            ("data.stream.type", "logs"),
            ("data.stream.dataset", "shop"),
            ("key.ignore", "true"),
        ]);
        let a = action(&s, &record(Value::Null, Value::Boolean(true)), doc)
            .expect("ok")
            .expect("create");
        assert_eq!(
            ndjson(&a),
            "{\"create\":{\"_id\":\"Orders+2+42\",\"_index\":\"logs-shop-orders\"}}\n{\"@timestamp\":1700000000000,\"id\":7}\n"
        );
    }

    #[test]
    fn debezium_envelopes_natively() {
        use weir_connect_api::Struct;
        let row = SchemaBuilder::structure()
            .name("srv.public.orders.Value")
            .field("id", SchemaBuilder::int32().build())
            .field("status", SchemaBuilder::string().build())
            .optional()
            .build();
        let envelope = SchemaBuilder::structure()
            .name("srv.public.orders.Envelope")
            .field("before", row.clone())
            .field("after", row.clone())
            .field("op", SchemaBuilder::string().build())
            .build();
        let key_schema = SchemaBuilder::structure()
            .name("srv.public.orders.Key")
            .field("id", SchemaBuilder::int32().build())
            .build();
        let mut key = Struct::new(key_schema.clone());
        key.put("id", Value::Int32(7)).expect("id");
        let mut after = Struct::new(row.clone());
        after.put("id", Value::Int32(7)).expect("id");
        after
            .put("status", Value::String("PAID".into()))
            .expect("status");
        let event = |op: &str, after: Value| {
            let mut e = Struct::new(envelope.clone());
            e.put("op", Value::String(op.into())).expect("op");
            e.put("after", after).expect("after");
            let mut r = ConnectRecord::new(
                "srv.public.orders",
                Some(key_schema.clone()),
                Value::Struct(key.clone()),
                Some(envelope.clone()),
                Value::Struct(e),
            );
            r.kafka_partition = Some(0);
            r.kafka_offset = Some(9);
            r
        };
        let s = settings(&[]);
        let seen = std::cell::RefCell::new(None);
        let a = action(&s, &event("u", Value::Struct(after)), |r| {
            seen.replace(Some(r.value.clone()));
            Ok(b"{}".to_vec())
        })
        .expect("ok")
        .expect("index");
        assert!(
            matches!(&a, Action::Index { id: Some(id), index, .. } if id == "7" && index == "srv.public.orders")
        );
        assert!(
            matches!(seen.borrow().as_ref(), Some(Value::Struct(st)) if st.get("status") == Some(&Value::String("PAID".into())))
        );
        let d = action(&s, &event("d", Value::Null), doc)
            .expect("ok")
            .expect("delete");
        assert_eq!(
            d,
            Action::Delete {
                index: "srv.public.orders".into(),
                id: "7".into(),
                version: Some(9)
            }
        );
    }

    #[test]
    fn mappings_from_schemas() {
        let schema = SchemaBuilder::structure()
            .field("id", SchemaBuilder::int64().build())
            .field("name", SchemaBuilder::string().optional().build())
            .field("at", logical::timestamp().build())
            .field(
                "tags",
                SchemaBuilder::array(SchemaBuilder::string().build()).build(),
            )
            .build();
        let m = mapping(&schema).expect("a struct maps");
        assert_eq!(m["properties"]["id"], json!({"type": "long"}));
        assert_eq!(
            m["properties"]["name"]["fields"]["keyword"]["type"],
            "keyword"
        );
        assert_eq!(m["properties"]["at"], json!({"type": "date"}));
        assert_eq!(m["properties"]["tags"]["type"], "text");
        assert!(mapping(&SchemaBuilder::string().build()).is_none());
    }
}
