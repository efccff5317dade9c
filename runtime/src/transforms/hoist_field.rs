//! `HoistField$Key` / `HoistField$Value`: wraps the whole key or value in a struct (or a map,
//! schemaless) under one field.

use weir_connect_api::{
    ConfigDef, ConfigMap, ConfigType, ConnectRecord, Importance, Result, SchemaBuilder, Transform,
    Value,
};

use super::util::{self, SchemaCache, Target};

#[derive(Debug)]
pub struct HoistField {
    target: Target,
    field: String,
    cache: SchemaCache,
}

impl HoistField {
    pub fn new(target: Target) -> Self {
        Self {
            target,
            field: String::new(),
            cache: SchemaCache::default(),
        }
    }
}

impl Transform for HoistField {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new().define(
            "field",
            ConfigType::String,
            None,
            Importance::Medium,
            "Field name for the single field that will be created in the resulting Struct or Map.",
        )
    }

    fn configure(&mut self, config: &ConfigMap) -> Result<()> {
        let c = util::parse(&self.config_def(), config)?;
        self.field = c.string("field").unwrap_or_default().to_string();
        Ok(())
    }

    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        let (schema, value) = self.target.take(&mut record);
        match schema {
            None => {
                let hoisted = vec![(Value::String(self.field.clone()), value)];
                self.target.put(&mut record, None, Value::Map(hoisted));
            }
            Some(schema) => {
                let wrapped = self.cache.get_or_build(&schema, |_| {
                    Ok(SchemaBuilder::structure()
                        .field(self.field.clone(), schema.clone())
                        .build())
                })?;
                let s = util::build_struct(wrapped.clone(), [(self.field.clone(), value)])?;
                self.target
                    .put(&mut record, Some(wrapped), Value::Struct(s));
            }
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::util::testing::*;

    #[test]
    fn schemaless_wraps_in_a_map() {
        let t = configured(HoistField::new(Target::Key), &[("field", "magic")]);
        let mut r = schemaless(Value::Null);
        r.key = Value::Int32(42);
        assert_eq!(apply(&t, r).key, map(&[("magic", Value::Int32(42))]));
    }

    #[test]
    fn schemad_wraps_in_a_struct() {
        let t = configured(HoistField::new(Target::Value), &[("field", "magic")]);
        let r = ConnectRecord::new(
            "t",
            None,
            Value::Null,
            Some(SchemaBuilder::int32().build()),
            Value::Int32(42),
        );
        let out = apply(&t, r.clone());
        let st = out.value.as_struct().expect("struct");
        assert_eq!(st.get("magic"), Some(&Value::Int32(42)));
        assert_eq!(
            out.value_schema
                .and_then(|s| s.field("magic").map(|f| f.schema.kind)),
            Some(weir_connect_api::SchemaType::Int32)
        );
        let mut null = r;
        null.value = Value::Null;
        let err = t.apply(null).expect_err("null in a required field");
        assert!(err.to_string().contains("magic is null"), "{err}");
        let errs = config_errors(HoistField::new(Target::Value), &[]);
        assert_eq!(
            errs,
            ["Missing required configuration \"field\" which has no default value."]
        );
    }
}
