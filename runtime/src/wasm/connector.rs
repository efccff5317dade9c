//! A WASM source (`weir_poll`) or sink (`weir_put`, `weir_flush`) plugin as a connector:
//! `connector.class` is the plugin's name in `plugin.path`. The connector's own keys (every
//! key that is not Kafka Connect's or `wasm.*`) go to the plugin's `weir_init`.
//!
//! ```text
//! connector.class=http-post-sink
//! url=http://127.0.0.1:8080/in                 (the plugin's own key)
//! wasm.http.allowed.hosts=127.0.0.1:8080       (what weir.http_request may reach)
//! wasm.http.timeout.ms=10000
//! wasm.memory.max.bytes=33554432
//! wasm.call.timeout.ms=30000
//! wasm.poll.interval.ms=200                    (sources: the wait after an empty poll)
//! ```
//!
//! Calls run on the blocking pool (a plugin may wait on `http_request`). A failed call
//! drops the instance; the next call builds a new one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use weir_connect_api::config::ConfigError;
use weir_connect_api::connector::{BoxFuture, SourceTaskContext};
use weir_connect_api::{
    ConfigDef, ConfigMap, ConfigType, ConnectRecord, Connector, ConnectorError, ConnectorType,
    Importance, SinkTask, SourceTask, TopicPartition,
};
use weir_wasm::{HttpGrant, Instance, Kind, Plugin, Settings, framing};

use super::{limits, number, plugin_error, records, registry};
use crate::worker::validate::connector_own_keys;

const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The most records one poll may return.
const MAX_POLL_RECORDS: usize = 100_000;

fn plugin_of(name: &str, kind: Kind) -> Result<Arc<Plugin>, ConnectorError> {
    match registry::global().named(name) {
        Some(Ok(p)) if p.kind == kind => Ok(p),
        Some(Ok(p)) => Err(ConnectorError::fatal(format!(
            "WASM plugin {name} is a {}, not a {}",
            p.kind.name(),
            kind.name()
        ))),
        Some(Err(e)) => Err(ConnectorError::fatal(e)),
        None => Err(ConnectorError::fatal(format!(
            "no WASM plugin named {name} in plugin.path"
        ))),
    }
}

/// The instance settings of a connector config.
fn settings(kind: ConnectorType, config: &ConfigMap) -> Result<Settings, ConnectorError> {
    let mut errors: Vec<ConfigError> = Vec::new();
    let (memory_bytes, deadline) = limits(config, "wasm.", DEFAULT_CALL_TIMEOUT, &mut errors);
    let http_timeout = Duration::from_millis(number(
        config,
        "wasm.http.timeout.ms",
        10_000,
        1,
        &mut errors,
    ));
    if !errors.is_empty() {
        return Err(ConnectorError::Config(errors));
    }
    let http = config
        .get("wasm.http.allowed.hosts")
        .map(|hosts| HttpGrant::new(hosts, http_timeout))
        .filter(|g| !g.allowed.is_empty());
    Ok(Settings {
        memory_bytes,
        deadline,
        config: connector_own_keys(kind, config)
            .into_iter()
            .filter(|(k, _)| !k.starts_with("wasm."))
            .collect(),
        http,
        offsets: None,
    })
}

/// A WASM source or sink connector: checks its config, gives each task a copy.
pub struct WasmConnector {
    name: String,
    kind: ConnectorType,
    version: String,
    config: ConfigMap,
}

impl WasmConnector {
    pub fn new(name: &str, kind: ConnectorType) -> Self {
        let version = registry::global()
            .named(name)
            .and_then(Result::ok)
            .map(|p| p.version())
            .unwrap_or_default();
        WasmConnector {
            name: name.to_string(),
            kind,
            version,
            config: ConfigMap::new(),
        }
    }

    fn wasm_kind(&self) -> Kind {
        match self.kind {
            ConnectorType::Source => Kind::Source,
            ConnectorType::Sink => Kind::Sink,
        }
    }
}

impl Connector for WasmConnector {
    fn version(&self) -> &str {
        &self.version
    }

    fn kind(&self) -> ConnectorType {
        self.kind
    }

    fn config_def(&self) -> ConfigDef {
        let def = ConfigDef::new()
            .define(
                "wasm.memory.max.bytes",
                ConfigType::Long,
                Some("33554432"),
                Importance::Low,
                "The most linear memory each task's plugin instance may use.",
            )
            .define(
                "wasm.call.timeout.ms",
                ConfigType::Long,
                Some("30000"),
                Importance::Low,
                "How long one call into the plugin may run before it is interrupted.",
            )
            .define(
                "wasm.http.allowed.hosts",
                ConfigType::List,
                Some(""),
                Importance::Medium,
                "host[:port] entries the plugin may reach through weir.http_request (none by default).",
            )
            .define(
                "wasm.http.timeout.ms",
                ConfigType::Long,
                Some("10000"),
                Importance::Low,
                "Connect and read timeout of the plugin's HTTP requests.",
            );
        match self.kind {
            ConnectorType::Source => def.define(
                "wasm.poll.interval.ms",
                ConfigType::Long,
                Some("200"),
                Importance::Low,
                "How long to wait after a poll that returned nothing.",
            ),
            ConnectorType::Sink => def,
        }
    }

    fn validate(&self, config: &ConfigMap) -> Vec<ConfigError> {
        let mut errors = match settings(self.kind, config) {
            Err(ConnectorError::Config(e)) => e,
            _ => Vec::new(),
        };
        if let Err(e) = plugin_of(&self.name, self.wasm_kind()) {
            errors.push(ConfigError::new("connector.class", e.to_string()));
        }
        errors
    }

    fn start(&mut self, config: &ConfigMap) -> Result<(), ConnectorError> {
        plugin_of(&self.name, self.wasm_kind())?;
        settings(self.kind, config)?;
        self.config = config.clone();
        Ok(())
    }

    fn task_configs(&self, max_tasks: usize) -> Result<Vec<ConfigMap>, ConnectorError> {
        Ok((0..max_tasks.max(1))
            .map(|i| {
                let mut c = self.config.clone();
                c.insert("task.id".into(), i.to_string());
                c
            })
            .collect())
    }

    fn stop(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }
}

/// A plugin instance used from async code: calls run on the blocking pool.
struct Blocking {
    plugin: Option<Arc<Plugin>>,
    settings: Settings,
    instance: Option<Instance>,
}

impl Blocking {
    fn new() -> Self {
        Blocking {
            plugin: None,
            settings: Settings::default(),
            instance: None,
        }
    }

    /// Runs `call` on the instance (built first if needed) on the blocking pool; a failure
    /// drops the instance.
    async fn call<T: Send + 'static>(
        &mut self,
        call: impl FnOnce(&mut Instance) -> Result<T, ConnectorError> + Send + 'static,
    ) -> Result<T, ConnectorError> {
        let plugin = self
            .plugin
            .clone()
            .ok_or_else(|| ConnectorError::fatal("the WASM task was used before it started"))?;
        let settings = self.settings.clone();
        let existing = self.instance.take();
        let (instance, result) = tokio::task::spawn_blocking(move || {
            let mut instance = match existing {
                Some(i) => i,
                None => match Instance::new(&plugin, &settings) {
                    Ok(i) => i,
                    Err(e) => return (None, Err(ConnectorError::fatal(e.to_string()))),
                },
            };
            let result = call(&mut instance);
            (result.is_ok().then_some(instance), result)
        })
        .await
        .map_err(|e| ConnectorError::fatal(format!("the WASM call did not finish: {e}")))?;
        self.instance = instance;
        result
    }
}

/// A sink task running a WASM plugin's `weir_put` / `weir_flush`.
pub struct WasmSinkTask {
    name: String,
    inner: Blocking,
}

impl WasmSinkTask {
    pub fn new(name: &str) -> Self {
        WasmSinkTask {
            name: name.to_string(),
            inner: Blocking::new(),
        }
    }
}

/// A put or flush failure: retriable when the plugin said so, else fatal (the task fails
/// with the plugin's message).
fn task_error(e: weir_wasm::PluginError) -> ConnectorError {
    match plugin_error(e, None) {
        ConnectorError::Data(d) => ConnectorError::fatal(d.to_string()),
        other => other,
    }
}

impl SinkTask for WasmSinkTask {
    fn start(&mut self, config: &ConfigMap) -> Result<(), ConnectorError> {
        self.inner.plugin = Some(plugin_of(&self.name, Kind::Sink)?);
        self.inner.settings = settings(ConnectorType::Sink, config)?;
        Ok(())
    }

    fn put(&mut self, records: Vec<ConnectRecord>) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async move {
            if records.is_empty() {
                return Ok(());
            }
            let batch = records::encode(&records)?;
            self.inner
                .call(move |i| i.put(&batch).map_err(task_error))
                .await
        })
    }

    fn flush(
        &mut self,
        _offsets: &BTreeMap<TopicPartition, i64>,
    ) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async move { self.inner.call(|i| i.flush().map_err(task_error)).await })
    }

    fn stop(&mut self) -> Result<(), ConnectorError> {
        self.inner.instance = None;
        Ok(())
    }
}

/// A source task running a WASM plugin's `weir_poll`.
pub struct WasmSourceTask {
    name: String,
    inner: Blocking,
    poll_interval: Duration,
}

impl WasmSourceTask {
    pub fn new(name: &str) -> Self {
        WasmSourceTask {
            name: name.to_string(),
            inner: Blocking::new(),
            poll_interval: Duration::from_millis(200),
        }
    }
}

impl SourceTask for WasmSourceTask {
    fn start(
        &mut self,
        config: &ConfigMap,
        context: Box<dyn SourceTaskContext>,
    ) -> Result<(), ConnectorError> {
        self.inner.plugin = Some(plugin_of(&self.name, Kind::Source)?);
        let mut settings = settings(ConnectorType::Source, config)?;
        let context: Arc<dyn SourceTaskContext> = Arc::from(context);
        settings.offsets = Some(Arc::new(move |partition: &str| {
            let partition = match serde_json::from_str(partition) {
                Ok(serde_json::Value::Object(m)) => m,
                _ => return None,
            };
            context
                .committed_offset(&partition)
                .map(|o| serde_json::Value::Object(o).to_string())
        }));
        self.inner.settings = settings;
        if let Some(ms) = config
            .get("wasm.poll.interval.ms")
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            self.poll_interval = Duration::from_millis(ms);
        }
        Ok(())
    }

    fn poll(&mut self) -> BoxFuture<'_, Result<Vec<ConnectRecord>, ConnectorError>> {
        Box::pin(async move {
            let batch = self.inner.call(|i| i.poll().map_err(task_error)).await?;
            let Some(bytes) = batch else {
                tokio::time::sleep(self.poll_interval).await;
                return Ok(Vec::new());
            };
            let wire = framing::decode(&bytes, MAX_POLL_RECORDS).map_err(|e| {
                ConnectorError::fatal(format!("WASM plugin {}, weir_poll: {e}", self.name))
            })?;
            wire.into_iter()
                .map(records::source_record)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    ConnectorError::fatal(format!("WASM plugin {}, weir_poll: {e}", self.name))
                })
        })
    }

    fn stop(&mut self) -> Result<(), ConnectorError> {
        self.inner.instance = None;
        Ok(())
    }
}
