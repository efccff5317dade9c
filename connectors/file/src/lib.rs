//! File source and sink: Kafka Connect's classic demo pair (FileStreamSource / FileStreamSink).
//!
//! What will live here: a source that tails a file line by line, with the byte position as its
//! source offset, and a sink that appends each record's value as a line.

/// The connector API version this crate was built against.
pub const API_VERSION: &str = weir_connect_api::API_VERSION;
