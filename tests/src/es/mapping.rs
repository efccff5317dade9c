//! Mappings: dynamic mapping of new fields, the type check of values against mapped
//! fields, mapping updates (`PUT _mapping`) and field types for queries.

use serde_json::{Map, Value, json};

use super::EsError;

/// The field types Elasticsearch knows (others are refused in a mapping).
const TYPES: &str = "text keyword long integer short byte double float half_float scaled_float \
    unsigned_long date date_nanos boolean binary object nested flattened ip geo_point geo_shape \
    point shape completion search_as_you_type token_count dense_vector sparse_vector \
    rank_feature rank_features wildcard constant_keyword match_only_text alias version histogram \
    integer_range float_range long_range double_range date_range ip_range percolator join \
    semantic_text counted_keyword";

/// What an object does with fields it has no mapping for (`dynamic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dynamic {
    True,
    False,
    Strict,
}

fn dynamic_of(mapping: &Map<String, Value>, inherited: Dynamic) -> Dynamic {
    match mapping.get("dynamic") {
        Some(Value::Bool(false)) => Dynamic::False,
        Some(Value::String(s)) if s == "false" || s == "runtime" => Dynamic::False,
        Some(Value::String(s)) if s == "strict" => Dynamic::Strict,
        Some(Value::Bool(true)) | Some(Value::String(_)) => Dynamic::True,
        _ => inherited,
    }
}

/// Whether a field mapping is an object (its fields under `properties`).
fn is_object(mapping: &Map<String, Value>) -> bool {
    match mapping.get("type").and_then(Value::as_str) {
        None => true,
        Some(t) => t == "object" || t == "nested",
    }
}

/// Maps a document against `mappings` (the root object mapping): `Err` for a value that
/// does not fit its field's type or an unmapped field under `dynamic: strict`; else the
/// mappings with the document's new fields added, `None` if there are none.
pub(super) fn map_document(
    mappings: &Map<String, Value>,
    source: &Map<String, Value>,
    id: &str,
) -> Result<Option<Map<String, Value>>, EsError> {
    let mut updated = mappings.clone();
    let dates = mappings.get("date_detection") != Some(&Value::Bool(false));
    Mapper { id, dates }.object(&mut updated, Dynamic::True, source, "")?;
    Ok((updated != *mappings).then_some(updated))
}

/// Maps one document.
struct Mapper<'a> {
    id: &'a str,
    /// Dynamic date detection (`date_detection`, on by default).
    dates: bool,
}

impl Mapper<'_> {
    /// Maps the fields of `source` into the object mapping `mapping` found at `path`.
    fn object(
        &self,
        mapping: &mut Map<String, Value>,
        inherited: Dynamic,
        source: &Map<String, Value>,
        path: &str,
    ) -> Result<(), EsError> {
        for (key, value) in source {
            if key.split('.').any(|p| p.trim().is_empty()) {
                let reason = format!("field name cannot be an empty string: [{key}]");
                return Err(EsError::mapper_parsing(reason));
            }
            let parts: Vec<&str> = key.split('.').collect();
            self.path(mapping, inherited, &parts, value, path)?;
        }
        Ok(())
    }

    /// Maps `value` at the dotted field name `parts` below the object mapping `mapping`.
    fn path(
        &self,
        mapping: &mut Map<String, Value>,
        inherited: Dynamic,
        parts: &[&str],
        value: &Value,
        path: &str,
    ) -> Result<(), EsError> {
        let dynamic = dynamic_of(mapping, inherited);
        let props = mapping.entry("properties").or_insert_with(|| json!({}));
        let Some(props) = props.as_object_mut() else {
            return Ok(());
        };
        let name = parts[0];
        let full = join(path, name);
        if parts.len() == 1 {
            return self.field(props, dynamic, name, value, &full, path);
        }
        if !props.contains_key(name) {
            match dynamic {
                Dynamic::False => return Ok(()),
                Dynamic::Strict => return Err(strict(name, path)),
                Dynamic::True => {
                    props.insert(name.to_string(), json!({"properties": {}}));
                }
            }
        }
        match props.get_mut(name).and_then(Value::as_object_mut) {
            Some(child) if is_object(child) => self.path(child, dynamic, &parts[1..], value, &full),
            Some(child) => Err(EsError::mapper_parsing(format!(
                "Could not dynamically add mapping for field [{}]. Existing mapping for [{full}] \
                 must be of type object but found [{}].",
                join(&full, &parts[1..].join(".")),
                type_of(child)
            ))),
            None => Ok(()),
        }
    }

    /// Maps `value` as the field `name` of the properties `props`.
    fn field(
        &self,
        props: &mut Map<String, Value>,
        dynamic: Dynamic,
        name: &str,
        value: &Value,
        full: &str,
        parent: &str,
    ) -> Result<(), EsError> {
        match value {
            Value::Null => return Ok(()),
            Value::Array(items) => {
                for item in items {
                    self.field(props, dynamic, name, item, full, parent)?;
                }
                return Ok(());
            }
            _ => {}
        }
        if let Some(mapping) = props.get_mut(name).and_then(Value::as_object_mut) {
            if !is_object(mapping) {
                return self.check(&type_of(mapping), value, full);
            }
            return match value {
                Value::Object(fields) => self.object(mapping, dynamic, fields, full),
                _ => Err(EsError::mapper_parsing(format!(
                    "object mapping for [{full}] tried to parse field [{name}] as object, but \
                     found a concrete value"
                ))),
            };
        }
        match dynamic {
            Dynamic::False => Ok(()),
            Dynamic::Strict => Err(strict(name, parent)),
            Dynamic::True => {
                let mapping = match value {
                    Value::Object(fields) => {
                        let mut mapping = Map::new();
                        self.object(&mut mapping, dynamic, fields, full)?;
                        if mapping.get("properties").is_some_and(|p| p == &json!({})) {
                            json!({"type": "object"})
                        } else {
                            Value::Object(mapping)
                        }
                    }
                    Value::Bool(_) => json!({"type": "boolean"}),
                    Value::Number(n) if n.is_f64() => json!({"type": "float"}),
                    Value::Number(_) => json!({"type": "long"}),
                    Value::String(s) if self.dates && is_date(s, true) => json!({"type": "date"}),
                    _ => json!({
                        "type": "text",
                        "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}
                    }),
                };
                props.insert(name.to_string(), mapping);
                Ok(())
            }
        }
    }

    /// Whether a (non-null, non-array) value fits a field of type `ty`.
    fn check(&self, ty: &str, value: &Value, full: &str) -> Result<(), EsError> {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let number = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
            _ => None,
        };
        let problem = match ty {
            "long" | "integer" | "short" | "byte" | "unsigned_long" => {
                let (min, max) = match ty {
                    "integer" => (f64::from(i32::MIN), f64::from(i32::MAX)),
                    "short" => (f64::from(i16::MIN), f64::from(i16::MAX)),
                    "byte" => (f64::from(i8::MIN), f64::from(i8::MAX)),
                    "unsigned_long" => (0.0, u64::MAX as f64),
                    _ => (i64::MIN as f64, i64::MAX as f64),
                };
                match number {
                    None => Some(not_a_number(value, &text)),
                    Some(n) if n < min || n > max => Some((
                        "illegal_argument_exception",
                        format!("Value [{text}] is out of range for a {ty}"),
                    )),
                    Some(_) => None,
                }
            }
            "float" | "double" | "half_float" | "scaled_float" => {
                number.is_none().then(|| not_a_number(value, &text))
            }
            "boolean" => match value {
                Value::Bool(_) => None,
                Value::String(s) if s == "true" || s == "false" || s.is_empty() => None,
                _ => Some((
                    "illegal_argument_exception",
                    format!(
                        "Failed to parse value [{text}] as only [true] or [false] are allowed."
                    ),
                )),
            },
            "date" | "date_nanos" => match value {
                Value::Number(_) => None,
                Value::String(s) if is_date(s, false) || s.parse::<i64>().is_ok() => None,
                _ => Some((
                    "illegal_argument_exception",
                    format!(
                        "failed to parse date field [{text}] with format \
                         [strict_date_optional_time||epoch_millis]"
                    ),
                )),
            },
            "ip" => match value {
                Value::String(s) if s.parse::<std::net::IpAddr>().is_ok() => None,
                _ => Some((
                    "illegal_argument_exception",
                    format!("'{text}' is not an IP string literal."),
                )),
            },
            "text" | "keyword" | "wildcard" | "match_only_text" | "constant_keyword"
            | "search_as_you_type" | "version" => match value {
                Value::Object(_) => Some((
                    "illegal_state_exception",
                    "Can't get text on a START_OBJECT".to_string(),
                )),
                _ => None,
            },
            _ => None,
        };
        match problem {
            None => Ok(()),
            Some((cause, cause_reason)) => Err(EsError::mapper_parsing(format!(
                "failed to parse field [{full}] of type [{ty}] in document with id '{}'. \
                 Preview of field's value: '{}'",
                self.id,
                preview(value)
            ))
            .caused_by(cause, cause_reason)),
        }
    }
}

/// The cause of a non-numeric value in a numeric field.
fn not_a_number(value: &Value, text: &str) -> (&'static str, String) {
    match value {
        Value::String(_) => (
            "number_format_exception",
            format!("For input string: \"{text}\""),
        ),
        Value::Object(_) => (
            "illegal_state_exception",
            "Can't get text on a START_OBJECT".to_string(),
        ),
        _ => (
            "illegal_argument_exception",
            format!("Current token ({text}) not numeric, can not use numeric value accessors"),
        ),
    }
}

/// A value as Elasticsearch previews it in errors (objects as Java maps print).
fn preview(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}={}", preview(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(preview).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

fn strict(name: &str, parent: &str) -> EsError {
    let within = if parent.is_empty() { "_doc" } else { parent };
    EsError::new(
        400,
        "strict_dynamic_mapping_exception",
        format!(
            "mapping set to strict, dynamic introduction of [{name}] within [{within}] is not \
             allowed"
        ),
    )
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn type_of(mapping: &Map<String, Value>) -> String {
    mapping
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("object")
        .to_string()
}

/// Whether `s` is a `strict_date_optional_time` date (`detect`: as dynamic date detection
/// wants it, with at least a full `yyyy-MM-dd`).
fn is_date(s: &str, detect: bool) -> bool {
    let b = s.as_bytes();
    let digits = |from: usize, n: usize| {
        b.get(from..from + n)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    if !digits(0, 4) {
        return false;
    }
    let mut i = 4;
    while i < 10 && b.get(i) == Some(&b'-') && digits(i + 1, 2) {
        i += 3;
    }
    if i < 10 {
        return !detect && i == b.len();
    }
    if i == b.len() {
        return true;
    }
    if b[i] != b'T' || !digits(i + 1, 2) {
        return false;
    }
    i += 3;
    let mut groups = 0;
    while groups < 2 && b.get(i) == Some(&b':') && digits(i + 1, 2) {
        i += 3;
        groups += 1;
    }
    if groups == 2 && matches!(b.get(i), Some(b'.') | Some(b',')) {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match b.get(i) {
        None => true,
        Some(b'Z') => i + 1 == b.len(),
        Some(b'+') | Some(b'-') => {
            let zone = &s[i + 1..];
            digits(i + 1, 2)
                && (zone.len() == 2
                    || (zone.len() == 4 && digits(i + 3, 2))
                    || (zone.len() == 5 && b[i + 3] == b':' && digits(i + 4, 2)))
        }
        _ => false,
    }
}

/// Merges a mapping update (`{"properties": {...}, "dynamic": ...}`) into `mappings`:
/// new fields are added, object fields merged, a changed type is refused.
pub(super) fn merge(mappings: &mut Map<String, Value>, update: &Value) -> Result<(), EsError> {
    let Some(update) = update.as_object() else {
        return Err(EsError::mapper_parsing(
            "Failed to parse mapping: mapping must be an object",
        ));
    };
    const ROOT: &str = "properties dynamic _source _routing _meta date_detection \
        numeric_detection dynamic_templates dynamic_date_formats runtime enabled subobjects \
        _field_names";
    if let Some((key, value)) = update
        .iter()
        .find(|(k, _)| !ROOT.split_whitespace().any(|r| r == k.as_str()))
    {
        return Err(EsError::mapper_parsing(format!(
            "Root mapping definition has unsupported parameters:  [{key} : {value}]"
        )));
    }
    let mut merged = mappings.clone();
    merge_object(&mut merged, update, "")?;
    *mappings = merged;
    Ok(())
}

fn merge_object(
    target: &mut Map<String, Value>,
    update: &Map<String, Value>,
    path: &str,
) -> Result<(), EsError> {
    for (key, value) in update {
        if key != "properties" {
            if key == "type" && value == "object" {
                continue;
            }
            target.insert(key.clone(), value.clone());
            continue;
        }
        let Some(fields) = value.as_object() else {
            return Err(EsError::mapper_parsing(format!(
                "Failed to parse mapping: [properties] of [{}] must be an object",
                if path.is_empty() { "_doc" } else { path }
            )));
        };
        let props = target.entry("properties").or_insert_with(|| json!({}));
        let Some(props) = props.as_object_mut() else {
            continue;
        };
        for (name, field) in fields {
            let full = join(path, name);
            let Some(field) = field.as_object() else {
                return Err(EsError::mapper_parsing(format!(
                    "Failed to parse mapping: Expected map for property [fields] on field [{full}] \
                     but got a class java.lang.String"
                )));
            };
            let ty = type_of(field);
            if !TYPES.split_whitespace().any(|t| t == ty) {
                return Err(EsError::mapper_parsing(format!(
                    "Failed to parse mapping: No handler for type [{ty}] declared on field [{name}]"
                )));
            }
            let existing = props.entry(name.clone()).or_insert_with(|| json!({}));
            let Some(existing) = existing.as_object_mut() else {
                continue;
            };
            if existing.is_empty() {
                merge_object(existing, field, &full)?;
                continue;
            }
            match (is_object(existing), is_object(field)) {
                (true, true) => merge_object(existing, field, &full)?,
                (false, false) if type_of(existing) == ty => {
                    existing.extend(field.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                (false, false) => {
                    return Err(EsError::illegal_argument(format!(
                        "mapper [{full}] cannot be changed from type [{}] to [{ty}]",
                        type_of(existing)
                    )));
                }
                _ => {
                    return Err(EsError::illegal_argument(format!(
                        "can't merge a non object mapping [{full}] with an object mapping"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The type of the field at a dotted `path` and the path of its value in the source (a
/// multi-field such as `name.keyword` reads `name`).
pub(super) fn field_type(mappings: &Map<String, Value>, path: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = path.split('.').collect();
    let mut props = mappings.get("properties")?.as_object()?;
    for (i, part) in parts.iter().enumerate() {
        let mapping = props.get(*part)?.as_object()?;
        if i + 1 == parts.len() {
            return Some((type_of(mapping), path.to_string()));
        }
        if let Some(p) = mapping.get("properties").and_then(Value::as_object) {
            props = p;
            continue;
        }
        let sub = mapping
            .get("fields")?
            .as_object()?
            .get(&parts[i + 1..].join("."))?;
        return Some((type_of(sub.as_object()?), parts[..=i].join(".")));
    }
    None
}
