//! `EventRouter`: the transform itself, following Debezium's `EventRouterDelegate` step by
//! step (see the crate documentation for the rules).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use weir_connect_api::{
    ConfigDef, ConfigMap, ConnectRecord, ConnectorError, DataError, Result, Schema, SchemaBuilder,
    SchemaRef, Struct, Transform, Value,
};

use crate::config::{self, InvalidOpBehavior, Placement, Settings};
use crate::json::Expander;
use crate::timestamp;

/// Debezium's change event value schemas are named `<topic>.Envelope`.
const ENVELOPE_SUFFIX: &str = ".Envelope";
/// The value field holding the payload when some column is placed in the envelope.
const ENVELOPE_PAYLOAD: &str = "payload";
/// Envelope schemas kept at most (one per routed value and schema version).
const CACHE_LIMIT: usize = 1024;

/// Debezium's `io.debezium.transforms.outbox.EventRouter`: turns each insert into an outbox
/// table into a domain event on a topic per aggregate type.
#[derive(Debug, Default)]
pub struct EventRouter {
    /// `None` only until configured (Debezium's defaults always parse).
    state: Option<Configured>,
}

#[derive(Debug)]
struct Configured {
    settings: Settings,
    expander: Expander,
    envelopes: Mutex<HashMap<(String, Option<i32>), CachedEnvelope>>,
}

/// An envelope schema and the row and payload schemas it was built from.
#[derive(Debug)]
struct CachedEnvelope {
    row: SchemaRef,
    payload: SchemaRef,
    envelope: SchemaRef,
}

impl EventRouter {
    /// A router with Debezium's defaults; call [`Transform::configure`] to change them.
    pub fn new() -> Self {
        Self {
            state: config::parse(&ConfigMap::new()).ok().map(Configured::new),
        }
    }
}

impl Configured {
    fn new(settings: Settings) -> Self {
        let expander = Expander {
            nulls: settings.null_behavior,
            empty_arrays: settings.empty_array_behavior,
        };
        Self {
            settings,
            expander,
            envelopes: Mutex::new(HashMap::new()),
        }
    }

    fn route(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        let Value::Struct(change) = std::mem::replace(&mut record.value, Value::Null) else {
            return Err(bad(&record, "the change event value is not a struct").into());
        };
        match change.get("op").and_then(Value::as_str) {
            Some("d") | Some("t") => {
                tracing::debug!(topic = %record.topic, "outbox delete or truncate ignored");
                return Ok(None);
            }
            Some("u") => return self.unexpected_update(&record),
            Some("c") | Some("r") => {}
            other => {
                let op = other.unwrap_or("null");
                return Err(bad(&record, &format!("unexpected change operation {op}")).into());
            }
        }
        let Some(Value::Struct(row)) = change.get("after") else {
            return Err(bad(&record, "the change event has no after row").into());
        };
        let s = &self.settings;
        let mut headers = std::mem::take(&mut record.headers);
        let row_schema = row.schema().clone();
        let field = |name: &str| -> Result<(&SchemaRef, &Value), DataError> {
            match (row_schema.field(name), row.get(name)) {
                (Some(f), Some(v)) => Ok((&f.schema, v)),
                _ => Err(bad(
                    &record,
                    &format!("the outbox table has no column {name}"),
                )),
            }
        };

        let (payload_col_schema, payload_raw) = field(&s.field_payload)?;
        let timestamp = self.timestamp(&record, &change, row)?;
        let (id_schema, id) = field(&s.field_event_id)?;
        headers.add("id", Some(id_schema.clone()), id.clone());

        let (payload_schema, mut payload) =
            self.payload(&record, payload_col_schema, payload_raw)?;
        let empty = match &payload {
            Value::Null => true,
            Value::String(text) => text.trim().is_empty(),
            _ => false,
        };

        let routed = match field(&s.route_by_field)? {
            (_, Value::String(v)) => v.clone(),
            (_, Value::Null) => {
                return Err(bad(
                    &record,
                    &format!("the route-by column {} is null", s.route_by_field),
                )
                .into());
            }
            (schema, _) => {
                return Err(bad(
                    &record,
                    &format!(
                        "the route-by column {} is {}, not a string",
                        s.route_by_field, schema.kind
                    ),
                )
                .into());
            }
        };

        let mut envelope = if s.has_envelope_fields() {
            let version = match &s.field_schema_version {
                None => None,
                Some(col) => match field(col)? {
                    (_, Value::Int32(v)) => Some(*v),
                    (_, Value::Null) => None,
                    (schema, _) => {
                        return Err(bad(
                            &record,
                            &format!(
                                "the schema version column {col} is {}, not int32",
                                schema.kind
                            ),
                        )
                        .into());
                    }
                },
            };
            let schema = self.envelope_schema(&row_schema, &payload_schema, &routed, version);
            let mut value = Struct::new(schema);
            value.put(
                ENVELOPE_PAYLOAD,
                std::mem::replace(&mut payload, Value::Null),
            )?;
            Some(value)
        } else {
            None
        };

        let mut partition = None;
        for extra in &s.additional {
            if !s.additional_error_on_missing && row_schema.field(&extra.column).is_none() {
                continue;
            }
            let (schema, value) = field(&extra.column)?;
            match extra.placement {
                Placement::Envelope => {
                    if let Some(e) = envelope.as_mut() {
                        e.put(&extra.alias, value.clone())?;
                    }
                }
                Placement::Header => headers.add(&extra.alias, Some(schema.clone()), value.clone()),
                Placement::Partition => {
                    partition = match value {
                        Value::Int32(p) => Some(*p),
                        Value::Null => None,
                        _ => {
                            return Err(bad(
                                &record,
                                &format!(
                                    "the partition column {} is {}, not int32",
                                    extra.column, schema.kind
                                ),
                            )
                            .into());
                        }
                    }
                }
            }
        }

        let (value_schema, value) = if empty && s.tombstone_on_empty_payload {
            (None, Value::Null)
        } else if let Some(e) = envelope {
            (Some(e.schema().clone()), Value::Struct(e))
        } else {
            (Some(payload_schema), payload)
        };

        // A key column the table lacks is an error, as in Debezium 3.0 (`Struct.get`); a
        // blank `table.field.event.key` means no key.
        let (key_schema, key) = match s.field_event_key.as_deref() {
            Some(k) => {
                let (schema, key) = field(k)?;
                if key.is_null() {
                    let why = format!("the event key column {k} is null");
                    if s.strict {
                        return Err(bad(&record, &why).into());
                    }
                    tracing::warn!(topic = %record.topic, "{why}; the event gets a null key");
                }
                (Some(schema.clone()), key.clone())
            }
            None => (Some(SchemaBuilder::string().build()), Value::Null),
        };

        record.topic = s.rewrite.apply(&routed).into_owned();
        record.kafka_partition = partition;
        record.key_schema = key_schema;
        record.key = key;
        record.value_schema = value_schema;
        record.value = value;
        record.timestamp = timestamp;
        record.headers = headers;
        Ok(Some(record))
    }

    fn unexpected_update(&self, record: &ConnectRecord) -> Result<Option<ConnectRecord>> {
        let key = &record.key;
        match self.settings.op_invalid {
            InvalidOpBehavior::Warn => {
                tracing::warn!(topic = %record.topic, ?key, "Unexpected update message received and ignored");
            }
            InvalidOpBehavior::Error => {
                tracing::error!(topic = %record.topic, ?key, "Unexpected update message received and ignored");
            }
            InvalidOpBehavior::Fatal => {
                return Err(ConnectorError::Data(bad(
                    record,
                    "unexpected update message received, fail (table.op.invalid.behavior=fatal)",
                )));
            }
        }
        Ok(None)
    }

    /// The record timestamp: the configured column (ms, µs or ns since the epoch, or an
    /// ISO-8601 zoned timestamp), else the change event's `ts_ms`.
    fn timestamp(
        &self,
        record: &ConnectRecord,
        change: &Struct,
        row: &Struct,
    ) -> Result<Option<i64>, DataError> {
        let event_ts = match change.get("ts_ms") {
            Some(Value::Int64(ms)) => Some(*ms),
            _ => None,
        };
        let Some(col) = &self.settings.field_event_timestamp else {
            return Ok(event_ts);
        };
        let Some(f) = row.schema().field(col) else {
            return Err(bad(
                record,
                &format!("Unable to find timestamp field {col} in event"),
            ));
        };
        let value = row.get(col).unwrap_or(&Value::Null);
        if value.is_null() {
            return Ok(event_ts);
        }
        timestamp::to_millis(&f.schema, value)
            .map(Some)
            .map_err(|why| bad(record, &format!("timestamp column {col}: {why}")))
    }

    /// The payload with its schema, expanded from JSON text when configured.
    fn payload(
        &self,
        record: &ConnectRecord,
        schema: &SchemaRef,
        raw: &Value,
    ) -> Result<(SchemaRef, Value), DataError> {
        let s = &self.settings;
        let text = match raw {
            // A blank payload is empty (a tombstone with route.tombstone.on.empty.payload),
            // not malformed JSON.
            Value::String(text) if s.expand_json && !text.trim().is_empty() => text,
            Value::String(_) => return Ok((schema.clone(), raw.clone())),
            Value::Null => return Ok((schema.clone(), Value::Null)),
            _ => {
                if s.expand_json {
                    tracing::warn!(topic = %record.topic,
                        "Expand JSON payload is turned on but payload is not a string");
                }
                return Ok((schema.clone(), raw.clone()));
            }
        };
        match self.expander.expand(&s.field_payload, text) {
            Ok((Some(expanded), value)) => Ok((expanded, value)),
            Ok((None, _)) => Ok((schema.clone(), Value::Null)),
            Err(e) if s.strict => Err(bad(record, &format!("{e} (table.expand.json.payload)"))),
            Err(e) => {
                tracing::warn!(topic = %record.topic, error = %e, "JSON expansion failed");
                Ok((schema.clone(), raw.clone()))
            }
        }
    }

    /// The value schema when columns are placed in the envelope: `payload` plus those
    /// columns, named like the row schema with the routed value before its last segment
    /// (`srv.public.outbox.Value` -> `srv.public.outbox.order.Value`).
    fn envelope_schema(
        &self,
        row: &SchemaRef,
        payload: &SchemaRef,
        routed: &str,
        version: Option<i32>,
    ) -> SchemaRef {
        let key = (routed.to_string(), version);
        let mut cache = self
            .envelopes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let same = |a: &SchemaRef, b: &SchemaRef| Arc::ptr_eq(a, b) || **a == **b;
        if let Some(c) = cache.get(&key)
            && same(&c.row, row)
            && same(&c.payload, payload)
        {
            return c.envelope.clone();
        }
        let envelope = build_envelope(&self.settings, row, payload, routed, version);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(
            key,
            CachedEnvelope {
                row: row.clone(),
                payload: payload.clone(),
                envelope: envelope.clone(),
            },
        );
        envelope
    }
}

fn build_envelope(
    settings: &Settings,
    row: &Schema,
    payload: &SchemaRef,
    routed: &str,
    version: Option<i32>,
) -> SchemaRef {
    let name = match row.name.as_deref() {
        Some(n) => match n.rfind('.') {
            Some(dot) => format!("{}{routed}.{}", &n[..=dot], &n[dot + 1..]),
            None => format!("{routed}.{n}"),
        },
        None => routed.to_string(),
    };
    let mut builder = SchemaBuilder::structure()
        .name(name)
        .field(ENVELOPE_PAYLOAD, payload.clone());
    if let Some(v) = version {
        builder = builder.version(v);
    }
    for extra in &settings.additional {
        if extra.placement == Placement::Envelope
            && let Some(f) = row.field(&extra.column)
        {
            builder = builder.field(extra.alias.clone(), f.schema.clone());
        }
    }
    builder.build()
}

/// A data error naming the outbox change it is about.
fn bad(record: &ConnectRecord, why: &str) -> DataError {
    let at = record
        .source
        .as_ref()
        .and_then(|p| p.offset.get("lsn"))
        .map(|lsn| format!(" at lsn {lsn}"))
        .unwrap_or_default();
    DataError::new(format!(
        "outbox event router: {why} (change event from {}{at})",
        record.topic
    ))
}

fn is_envelope(schema: Option<&SchemaRef>) -> bool {
    schema
        .and_then(|s| s.name.as_deref())
        .is_some_and(|n| n.ends_with(ENVELOPE_SUFFIX))
}

impl Transform for EventRouter {
    fn config_def(&self) -> ConfigDef {
        config::config_def()
    }

    fn configure(&mut self, config: &ConfigMap) -> Result<()> {
        let settings = config::parse(config).map_err(ConnectorError::Config)?;
        self.state = Some(Configured::new(settings));
        Ok(())
    }

    fn apply(&self, record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        if record.value.is_null() {
            tracing::debug!(topic = %record.topic, "tombstone ignored by the outbox router");
            return Ok(None);
        }
        if !is_envelope(record.value_schema.as_ref()) {
            return Ok(Some(record));
        }
        match &self.state {
            Some(state) => state.route(record),
            None => Err(bad(&record, "the transform is not configured").into()),
        }
    }
}
