//! `MaskField$Key` / `MaskField$Value`: replaces fields with their type's "empty" value
//! (0, false, "", epoch, empty array or map) or with a configured `replacement`.

use weir_connect_api::schema::logical;
use weir_connect_api::{
    ConfigDef, ConfigMap, ConfigType, ConnectRecord, DataError, Importance, Result, Schema,
    Transform, Value,
};

use super::util::{self, Target};

const PURPOSE: &str = "mask fields";

#[derive(Debug)]
pub struct MaskField {
    target: Target,
    fields: Vec<String>,
    replacement: Option<String>,
    replace_null_with_default: bool,
}

impl MaskField {
    pub fn new(target: Target) -> Self {
        Self {
            target,
            fields: Vec::new(),
            replacement: None,
            replace_null_with_default: true,
        }
    }

    fn masked(&self, value: &Value, schema: Option<&Schema>) -> Result<Value, DataError> {
        if value.is_null() {
            return Ok(Value::Null);
        }
        let decimal = schema.is_some_and(|s| s.is_logical(logical::DECIMAL));
        let temporal = schema.is_some_and(|s| {
            s.is_logical(logical::DATE)
                || s.is_logical(logical::TIME)
                || s.is_logical(logical::TIMESTAMP)
        });
        // The Java class Kafka would see, for its messages.
        let class = match () {
            _ if decimal => "java.math.BigDecimal",
            _ if temporal => "java.util.Date",
            _ => util::java_class(value),
        };
        match &self.replacement {
            None => Ok(match value {
                Value::Boolean(_) => Value::Boolean(false),
                Value::Int8(_) => Value::Int8(0),
                Value::Int16(_) => Value::Int16(0),
                Value::Int32(_) => Value::Int32(0),
                Value::Int64(_) => Value::Int64(0),
                Value::Float32(_) => Value::Float32(0.0),
                Value::Float64(_) => Value::Float64(0.0),
                Value::String(_) => Value::String(String::new()),
                // BigDecimal.ZERO: unscaled value 0 in one byte.
                Value::Bytes(_) if decimal => Value::Bytes(bytes::Bytes::from_static(&[0])),
                Value::Array(_) => Value::Array(Vec::new()),
                Value::Map(_) => Value::Map(Vec::new()),
                _ => {
                    return Err(DataError::new(format!(
                        "Cannot mask value of type: class {class}"
                    )));
                }
            }),
            Some(r) => {
                let nan = || {
                    DataError::new(format!(
                        "Unable to convert {r} (class java.lang.String) to number"
                    ))
                };
                Ok(match value {
                    _ if decimal || temporal => {
                        return Err(DataError::new(format!(
                            "Cannot mask value of type class {class} with custom replacement."
                        )));
                    }
                    Value::Int8(_) => Value::Int8(r.trim().parse().map_err(|_| nan())?),
                    Value::Int16(_) => Value::Int16(r.trim().parse().map_err(|_| nan())?),
                    Value::Int32(_) => Value::Int32(r.trim().parse().map_err(|_| nan())?),
                    Value::Int64(_) => Value::Int64(r.trim().parse().map_err(|_| nan())?),
                    Value::Float32(_) => Value::Float32(r.trim().parse().map_err(|_| nan())?),
                    Value::Float64(_) => Value::Float64(r.trim().parse().map_err(|_| nan())?),
                    Value::String(_) => Value::String(r.clone()),
                    _ => {
                        return Err(DataError::new(format!(
                            "Cannot mask value of type class {class} with custom replacement."
                        )));
                    }
                })
            }
        }
    }
}

impl Transform for MaskField {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
            .define(
                "fields",
                ConfigType::List,
                None,
                Importance::High,
                "Names of fields to mask.",
            )
            .define(
                "replacement",
                ConfigType::String,
                Some(""),
                Importance::Low,
                "Custom value replacement, that will be applied to all 'fields' values (numeric or non-empty string values only).",
            )
            .merge(&util::replace_null_with_default_def())
    }

    fn configure(&mut self, config: &ConfigMap) -> Result<()> {
        let c = util::parse(&self.config_def(), config)?;
        self.fields = c.list("fields").unwrap_or_default().to_vec();
        util::non_empty_list(config, "fields", &self.fields)?;
        self.replacement = match config.get("replacement") {
            Some(r) if r.trim().is_empty() => {
                return Err(util::invalid("replacement", r, "String must be non-empty"));
            }
            r => r.map(|r| r.trim().to_string()),
        };
        self.replace_null_with_default = c.boolean("replace.null.with.default").unwrap_or(true);
        Ok(())
    }

    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        if self.target.value(&record).is_null() {
            return Ok(Some(record));
        }
        let (schema, value) = self.target.take(&mut record);
        let masks = |name: &str| self.fields.iter().any(|f| f == name);
        match schema {
            None => {
                let mut entries = util::require_map(&value, PURPOSE)?.clone();
                for f in &self.fields {
                    let masked = match util::map_get(&entries, f) {
                        Some(v) => self.masked(v, None)?,
                        None => Value::Null,
                    };
                    util::map_put(&mut entries, f, masked);
                }
                self.target.put(&mut record, None, Value::Map(entries));
            }
            Some(schema) => {
                let old = util::require_struct(&value, PURPOSE)?;
                let mut values = Vec::with_capacity(schema.fields.len());
                for f in &schema.fields {
                    let v = util::field_value(old, &f.name, self.replace_null_with_default);
                    let v = if masks(&f.name) {
                        self.masked(&v, Some(&f.schema))?
                    } else {
                        v
                    };
                    values.push((f.name.clone(), v));
                }
                let s = util::build_struct(schema.clone(), values)?;
                self.target.put(&mut record, Some(schema), Value::Struct(s));
            }
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::util::testing::*;
    use weir_connect_api::SchemaBuilder;

    #[test]
    fn schemaless_masks_by_value_type() {
        let t = configured(
            MaskField::new(Target::Value),
            &[("fields", "int,str,bool,arr,missing")],
        );
        let v = map(&[
            ("int", Value::Int32(42)),
            ("str", s("secret")),
            ("bool", Value::Boolean(true)),
            ("arr", Value::Array(vec![Value::Int8(1)])),
            ("keep", s("x")),
        ]);
        assert_eq!(
            apply(&t, schemaless(v)).value,
            map(&[
                ("int", Value::Int32(0)),
                ("str", s("")),
                ("bool", Value::Boolean(false)),
                ("arr", Value::Array(vec![])),
                ("keep", s("x")),
                ("missing", Value::Null),
            ])
        );
    }

    #[test]
    fn schemad_masks_with_replacement_and_rejects_unmaskable() {
        let t = configured(
            MaskField::new(Target::Value),
            &[("fields", "n,name"), ("replacement", "123")],
        );
        let schema = SchemaBuilder::structure()
            .field("n", SchemaBuilder::int64().build())
            .field("name", SchemaBuilder::string().build())
            .field("b", SchemaBuilder::boolean().build())
            .build();
        let v = util::build_struct(
            schema.clone(),
            [
                ("n".into(), Value::Int64(9)),
                ("name".into(), s("bob")),
                ("b".into(), Value::Boolean(true)),
            ],
        )
        .expect("struct");
        let r = ConnectRecord::new("t", None, Value::Null, Some(schema), Value::Struct(v));
        let out = apply(&t, r.clone());
        let st = out.value.as_struct().expect("struct");
        assert_eq!(st.get("n"), Some(&Value::Int64(123)));
        assert_eq!(st.get("name"), Some(&s("123")));
        assert_eq!(st.get("b"), Some(&Value::Boolean(true)));
        let t = configured(
            MaskField::new(Target::Value),
            &[("fields", "b"), ("replacement", "x")],
        );
        let err = t.apply(r).expect_err("boolean with replacement");
        assert_eq!(
            err.to_string(),
            "Cannot mask value of type class java.lang.Boolean with custom replacement."
        );
        let errs = config_errors(MaskField::new(Target::Value), &[("fields", "")]);
        assert_eq!(
            errs,
            ["Invalid value  for configuration fields: Empty list"]
        );
    }
}
