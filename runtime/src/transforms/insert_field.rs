//! `InsertField$Key` / `InsertField$Value`: adds the record's topic, partition, offset,
//! timestamp and a static value as fields.

use weir_connect_api::schema::logical;
use weir_connect_api::{
    ConfigDef, ConfigMap, ConfigType, ConnectRecord, DataError, Importance, Result, SchemaBuilder,
    SchemaRef, Transform, Value,
};

use super::util::{self, SchemaCache, Target};

const PURPOSE: &str = "field insertion";
const OPTIONALITY: &str = "Suffix with <code>!</code> to make this a required field, or <code>?</code> to keep it optional (the default).";

/// A field to insert: `name`, `name?` (optional, the default) or `name!` (required).
#[derive(Debug, Clone)]
struct Spec {
    name: String,
    optional: bool,
}

impl Spec {
    fn parse(raw: Option<&str>) -> Option<Self> {
        let raw = raw.filter(|r| !r.is_empty())?;
        let (name, optional) = match (raw.strip_suffix('?'), raw.strip_suffix('!')) {
            (Some(n), _) => (n, true),
            (_, Some(n)) => (n, false),
            _ => (raw, true),
        };
        Some(Self {
            name: name.to_string(),
            optional,
        })
    }
}

#[derive(Debug)]
pub struct InsertField {
    target: Target,
    topic: Option<Spec>,
    partition: Option<Spec>,
    offset: Option<Spec>,
    timestamp: Option<Spec>,
    static_field: Option<Spec>,
    static_value: Option<String>,
    replace_null_with_default: bool,
    cache: SchemaCache,
}

impl InsertField {
    pub fn new(target: Target) -> Self {
        Self {
            target,
            topic: None,
            partition: None,
            offset: None,
            timestamp: None,
            static_field: None,
            static_value: None,
            replace_null_with_default: true,
            cache: SchemaCache::default(),
        }
    }

    /// The values to insert, in Kafka's order; `None` leaves the field unset.
    fn insertions(&self, r: &ConnectRecord) -> Result<Vec<(String, Option<Value>)>, DataError> {
        let mut out = Vec::new();
        if let Some(s) = &self.topic {
            out.push((s.name.clone(), Some(Value::String(r.topic.clone()))));
        }
        if let Some(s) = &self.partition {
            out.push((s.name.clone(), r.kafka_partition.map(Value::Int32)));
        }
        if let Some(s) = &self.offset {
            let offset = r.kafka_offset.ok_or_else(|| {
                DataError::new(format!(
                    "Only SinkRecord supported for [{PURPOSE}], found: org.apache.kafka.connect.source.SourceRecord"
                ))
            })?;
            out.push((s.name.clone(), Some(Value::Int64(offset))));
        }
        if let Some(s) = &self.timestamp {
            out.push((s.name.clone(), r.timestamp.map(Value::Int64)));
        }
        if let Some(s) = &self.static_field {
            out.push((s.name.clone(), self.static_value.clone().map(Value::String)));
        }
        Ok(out)
    }

    fn updated_schema(&self, schema: &weir_connect_api::Schema) -> SchemaRef {
        let mut b = util::struct_like(schema);
        for f in &schema.fields {
            b = b.field(f.name.clone(), f.schema.clone());
        }
        let opt = |s: &Spec, b: SchemaBuilder| if s.optional { b.optional() } else { b };
        if let Some(s) = &self.topic {
            b = b.field(s.name.clone(), opt(s, SchemaBuilder::string()).build());
        }
        if let Some(s) = &self.partition {
            b = b.field(s.name.clone(), opt(s, SchemaBuilder::int32()).build());
        }
        if let Some(s) = &self.offset {
            b = b.field(s.name.clone(), opt(s, SchemaBuilder::int64()).build());
        }
        if let Some(s) = &self.timestamp {
            b = b.field(s.name.clone(), opt(s, logical::timestamp()).build());
        }
        if let Some(s) = &self.static_field {
            b = b.field(s.name.clone(), opt(s, SchemaBuilder::string()).build());
        }
        b.build()
    }
}

impl Transform for InsertField {
    fn config_def(&self) -> ConfigDef {
        let field = |def: ConfigDef, key: &str, doc: &str| {
            def.define(
                key,
                ConfigType::String,
                Some(""),
                Importance::Medium,
                &format!("{doc}\n{OPTIONALITY}"),
            )
        };
        let def = field(
            ConfigDef::new(),
            "topic.field",
            "Field name for Kafka topic.",
        );
        let def = field(def, "partition.field", "Field name for Kafka partition.");
        let def = field(
            def,
            "offset.field",
            "Field name for Kafka offset - only applicable to sink connectors.",
        );
        let def = field(def, "timestamp.field", "Field name for record timestamp.");
        field(def, "static.field", "Field name for static data field.")
            .define(
                "static.value",
                ConfigType::String,
                Some(""),
                Importance::Medium,
                "Static field value, if field name configured.",
            )
            .merge(&util::replace_null_with_default_def())
    }

    fn configure(&mut self, config: &ConfigMap) -> Result<()> {
        let c = util::parse(&self.config_def(), config)?;
        self.topic = Spec::parse(c.string("topic.field"));
        self.partition = Spec::parse(c.string("partition.field"));
        self.offset = Spec::parse(c.string("offset.field"));
        self.timestamp = Spec::parse(c.string("timestamp.field"));
        self.static_field = Spec::parse(c.string("static.field"));
        // Absent (not empty) means "insert nothing", as Kafka's null default.
        self.static_value = config.get("static.value").map(|v| v.trim().to_string());
        self.replace_null_with_default = c.boolean("replace.null.with.default").unwrap_or(true);
        Ok(())
    }

    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        // Tombstones pass through untouched, as since Kafka 2.x (KAFKA-8523).
        if self.target.value(&record).is_null() {
            return Ok(Some(record));
        }
        let inserts = self.insertions(&record)?;
        let (schema, value) = self.target.take(&mut record);
        match schema {
            None => {
                let mut entries = util::require_map(&value, PURPOSE)?.clone();
                for (name, v) in inserts {
                    if let Some(v) = v {
                        util::map_put(&mut entries, &name, v);
                    }
                }
                self.target.put(&mut record, None, Value::Map(entries));
            }
            Some(schema) => {
                let old = util::require_struct(&value, PURPOSE)?;
                let new_schema = self
                    .cache
                    .get_or_build(&schema, |s| Ok(self.updated_schema(s)))?;
                let replace = self.replace_null_with_default;
                let copied = schema
                    .fields
                    .iter()
                    .map(|f| (f.name.clone(), util::field_value(old, &f.name, replace)));
                let inserted = inserts
                    .into_iter()
                    .filter_map(|(name, v)| v.map(|v| (name, v)));
                let s = util::build_struct(new_schema.clone(), copied.chain(inserted))?;
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

    fn all_fields() -> [(&'static str, &'static str); 5] {
        [
            ("topic.field", "topic_field!"),
            ("partition.field", "partition_field"),
            ("timestamp.field", "timestamp_field?"),
            ("static.field", "instance_id"),
            ("static.value", "my-instance-id"),
        ]
    }

    #[test]
    fn schemaless_inserts_record_metadata() {
        let t = configured(InsertField::new(Target::Value), &all_fields());
        let mut r = schemaless(map(&[("magic", Value::Int64(42))]));
        r.kafka_partition = Some(0);
        r.timestamp = Some(1_483_425_001_864);
        let out = apply(&t, r);
        assert_eq!(
            out.value,
            map(&[
                ("magic", Value::Int64(42)),
                ("topic_field", s("test")),
                ("partition_field", Value::Int32(0)),
                ("timestamp_field", Value::Int64(1_483_425_001_864)),
                ("instance_id", s("my-instance-id")),
            ])
        );
    }

    #[test]
    fn schemad_builds_new_schema_with_optionality() {
        let t = configured(InsertField::new(Target::Value), &all_fields());
        let schema = SchemaBuilder::structure()
            .name("name")
            .version(1)
            .doc("doc")
            .field("magic", SchemaBuilder::int64().optional().build())
            .build();
        let v = util::build_struct(schema.clone(), [("magic".into(), Value::Int64(42))])
            .expect("valid struct");
        let mut r = ConnectRecord::new("test", None, Value::Null, Some(schema), Value::Struct(v));
        r.kafka_partition = Some(0);
        let out = apply(&t, r);
        let ns = out.value_schema.expect("schema");
        assert_eq!(ns.name.as_deref(), Some("name"));
        assert_eq!(ns.version, Some(1));
        let opt = |n: &str| ns.field(n).map(|f| f.schema.optional);
        assert_eq!(opt("topic_field"), Some(false));
        assert_eq!(opt("partition_field"), Some(true));
        assert_eq!(opt("timestamp_field"), Some(true));
        assert!(
            ns.field("timestamp_field")
                .is_some_and(|f| f.schema.is_logical(logical::TIMESTAMP))
        );
        let st = out.value.as_struct().expect("struct");
        assert_eq!(st.get("topic_field"), Some(&s("test")));
        assert_eq!(st.get("partition_field"), Some(&Value::Int32(0)));
        assert_eq!(st.get("timestamp_field"), Some(&Value::Null));
        assert_eq!(st.get("instance_id"), Some(&s("my-instance-id")));
    }

    #[test]
    fn tombstones_pass_and_wrong_types_fail_like_kafka() {
        let t = configured(InsertField::new(Target::Value), &[("topic.field", "t")]);
        let r = schemaless(Value::Null);
        assert_eq!(apply(&t, r.clone()), r);
        let err = t.apply(schemaless(s("x"))).expect_err("not a map");
        assert_eq!(
            err.to_string(),
            "Only Map objects supported in absence of schema for [field insertion], found: java.lang.String"
        );
        let off = configured(InsertField::new(Target::Key), &[("offset.field", "o")]);
        let mut r = schemaless(Value::Null);
        r.key = map(&[]);
        let err = off.apply(r.clone()).expect_err("source record");
        assert!(
            err.to_string()
                .starts_with("Only SinkRecord supported for [field insertion]")
        );
        r.kafka_offset = Some(7);
        assert_eq!(apply(&off, r).key, map(&[("o", Value::Int64(7))]));
    }
}
