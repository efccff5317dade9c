//! `ReplaceField$Key` / `ReplaceField$Value`: keeps (`include`), drops (`exclude`) and
//! renames (`renames=old:new,...`) fields. `blacklist` / `whitelist` are the pre-2.7 names
//! of `exclude` / `include`, still accepted as Kafka does.

use std::collections::HashMap;

use weir_connect_api::{
    ConfigDef, ConfigMap, ConfigType, ConnectRecord, Importance, Result, Schema, SchemaRef,
    Transform, Value,
};

use super::util::{self, SchemaCache, Target};

const PURPOSE: &str = "field replacement";

#[derive(Debug)]
pub struct ReplaceField {
    target: Target,
    exclude: Vec<String>,
    include: Vec<String>,
    renames: HashMap<String, String>,
    replace_null_with_default: bool,
    cache: SchemaCache,
}

impl ReplaceField {
    pub fn new(target: Target) -> Self {
        Self {
            target,
            exclude: Vec::new(),
            include: Vec::new(),
            renames: HashMap::new(),
            replace_null_with_default: true,
            cache: SchemaCache::default(),
        }
    }

    fn keep(&self, name: &str) -> bool {
        !self.exclude.iter().any(|e| e == name)
            && (self.include.is_empty() || self.include.iter().any(|i| i == name))
    }

    fn renamed<'a>(&'a self, name: &'a str) -> &'a str {
        self.renames.get(name).map_or(name, String::as_str)
    }

    fn updated_schema(&self, schema: &Schema) -> SchemaRef {
        let mut b = util::struct_like(schema);
        for f in schema.fields.iter().filter(|f| self.keep(&f.name)) {
            b = b.field(self.renamed(&f.name), f.schema.clone());
        }
        b.build()
    }
}

/// `old:new,...` into a map, or Kafka's "Invalid rename mapping" error.
fn parse_renames(list: &[String]) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for mapping in list {
        let parts: Vec<&str> = mapping.split(':').collect();
        match parts.as_slice() {
            [old, new] => {
                out.insert(old.to_string(), new.to_string());
            }
            _ => {
                return Err(util::invalid(
                    "renames",
                    &util::java_list(list),
                    &format!("Invalid rename mapping: {mapping}"),
                ));
            }
        }
    }
    Ok(out)
}

impl Transform for ReplaceField {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
            .define(
                "exclude",
                ConfigType::List,
                Some(""),
                Importance::Medium,
                "Fields to exclude. This takes precedence over the fields to include.",
            )
            .define(
                "include",
                ConfigType::List,
                Some(""),
                Importance::Medium,
                "Fields to include. If specified, only these fields will be used.",
            )
            .define(
                "renames",
                ConfigType::List,
                Some(""),
                Importance::Medium,
                "Field rename mappings.",
            )
            .merge(&util::replace_null_with_default_def())
    }

    fn configure(&mut self, config: &ConfigMap) -> Result<()> {
        // Kafka's translateDeprecatedConfigs: the new name wins when both are set.
        let mut config = config.clone();
        for (new, old) in [("include", "whitelist"), ("exclude", "blacklist")] {
            if let Some(v) = config.remove(old) {
                config.entry(new.to_string()).or_insert(v);
            }
        }
        let c = util::parse(&self.config_def(), &config)?;
        self.exclude = c.list("exclude").unwrap_or_default().to_vec();
        self.include = c.list("include").unwrap_or_default().to_vec();
        self.renames = parse_renames(c.list("renames").unwrap_or_default())?;
        self.replace_null_with_default = c.boolean("replace.null.with.default").unwrap_or(true);
        Ok(())
    }

    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        if self.target.value(&record).is_null() {
            return Ok(Some(record));
        }
        let (schema, value) = self.target.take(&mut record);
        match schema {
            None => {
                let entries = util::require_map(&value, PURPOSE)?;
                let mut out = Vec::with_capacity(entries.len());
                for (k, v) in entries {
                    let name = k.as_str().unwrap_or_default();
                    if self.keep(name) {
                        util::map_put(&mut out, self.renamed(name), v.clone());
                    }
                }
                self.target.put(&mut record, None, Value::Map(out));
            }
            Some(schema) => {
                let old = util::require_struct(&value, PURPOSE)?;
                let new_schema = self
                    .cache
                    .get_or_build(&schema, |s| Ok(self.updated_schema(s)))?;
                let replace = self.replace_null_with_default;
                let values = schema
                    .fields
                    .iter()
                    .filter(|f| self.keep(&f.name))
                    .map(|f| {
                        let v = util::field_value(old, &f.name, replace);
                        (self.renamed(&f.name).to_string(), v)
                    });
                let s = util::build_struct(new_schema.clone(), values)?;
                self.target
                    .put(&mut record, Some(new_schema), Value::Struct(s));
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

    fn abc() -> Value {
        map(&[
            ("dont", s("whatever")),
            ("abc", Value::Int32(42)),
            ("foo", Value::Boolean(true)),
            ("etc", s("etc")),
        ])
    }

    #[test]
    fn schemaless_exclude_include_and_rename() {
        let t = configured(
            ReplaceField::new(Target::Value),
            &[("exclude", "dont"), ("renames", "abc:xyz,foo:bar")],
        );
        let out = apply(&t, schemaless(abc()));
        assert_eq!(
            out.value,
            map(&[
                ("xyz", Value::Int32(42)),
                ("bar", Value::Boolean(true)),
                ("etc", s("etc"))
            ])
        );
        let t = configured(
            ReplaceField::new(Target::Value),
            &[("whitelist", "abc,foo")],
        );
        let out = apply(&t, schemaless(abc()));
        assert_eq!(
            out.value,
            map(&[("abc", Value::Int32(42)), ("foo", Value::Boolean(true))])
        );
        let t = configured(
            ReplaceField::new(Target::Value),
            &[("blacklist", "abc,foo,etc")],
        );
        assert_eq!(
            apply(&t, schemaless(abc())).value,
            map(&[("dont", s("whatever"))])
        );
    }

    #[test]
    fn schemad_include_and_rename_keeps_schema_metadata() {
        let t = configured(
            ReplaceField::new(Target::Value),
            &[("include", "abc,foo"), ("renames", "abc:xyz")],
        );
        let schema = SchemaBuilder::structure()
            .name("x.Value")
            .field("dont", SchemaBuilder::string().build())
            .field("abc", SchemaBuilder::int32().build())
            .field(
                "foo",
                SchemaBuilder::boolean()
                    .optional()
                    .default_value(Value::Boolean(true))
                    .build(),
            )
            .build();
        let v = util::build_struct(
            schema.clone(),
            [("dont".into(), s("x")), ("abc".into(), Value::Int32(42))],
        )
        .expect("struct");
        let r = ConnectRecord::new("t", None, Value::Null, Some(schema), Value::Struct(v));
        let out = apply(&t, r);
        let ns = out.value_schema.expect("schema");
        assert_eq!(ns.name.as_deref(), Some("x.Value"));
        let names: Vec<&str> = ns.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["xyz", "foo"]);
        let st = out.value.as_struct().expect("struct");
        assert_eq!(st.get("xyz"), Some(&Value::Int32(42)));
        assert_eq!(
            st.get("foo"),
            Some(&Value::Boolean(true)),
            "null replaced by default"
        );
    }

    #[test]
    fn bad_rename_is_a_config_error() {
        let errs = config_errors(ReplaceField::new(Target::Value), &[("renames", "a:b,c")]);
        assert_eq!(
            errs,
            ["Invalid value [a:b, c] for configuration renames: Invalid rename mapping: c"]
        );
        let t = configured(ReplaceField::new(Target::Key), &[("exclude", "a")]);
        let mut r = schemaless(Value::Null);
        r.key = s("k");
        let err = t.apply(r).expect_err("not a map");
        assert_eq!(
            err.to_string(),
            "Only Map objects supported in absence of schema for [field replacement], found: java.lang.String"
        );
    }
}
