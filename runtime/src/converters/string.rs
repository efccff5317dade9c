//! `org.apache.kafka.connect.storage.StringConverter`: values as their string form in
//! `converter.encoding` (UTF-8 by default); reads give an optional string schema.
//!
//! Kafka writes `value.toString()`. weir prints the same text for strings, numbers
//! (Java's float format), booleans, arrays (`[a, b]`), maps (`{k=v, k2=v2}`), structs
//! (`Struct{a=1,b=x}`, null fields left out) and decimals (`BigDecimal.toString`). Where
//! Java's text is useless or machine-dependent it differs on purpose: bytes pass through raw
//! (Java prints `[B@1b6d3586`), and Date/Time/Timestamp print their number (Java prints the
//! date in the JVM's time zone).

use std::sync::OnceLock;

use bytes::Bytes;
use weir_connect_api::config::ConfigError;
use weir_connect_api::converter::SchemaAndValue;
use weir_connect_api::schema::logical;
use weir_connect_api::{
    ConfigDef, ConfigMap, ConfigType, ConnectorError, Converter, Importance, Result, Schema,
    SchemaBuilder, SchemaRef, Value,
};

use super::json::{decimal, number};

pub const ENCODING: &str = "converter.encoding";

/// The character sets weir supports, by Java's canonical name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    #[default]
    Utf8,
    Ascii,
    Latin1,
    /// Java's `UTF-16`: writes a big-endian byte-order mark; reads honour one (default BE).
    Utf16,
    Utf16Be,
    Utf16Le,
}

impl Encoding {
    /// Java's `Charset.forName` for the supported sets (case-insensitive, common aliases).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_uppercase().as_str() {
            "UTF-8" | "UTF8" => Encoding::Utf8,
            "US-ASCII" | "ASCII" | "US_ASCII" => Encoding::Ascii,
            "ISO-8859-1" | "ISO8859-1" | "ISO_8859_1" | "ISO8859_1" | "LATIN1" | "L1" => {
                Encoding::Latin1
            }
            "UTF-16" | "UTF16" => Encoding::Utf16,
            "UTF-16BE" | "UTF_16BE" | "UNICODEBIGUNMARKED" => Encoding::Utf16Be,
            "UTF-16LE" | "UTF_16LE" | "UNICODELITTLEUNMARKED" => Encoding::Utf16Le,
            _ => return None,
        })
    }

    /// Java's `String.getBytes(charset)`: unmappable characters become `?`.
    pub fn encode(self, s: &str) -> Vec<u8> {
        let units = |be: bool| -> Vec<u8> {
            s.encode_utf16()
                .flat_map(|u| if be { u.to_be_bytes() } else { u.to_le_bytes() })
                .collect()
        };
        match self {
            Encoding::Utf8 => s.as_bytes().to_vec(),
            Encoding::Ascii => s
                .chars()
                .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
                .collect(),
            Encoding::Latin1 => s
                .chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                .collect(),
            Encoding::Utf16 => [0xFE, 0xFF].into_iter().chain(units(true)).collect(),
            Encoding::Utf16Be => units(true),
            Encoding::Utf16Le => units(false),
        }
    }

    /// Java's `new String(bytes, charset)`: malformed input becomes U+FFFD.
    pub fn decode(self, b: &[u8]) -> String {
        let utf16 = |b: &[u8], be: bool| -> String {
            let units = b.chunks(2).map(|c| match (c, be) {
                ([h, l], true) => u16::from_be_bytes([*h, *l]),
                ([l, h], false) => u16::from_be_bytes([*h, *l]),
                _ => 0xFFFD,
            });
            char::decode_utf16(units)
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect()
        };
        match self {
            Encoding::Utf8 => String::from_utf8_lossy(b).into_owned(),
            Encoding::Ascii => b
                .iter()
                .map(|&c| {
                    if c.is_ascii() {
                        char::from(c)
                    } else {
                        char::REPLACEMENT_CHARACTER
                    }
                })
                .collect(),
            Encoding::Latin1 => b.iter().map(|&c| char::from(c)).collect(),
            Encoding::Utf16 => match b {
                [0xFE, 0xFF, rest @ ..] => utf16(rest, true),
                [0xFF, 0xFE, rest @ ..] => utf16(rest, false),
                _ => utf16(b, true),
            },
            Encoding::Utf16Be => utf16(b, true),
            Encoding::Utf16Le => utf16(b, false),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct StringConverter {
    encoding: Encoding,
}

/// Connect's `Schema.OPTIONAL_STRING_SCHEMA`, shared by every record read.
fn optional_string() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| SchemaBuilder::string().optional().build())
        .clone()
}

impl Converter for StringConverter {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new().define(
            ENCODING,
            ConfigType::String,
            Some("UTF-8"),
            Importance::High,
            "The character set strings are encoded in: UTF-8, US-ASCII, ISO-8859-1, UTF-16, \
             UTF-16BE or UTF-16LE.",
        )
    }

    fn configure(&mut self, config: &ConfigMap, _is_key: bool) -> Result<()> {
        let parsed = self
            .config_def()
            .parse(config)
            .map_err(ConnectorError::Config)?;
        let name = parsed.string(ENCODING).unwrap_or("UTF-8");
        self.encoding = Encoding::parse(name).ok_or_else(|| {
            ConnectorError::Config(vec![ConfigError::new(
                ENCODING,
                format!(
                    "Invalid value {name} for configuration {ENCODING}: unsupported encoding; \
                     weir supports UTF-8, US-ASCII, ISO-8859-1, UTF-16, UTF-16BE and UTF-16LE"
                ),
            )])
        })?;
        Ok(())
    }

    fn to_bytes(
        &self,
        _topic: &str,
        schema: Option<&SchemaRef>,
        value: &Value,
    ) -> Result<Option<Bytes>> {
        Ok(match value {
            Value::Null => None,
            Value::Bytes(b) if !schema.is_some_and(|s| s.is_logical(logical::DECIMAL)) => {
                Some(b.clone())
            }
            Value::String(s) if self.encoding == Encoding::Utf8 => {
                Some(Bytes::copy_from_slice(s.as_bytes()))
            }
            other => {
                let mut text = String::new();
                java_string(schema.map(|s| &**s), other, &mut text);
                Some(Bytes::from(self.encoding.encode(&text)))
            }
        })
    }

    fn to_connect(&self, _topic: &str, bytes: Option<&[u8]>) -> Result<SchemaAndValue> {
        let value = bytes.map_or(Value::Null, |b| Value::String(self.encoding.decode(b)));
        Ok((Some(optional_string()), value))
    }
}

/// Java's `toString()` of the value Connect would hold for `value`.
fn java_string(schema: Option<&Schema>, value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Int8(v) => out.push_str(&v.to_string()),
        Value::Int16(v) => out.push_str(&v.to_string()),
        Value::Int32(v) => out.push_str(&v.to_string()),
        Value::Int64(v) => out.push_str(&v.to_string()),
        Value::Float32(v) => out.push_str(
            number::non_finite(f64::from(*v))
                .map_or_else(|| number::java_float(*v), str::to_string)
                .as_str(),
        ),
        Value::Float64(v) => out.push_str(
            number::non_finite(*v)
                .map_or_else(|| number::java_double(*v), str::to_string)
                .as_str(),
        ),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::String(s) => out.push_str(s),
        Value::Bytes(b) => {
            let scale = schema
                .filter(|s| s.is_logical(logical::DECIMAL))
                .and_then(|s| s.parameters.get(logical::DECIMAL_SCALE)?.parse().ok());
            match (scale, decimal::minimal(b)) {
                (Some(scale), Ok(unscaled)) => out.push_str(&number::big_decimal_string(
                    &decimal::unscaled_string(&unscaled),
                    scale,
                )),
                _ => out.push_str(&String::from_utf8_lossy(b)),
            }
        }
        Value::Array(items) => {
            let elem = schema.and_then(|s| s.value_schema.as_deref());
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                java_string(elem, item, out);
            }
            out.push(']');
        }
        Value::Map(entries) => {
            let ks = schema.and_then(|s| s.key_schema.as_deref());
            let vs = schema.and_then(|s| s.value_schema.as_deref());
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                java_string(ks, k, out);
                out.push('=');
                java_string(vs, v, out);
            }
            out.push('}');
        }
        Value::Struct(st) => {
            out.push_str("Struct{");
            let mut first = true;
            for (field, v) in st.iter().filter(|(_, v)| !v.is_null()) {
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(&field.name);
                out.push('=');
                java_string(Some(&field.schema), v, out);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
#[path = "string_tests.rs"]
mod tests;
