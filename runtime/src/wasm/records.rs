//! Connect records to and from the WASM batch framing (ABI.md, "What key and value hold"):
//! bytes stay bytes, strings stay strings, everything else crosses as schemaless JSON and is
//! read back with the input's schema.

use bytes::Bytes;
use weir_connect_api::{
    ConnectRecord, ConnectorError, DataError, Headers, SchemaRef, SchemaType, SourcePosition, Value,
};
use weir_wasm::{Encoding, WireRecord};

use crate::converters::json::{plugin_json, plugin_value};
use crate::worker::task::{connect_headers, header_bytes};

/// Reserved headers a source plugin puts its position in.
pub const SOURCE_PARTITION: &str = "weir.source.partition";
pub const SOURCE_OFFSET: &str = "weir.source.offset";

fn part(
    schema: Option<&SchemaRef>,
    value: &Value,
) -> Result<(Option<Bytes>, Encoding), ConnectorError> {
    Ok(match value {
        Value::Null => (None, Encoding::Bytes),
        Value::Bytes(b) => (Some(b.clone()), Encoding::Bytes),
        Value::String(s) => (Some(Bytes::from(s.clone())), Encoding::String),
        other => (
            Some(Bytes::from(plugin_json(schema.map(|s| &**s), other)?)),
            Encoding::Json,
        ),
    })
}

/// Debezium's `op` of a change event value, as a byte (0 when there is none).
fn op_of(value: &Value) -> u8 {
    let op = match value {
        Value::Struct(s) => s.get("op"),
        _ => None,
    };
    match op {
        Some(Value::String(o)) if o.len() == 1 => o.as_bytes()[0],
        _ => 0,
    }
}

/// `record` as the `index`th record of an input batch.
pub fn to_wire(index: u32, record: &ConnectRecord) -> Result<WireRecord, ConnectorError> {
    let (key, key_encoding) = part(record.key_schema.as_ref(), &record.key)?;
    let (value, value_encoding) = part(record.value_schema.as_ref(), &record.value)?;
    Ok(WireRecord {
        index,
        op: op_of(&record.value),
        timestamp: record.timestamp,
        topic: record.topic.clone(),
        key,
        key_encoding,
        value,
        value_encoding,
        headers: record
            .headers
            .iter()
            .map(|h| (h.key.clone(), header_bytes(h)))
            .collect(),
    })
}

fn data(message: String) -> ConnectorError {
    ConnectorError::Data(DataError::new(message))
}

/// A part a plugin returned, read back with the input part's schema where it still fits.
fn part_back(
    what: &str,
    bytes: Option<Bytes>,
    encoding: Encoding,
    input_schema: Option<&SchemaRef>,
    input_encoding: Encoding,
) -> Result<(Option<SchemaRef>, Value), ConnectorError> {
    let kind = input_schema.map(|s| s.kind);
    let Some(bytes) = bytes else {
        return Ok((input_schema.cloned(), Value::Null));
    };
    Ok(match encoding {
        Encoding::Bytes => (
            input_schema
                .filter(|_| kind == Some(SchemaType::Bytes))
                .cloned(),
            Value::Bytes(bytes),
        ),
        Encoding::String => {
            let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
                data(format!(
                    "the plugin returned a {what} marked as a string that is not UTF-8"
                ))
            })?;
            (
                input_schema
                    .filter(|_| kind == Some(SchemaType::String))
                    .cloned(),
                Value::String(text),
            )
        }
        Encoding::Json => {
            let schema = input_schema.filter(|_| input_encoding == Encoding::Json);
            let value = plugin_value(schema, &bytes).map_err(|e| {
                data(format!(
                    "the plugin returned a {what} that does not read back: {e}"
                ))
            })?;
            (schema.cloned(), value)
        }
    })
}

/// Headers a plugin returned: a header it left as it was keeps its Connect value and schema.
fn headers_back(input: &Headers, wire: Vec<(String, Option<Bytes>)>) -> Headers {
    let mut out = Headers::default();
    for (key, bytes) in wire {
        let same = input
            .iter()
            .find(|h| h.key == key && header_bytes(h) == bytes);
        match same {
            Some(h) => out.add(key, h.schema.clone(), h.value.clone()),
            None => out.0.extend(connect_headers(&[(key, bytes)]).0),
        }
    }
    out
}

/// A transform's output record made of `wire`, derived from `input`.
pub fn from_wire(wire: WireRecord, input: &ConnectRecord) -> Result<ConnectRecord, ConnectorError> {
    if wire.topic.is_empty() {
        return Err(data("the plugin returned a record without a topic".into()));
    }
    let input_wire_key = part(input.key_schema.as_ref(), &input.key)?.1;
    let input_wire_value = part(input.value_schema.as_ref(), &input.value)?.1;
    let (key_schema, key) = part_back(
        "key",
        wire.key,
        wire.key_encoding,
        input.key_schema.as_ref(),
        input_wire_key,
    )?;
    let (value_schema, value) = part_back(
        "value",
        wire.value,
        wire.value_encoding,
        input.value_schema.as_ref(),
        input_wire_value,
    )?;
    Ok(ConnectRecord {
        topic: wire.topic,
        kafka_partition: input.kafka_partition,
        key_schema,
        key,
        value_schema,
        value,
        timestamp: wire.timestamp,
        headers: headers_back(&input.headers, wire.headers),
        source: input.source.clone(),
        kafka_offset: input.kafka_offset,
    })
}

fn json_object(
    what: &str,
    bytes: Option<&Bytes>,
) -> Result<serde_json::Map<String, serde_json::Value>, ConnectorError> {
    let Some(bytes) = bytes else {
        return Err(data(format!("header {what} has no value")));
    };
    match serde_json::from_slice(bytes) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        _ => Err(data(format!("header {what} is not a JSON object"))),
    }
}

/// A source plugin's record: schemaless, its position taken from the reserved headers.
pub fn source_record(wire: WireRecord) -> Result<ConnectRecord, ConnectorError> {
    if wire.topic.is_empty() {
        return Err(data(format!(
            "the plugin returned record {} without a topic",
            wire.index
        )));
    }
    let (mut partition, mut offset) = (None, None);
    let mut headers = Vec::with_capacity(wire.headers.len());
    for (key, bytes) in wire.headers {
        match key.as_str() {
            SOURCE_PARTITION => partition = Some(json_object(SOURCE_PARTITION, bytes.as_ref())?),
            SOURCE_OFFSET => offset = Some(json_object(SOURCE_OFFSET, bytes.as_ref())?),
            _ => headers.push((key, bytes)),
        }
    }
    let (key_schema, key) = part_back("key", wire.key, wire.key_encoding, None, Encoding::Json)?;
    let (value_schema, value) = part_back(
        "value",
        wire.value,
        wire.value_encoding,
        None,
        Encoding::Json,
    )?;
    let mut record = ConnectRecord::new(wire.topic, key_schema, key, value_schema, value);
    record.timestamp = wire.timestamp;
    record.headers = connect_headers(&headers);
    record.source = match (partition, offset) {
        (Some(partition), Some(offset)) => Some(SourcePosition { partition, offset }),
        (None, None) => None,
        _ => {
            return Err(data(format!(
                "record {} has only one of the headers {SOURCE_PARTITION} and {SOURCE_OFFSET}",
                wire.index
            )));
        }
    };
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_connect_api::{SchemaBuilder, Struct};

    fn schema() -> SchemaRef {
        SchemaBuilder::structure()
            .field("id", SchemaBuilder::int32().build())
            .field("email", SchemaBuilder::string().optional().build())
            .build()
    }

    #[test]
    fn structs_cross_as_json_and_come_back_typed() {
        let s = schema();
        let mut value = Struct::new(s.clone());
        value.put("id", Value::Int32(7)).expect("id");
        value
            .put("email", Value::String("a@b.c".into()))
            .expect("email");
        let mut record = ConnectRecord::new(
            "t",
            None,
            Value::String("k".into()),
            Some(s.clone()),
            Value::Struct(value),
        );
        record.headers.add("h", None, Value::String("v".into()));
        let wire = to_wire(3, &record).expect("wire");
        assert_eq!(
            wire.value.as_deref(),
            Some(&br#"{"id":7,"email":"a@b.c"}"#[..])
        );
        assert_eq!(
            (wire.key_encoding, wire.value_encoding),
            (Encoding::String, Encoding::Json)
        );

        let mut masked = wire.clone();
        masked.value = Some(Bytes::from_static(br#"{"id":7,"email":"****"}"#));
        let back = from_wire(masked, &record).expect("back");
        assert_eq!(back.value_schema, Some(s.clone()));
        let v = back.value.as_struct().expect("struct");
        assert_eq!(v.get("email"), Some(&Value::String("****".into())));
        assert_eq!(back.headers, record.headers);

        let mut wrong = wire;
        wrong.value = Some(Bytes::from_static(br#"{"id":"seven"}"#));
        let e = from_wire(wrong, &record).expect_err("type");
        assert!(e.to_string().contains("does not read back"), "{e}");
    }

    #[test]
    fn source_positions_come_from_reserved_headers() {
        let wire = WireRecord {
            topic: "counter".into(),
            key: Some(Bytes::from_static(b"1")),
            key_encoding: Encoding::String,
            value: Some(Bytes::from_static(br#"{"n":1}"#)),
            value_encoding: Encoding::Json,
            headers: vec![
                (
                    SOURCE_PARTITION.into(),
                    Some(Bytes::from_static(br#"{"counter":"c"}"#)),
                ),
                (
                    SOURCE_OFFSET.into(),
                    Some(Bytes::from_static(br#"{"next":2}"#)),
                ),
                ("x".into(), Some(Bytes::from_static(b"y"))),
            ],
            ..WireRecord::default()
        };
        let r = source_record(wire.clone()).expect("record");
        let pos = r.source.expect("position");
        assert_eq!(pos.offset.get("next"), Some(&serde_json::json!(2)));
        assert_eq!(r.headers.iter().count(), 1);
        let mut half = wire;
        half.headers.remove(1);
        assert!(source_record(half).is_err());
    }
}
