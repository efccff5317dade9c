//! Kafka Connect's converters: the bytes of a record's key and value to the Connect data
//! model and back (`key.converter`, `value.converter`).
//!
//! [`converter_for`] is the one registry from a class name (Kafka's, or its short alias) to
//! a fresh, unconfigured converter; add new converters there and to [`CONVERTER_CLASSES`].

pub mod binary_data;
pub mod bytes;
pub mod header;
pub mod json;
pub mod string;

use weir_connect_api::Converter;

pub use self::binary_data::BinaryDataConverter;
pub use self::bytes::ByteArrayConverter;
pub use self::json::JsonConverter;
pub use self::string::StringConverter;

/// Every converter class weir accepts, by its Kafka class name.
pub const CONVERTER_CLASSES: &[&str] = &[
    "org.apache.kafka.connect.json.JsonConverter",
    "org.apache.kafka.connect.storage.StringConverter",
    "org.apache.kafka.connect.converters.ByteArrayConverter",
    "io.debezium.converters.BinaryDataConverter",
];

/// A new converter for `class` (the Java class name or its simple name), `None` if unknown.
/// Call [`Converter::configure`] before use; unconfigured converters have Kafka's defaults.
pub fn converter_for(class: &str) -> Option<Box<dyn Converter>> {
    match class.trim() {
        "org.apache.kafka.connect.json.JsonConverter" | "JsonConverter" => {
            Some(Box::new(JsonConverter::default()))
        }
        "org.apache.kafka.connect.storage.StringConverter" | "StringConverter" => {
            Some(Box::new(StringConverter::default()))
        }
        "org.apache.kafka.connect.converters.ByteArrayConverter" | "ByteArrayConverter" => {
            Some(Box::new(ByteArrayConverter))
        }
        // Debezium's, and its name before Debezium 2.0.
        "io.debezium.converters.BinaryDataConverter"
        | "BinaryDataConverter"
        | "io.debezium.converters.ByteBufferConverter" => {
            Some(Box::new(BinaryDataConverter::default()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_connect_api::{ConfigMap, Value};

    #[test]
    fn registry_accepts_class_names_and_aliases() {
        for class in CONVERTER_CLASSES {
            let alias = class.rsplit('.').next().expect("has a simple name");
            assert!(converter_for(class).is_some(), "{class}");
            assert!(converter_for(alias).is_some(), "{alias}");
        }
        assert!(converter_for("io.confluent.connect.avro.AvroConverter").is_none());
        assert!(converter_for("jsonconverter").is_none());
    }

    #[test]
    fn every_converter_maps_null_to_a_tombstone() {
        for class in CONVERTER_CLASSES {
            let mut c = converter_for(class).expect("known");
            c.configure(&ConfigMap::new(), false)
                .expect("defaults are valid");
            assert_eq!(c.to_bytes("t", None, &Value::Null).expect("null"), None);
            let (_, v) = c.to_connect("t", None).expect("null");
            assert_eq!(v, Value::Null, "{class}");
        }
    }
}
