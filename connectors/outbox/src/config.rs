//! The keys of Debezium's `EventRouter`, parsed once into [`Settings`]. Names, defaults and
//! documentation follow Debezium 3.0.8's `EventRouterConfigDefinition`.

use weir_connect_api::config::{ConfigError, Validator};
use weir_connect_api::java_regex::TopicRewrite;
use weir_connect_api::{ConfigDef, ConfigMap, ConfigType, Importance};

pub(crate) const OP_INVALID_BEHAVIOR: &str = "table.op.invalid.behavior";
/// The pre-2.0 name of `table.op.invalid.behavior`, still read as a fallback.
const OLD_OP_INVALID_BEHAVIOR: &str = "debezium.op.invalid.behavior";
pub(crate) const FIELD_EVENT_ID: &str = "table.field.event.id";
pub(crate) const FIELD_EVENT_KEY: &str = "table.field.event.key";
pub(crate) const FIELD_EVENT_TYPE: &str = "table.field.event.type";
pub(crate) const FIELD_EVENT_TIMESTAMP: &str = "table.field.event.timestamp";
pub(crate) const FIELD_PAYLOAD: &str = "table.field.event.payload";
pub(crate) const FIELDS_ADDITIONAL_PLACEMENT: &str = "table.fields.additional.placement";
pub(crate) const FIELDS_ADDITIONAL_ERROR_ON_MISSING: &str =
    "table.fields.additional.error.on.missing";
pub(crate) const FIELD_SCHEMA_VERSION: &str = "table.field.event.schema.version";
pub(crate) const ROUTE_BY_FIELD: &str = "route.by.field";
pub(crate) const ROUTE_TOPIC_REGEX: &str = "route.topic.regex";
pub(crate) const ROUTE_TOPIC_REPLACEMENT: &str = "route.topic.replacement";
pub(crate) const ROUTE_TOMBSTONE_ON_EMPTY_PAYLOAD: &str = "route.tombstone.on.empty.payload";
pub(crate) const EXPAND_JSON_PAYLOAD: &str = "table.expand.json.payload";
/// The pre-2.0 name of `table.expand.json.payload`, still read as a fallback.
const OLD_EXPAND_JSON_PAYLOAD: &str = "debezium.expand.json.payload";
pub(crate) const JSON_PAYLOAD_NULL_BEHAVIOR: &str = "table.json.payload.null.behavior";
pub(crate) const JSON_PAYLOAD_EMPTY_ARRAY_BEHAVIOR: &str =
    "table.json.payload.empty.array.behavior";
pub(crate) const TRACING_SPAN_CONTEXT_FIELD: &str = "tracing.span.context.field";
pub(crate) const TRACING_OPERATION_NAME: &str = "tracing.operation.name";
pub(crate) const TRACING_WITH_CONTEXT_FIELD_ONLY: &str = "tracing.with.context.field.only";
/// weir's key: what a malformed outbox row (null event key, payload that is not JSON with
/// expansion on) does. `fail` (weir's default): the record fails and `errors.tolerance` /
/// the dead-letter queue decide. `warn`: Debezium's behaviour, a warning and the record
/// goes on (null key, payload left as a string).
pub(crate) const MALFORMED_ROW_BEHAVIOR: &str = "table.malformed.row.behavior";

/// What an update of an outbox row does (`table.op.invalid.behavior`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidOpBehavior {
    /// Log a warning, drop the record.
    Warn,
    /// Log an error, drop the record.
    Error,
    /// Fail the record (and so the task, unless `errors.tolerance=all`).
    Fatal,
}

/// Where an additional outbox column goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Header,
    Envelope,
    Partition,
}

/// One `column:placement[:alias]` entry of `table.fields.additional.placement`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdditionalField {
    pub column: String,
    pub placement: Placement,
    pub alias: String,
}

/// How a JSON `null` inside an expanded payload is typed (`table.json.payload.null.behavior`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullBehavior {
    /// The field is left out.
    Ignore,
    /// The field is kept as optional bytes, null.
    OptionalBytes,
}

/// How an empty JSON array is typed (`table.json.payload.empty.array.behavior`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptyArrayBehavior {
    /// The field is left out.
    Ignore,
    /// The field is kept as an empty array of optional strings.
    OptionalString,
}

/// Every setting of the router, parsed and checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub op_invalid: InvalidOpBehavior,
    pub field_event_id: String,
    pub field_event_key: Option<String>,
    pub field_event_timestamp: Option<String>,
    pub field_payload: String,
    pub additional: Vec<AdditionalField>,
    pub additional_error_on_missing: bool,
    pub field_schema_version: Option<String>,
    pub route_by_field: String,
    pub rewrite: TopicRewrite,
    pub tombstone_on_empty_payload: bool,
    pub expand_json: bool,
    pub null_behavior: NullBehavior,
    pub empty_array_behavior: EmptyArrayBehavior,
    /// `true`: malformed rows fail (weir's default); `false`: Debezium's warn-and-continue.
    pub strict: bool,
}

impl Settings {
    /// Whether any additional field goes into the value envelope (else the value is the
    /// payload alone).
    pub fn has_envelope_fields(&self) -> bool {
        self.additional
            .iter()
            .any(|f| f.placement == Placement::Envelope)
    }
}

/// The router's keys, with Debezium's defaults and documentation.
pub fn config_def() -> ConfigDef {
    let low = Importance::Low;
    let string = ConfigType::String;
    ConfigDef::new()
        .define(
            OP_INVALID_BEHAVIOR,
            string,
            Some("warn"),
            Importance::Medium,
            "While Debezium is capturing changes from the outbox table, it is expecting only to process 'create' or 'delete' row events; in case something else is processed this transform can log it as warning, error or stop the process.",
        )
        .with_validator(Validator::one_of(&["warn", "error", "fatal"]))
        .define(
            FIELD_EVENT_ID,
            string,
            Some("id"),
            low,
            "The column which contains the event ID within the outbox table",
        )
        .define(
            FIELD_EVENT_KEY,
            string,
            Some("aggregateid"),
            low,
            "The column which contains the event key within the outbox table",
        )
        .define(
            FIELD_EVENT_TYPE,
            string,
            Some("type"),
            low,
            "The column which contains the event type within the outbox table",
        )
        .define(
            FIELD_EVENT_TIMESTAMP,
            string,
            Some(""),
            Importance::Medium,
            "Optionally you can override the Kafka message timestamp with a value from a chosen column, otherwise it'll be the Debezium event processed timestamp.",
        )
        .define(
            FIELD_PAYLOAD,
            string,
            Some("payload"),
            low,
            "The column which contains the event payload within the outbox table",
        )
        .define(
            FIELDS_ADDITIONAL_PLACEMENT,
            string,
            Some(""),
            Importance::High,
            "Extra fields can be added as part of the event envelope or a message header, format is a list of colon-delimited pairs or trios when you desire to have aliases, e.g. <code>id:header,field_name:envelope:alias,field_name:partition</code> ",
        )
        .define(
            FIELDS_ADDITIONAL_ERROR_ON_MISSING,
            ConfigType::Boolean,
            Some("true"),
            Importance::Medium,
            "When transforming the 'table.fields.additional.placement' fields, should the transform throw an exception if one of the fields is missing in the change data",
        )
        .define(
            FIELD_SCHEMA_VERSION,
            string,
            Some(""),
            low,
            "The column which contains the event schema version within the outbox table",
        )
        .define(
            ROUTE_BY_FIELD,
            string,
            Some("aggregatetype"),
            Importance::High,
            "The column which determines how the events will be routed, the value will become part of the topic name",
        )
        .define(
            ROUTE_TOPIC_REGEX,
            string,
            Some("(?<routedByValue>.*)"),
            low,
            "The default regex to use within the RegexRouter, the default capture will allow to replace the routed field into a new topic name defined in 'route.topic.replacement'",
        )
        .define(
            ROUTE_TOPIC_REPLACEMENT,
            string,
            Some("outbox.event.${routedByValue}"),
            Importance::High,
            "The name of the topic in which the events will be routed, a replacement '${routedByValue}' is available which is the value of The column configured via 'route.by.field'",
        )
        .define(
            ROUTE_TOMBSTONE_ON_EMPTY_PAYLOAD,
            ConfigType::Boolean,
            Some("false"),
            low,
            "Whether or not an empty payload should cause a tombstone event.",
        )
        .define(
            EXPAND_JSON_PAYLOAD,
            ConfigType::Boolean,
            Some("false"),
            Importance::Medium,
            "Whether or not to try unescaping a JSON string and make it real JSON. It will infer schema information from payload and update the record schema accordingly. A payload that is not JSON fails the record (see table.malformed.row.behavior).",
        )
        .define(
            JSON_PAYLOAD_NULL_BEHAVIOR,
            string,
            Some("ignore"),
            Importance::Medium,
            "Behavior when json payload including null value, the default will ignore null, optional_bytes will keep the null value, and treat null as optional bytes of connect.",
        )
        .with_validator(Validator::one_of(&["ignore", "optional_bytes"]))
        .define(
            JSON_PAYLOAD_EMPTY_ARRAY_BEHAVIOR,
            string,
            Some("ignore"),
            Importance::Medium,
            "Behavior when json payload including an empty array, the default will ignore the field, optional_string will keep it as an empty array of optional strings.",
        )
        .with_validator(Validator::one_of(&["ignore", "optional_string"]))
        .define(
            TRACING_SPAN_CONTEXT_FIELD,
            string,
            Some("tracingspancontext"),
            low,
            "The name of the field containing java.util.Properties representation of serialized span context. Accepted for compatibility; weir does not emit OpenTelemetry spans.",
        )
        .define(
            TRACING_OPERATION_NAME,
            string,
            Some("debezium-read"),
            low,
            "The operation name representing Debezium processing span. Accepted for compatibility.",
        )
        .define(
            TRACING_WITH_CONTEXT_FIELD_ONLY,
            ConfigType::Boolean,
            Some("false"),
            low,
            "Set to true when only events that have serialized context field should be traced. Accepted for compatibility.",
        )
        .define(
            MALFORMED_ROW_BEHAVIOR,
            string,
            Some("fail"),
            Importance::Medium,
            "weir: what an outbox row with a null event key, or a payload that is not JSON while table.expand.json.payload is on, does. fail: the record fails, and errors.tolerance and the dead-letter queue decide. warn: Debezium's behaviour, a warning is logged and the event is emitted (null key, payload left as a string).",
        )
        .with_validator(Validator::one_of(&["fail", "warn"]))
}

/// A config value as Debezium's `Configuration.getString` reads it, with an optional
/// deprecated fallback key; blank means unset.
fn string(config: &ConfigMap, key: &str, fallback: Option<&str>, default: &str) -> String {
    let value = config
        .get(key)
        .or_else(|| fallback.and_then(|old| config.get(old)))
        .map_or(default, String::as_str)
        .trim();
    if value.is_empty() {
        default.to_string()
    } else {
        value.to_string()
    }
}

fn optional(config: &ConfigMap, key: &str) -> Option<String> {
    Some(string(config, key, None, "")).filter(|v| !v.is_empty())
}

fn invalid(key: &str, value: &str, why: &str) -> ConfigError {
    ConfigError::new(
        key,
        format!("Invalid value {value} for configuration {key}: {why}"),
    )
}

/// Parses `column:placement[:alias],...`, naming the first bad entry.
fn parse_additional(raw: &str) -> Result<Vec<AdditionalField>, String> {
    let mut out = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let parts: Vec<&str> = entry.split(':').map(str::trim).collect();
        if parts.len() != 2 && parts.len() != 3 {
            return Err(format!(
                "A comma-separated list of valid String pairs or trios is expected but got: {entry}"
            ));
        }
        let placement = match parts[1].to_ascii_lowercase().as_str() {
            "header" => Placement::Header,
            "envelope" => Placement::Envelope,
            "partition" => Placement::Partition,
            other => {
                return Err(format!(
                    "{entry}: placement {other} is not one of header, envelope, partition"
                ));
            }
        };
        if parts[0].is_empty() {
            return Err(format!("{entry}: the column name is empty"));
        }
        let alias = parts.get(2).copied().filter(|a| !a.is_empty());
        out.push(AdditionalField {
            column: parts[0].to_string(),
            placement,
            alias: alias.unwrap_or(parts[0]).to_string(),
        });
    }
    if out
        .iter()
        .filter(|f| f.placement == Placement::Partition)
        .count()
        > 1
    {
        return Err("at most one column can set the partition".to_string());
    }
    Ok(out)
}

/// Parses `config`, returning every problem at once.
pub fn parse(config: &ConfigMap) -> Result<Settings, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut defaults_applied = config.clone();
    // The deprecated names count when the new ones are absent, so the def validates them.
    for (new, old) in [
        (OP_INVALID_BEHAVIOR, OLD_OP_INVALID_BEHAVIOR),
        (EXPAND_JSON_PAYLOAD, OLD_EXPAND_JSON_PAYLOAD),
    ] {
        if !config.contains_key(new)
            && let Some(v) = config.get(old)
        {
            tracing::warn!("{old} is deprecated, use {new} instead");
            defaults_applied.insert(new.to_string(), v.clone());
        }
    }
    let parsed = config_def().parse_into(&defaults_applied, &mut errors);
    let boolean = |key: &str, default: bool| {
        parsed
            .as_ref()
            .and_then(|p| p.boolean(key))
            .unwrap_or(default)
    };
    let lower = |key: &str, default: &str| {
        string(&defaults_applied, key, None, default).to_ascii_lowercase()
    };

    let op_invalid = match lower(OP_INVALID_BEHAVIOR, "warn").as_str() {
        "error" => InvalidOpBehavior::Error,
        "fatal" => InvalidOpBehavior::Fatal,
        _ => InvalidOpBehavior::Warn,
    };
    let placement = string(config, FIELDS_ADDITIONAL_PLACEMENT, None, "");
    let additional = parse_additional(&placement).unwrap_or_else(|why| {
        errors.push(invalid(FIELDS_ADDITIONAL_PLACEMENT, &placement, &why));
        Vec::new()
    });
    let regex = string(config, ROUTE_TOPIC_REGEX, None, "(?<routedByValue>.*)");
    let replacement = string(
        config,
        ROUTE_TOPIC_REPLACEMENT,
        None,
        "outbox.event.${routedByValue}",
    );
    let rewrite = match TopicRewrite::new(&regex, &replacement) {
        Ok(r) => Some(r),
        Err(e) => {
            let (key, value) = match e {
                weir_connect_api::java_regex::JavaRegexError::Pattern(_) => {
                    (ROUTE_TOPIC_REGEX, &regex)
                }
                weir_connect_api::java_regex::JavaRegexError::Replacement(_) => {
                    (ROUTE_TOPIC_REPLACEMENT, &replacement)
                }
            };
            errors.push(invalid(key, value, &e.to_string()));
            None
        }
    };
    let Some(rewrite) = rewrite.filter(|_| errors.is_empty()) else {
        return Err(errors);
    };
    Ok(Settings {
        op_invalid,
        field_event_id: string(config, FIELD_EVENT_ID, None, "id"),
        field_event_key: optional(config, FIELD_EVENT_KEY)
            .or_else(|| (!config.contains_key(FIELD_EVENT_KEY)).then(|| "aggregateid".into())),
        field_event_timestamp: optional(config, FIELD_EVENT_TIMESTAMP),
        field_payload: string(config, FIELD_PAYLOAD, None, "payload"),
        additional,
        additional_error_on_missing: boolean(FIELDS_ADDITIONAL_ERROR_ON_MISSING, true),
        field_schema_version: optional(config, FIELD_SCHEMA_VERSION),
        route_by_field: string(config, ROUTE_BY_FIELD, None, "aggregatetype"),
        rewrite,
        tombstone_on_empty_payload: boolean(ROUTE_TOMBSTONE_ON_EMPTY_PAYLOAD, false),
        expand_json: boolean(EXPAND_JSON_PAYLOAD, false),
        null_behavior: match lower(JSON_PAYLOAD_NULL_BEHAVIOR, "ignore").as_str() {
            "optional_bytes" => NullBehavior::OptionalBytes,
            _ => NullBehavior::Ignore,
        },
        empty_array_behavior: match lower(JSON_PAYLOAD_EMPTY_ARRAY_BEHAVIOR, "ignore").as_str() {
            "optional_string" => EmptyArrayBehavior::OptionalString,
            _ => EmptyArrayBehavior::Ignore,
        },
        strict: lower(MALFORMED_ROW_BEHAVIOR, "fail") != "warn",
    })
}
