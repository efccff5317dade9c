//! Every connector config shipped in `configs/connectors/` is a valid Kafka Connect
//! `POST /connectors` body whose `connector.class` weir knows and whose config its connector
//! accepts.

use std::path::Path;

use weir_connect_api::ConfigMap;

#[test]
fn every_shipped_connector_config_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/connectors");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("configs/connectors exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let what = path.display().to_string();
        let body: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect(&what)).expect(&what);
        let name = body["name"].as_str().expect("a name");
        let config: ConfigMap = body["config"]
            .as_object()
            .expect("a config object")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("string values").to_string()))
            .collect();
        // The worker's own validation, as `POST /connectors` applies it.
        let mut full = config.clone();
        full.insert("name".to_string(), name.to_string());
        let infos = weir_runtime::worker::validate::validate(&full);
        if let Some(message) = weir_runtime::worker::validate::invalid_message(&infos) {
            panic!("{what} ({name}): {message}");
        }
        let class = config.get("connector.class").expect("connector.class");
        let plugin = weir_runtime::plugins::connector(class)
            .unwrap_or_else(|| panic!("{what}: unknown connector.class {class}"));
        let mut connector = plugin.new_connector();
        if let Err(e) = connector.start(&config) {
            panic!("{what} ({name}): {e}");
        }
        assert!(!connector.task_configs(1).expect("task configs").is_empty());
        checked += 1;
    }
    assert!(
        checked >= 2,
        "expected the shipped connector configs, found {checked}"
    );
}
