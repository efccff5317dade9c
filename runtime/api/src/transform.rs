//! Single message transforms and predicates (`transforms=`, `predicates=`).

use crate::config::{ConfigDef, ConfigMap};
use crate::error::Result;
use crate::record::ConnectRecord;

/// Changes, reroutes or drops one record. Configured once, then applied to every record.
pub trait Transform: Send + Sync {
    fn config_def(&self) -> ConfigDef;
    fn configure(&mut self, config: &ConfigMap) -> Result<()>;
    /// The transformed record, or `None` to drop it (Kafka's one-in, at-most-one-out form).
    fn apply(&self, record: ConnectRecord) -> Result<Option<ConnectRecord>>;
    /// Every record the transform makes of `record`: none, one, or (WASM plugins) several.
    /// The transform chain calls this; by default it is [`Transform::apply`].
    fn apply_many(&self, record: ConnectRecord) -> Result<Vec<ConnectRecord>> {
        Ok(self.apply(record)?.into_iter().collect())
    }
    /// Whether [`Transform::apply_batch`] does better than one call per record (WASM
    /// plugins: one guest call per batch). The worker then hands the chain whole batches.
    fn batched(&self) -> bool {
        false
    }
    /// Every record the transform makes of a batch, in order, with the index of the input
    /// each came from. An error fails the whole batch: the worker then goes record by
    /// record, so the error handler sees which records fail. By default, [`Transform::apply_many`]
    /// per record.
    fn apply_batch(&self, records: Vec<ConnectRecord>) -> Result<(Vec<ConnectRecord>, Vec<u32>)> {
        let mut out = Vec::with_capacity(records.len());
        let mut from = Vec::with_capacity(records.len());
        for (i, record) in records.into_iter().enumerate() {
            for o in self.apply_many(record)? {
                out.push(o);
                from.push(i as u32);
            }
        }
        Ok((out, from))
    }
}

/// Decides whether a transform applies to a record.
pub trait Predicate: Send + Sync {
    fn config_def(&self) -> ConfigDef;
    fn configure(&mut self, config: &ConfigMap) -> Result<()>;
    /// Whether the record matches; an error (a WASM predicate that trapped) is handled as a
    /// transform's error.
    fn test(&self, record: &ConnectRecord) -> Result<bool>;
}
