//! `format.class`: how records become a file's bytes.
//!
//! - `JsonFormat`: one JSON document per line, written by the worker's JsonConverter with
//!   `schemas.enable=false` (`json.decimal.format`), `.json`.
//! - `ByteArrayFormat`: the raw bytes of each value and `format.bytearray.separator`,
//!   `format.bytearray.extension`.
//! - `ParquetFormat`: see [`crate::parquet_file`]; `.<codec>.parquet`.
//!
//! JSON and bytes may be gzipped (`s3.compression.type=gzip`, `.gz` added).

use std::io::Write;
use std::sync::Arc;

use flate2::write::GzEncoder;
use weir_connect_api::config::{ConfigError, ParsedConfig, unescape_java};
use weir_connect_api::{
    ConfigMap, ConnectRecord, Converter, DataError, SchemaRef, SchemaType, Value,
};

use crate::config::{
    BYTEARRAY_EXTENSION, BYTEARRAY_SEPARATOR, Compression, FORMAT_CLASS, PARQUET_CODEC, string_of,
};
use crate::parquet_file::{Codec, ParquetFile};
use crate::spool::{Budget, Spool};

pub const JSON_FORMAT: &str = "io.confluent.connect.s3.format.json.JsonFormat";
pub const BYTEARRAY_FORMAT: &str = "io.confluent.connect.s3.format.bytearray.ByteArrayFormat";
pub const PARQUET_FORMAT: &str = "io.confluent.connect.s3.format.parquet.ParquetFormat";

/// The format of `format.class` and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatKind {
    Json,
    ByteArray {
        extension: String,
        separator: Vec<u8>,
    },
    Parquet {
        codec: Codec,
    },
}

impl FormatKind {
    /// `raw` is the unparsed config: the separator keeps its whitespace, which parsing
    /// trims (Confluent reads it from the originals too).
    pub fn parse(p: &ParsedConfig, raw: &ConfigMap, errors: &mut Vec<ConfigError>) -> Option<Self> {
        let class = string_of(p, FORMAT_CLASS);
        let simple = class.rsplit('.').next().unwrap_or(&class);
        match simple {
            "JsonFormat" => Some(FormatKind::Json),
            "ByteArrayFormat" => Some(FormatKind::ByteArray {
                extension: string_of(p, BYTEARRAY_EXTENSION),
                separator: raw
                    .get(BYTEARRAY_SEPARATOR)
                    .map_or_else(|| "\n".to_string(), |s| unescape_java(s))
                    .into_bytes(),
            }),
            "ParquetFormat" => Some(FormatKind::Parquet {
                codec: Codec::parse(&string_of(p, PARQUET_CODEC)),
            }),
            _ => {
                errors.push(ConfigError::new(
                    FORMAT_CLASS,
                    format!(
                        "Invalid value {class} for configuration {FORMAT_CLASS}: weir writes {JSON_FORMAT}, {BYTEARRAY_FORMAT} and {PARQUET_FORMAT}"
                    ),
                ));
                None
            }
        }
    }

    /// The file extension, compression included (`.json.gz`, `.snappy.parquet`).
    pub fn extension(&self, compression: Compression) -> String {
        let base = match self {
            FormatKind::Json => ".json".to_string(),
            FormatKind::ByteArray { extension, .. } => extension.clone(),
            FormatKind::Parquet { codec } => return format!("{}.parquet", codec.extension()),
        };
        match compression {
            Compression::None => base,
            Compression::Gzip { .. } => format!("{base}.gz"),
        }
    }
}

/// Where line formats write: the spool, maybe through gzip.
pub enum Sink {
    Plain(Spool),
    Gzip(GzEncoder<Spool>),
}

impl Sink {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Plain(s) => s.write_all(bytes),
            Sink::Gzip(g) => g.write_all(bytes),
        }
    }
    fn finish(self) -> std::io::Result<Spool> {
        match self {
            Sink::Plain(s) => Ok(s),
            Sink::Gzip(g) => g.finish(),
        }
    }
}

/// One open file.
pub enum FileWriter {
    Lines { sink: Sink, format: LineFormat },
    Parquet(Box<ParquetFile>),
}

/// JSON (with its converter) or bytes (with its separator).
pub enum LineFormat {
    Json(Arc<dyn Converter>),
    Bytes(Vec<u8>),
}

impl FileWriter {
    /// A new file for records of `schema` (Parquet needs it up front).
    pub fn open(
        kind: &FormatKind,
        compression: Compression,
        json: &Arc<dyn Converter>,
        budget: &Arc<Budget>,
        schema: Option<&SchemaRef>,
    ) -> Result<Self, DataError> {
        let spool = Spool::new(Arc::clone(budget));
        let sink = |spool| match compression {
            Compression::None => Sink::Plain(spool),
            Compression::Gzip { level } => Sink::Gzip(GzEncoder::new(
                spool,
                flate2::Compression::new(level.min(9)),
            )),
        };
        Ok(match kind {
            FormatKind::Json => FileWriter::Lines {
                sink: sink(spool),
                format: LineFormat::Json(Arc::clone(json)),
            },
            FormatKind::ByteArray { separator, .. } => FileWriter::Lines {
                sink: sink(spool),
                format: LineFormat::Bytes(separator.clone()),
            },
            FormatKind::Parquet { codec } => {
                let Some(schema) = schema else {
                    return Err(DataError::new(crate::parquet_file::SCHEMALESS));
                };
                FileWriter::Parquet(Box::new(ParquetFile::open(schema, *codec, spool)?))
            }
        })
    }

    /// Checks that a record fits the format before anything of it is written, so a bad
    /// record fails alone and the file stays intact.
    pub fn encode(&self, record: &ConnectRecord) -> Result<Encoded, DataError> {
        match self {
            FileWriter::Lines { format, .. } => {
                let mut line = match format {
                    LineFormat::Json(converter) => {
                        if record.value.is_null() {
                            b"null".to_vec()
                        } else {
                            converter
                                .to_bytes(
                                    &record.topic,
                                    record.value_schema.as_ref(),
                                    &record.value,
                                )
                                .map_err(|e| DataError::new(format!("JsonFormat: {e}")))?
                                .map_or_else(|| b"null".to_vec(), |b| b.to_vec())
                        }
                    }
                    LineFormat::Bytes(_) => bytes_of(record)?,
                };
                match format {
                    LineFormat::Json(_) => line.push(b'\n'),
                    LineFormat::Bytes(sep) => line.extend_from_slice(sep),
                }
                Ok(Encoded::Line(line))
            }
            FileWriter::Parquet(_) => Ok(Encoded::Row),
        }
    }

    /// Appends a record [`FileWriter::encode`] accepted; a record that fails leaves the
    /// file as it was.
    pub fn write(&mut self, record: &ConnectRecord, encoded: Encoded) -> Result<(), DataError> {
        match (self, encoded) {
            (FileWriter::Lines { sink, .. }, Encoded::Line(bytes)) => sink
                .write_all(&bytes)
                .map_err(|e| DataError::new(format!("cannot spool the file: {e}"))),
            (FileWriter::Parquet(file), _) => file.push(record),
            (FileWriter::Lines { .. }, Encoded::Row) => Ok(()),
        }
    }

    /// Whether a record of `schema` may go in this file (schema.compatibility=NONE: any
    /// change of the value schema closes the file).
    pub fn same_schema(current: Option<&SchemaRef>, next: Option<&SchemaRef>) -> bool {
        match (current, next) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
            _ => false,
        }
    }

    /// Ends the file: its bytes, ready to upload.
    pub fn finish(self) -> Result<Spool, DataError> {
        match self {
            FileWriter::Lines { sink, .. } => sink
                .finish()
                .map_err(|e| DataError::new(format!("cannot finish the file: {e}"))),
            FileWriter::Parquet(file) => file.finish(),
        }
    }
}

/// A record ready to append.
pub enum Encoded {
    Line(Vec<u8>),
    Row,
}

/// ByteArrayFormat: the value's bytes (Kafka's ByteArrayConverter accepts bytes only).
fn bytes_of(record: &ConnectRecord) -> Result<Vec<u8>, DataError> {
    match &record.value {
        Value::Bytes(b) => Ok(b.to_vec()),
        Value::Null => Ok(Vec::new()),
        other => {
            let found = record
                .value_schema
                .as_ref()
                .map(|s| s.kind)
                .or_else(|| other.kind())
                .unwrap_or(SchemaType::Bytes);
            Err(DataError::new(format!(
                "ByteArrayFormat writes bytes values; this value is {} (use value.converter=org.apache.kafka.connect.converters.ByteArrayConverter)",
                found.name()
            )))
        }
    }
}
