//! Single message transforms and predicates (`transforms=`, `predicates=`).

use crate::config::{ConfigDef, ConfigMap};
use crate::error::Result;
use crate::record::ConnectRecord;

/// Changes, reroutes or drops one record. Configured once, then applied to every record.
pub trait Transform: Send + Sync {
    fn config_def(&self) -> ConfigDef;
    fn configure(&mut self, config: &ConfigMap) -> Result<()>;
    /// The transformed record, or `None` to drop it.
    fn apply(&self, record: ConnectRecord) -> Result<Option<ConnectRecord>>;
}

/// Decides whether a transform applies to a record.
pub trait Predicate: Send + Sync {
    fn config_def(&self) -> ConfigDef;
    fn configure(&mut self, config: &ConfigMap) -> Result<()>;
    fn test(&self, record: &ConnectRecord) -> bool;
}
