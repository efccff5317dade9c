//! Elasticsearch sink, compatible with Confluent's ElasticsearchSinkConnector (io.confluent.connect.elasticsearch.ElasticsearchSinkConnector).
//!
//! What will live here: the `_bulk` client with per-item error handling and retries of only
//! the failed items, document ids `<topic>+<partition>+<offset>` or record keys, external
//! versioning by Kafka offset, index naming (lower-cased topic), data streams and tombstone
//! handling.

/// The connector API version this crate was built against.
pub const API_VERSION: &str = weir_connect_api::API_VERSION;
