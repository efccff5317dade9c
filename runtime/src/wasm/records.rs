//! Connect records to and from the WASM batch framing (ABI.md, "What key and value hold"):
//! bytes stay bytes, strings stay strings, everything else crosses as schemaless JSON and is
//! read back with the input's schema.

use bytes::Bytes;
use weir_connect_api::{
    ConnectRecord, ConnectorError, DataError, Headers, SchemaRef, SchemaType, SourcePosition, Value,
};
use weir_wasm::{Encoding, WireRecord, WireRef, framing};

use crate::converters::json::{plugin_json, plugin_value};
use crate::transforms::fan_out;
use crate::worker::task::{connect_headers, header_bytes};

/// Reserved headers a source plugin puts its position in.
pub const SOURCE_PARTITION: &str = "weir.source.partition";
pub const SOURCE_OFFSET: &str = "weir.source.offset";

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

/// What encoding a record for a guest needs beyond borrowing it: the JSON text of a key or
/// value that is neither bytes nor a string, and the framed headers. Kept until the output
/// is read, so unchanged parts are recognised without parsing them again.
#[derive(Debug, Default)]
pub struct Prepared {
    key_json: Option<Vec<u8>>,
    value_json: Option<Vec<u8>>,
    headers: Vec<u8>,
    n_headers: u16,
    op: u8,
}

fn json_of(schema: Option<&SchemaRef>, value: &Value) -> Result<Option<Vec<u8>>, ConnectorError> {
    Ok(match value {
        Value::Null | Value::Bytes(_) | Value::String(_) => None,
        other => Some(plugin_json(schema.map(|s| &**s), other)?.into_bytes()),
    })
}

/// Prepares `records` for [`wire_refs`].
pub fn prepare(records: &[ConnectRecord]) -> Result<Vec<Prepared>, ConnectorError> {
    records
        .iter()
        .map(|r| {
            let mut p = Prepared {
                key_json: json_of(r.key_schema.as_ref(), &r.key)?,
                value_json: json_of(r.value_schema.as_ref(), &r.value)?,
                op: op_of(&r.value),
                ..Prepared::default()
            };
            if !r.headers.0.is_empty() {
                let pairs = r.headers.iter().map(|h| (h.key.as_str(), header_bytes(h)));
                p.n_headers = framing::Headers::frame(pairs, &mut p.headers).len() as u16;
            }
            Ok(p)
        })
        .collect()
}

fn part_ref<'a>(value: &'a Value, json: Option<&'a [u8]>) -> (Option<&'a [u8]>, Encoding) {
    match (value, json) {
        (_, Some(j)) => (Some(j), Encoding::Json),
        (Value::Bytes(b), _) => (Some(b), Encoding::Bytes),
        (Value::String(s), _) => (Some(s.as_bytes()), Encoding::String),
        _ => (None, Encoding::Bytes),
    }
}

/// `records` as an input batch (index = position), borrowing them and their preparations.
pub fn wire_refs<'a>(records: &'a [ConnectRecord], prepared: &'a [Prepared]) -> Vec<WireRef<'a>> {
    records
        .iter()
        .zip(prepared)
        .enumerate()
        .map(|(i, (r, p))| {
            let (key, key_encoding) = part_ref(&r.key, p.key_json.as_deref());
            let (value, value_encoding) = part_ref(&r.value, p.value_json.as_deref());
            WireRef {
                index: i as u32,
                op: p.op,
                timestamp: r.timestamp,
                topic: &r.topic,
                key,
                key_encoding,
                value,
                value_encoding,
                headers: framing::Headers::from_framed(p.n_headers, &p.headers),
            }
        })
        .collect()
}

/// An encoded input batch (for calls that take a byte slice).
pub fn encode(records: &[ConnectRecord]) -> Result<Vec<u8>, ConnectorError> {
    let prepared = prepare(records)?;
    let refs = wire_refs(records, &prepared);
    let mut out = vec![0u8; framing::encoded_len(&refs)];
    framing::encode_into(&refs, &mut out);
    Ok(out)
}

/// A key or value the guest returned (bytes, encoding, and the JSON it was given): left as
/// it is when unchanged, else read back with the input's schema.
fn update_part(
    what: &str,
    (wire, encoding, json): (Option<&[u8]>, Encoding, Option<&[u8]>),
    schema: &mut Option<SchemaRef>,
    value: &mut Value,
) -> Result<(), ConnectorError> {
    let input_encoding = part_ref(value, json).1;
    if part_ref(value, json) == (wire, encoding) {
        return Ok(());
    }
    (*schema, *value) = part_back(
        what,
        wire.map(Bytes::copy_from_slice),
        encoding,
        schema.as_ref(),
        input_encoding,
    )?;
    Ok(())
}

/// The output record a transform made of `input` from `w`: parts the guest left as they
/// were keep their Connect values (no copy, no parse); changed ones are read back.
fn rebuild(w: &WireRef<'_>, input: &mut ConnectRecord, p: &Prepared) -> Result<(), ConnectorError> {
    if w.topic.is_empty() {
        return Err(data("the plugin returned a record without a topic".into()));
    }
    if w.topic != input.topic {
        input.topic = w.topic.to_string();
    }
    let key = (w.key, w.key_encoding, p.key_json.as_deref());
    update_part("key", key, &mut input.key_schema, &mut input.key)?;
    let value = (w.value, w.value_encoding, p.value_json.as_deref());
    update_part("value", value, &mut input.value_schema, &mut input.value)?;
    input.timestamp = w.timestamp;
    if w.headers != framing::Headers::from_framed(p.n_headers, &p.headers) {
        let wire: Vec<(String, Option<Bytes>)> = w
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.map(Bytes::copy_from_slice)))
            .collect();
        input.headers = headers_back(&input.headers, wire);
    }
    Ok(())
}

/// The records a transform's output batch `out` makes of `inputs`, in output order, with
/// the index of the input each came from.
pub fn outputs(
    out: &[u8],
    max_per_input: usize,
    mut inputs: Vec<ConnectRecord>,
    prepared: &[Prepared],
) -> Result<(Vec<ConnectRecord>, Vec<u32>), ConnectorError> {
    let wire =
        framing::decode_ref(out, inputs.len() * max_per_input).map_err(|e| data(e.to_string()))?;
    // The common case, one output per input in order: the records change in place.
    if wire.len() == inputs.len() && wire.iter().enumerate().all(|(i, w)| w.index as usize == i) {
        for ((w, input), p) in wire.iter().zip(inputs.iter_mut()).zip(prepared) {
            rebuild(w, input, p)?;
        }
        let origins = (0..inputs.len() as u32).collect();
        return Ok((inputs, origins));
    }
    let mut counts = vec![0usize; inputs.len()];
    for w in &wire {
        let i = w.index as usize;
        let Some(n) = counts.get_mut(i) else {
            return Err(data(format!(
                "returned a record with index {i} for a batch of {}",
                inputs.len()
            )));
        };
        *n += 1;
        if *n > max_per_input {
            return Err(data(format!(
                "returned more than {max_per_input} records for one input"
            )));
        }
    }
    let origins: Vec<u32> = wire.iter().map(|w| w.index).collect();
    let mut records = fan_out(inputs, &origins);
    for ((w, record), &i) in wire.iter().zip(records.iter_mut()).zip(&origins) {
        rebuild(w, record, &prepared[i as usize])?;
    }
    Ok((records, origins))
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

    /// What an identity guest returns: the input batch itself, optionally edited.
    fn round_trip(
        record: &ConnectRecord,
        edit: impl FnOnce(&mut WireRecord),
    ) -> Result<ConnectRecord, ConnectorError> {
        let input = vec![record.clone()];
        let prepared = prepare(&input).expect("prepare");
        let bytes = encode(&input).expect("encode");
        let mut wire = framing::decode(&bytes, 1).expect("decode");
        edit(&mut wire[0]);
        let out = framing::encode(&wire);
        let (mut records, _) = outputs(&out, 10, input, &prepared)?;
        Ok(records.pop().expect("one output"))
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
        let bytes = encode(std::slice::from_ref(&record)).expect("encode");
        let wire = framing::decode(&bytes, 1).expect("decode");
        assert_eq!(
            wire[0].value.as_deref(),
            Some(&br#"{"id":7,"email":"a@b.c"}"#[..])
        );
        assert_eq!(
            (wire[0].key_encoding, wire[0].value_encoding),
            (Encoding::String, Encoding::Json)
        );
        assert_eq!(round_trip(&record, |_| {}).expect("same"), record);

        let back = round_trip(&record, |w| {
            w.value = Some(Bytes::from_static(br#"{"id":7,"email":"****"}"#));
            w.topic = "masked".into();
        })
        .expect("back");
        assert_eq!(back.value_schema, Some(s.clone()));
        assert_eq!(back.topic, "masked");
        let v = back.value.as_struct().expect("struct");
        assert_eq!(v.get("email"), Some(&Value::String("****".into())));
        assert_eq!(back.headers, record.headers);

        let e = round_trip(&record, |w| {
            w.value = Some(Bytes::from_static(br#"{"id":"seven"}"#));
        })
        .expect_err("type");
        assert!(e.to_string().contains("does not read back"), "{e}");
        let e = round_trip(&record, |w| w.index = 4).expect_err("index");
        assert!(e.to_string().contains("index 4 for a batch of 1"), "{e}");
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
