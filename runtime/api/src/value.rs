//! Values of the Connect data model, and structs that carry their schema.

use bytes::Bytes;

use crate::error::DataError;
use crate::schema::{Schema, SchemaRef, SchemaType};

/// A value as Connect's data model holds it. Logical types use their physical
/// representation: Decimal as the unscaled big-endian two's-complement bytes, Date as days
/// (Int32), Time as milliseconds of the day (Int32), Timestamp as epoch milliseconds (Int64).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int8(i8),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    Float32(f32),
    Float64(f64),
    Boolean(bool),
    String(String),
    Bytes(Bytes),
    Array(Vec<Value>),
    /// Entries in insertion order (Connect maps may have any key type).
    Map(Vec<(Value, Value)>),
    Struct(Struct),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The physical type this value has, `None` for null.
    pub fn kind(&self) -> Option<SchemaType> {
        Some(match self {
            Value::Null => return None,
            Value::Int8(_) => SchemaType::Int8,
            Value::Int16(_) => SchemaType::Int16,
            Value::Int32(_) => SchemaType::Int32,
            Value::Int64(_) => SchemaType::Int64,
            Value::Float32(_) => SchemaType::Float32,
            Value::Float64(_) => SchemaType::Float64,
            Value::Boolean(_) => SchemaType::Boolean,
            Value::String(_) => SchemaType::String,
            Value::Bytes(_) => SchemaType::Bytes,
            Value::Array(_) => SchemaType::Array,
            Value::Map(_) => SchemaType::Map,
            Value::Struct(_) => SchemaType::Struct,
        })
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_struct(&self) -> Option<&Struct> {
        match self {
            Value::Struct(s) => Some(s),
            _ => None,
        }
    }

    /// Checks this value against `schema` (type, optionality, struct schema identity,
    /// element types), naming the path to the first mismatch.
    pub fn validate(&self, schema: &Schema) -> Result<(), DataError> {
        validate(self, schema, "")
    }
}

fn validate(value: &Value, schema: &Schema, path: &str) -> Result<(), DataError> {
    let here = || {
        if path.is_empty() {
            "value".to_string()
        } else {
            path.to_string()
        }
    };
    let Some(kind) = value.kind() else {
        return if schema.optional || schema.default.is_some() {
            Ok(())
        } else {
            Err(DataError::new(format!(
                "{} is null but its schema ({}) is not optional",
                here(),
                schema.kind
            )))
        };
    };
    if kind != schema.kind {
        return Err(DataError::new(format!(
            "{} is {kind} but its schema says {}",
            here(),
            schema.kind
        )));
    }
    match value {
        Value::Array(items) => {
            if let Some(es) = &schema.value_schema {
                for (i, v) in items.iter().enumerate() {
                    validate(v, es, &format!("{}[{i}]", here()))?;
                }
            }
        }
        Value::Map(entries) => {
            for (k, v) in entries {
                if let Some(ks) = &schema.key_schema {
                    validate(k, ks, &format!("{} key", here()))?;
                }
                if let Some(vs) = &schema.value_schema {
                    validate(v, vs, &format!("{} value", here()))?;
                }
            }
        }
        // The same schema object (the common case) needs no field-by-field comparison.
        Value::Struct(s) if !std::ptr::eq(&*s.schema, schema) && *s.schema != *schema => {
            return Err(DataError::new(format!(
                "{} is a struct of another schema ({})",
                here(),
                s.schema.name.as_deref().unwrap_or("unnamed")
            )));
        }
        _ => {}
    }
    Ok(())
}

/// A struct value: one value per field of its schema, in field order.
#[derive(Debug, Clone, PartialEq)]
pub struct Struct {
    schema: SchemaRef,
    values: Vec<Value>,
}

impl Struct {
    /// A struct of `schema` with every field null (set them with [`Struct::put`]).
    pub fn new(schema: SchemaRef) -> Self {
        let values = vec![Value::Null; schema.fields.len()];
        Self { schema, values }
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The value of field `name` (`None` if the schema has no such field).
    pub fn get(&self, name: &str) -> Option<&Value> {
        let f = self.schema.field(name)?;
        self.values.get(f.index)
    }

    /// The value of field `name`, or its schema default when the value is null.
    pub fn get_or_default(&self, name: &str) -> Option<&Value> {
        let f = self.schema.field(name)?;
        match self.values.get(f.index) {
            Some(Value::Null) | None => f.schema.default.as_ref().or(Some(&Value::Null)),
            v => v,
        }
    }

    /// Sets field `name`, checking the value against the field's schema.
    pub fn put(&mut self, name: &str, value: Value) -> Result<&mut Self, DataError> {
        let f = self
            .schema
            .field(name)
            .ok_or_else(|| DataError::new(format!("{name} is not a field of this struct")))?;
        validate(&value, &f.schema, name)?;
        let index = f.index;
        self.values[index] = value;
        Ok(self)
    }

    /// Fields with their values, in schema order.
    pub fn iter(&self) -> impl Iterator<Item = (&crate::schema::Field, &Value)> {
        self.schema.fields.iter().zip(self.values.iter())
    }

    /// Checks every field (a required field must not be null).
    pub fn validate(&self) -> Result<(), DataError> {
        for (f, v) in self.iter() {
            validate(v, &f.schema, &f.name)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::SchemaBuilder;

    fn customers() -> SchemaRef {
        SchemaBuilder::structure()
            .name("customers.Value")
            .field("id", SchemaBuilder::int32().build())
            .field("email", SchemaBuilder::string().optional().build())
            .build()
    }

    #[test]
    fn put_checks_field_types_and_names() {
        let mut s = Struct::new(customers());
        s.put("id", Value::Int32(7)).expect("valid");
        let err = s
            .put("id", Value::String("7".into()))
            .expect_err("wrong type");
        assert_eq!(err.to_string(), "id is string but its schema says int32");
        let err = s.put("nope", Value::Null).expect_err("unknown field");
        assert_eq!(err.to_string(), "nope is not a field of this struct");
        s.validate().expect("email is optional");
        let mut empty = Struct::new(customers());
        empty
            .put("email", Value::String("a@b".into()))
            .expect("valid");
        let err = empty.validate().expect_err("id is required");
        assert!(err.to_string().contains("id is null"), "{err}");
    }

    #[test]
    fn nested_paths_are_named() {
        let schema = SchemaBuilder::array(SchemaBuilder::int64().build()).build();
        let v = Value::Array(vec![Value::Int64(1), Value::Int32(2)]);
        let err = v.validate(&schema).expect_err("element 1");
        assert_eq!(
            err.to_string(),
            "value[1] is int32 but its schema says int64"
        );
    }
}
