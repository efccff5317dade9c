//! File source and sink: Kafka Connect's classic demo pair, with the same class names,
//! config keys and offsets (`org.apache.kafka.connect.file.FileStreamSourceConnector`,
//! `...FileStreamSinkConnector`).
//!
//! The source tails a file line by line; its source partition is `{"filename": <path>}`
//! and its offset `{"position": <byte position after the line>}`, as Kafka's, so a restarted
//! task resumes after the last committed line. The sink appends each record's value as a
//! line and fsyncs on flush.

mod config;
pub mod sink;
pub mod source;

pub use sink::{FileStreamSinkConnector, FileStreamSinkTask};
pub use source::{FileStreamSourceConnector, FileStreamSourceTask};

/// Class names (and the aliases Kafka Connect accepts) for the worker's registry.
pub const SOURCE_CLASS: &str = "org.apache.kafka.connect.file.FileStreamSourceConnector";
pub const SINK_CLASS: &str = "org.apache.kafka.connect.file.FileStreamSinkConnector";

/// The connector API version this crate was built against.
pub const API_VERSION: &str = weir_connect_api::API_VERSION;
