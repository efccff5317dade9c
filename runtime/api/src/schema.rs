//! Kafka Connect schemas: the type of a key, a value or a field.
//!
//! A [`Schema`] is immutable and shared ([`SchemaRef`] is an `Arc`): every record of a table
//! points at the same one. Logical types (Decimal, Date, Time, Timestamp) are schemas with a
//! well-known name over a physical type, exactly as in Kafka Connect, so converters and
//! sinks recognise them by name.

use std::fmt;
use std::sync::Arc;

use crate::value::Value;

/// A shared, immutable schema.
pub type SchemaRef = Arc<Schema>;

/// The physical type of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaType {
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Boolean,
    String,
    Bytes,
    Array,
    Map,
    Struct,
}

impl SchemaType {
    /// Kafka Connect's lower-case name (`Schema.Type.getName()`): `int32`, `float64`, ...
    pub fn name(self) -> &'static str {
        match self {
            SchemaType::Int8 => "int8",
            SchemaType::Int16 => "int16",
            SchemaType::Int32 => "int32",
            SchemaType::Int64 => "int64",
            SchemaType::Float32 => "float32",
            SchemaType::Float64 => "float64",
            SchemaType::Boolean => "boolean",
            SchemaType::String => "string",
            SchemaType::Bytes => "bytes",
            SchemaType::Array => "array",
            SchemaType::Map => "map",
            SchemaType::Struct => "struct",
        }
    }

    /// Parses a name as [`SchemaType::name`] prints it (case-insensitive, as Connect's SMTs).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "int8" => SchemaType::Int8,
            "int16" => SchemaType::Int16,
            "int32" => SchemaType::Int32,
            "int64" => SchemaType::Int64,
            "float32" => SchemaType::Float32,
            "float64" => SchemaType::Float64,
            "boolean" => SchemaType::Boolean,
            "string" => SchemaType::String,
            "bytes" => SchemaType::Bytes,
            "array" => SchemaType::Array,
            "map" => SchemaType::Map,
            "struct" => SchemaType::Struct,
            _ => return None,
        })
    }

    pub fn is_primitive(self) -> bool {
        !matches!(
            self,
            SchemaType::Array | SchemaType::Map | SchemaType::Struct
        )
    }
}

impl fmt::Display for SchemaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Schema parameters in insertion order, as Kafka keeps them (a `LinkedHashMap`): the
/// order shows in the JSON a converter writes, so it is part of the bytes on the topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parameters(Vec<(String, String)>);

impl Parameters {
    pub fn get(&self, key: &str) -> Option<&String> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    /// Sets `key`; a key set again keeps its first position, as in a `LinkedHashMap`.
    pub fn insert(&mut self, key: String, value: String) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.0.push((key, value)),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<'a> IntoIterator for &'a Parameters {
    type Item = (&'a String, &'a String);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, String)>,
        fn(&'a (String, String)) -> (&'a String, &'a String),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

/// A field of a struct schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub index: usize,
    pub schema: SchemaRef,
}

/// The type of a value: physical type, optionality, default, name and version, and the
/// element, key/value or field schemas of arrays, maps and structs.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub kind: SchemaType,
    pub optional: bool,
    pub default: Option<Value>,
    pub name: Option<String>,
    pub version: Option<i32>,
    pub doc: Option<String>,
    pub parameters: Parameters,
    /// Struct fields, in order.
    pub fields: Vec<Field>,
    /// Map keys.
    pub key_schema: Option<SchemaRef>,
    /// Array elements and map values.
    pub value_schema: Option<SchemaRef>,
}

impl Schema {
    /// A schema of `kind` with nothing else set (required, unnamed).
    pub fn of(kind: SchemaType) -> Self {
        Self {
            kind,
            optional: false,
            default: None,
            name: None,
            version: None,
            doc: None,
            parameters: Parameters::default(),
            fields: Vec::new(),
            key_schema: None,
            value_schema: None,
        }
    }

    /// The field called `name`, for struct schemas.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Whether this schema is the logical type called `name`.
    pub fn is_logical(&self, name: &str) -> bool {
        self.name.as_deref() == Some(name)
    }
}

/// Builds schemas the way Connect's `SchemaBuilder` does.
#[derive(Debug, Clone)]
pub struct SchemaBuilder {
    schema: Schema,
}

macro_rules! primitive {
    ($($fn:ident => $kind:ident),* $(,)?) => {
        $(
            #[doc = concat!("A required `", stringify!($fn), "` schema builder.")]
            pub fn $fn() -> Self {
                Self { schema: Schema::of(SchemaType::$kind) }
            }
        )*
    };
}

impl SchemaBuilder {
    primitive! {
        int8 => Int8, int16 => Int16, int32 => Int32, int64 => Int64,
        float32 => Float32, float64 => Float64, boolean => Boolean,
        string => String, bytes => Bytes,
    }

    pub fn structure() -> Self {
        Self {
            schema: Schema::of(SchemaType::Struct),
        }
    }

    pub fn array(elements: SchemaRef) -> Self {
        let mut schema = Schema::of(SchemaType::Array);
        schema.value_schema = Some(elements);
        Self { schema }
    }

    pub fn map(keys: SchemaRef, values: SchemaRef) -> Self {
        let mut schema = Schema::of(SchemaType::Map);
        schema.key_schema = Some(keys);
        schema.value_schema = Some(values);
        Self { schema }
    }

    /// Starts from an existing schema (to rename it, make it optional, ...).
    pub fn from_schema(schema: &Schema) -> Self {
        Self {
            schema: schema.clone(),
        }
    }

    pub fn optional(mut self) -> Self {
        self.schema.optional = true;
        self
    }
    pub fn required(mut self) -> Self {
        self.schema.optional = false;
        self
    }
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.schema.name = Some(name.into());
        self
    }
    pub fn version(mut self, version: i32) -> Self {
        self.schema.version = Some(version);
        self
    }
    pub fn doc(mut self, doc: impl Into<String>) -> Self {
        self.schema.doc = Some(doc.into());
        self
    }
    pub fn default_value(mut self, value: Value) -> Self {
        self.schema.default = Some(value);
        self
    }
    pub fn parameter(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.schema.parameters.insert(key.into(), value.into());
        self
    }
    /// Copies the name, version, doc and parameters of `schema` (Kafka's
    /// `SchemaUtil.copySchemaBasics`).
    pub fn with_basics_of(mut self, schema: &Schema) -> Self {
        if schema.name.is_some() {
            self.schema.name.clone_from(&schema.name);
        }
        if schema.version.is_some() {
            self.schema.version = schema.version;
        }
        if schema.doc.is_some() {
            self.schema.doc.clone_from(&schema.doc);
        }
        for (k, v) in &schema.parameters {
            self = self.parameter(k.clone(), v.clone());
        }
        self
    }
    /// Appends a struct field.
    pub fn field(mut self, name: impl Into<String>, schema: SchemaRef) -> Self {
        let index = self.schema.fields.len();
        self.schema.fields.push(Field {
            name: name.into(),
            index,
            schema,
        });
        self
    }

    pub fn build(self) -> SchemaRef {
        Arc::new(self.schema)
    }
}

/// The logical types of `org.apache.kafka.connect.data`.
pub mod logical {
    use super::{SchemaBuilder, SchemaRef};

    /// Arbitrary-precision decimal: bytes holding the big-endian two's-complement unscaled
    /// value; the `scale` parameter says where the point is.
    pub const DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";
    pub const DECIMAL_SCALE: &str = "scale";
    /// Days since the Unix epoch, as int32.
    pub const DATE: &str = "org.apache.kafka.connect.data.Date";
    /// Milliseconds since midnight, as int32.
    pub const TIME: &str = "org.apache.kafka.connect.data.Time";
    /// Milliseconds since the Unix epoch, as int64.
    pub const TIMESTAMP: &str = "org.apache.kafka.connect.data.Timestamp";

    pub fn decimal(scale: u32) -> SchemaBuilder {
        SchemaBuilder::bytes()
            .name(DECIMAL)
            .version(1)
            .parameter(DECIMAL_SCALE, scale.to_string())
    }
    pub fn date() -> SchemaBuilder {
        SchemaBuilder::int32().name(DATE).version(1)
    }
    pub fn time() -> SchemaBuilder {
        SchemaBuilder::int32().name(TIME).version(1)
    }
    pub fn timestamp() -> SchemaBuilder {
        SchemaBuilder::int64().name(TIMESTAMP).version(1)
    }

    /// The scale of a Decimal schema, if it is one.
    pub fn decimal_scale(schema: &SchemaRef) -> Option<i32> {
        if !schema.is_logical(DECIMAL) {
            return None;
        }
        schema.parameters.get(DECIMAL_SCALE)?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_builds_structs_with_indexed_fields() {
        let s = SchemaBuilder::structure()
            .name("server1.inventory.customers.Value")
            .field("id", SchemaBuilder::int32().build())
            .field("email", SchemaBuilder::string().optional().build())
            .optional()
            .build();
        assert_eq!(s.kind, SchemaType::Struct);
        assert!(s.optional);
        assert_eq!(s.field("email").map(|f| f.index), Some(1));
        assert!(s.field("email").is_some_and(|f| f.schema.optional));
    }

    #[test]
    fn parameters_keep_insertion_order() {
        let s = SchemaBuilder::string()
            .parameter("__debezium.source.column.type", "VARCHAR")
            .parameter("__debezium.source.column.length", "255")
            .parameter("__debezium.source.column.type", "TEXT")
            .build();
        let keys: Vec<&str> = s.parameters.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "__debezium.source.column.type",
                "__debezium.source.column.length"
            ]
        );
        assert_eq!(
            s.parameters
                .get("__debezium.source.column.type")
                .map(String::as_str),
            Some("TEXT")
        );
    }

    #[test]
    fn logical_types_carry_connect_names() {
        let d = logical::decimal(2).build();
        assert_eq!(d.kind, SchemaType::Bytes);
        assert_eq!(logical::decimal_scale(&d), Some(2));
        assert!(logical::timestamp().build().is_logical(logical::TIMESTAMP));
        assert_eq!(SchemaType::parse("FLOAT64"), Some(SchemaType::Float64));
    }
}
