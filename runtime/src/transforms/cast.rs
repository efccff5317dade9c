//! `Cast$Key` / `Cast$Value`: casts fields (`spec=field:type,...`) or the whole key or value
//! (`spec=type`) to int8..int64, float32, float64, boolean or string, with Java's
//! conversions (narrowing wraps, strings parse strictly, Decimals and dates as Kafka reads
//! them, bytes to string as base64).

use std::collections::HashMap;

use weir_connect_api::config::ConfigError;
use weir_connect_api::{
    ConfigDef, ConfigMap, ConfigType, ConnectRecord, ConnectorError, DataError, Importance, Result,
    Schema, SchemaBuilder, SchemaRef, SchemaType, Transform, Value,
};

use super::cast_value::cast_value;
use super::util::{self, SchemaCache, Target};

const PURPOSE: &str = "cast types";
const OUTPUTS: &str = "[INT8, INT16, INT32, INT64, FLOAT32, FLOAT64, BOOLEAN, STRING]";

#[derive(Debug)]
pub struct Cast {
    target: Target,
    casts: HashMap<String, SchemaType>,
    whole: Option<SchemaType>,
    replace_null_with_default: bool,
    cache: SchemaCache,
}

impl Cast {
    pub fn new(target: Target) -> Self {
        Self {
            target,
            casts: HashMap::new(),
            whole: None,
            replace_null_with_default: true,
            cache: SchemaCache::default(),
        }
    }

    fn updated_schema(&self, schema: &Schema) -> Result<SchemaRef, DataError> {
        let mut b = match self.whole {
            Some(kind) => builder(kind).with_basics_of(schema),
            None => {
                let mut b = util::struct_like(schema);
                for f in &schema.fields {
                    let fs = match self.casts.get(&f.name) {
                        None => f.schema.clone(),
                        Some(kind) => {
                            let mut fb = builder(*kind);
                            if f.schema.optional {
                                fb = fb.optional();
                            }
                            if let Some(d) = &f.schema.default {
                                fb = fb.default_value(cast_value(Some(&f.schema), d, *kind)?);
                            }
                            fb.build()
                        }
                    };
                    b = b.field(f.name.clone(), fs);
                }
                b
            }
        };
        if schema.optional {
            b = b.optional();
        }
        if let Some(d) = &schema.default {
            let out = self.whole.unwrap_or(SchemaType::Struct);
            if out != SchemaType::Struct {
                b = b.default_value(cast_value(Some(schema), d, out)?);
            }
        }
        Ok(b.build())
    }
}

fn builder(kind: SchemaType) -> SchemaBuilder {
    match kind {
        SchemaType::Int8 => SchemaBuilder::int8(),
        SchemaType::Int16 => SchemaBuilder::int16(),
        SchemaType::Int32 => SchemaBuilder::int32(),
        SchemaType::Int64 => SchemaBuilder::int64(),
        SchemaType::Float32 => SchemaBuilder::float32(),
        SchemaType::Float64 => SchemaBuilder::float64(),
        SchemaType::Boolean => SchemaBuilder::boolean(),
        _ => SchemaBuilder::string(),
    }
}

/// Kafka's `parseFieldTypes`, with its messages.
fn parse_spec(spec: &[String]) -> Result<(HashMap<String, SchemaType>, Option<SchemaType>)> {
    let fail = |msg: String| ConnectorError::Config(vec![ConfigError::new("spec", msg)]);
    if spec.is_empty() {
        return Err(fail("Must specify at least one field to cast.".into()));
    }
    let output = |name: &str| -> Result<SchemaType> {
        let kind = SchemaType::parse(name.trim()).ok_or_else(|| {
            fail(format!(
                "Invalid type found in casting spec: {}",
                name.trim()
            ))
        })?;
        if !kind.is_primitive() || kind == SchemaType::Bytes {
            return Err(fail(format!(
                "Cast transformation does not support casting to {}; supported types are {OUTPUTS}",
                kind.name().to_uppercase()
            )));
        }
        Ok(kind)
    };
    let mut casts = HashMap::new();
    let mut whole = None;
    for mapping in spec {
        let parts: Vec<&str> = mapping.split(':').collect();
        match parts.as_slice() {
            [kind] => whole = Some(output(kind)?),
            [field, kind] => {
                casts.insert(field.trim().to_string(), output(kind)?);
            }
            _ => {
                return Err(util::invalid(
                    "spec",
                    &util::java_list(spec),
                    &format!("Invalid rename mapping: {mapping}"),
                ));
            }
        }
    }
    if whole.is_some() && spec.len() > 1 {
        return Err(fail(
            "Cast transformations that specify a type to cast the entire value to may ony specify a single cast in their spec".into(),
        ));
    }
    Ok((casts, whole))
}

impl Transform for Cast {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
            .define(
                "spec",
                ConfigType::List,
                None,
                Importance::High,
                "List of fields and the type to cast them to of the form field1:type,field2:type to cast fields of Maps or Structs. A single type to cast the entire value. Valid types are int8, int16, int32, int64, float32, float64, boolean, and string.",
            )
            .merge(&util::replace_null_with_default_def())
    }

    fn configure(&mut self, config: &ConfigMap) -> Result<()> {
        let c = util::parse(&self.config_def(), config)?;
        (self.casts, self.whole) = parse_spec(c.list("spec").unwrap_or_default())?;
        self.replace_null_with_default = c.boolean("replace.null.with.default").unwrap_or(true);
        Ok(())
    }

    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        if self.target.value(&record).is_null() {
            return Ok(Some(record));
        }
        let (schema, value) = self.target.take(&mut record);
        let Some(schema) = schema else {
            let out = match self.whole {
                Some(kind) => cast_value(None, &value, kind)?,
                None => {
                    let mut entries = util::require_map(&value, PURPOSE)?.clone();
                    for (field, kind) in &self.casts {
                        let v = match util::map_get(&entries, field) {
                            Some(v) => cast_value(None, v, *kind)?,
                            None => Value::Null,
                        };
                        util::map_put(&mut entries, field, v);
                    }
                    Value::Map(entries)
                }
            };
            self.target.put(&mut record, None, out);
            return Ok(Some(record));
        };
        let updated = self
            .cache
            .get_or_build(&schema, |s| self.updated_schema(s))?;
        let out = match self.whole {
            Some(kind) => cast_value(Some(&schema), &value, kind)?,
            None => {
                let old = util::require_struct(&value, PURPOSE)?;
                let mut values = Vec::with_capacity(schema.fields.len());
                for f in &schema.fields {
                    let v = util::field_value(old, &f.name, self.replace_null_with_default);
                    let v = match self.casts.get(&f.name) {
                        Some(kind) => cast_value(Some(&f.schema), &v, *kind)?,
                        None => v,
                    };
                    values.push((f.name.clone(), v));
                }
                Value::Struct(util::build_struct(updated.clone(), values)?)
            }
        };
        self.target.put(&mut record, Some(updated), out);
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::util::testing::*;
    use weir_connect_api::schema::logical;

    #[test]
    fn spec_errors_match_kafka() {
        let e = |spec: &str| config_errors(Cast::new(Target::Value), &[("spec", spec)]);
        assert_eq!(e(""), ["Must specify at least one field to cast."]);
        assert_eq!(e("a:foo"), ["Invalid type found in casting spec: foo"]);
        assert_eq!(
            e("a:bytes"),
            [
                "Cast transformation does not support casting to BYTES; supported types are [INT8, INT16, INT32, INT64, FLOAT32, FLOAT64, BOOLEAN, STRING]"
            ]
        );
        assert_eq!(
            e("int8,a:int16"),
            [
                "Cast transformations that specify a type to cast the entire value to may ony specify a single cast in their spec"
            ]
        );
    }

    #[test]
    fn schemaless_field_and_whole_casts() {
        let t = configured(
            Cast::new(Target::Value),
            &[("spec", "a:int8,b:string,c:boolean")],
        );
        let v = map(&[
            ("a", Value::Int32(300)),
            ("b", Value::Float64(1.0)),
            ("c", s("TRUE")),
        ]);
        assert_eq!(
            apply(&t, schemaless(v)).value,
            map(&[
                ("a", Value::Int8(44)),
                ("b", s("1.0")),
                ("c", Value::Boolean(true))
            ])
        );
        let t = configured(Cast::new(Target::Key), &[("spec", "int64")]);
        let mut r = schemaless(Value::Null);
        r.key = s("42");
        assert_eq!(apply(&t, r.clone()).key, Value::Int64(42));
        r.key = s("4x");
        let err = t.apply(r).expect_err("not a number");
        assert_eq!(
            err.to_string(),
            "Value (4x) was out of range for requested data type"
        );
    }

    #[test]
    fn schemad_casts_fields_schemas_and_defaults() {
        let schema = SchemaBuilder::structure()
            .name("v")
            .field("id", SchemaBuilder::int64().build())
            .field("ts", logical::timestamp().build())
            .field(
                "n",
                SchemaBuilder::int32()
                    .optional()
                    .default_value(Value::Int32(5))
                    .build(),
            )
            .build();
        let v = util::build_struct(
            schema.clone(),
            [
                ("id".into(), Value::Int64(7)),
                ("ts".into(), Value::Int64(1_483_425_001_864)),
            ],
        )
        .expect("struct");
        let r = ConnectRecord::new("t", None, Value::Null, Some(schema), Value::Struct(v));
        let t = configured(
            Cast::new(Target::Value),
            &[("spec", "id:string,ts:string,n:float64")],
        );
        let out = apply(&t, r);
        let ns = out.value_schema.clone().expect("schema");
        assert_eq!(ns.name.as_deref(), Some("v"));
        let n = ns.field("n").expect("n");
        assert_eq!(
            (n.schema.kind, n.schema.optional),
            (SchemaType::Float64, true)
        );
        assert_eq!(n.schema.default, Some(Value::Float64(5.0)));
        let st = out.value.as_struct().expect("struct");
        assert_eq!(st.get("id"), Some(&s("7")));
        assert_eq!(st.get("ts"), Some(&s("2017-01-03T06:30:01.864Z")));
        assert_eq!(
            st.get("n"),
            Some(&Value::Float64(5.0)),
            "null replaced by default"
        );
    }
}
