//! `ValueToKey`: replaces the key with a struct (or map) of fields taken from the value.

use weir_connect_api::{
    ConfigDef, ConfigMap, ConfigType, ConnectRecord, DataError, Importance, Result, SchemaBuilder,
    Transform, Value,
};

use super::util::{self, SchemaCache};

const PURPOSE: &str = "copying fields from value to key";

#[derive(Debug)]
pub struct ValueToKey {
    fields: Vec<String>,
    replace_null_with_default: bool,
    cache: SchemaCache,
}

impl Default for ValueToKey {
    fn default() -> Self {
        Self {
            fields: Vec::new(),
            replace_null_with_default: true,
            cache: SchemaCache::default(),
        }
    }
}

impl Transform for ValueToKey {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
            .define(
                "fields",
                ConfigType::List,
                None,
                Importance::High,
                "Field names on the record value to extract as the record key.",
            )
            .merge(&util::replace_null_with_default_def())
    }

    fn configure(&mut self, config: &ConfigMap) -> Result<()> {
        let c = util::parse(&self.config_def(), config)?;
        self.fields = c.list("fields").unwrap_or_default().to_vec();
        util::non_empty_list(config, "fields", &self.fields)?;
        self.replace_null_with_default = c.boolean("replace.null.with.default").unwrap_or(true);
        Ok(())
    }

    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        match record.value_schema.clone() {
            None => {
                let value = util::require_map(&record.value, PURPOSE)?;
                let mut key = Vec::with_capacity(self.fields.len());
                for f in &self.fields {
                    let v = util::map_get(value, f).cloned().unwrap_or(Value::Null);
                    util::map_put(&mut key, f, v);
                }
                record.key_schema = None;
                record.key = Value::Map(key);
            }
            Some(schema) => {
                let value = util::require_struct(&record.value, PURPOSE)?;
                let key_schema = self.cache.get_or_build(&schema, |s| {
                    let mut b = SchemaBuilder::structure();
                    for name in &self.fields {
                        let f = s.field(name).ok_or_else(|| {
                            DataError::new(format!("Field does not exist: {name}"))
                        })?;
                        b = b.field(name.clone(), f.schema.clone());
                    }
                    Ok(b.build())
                })?;
                let replace = self.replace_null_with_default;
                let values = self
                    .fields
                    .iter()
                    .map(|f| (f.clone(), util::field_value(value, f, replace)));
                let key = util::build_struct(key_schema.clone(), values)?;
                record.key_schema = Some(key_schema);
                record.key = Value::Struct(key);
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
    fn schemaless_builds_a_map_key() {
        let t = configured(ValueToKey::default(), &[("fields", "a,b")]);
        let v = map(&[
            ("a", Value::Int32(1)),
            ("b", Value::Int32(2)),
            ("c", Value::Int32(3)),
        ]);
        let out = apply(&t, schemaless(v));
        assert_eq!(
            out.key,
            map(&[("a", Value::Int32(1)), ("b", Value::Int32(2))])
        );
        assert_eq!(out.key_schema, None);
        let err = t.apply(schemaless(Value::Null)).expect_err("tombstone");
        assert_eq!(
            err.to_string(),
            "Only Map objects supported in absence of schema for [copying fields from value to key], found: null"
        );
    }

    #[test]
    fn schemad_builds_a_struct_key_or_names_the_missing_field() {
        let schema = SchemaBuilder::structure()
            .field("a", SchemaBuilder::int32().build())
            .field("b", SchemaBuilder::int32().build())
            .build();
        let v = util::build_struct(
            schema.clone(),
            [("a".into(), Value::Int32(1)), ("b".into(), Value::Int32(2))],
        )
        .expect("struct");
        let r = ConnectRecord::new("t", None, Value::Null, Some(schema), Value::Struct(v));
        let t = configured(ValueToKey::default(), &[("fields", "b")]);
        let out = apply(&t, r.clone());
        let key = out.key.as_struct().expect("struct key");
        assert_eq!(key.get("b"), Some(&Value::Int32(2)));
        assert_eq!(out.key_schema.map(|s| s.fields.len()), Some(1));
        let t = configured(ValueToKey::default(), &[("fields", "nope")]);
        let err = t.apply(r).expect_err("missing field");
        assert_eq!(err.to_string(), "Field does not exist: nope");
    }
}
