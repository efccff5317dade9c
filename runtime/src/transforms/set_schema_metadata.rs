//! `SetSchemaMetadata$Key` / `SetSchemaMetadata$Value`: sets the schema's name and/or
//! version (a struct value is rebuilt over the renamed schema).

use weir_connect_api::{
    ConfigDef, ConfigMap, ConfigType, ConnectRecord, Importance, Result, Schema, SchemaRef,
    Transform, Value,
};

use super::util::{self, SchemaCache, Target};

#[derive(Debug)]
pub struct SetSchemaMetadata {
    target: Target,
    name: Option<String>,
    version: Option<i32>,
    replace_null_with_default: bool,
    cache: SchemaCache,
}

impl SetSchemaMetadata {
    pub fn new(target: Target) -> Self {
        Self {
            target,
            name: None,
            version: None,
            replace_null_with_default: true,
            cache: SchemaCache::default(),
        }
    }

    fn updated(&self, schema: &Schema) -> SchemaRef {
        let mut s = schema.clone();
        if let Some(n) = &self.name {
            s.name = Some(n.clone());
        }
        if let Some(v) = self.version {
            s.version = Some(v);
        }
        std::sync::Arc::new(s)
    }
}

impl Transform for SetSchemaMetadata {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
            .define(
                "schema.name",
                ConfigType::String,
                Some(""),
                Importance::High,
                "Schema name to set.",
            )
            .define(
                "schema.version",
                ConfigType::String,
                Some(""),
                Importance::High,
                "Schema version to set.",
            )
            .merge(&util::replace_null_with_default_def())
    }

    fn configure(&mut self, config: &ConfigMap) -> Result<()> {
        let c = util::parse(&self.config_def(), config)?;
        self.name = c
            .string("schema.name")
            .filter(|n| !n.is_empty())
            .map(str::to_string);
        self.version = match c.string("schema.version").filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => Some(
                v.parse()
                    .map_err(|_| util::invalid("schema.version", v, "Not a number of type INT"))?,
            ),
        };
        self.replace_null_with_default = c.boolean("replace.null.with.default").unwrap_or(true);
        Ok(())
    }

    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        let schema = util::require_schema(self.target.schema(&record), "updating schema metadata")?;
        let updated = self.cache.get_or_build(&schema, |s| Ok(self.updated(s)))?;
        let (_, value) = self.target.take(&mut record);
        let value = match value {
            Value::Struct(old) => {
                let replace = self.replace_null_with_default;
                let values = updated
                    .fields
                    .iter()
                    .map(|f| (f.name.clone(), util::field_value(&old, &f.name, replace)));
                Value::Struct(util::build_struct(updated.clone(), values)?)
            }
            other => other,
        };
        self.target.put(&mut record, Some(updated), value);
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::util::testing::*;
    use weir_connect_api::SchemaBuilder;

    #[test]
    fn renames_struct_schemas_and_keeps_values() {
        let t = configured(
            SetSchemaMetadata::new(Target::Value),
            &[("schema.name", "foo"), ("schema.version", "42")],
        );
        let schema = SchemaBuilder::structure()
            .name("old")
            .field("a", SchemaBuilder::int32().build())
            .build();
        let v =
            util::build_struct(schema.clone(), [("a".into(), Value::Int32(1))]).expect("struct");
        let r = ConnectRecord::new("t", None, Value::Null, Some(schema), Value::Struct(v));
        let out = apply(&t, r);
        let ns = out.value_schema.expect("schema");
        assert_eq!((ns.name.as_deref(), ns.version), (Some("foo"), Some(42)));
        let st = out.value.as_struct().expect("struct");
        assert_eq!(st.schema(), &ns);
        assert_eq!(st.get("a"), Some(&Value::Int32(1)));
    }

    #[test]
    fn primitive_keeps_value_and_schemaless_fails() {
        let t = configured(
            SetSchemaMetadata::new(Target::Key),
            &[("schema.version", "3")],
        );
        let mut r = schemaless(Value::Null);
        r.key_schema = Some(SchemaBuilder::string().name("n").build());
        r.key = s("k");
        let out = apply(&t, r);
        let ks = out.key_schema.expect("schema");
        assert_eq!((ks.name.as_deref(), ks.version), (Some("n"), Some(3)));
        assert_eq!(out.key, s("k"));
        let err = t.apply(schemaless(Value::Null)).expect_err("no schema");
        assert_eq!(
            err.to_string(),
            "Schema required for [updating schema metadata]"
        );
        let errs = config_errors(
            SetSchemaMetadata::new(Target::Key),
            &[("schema.version", "x")],
        );
        assert_eq!(
            errs,
            ["Invalid value x for configuration schema.version: Not a number of type INT"]
        );
    }
}
