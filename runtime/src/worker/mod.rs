//! The Kafka Connect worker. Today: the records it keeps in its internal topics
//! ([`internal`]), in Kafka Connect's own key and value formats, so the worker's state is
//! readable by the same tools and portable to a real Kafka cluster, and the stores that
//! write and replay them on the embedded broker ([`store`]). The worker that runs
//! connectors and tasks, and its REST API, build on these.

pub mod internal;
pub mod store;
