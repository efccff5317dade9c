//! `Filter`: drops every record it is applied to. Useful only with a predicate
//! (`transforms.x.predicate=isTombstone`), as in Kafka.

use weir_connect_api::{ConfigDef, ConfigMap, ConnectRecord, Result, Transform};

#[derive(Debug, Default, Clone, Copy)]
pub struct Filter;

impl Transform for Filter {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
    }

    fn configure(&mut self, _config: &ConfigMap) -> Result<()> {
        Ok(())
    }

    fn apply(&self, _record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::util::testing::*;
    use weir_connect_api::Value;

    #[test]
    fn drops_everything() {
        let t = configured(Filter, &[("anything", "ignored")]);
        assert_eq!(t.apply(schemaless(Value::Null)).expect("no error"), None);
    }
}
