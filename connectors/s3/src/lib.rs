//! S3 sink, compatible with Confluent's S3SinkConnector (io.confluent.connect.s3.S3SinkConnector).
//!
//! What will live here: partitioners, formats (JSON, string and bytes),
//! rotation by size and time, deterministic object names
//! `<topics.dir>/<topic>/partition=<p>/<topic>+<p>+<start offset>.<ext>` so replays overwrite
//! rather than duplicate, and offset commits only after an object is written.

/// The connector API version this crate was built against.
pub const API_VERSION: &str = weir_connect_api::API_VERSION;
