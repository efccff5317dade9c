//! Debezium's `io.debezium.converters.BinaryDataConverter` (formerly `ByteBufferConverter`),
//! the usual `value.converter` of an outbox whose payload column is `bytea` (Avro, Protobuf
//! or any bytes the service serialized itself): bytes values are written as they are; any
//! other value (a heartbeat, a transaction record) goes to the converter named by
//! `delegate.converter.type`, configured with the `delegate.converter.type.*` keys.

use bytes::Bytes;
use weir_connect_api::converter::SchemaAndValue;
use weir_connect_api::{
    ConfigDef, ConfigMap, ConfigType, Converter, DataError, Importance, Result, SchemaRef,
    SchemaType, Value,
};

use super::bytes::ByteArrayConverter;
use super::converter_for;

const DELEGATE: &str = "delegate.converter.type";

#[derive(Default)]
pub struct BinaryDataConverter {
    delegate: Option<Box<dyn Converter>>,
}

impl Converter for BinaryDataConverter {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new().define(
            DELEGATE,
            ConfigType::String,
            Some(""),
            Importance::Low,
            "Specifies the delegate converter class",
        )
    }

    fn configure(&mut self, config: &ConfigMap, is_key: bool) -> Result<()> {
        let Some(class) = config
            .get(DELEGATE)
            .map(|c| c.trim())
            .filter(|c| !c.is_empty())
        else {
            self.delegate = None;
            return Ok(());
        };
        let mut delegate = converter_for(class).ok_or_else(|| {
            DataError::new(format!(
                "Invalid value {class} for configuration {DELEGATE}: Class {class} could not be found."
            ))
        })?;
        let prefix = format!("{DELEGATE}.");
        let sub: ConfigMap = config
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|k| (k.to_string(), v.clone())))
            .collect();
        delegate.configure(&sub, is_key)?;
        self.delegate = Some(delegate);
        Ok(())
    }

    fn to_bytes(
        &self,
        topic: &str,
        schema: Option<&SchemaRef>,
        value: &Value,
    ) -> Result<Option<Bytes>> {
        let bytes_schema = schema.is_none_or(|s| s.kind == SchemaType::Bytes);
        match value {
            Value::Bytes(b) if bytes_schema => Ok(Some(b.clone())),
            Value::Null if bytes_schema => Ok(None),
            other => match &self.delegate {
                Some(d) => d.to_bytes(topic, schema, other),
                None => Err(DataError::new(format!(
                    "A {topic} of type '{}' requires a {DELEGATE} to be configured",
                    other.kind().map_or("null", |k| k.name())
                ))
                .into()),
            },
        }
    }

    fn to_connect(&self, topic: &str, bytes: Option<&[u8]>) -> Result<SchemaAndValue> {
        ByteArrayConverter.to_connect(topic, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_connect_api::SchemaBuilder;

    fn configured(pairs: &[(&str, &str)]) -> BinaryDataConverter {
        let mut c = BinaryDataConverter::default();
        let config: ConfigMap = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        c.configure(&config, false).expect("configures");
        c
    }

    #[test]
    fn bytes_pass_through_and_other_values_go_to_the_delegate() {
        let c = configured(&[
            (DELEGATE, "org.apache.kafka.connect.json.JsonConverter"),
            ("delegate.converter.type.schemas.enable", "false"),
        ]);
        let raw = Bytes::from_static(b"\x00avro\xff");
        let bytes = SchemaBuilder::bytes().optional().build();
        let out = c.to_bytes("t", Some(&bytes), &Value::Bytes(raw.clone()));
        assert_eq!(out.expect("bytes"), Some(raw));
        let string = SchemaBuilder::string().build();
        let out = c.to_bytes("t", Some(&string), &Value::String("beat".into()));
        assert_eq!(
            out.expect("delegated"),
            Some(Bytes::from_static(b"\"beat\""))
        );
        assert_eq!(c.to_bytes("t", None, &Value::Null).expect("null"), None);
    }

    #[test]
    fn without_a_delegate_other_values_are_an_error_naming_the_key() {
        let c = configured(&[]);
        let e = c
            .to_bytes("orders", None, &Value::Int32(1))
            .expect_err("no delegate");
        assert_eq!(
            e.to_string(),
            "A orders of type 'int32' requires a delegate.converter.type to be configured"
        );
        let mut bad = BinaryDataConverter::default();
        let config: ConfigMap = [(DELEGATE.to_string(), "com.example.Nope".to_string())].into();
        assert!(bad.configure(&config, false).is_err());
    }
}
