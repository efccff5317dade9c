//! The header SMTs: `HeaderFrom$Key` / `HeaderFrom$Value` (move or copy fields into
//! headers), `InsertHeader` (a literal) and `DropHeaders`.

use weir_connect_api::config::Validator;
use weir_connect_api::{
    ConfigDef, ConfigMap, ConfigType, ConnectRecord, Importance, Result, SchemaBuilder, SchemaRef,
    Transform, Value,
};

use super::util::{self, SchemaCache, Target};

#[derive(Debug)]
pub struct HeaderFrom {
    target: Target,
    fields: Vec<String>,
    headers: Vec<String>,
    moving: bool,
    cache: SchemaCache,
}

impl HeaderFrom {
    pub fn new(target: Target) -> Self {
        Self {
            target,
            fields: Vec::new(),
            headers: Vec::new(),
            moving: false,
            cache: SchemaCache::default(),
        }
    }

    fn purpose(&self) -> &'static str {
        if self.moving {
            "header move"
        } else {
            "header copy"
        }
    }
}

impl Transform for HeaderFrom {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
            .define(
                "fields",
                ConfigType::List,
                None,
                Importance::High,
                "Field names in the record whose values are to be copied or moved to headers.",
            )
            .define(
                "headers",
                ConfigType::List,
                None,
                Importance::High,
                "Header names, in the same order as the field names listed in the fields configuration property.",
            )
            .define(
                "operation",
                ConfigType::String,
                None,
                Importance::High,
                "Either <code>move</code> if the fields are to be moved to the headers (removed from the key/value), or <code>copy</code> if the fields are to be copied to the headers (retained in the key/value).",
            )
            .with_validator(Validator::OneOf(vec!["move".into(), "copy".into()]))
    }

    fn configure(&mut self, config: &ConfigMap) -> Result<()> {
        let c = util::parse(&self.config_def(), config)?;
        self.fields = c.list("fields").unwrap_or_default().to_vec();
        self.headers = c.list("headers").unwrap_or_default().to_vec();
        util::non_empty_list(config, "fields", &self.fields)?;
        util::non_empty_list(config, "headers", &self.headers)?;
        if self.fields.len() != self.headers.len() {
            return Err(weir_connect_api::ConnectorError::Config(vec![
                weir_connect_api::config::ConfigError::new(
                    "headers",
                    "'fields' config must have the same number of elements as 'headers' config.",
                ),
            ]));
        }
        self.moving = c
            .string("operation")
            .is_some_and(|o| o.eq_ignore_ascii_case("move"));
        Ok(())
    }

    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        let (schema, value) = self.target.take(&mut record);
        let pairs = self.fields.iter().zip(&self.headers);
        match schema {
            None => {
                let mut entries = util::require_map(&value, self.purpose())?.clone();
                for (field, header) in pairs {
                    let v = util::map_get(&entries, field).cloned();
                    if self.moving {
                        util::map_remove(&mut entries, field);
                    }
                    record.headers.add(header, None, v.unwrap_or(Value::Null));
                }
                self.target.put(&mut record, None, Value::Map(entries));
            }
            Some(schema) => {
                let old = util::require_struct(&value, self.purpose())?;
                for (field, header) in pairs {
                    let f = schema.field(field).ok_or_else(|| {
                        weir_connect_api::DataError::new(format!(
                            "{field} is not a valid field name"
                        ))
                    })?;
                    let v = old.get(field).cloned().unwrap_or(Value::Null);
                    record.headers.add(header, Some(f.schema.clone()), v);
                }
                if !self.moving {
                    self.target.put(&mut record, Some(schema), value);
                    return Ok(Some(record));
                }
                let moved = self.cache.get_or_build(&schema, |s| {
                    let mut b = util::struct_like(s);
                    for f in s.fields.iter().filter(|f| !self.fields.contains(&f.name)) {
                        b = b.field(f.name.clone(), f.schema.clone());
                    }
                    Ok(b.build())
                })?;
                let values = moved.fields.iter().map(|f| {
                    (
                        f.name.clone(),
                        old.get(&f.name).cloned().unwrap_or(Value::Null),
                    )
                });
                let s = util::build_struct(moved.clone(), values)?;
                self.target.put(&mut record, Some(moved), Value::Struct(s));
            }
        }
        Ok(Some(record))
    }
}

/// A header literal typed as Kafka's `Values.parseString` would for the common cases:
/// booleans, the smallest integer type that holds the number, doubles, else a string.
fn parse_literal(literal: &str) -> (SchemaRef, Value) {
    let t = literal.trim();
    if t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false") {
        return (
            SchemaBuilder::boolean().build(),
            Value::Boolean(t.eq_ignore_ascii_case("true")),
        );
    }
    if let Ok(n) = t.parse::<i64>() {
        return match (i8::try_from(n), i16::try_from(n), i32::try_from(n)) {
            (Ok(b), _, _) => (SchemaBuilder::int8().build(), Value::Int8(b)),
            (_, Ok(s), _) => (SchemaBuilder::int16().build(), Value::Int16(s)),
            (_, _, Ok(i)) => (SchemaBuilder::int32().build(), Value::Int32(i)),
            _ => (SchemaBuilder::int64().build(), Value::Int64(n)),
        };
    }
    let numeric = t.chars().any(|c| c.is_ascii_digit())
        && t.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c));
    if numeric && let Ok(f) = t.parse::<f64>() {
        return (SchemaBuilder::float64().build(), Value::Float64(f));
    }
    (
        SchemaBuilder::string().build(),
        Value::String(literal.to_string()),
    )
}

#[derive(Debug)]
pub struct InsertHeader {
    header: String,
    schema: SchemaRef,
    value: Value,
}

impl Default for InsertHeader {
    fn default() -> Self {
        Self {
            header: String::new(),
            schema: SchemaBuilder::string().build(),
            value: Value::Null,
        }
    }
}

impl Transform for InsertHeader {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
            .define(
                "header",
                ConfigType::String,
                None,
                Importance::High,
                "The name of the header.",
            )
            .define(
                "value.literal",
                ConfigType::String,
                None,
                Importance::High,
                "The literal value that is to be set as the header value on all records.",
            )
    }

    fn configure(&mut self, config: &ConfigMap) -> Result<()> {
        let c = util::parse(&self.config_def(), config)?;
        self.header = c.string("header").unwrap_or_default().to_string();
        let (schema, value) = parse_literal(c.string("value.literal").unwrap_or_default());
        self.schema = schema;
        self.value = value;
        Ok(())
    }

    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        record
            .headers
            .add(&self.header, Some(self.schema.clone()), self.value.clone());
        Ok(Some(record))
    }
}

#[derive(Debug, Default)]
pub struct DropHeaders {
    headers: Vec<String>,
}

impl Transform for DropHeaders {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new().define(
            "headers",
            ConfigType::List,
            None,
            Importance::High,
            "The name of the headers to be removed.",
        )
    }

    fn configure(&mut self, config: &ConfigMap) -> Result<()> {
        let c = util::parse(&self.config_def(), config)?;
        self.headers = c.list("headers").unwrap_or_default().to_vec();
        util::non_empty_list(config, "headers", &self.headers)
    }

    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        record.headers.0.retain(|h| !self.headers.contains(&h.key));
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::util::testing::*;

    fn header_keys(r: &ConnectRecord) -> Vec<&str> {
        r.headers.iter().map(|h| h.key.as_str()).collect()
    }

    #[test]
    fn header_from_schemaless_move_and_copy() {
        let cfg = |op| [("fields", "a,b"), ("headers", "ha,hb"), ("operation", op)];
        let v = map(&[("a", s("1")), ("c", s("3"))]);
        let moved = apply(
            &configured(HeaderFrom::new(Target::Value), &cfg("move")),
            schemaless(v.clone()),
        );
        assert_eq!(moved.value, map(&[("c", s("3"))]));
        assert_eq!(header_keys(&moved), ["ha", "hb"]);
        assert_eq!(moved.headers.last("ha").map(|h| &h.value), Some(&s("1")));
        assert_eq!(
            moved.headers.last("hb").map(|h| &h.value),
            Some(&Value::Null)
        );
        let copied = apply(
            &configured(HeaderFrom::new(Target::Value), &cfg("copy")),
            schemaless(v.clone()),
        );
        assert_eq!(copied.value, v);
        let errs = config_errors(
            HeaderFrom::new(Target::Key),
            &[("fields", "a,b"), ("headers", "h"), ("operation", "move")],
        );
        assert_eq!(
            errs,
            ["'fields' config must have the same number of elements as 'headers' config."]
        );
        let errs = config_errors(
            HeaderFrom::new(Target::Key),
            &[("fields", "a"), ("headers", "h"), ("operation", "swap")],
        );
        assert_eq!(
            errs,
            ["Invalid value swap for configuration operation: String must be one of: move, copy"]
        );
    }

    #[test]
    fn header_from_schemad_move_drops_fields_from_schema() {
        let schema = SchemaBuilder::structure()
            .name("v")
            .field("a", SchemaBuilder::int32().build())
            .field("b", SchemaBuilder::string().build())
            .build();
        let v = util::build_struct(
            schema.clone(),
            [("a".into(), Value::Int32(1)), ("b".into(), s("x"))],
        )
        .expect("struct");
        let r = ConnectRecord::new("t", None, Value::Null, Some(schema), Value::Struct(v));
        let t = configured(
            HeaderFrom::new(Target::Value),
            &[("fields", "a"), ("headers", "h"), ("operation", "move")],
        );
        let out = apply(&t, r);
        let ns = out.value_schema.clone().expect("schema");
        assert_eq!(ns.fields.len(), 1);
        assert_eq!(ns.name.as_deref(), Some("v"));
        let h = out.headers.last("h").expect("header");
        assert_eq!(h.value, Value::Int32(1));
        assert_eq!(
            h.schema.as_ref().map(|s| s.kind),
            Some(weir_connect_api::SchemaType::Int32)
        );
        let err = t.apply(schemaless(s("x"))).expect_err("string value");
        assert_eq!(
            err.to_string(),
            "Only Map objects supported in absence of schema for [header move], found: java.lang.String"
        );
    }

    #[test]
    fn insert_and_drop_headers() {
        let ins = configured(
            InsertHeader::default(),
            &[("header", "app"), ("value.literal", "weir")],
        );
        let num = configured(
            InsertHeader::default(),
            &[("header", "n"), ("value.literal", "42")],
        );
        let r = apply(&num, apply(&ins, schemaless(Value::Null)));
        assert_eq!(r.headers.last("app").map(|h| &h.value), Some(&s("weir")));
        assert_eq!(
            r.headers.last("n").map(|h| &h.value),
            Some(&Value::Int8(42))
        );
        let drop = configured(DropHeaders::default(), &[("headers", "app,other")]);
        assert_eq!(header_keys(&apply(&drop, r)), ["n"]);
        assert_eq!(parse_literal("1.5").1, Value::Float64(1.5));
        assert_eq!(parse_literal("nan").1, s("nan"));
        let errs = config_errors(InsertHeader::default(), &[("header", "h")]);
        assert_eq!(
            errs,
            ["Missing required configuration \"value.literal\" which has no default value."]
        );
    }
}
