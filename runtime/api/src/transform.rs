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
}

/// Decides whether a transform applies to a record.
pub trait Predicate: Send + Sync {
    fn config_def(&self) -> ConfigDef;
    fn configure(&mut self, config: &ConfigMap) -> Result<()>;
    /// Whether the record matches; an error (a WASM predicate that trapped) is handled as a
    /// transform's error.
    fn test(&self, record: &ConnectRecord) -> Result<bool>;
}
