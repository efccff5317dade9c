//! `org.apache.kafka.connect.converters.ByteArrayConverter`: record bytes pass through
//! untouched; reads give an optional bytes schema.

use std::sync::OnceLock;

use bytes::Bytes;
use weir_connect_api::converter::SchemaAndValue;
use weir_connect_api::{
    ConfigDef, ConfigMap, Converter, DataError, Result, SchemaBuilder, SchemaRef, SchemaType, Value,
};

#[derive(Debug, Clone, Copy, Default)]
pub struct ByteArrayConverter;

/// Connect's `Schema.OPTIONAL_BYTES_SCHEMA`, shared by every record read.
fn optional_bytes() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| SchemaBuilder::bytes().optional().build())
        .clone()
}

impl Converter for ByteArrayConverter {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
    }

    fn configure(&mut self, _config: &ConfigMap, _is_key: bool) -> Result<()> {
        Ok(())
    }

    fn to_bytes(
        &self,
        _topic: &str,
        schema: Option<&SchemaRef>,
        value: &Value,
    ) -> Result<Option<Bytes>> {
        if let Some(sc) = schema
            && sc.kind != SchemaType::Bytes
        {
            return Err(DataError::new(format!(
                "Invalid schema type for ByteArrayConverter: {}",
                sc.kind.name().to_ascii_uppercase()
            ))
            .into());
        }
        match value {
            Value::Null => Ok(None),
            Value::Bytes(b) => Ok(Some(b.clone())),
            other => Err(DataError::new(format!(
                "ByteArrayConverter is not compatible with values of type {}",
                other
                    .kind()
                    .map_or("null", |k| k.name())
                    .to_ascii_uppercase()
            ))
            .into()),
        }
    }

    fn to_connect(&self, _topic: &str, bytes: Option<&[u8]>) -> Result<SchemaAndValue> {
        let value = bytes.map_or(Value::Null, |b| Value::Bytes(Bytes::copy_from_slice(b)));
        Ok((Some(optional_bytes()), value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_pass_through_and_other_types_are_named() {
        let c = ByteArrayConverter;
        let raw = Bytes::from_static(b"\x00\xFFraw");
        let out = c.to_bytes("t", None, &Value::Bytes(raw.clone()));
        assert_eq!(out.expect("bytes").as_ref(), Some(&raw));
        let (schema, value) = c.to_connect("t", Some(&raw)).expect("bytes");
        assert_eq!(value, Value::Bytes(raw));
        let schema = schema.expect("always a schema");
        assert!(schema.optional && schema.kind == SchemaType::Bytes);
        assert_eq!(
            c.to_connect("t", None).expect("null").1,
            Value::Null,
            "a tombstone stays null"
        );

        let err = c.to_bytes("t", None, &Value::String("x".into()));
        let err = err.expect_err("not bytes").to_string();
        assert_eq!(
            err,
            "ByteArrayConverter is not compatible with values of type STRING"
        );
        let int32 = SchemaBuilder::int32().build();
        let err = c.to_bytes("t", Some(&int32), &Value::Int32(1));
        let err = err.expect_err("wrong schema").to_string();
        assert_eq!(err, "Invalid schema type for ByteArrayConverter: INT32");
    }
}
