//! A WASM plugin as a transform (`weir_transform`) or a predicate (`weir_test`):
//!
//! ```text
//! transforms.mask.type=wasm                    (or the plugin's name in plugin.path)
//! transforms.mask.module=mask-json             (a name in plugin.path, or a file path)
//! transforms.mask.config.fields=email,phone    (passed to the plugin's weir_init)
//! transforms.mask.memory.max.bytes=33554432
//! transforms.mask.call.timeout.ms=1000
//! ```
//!
//! One instance per configured transform, that is per task. A failed call drops the
//! instance; the next record gets a new one.

use std::sync::{Arc, Mutex};

use weir_connect_api::config::ConfigError;
use weir_connect_api::{
    ConfigDef, ConfigMap, ConfigType, ConnectRecord, ConnectorError, Importance, Predicate,
    Transform,
};
use weir_wasm::{Instance, Kind, Plugin, Settings, framing};

use super::{limits, plugin_error, records, registry, sub_map};

/// The most records a transform may emit for one input record.
const MAX_OUTPUTS_PER_INPUT: usize = 100;

/// What a transform and a predicate share: the plugin, its settings and one instance.
struct Loaded {
    /// Set when the type named a plugin; `module` names it otherwise.
    named: Option<String>,
    plugin: Option<Arc<Plugin>>,
    settings: Settings,
    instance: Mutex<Option<Instance>>,
}

impl Loaded {
    fn new(named: Option<&str>) -> Self {
        Loaded {
            named: named.map(str::to_string),
            plugin: None,
            settings: Settings::default(),
            instance: Mutex::new(None),
        }
    }

    fn config_def(&self) -> ConfigDef {
        let mut def = ConfigDef::new();
        if self.named.is_none() {
            def = def.define(
                "module",
                ConfigType::String,
                None,
                Importance::High,
                "The WASM plugin: a name in plugin.path, or the path of a .wasm file.",
            );
        }
        def.define(
            "memory.max.bytes",
            ConfigType::Long,
            Some("33554432"),
            Importance::Low,
            "The most linear memory the plugin's instance may use.",
        )
        .define(
            "call.timeout.ms",
            ConfigType::Long,
            Some("1000"),
            Importance::Low,
            "How long one call into the plugin may run before it is interrupted.",
        )
    }

    fn configure(&mut self, config: &ConfigMap, kind: Kind) -> Result<(), ConnectorError> {
        let mut errors = Vec::new();
        let (memory_bytes, deadline) = limits(
            config,
            "",
            weir_wasm::instance::DEFAULT_DEADLINE,
            &mut errors,
        );
        let (key, module) = match &self.named {
            Some(n) => ("type", n.clone()),
            None => ("module", config.get("module").cloned().unwrap_or_default()),
        };
        match registry::global().resolve(&module) {
            Ok(p) if p.kind == kind => self.plugin = Some(p),
            Ok(p) => errors.push(ConfigError::new(
                key,
                format!(
                    "Invalid value {module} for configuration {key}: the WASM plugin is a {}, not a {}",
                    p.kind.name(),
                    kind.name()
                ),
            )),
            Err(e) => errors.push(ConfigError::new(
                key,
                format!("Invalid value {module} for configuration {key}: {e}"),
            )),
        }
        if !errors.is_empty() {
            return Err(ConnectorError::Config(errors));
        }
        self.settings = Settings {
            memory_bytes,
            deadline,
            config: sub_map(config, "config."),
            http: None,
            offsets: None,
        };
        // An instance now, so a plugin refusing its config (weir_init) is a config error.
        let instance = self.instantiate().map_err(|e| {
            ConnectorError::Config(vec![ConfigError::new(
                key,
                format!("Invalid value {module} for configuration {key}: {e}"),
            )])
        })?;
        *self.instance.lock().unwrap_or_else(|p| p.into_inner()) = Some(instance);
        Ok(())
    }

    fn instantiate(&self) -> Result<Instance, ConnectorError> {
        let plugin = self.plugin.as_ref().ok_or_else(|| {
            ConnectorError::fatal("the WASM transform was used before it was configured")
        })?;
        Instance::new(plugin, &self.settings).map_err(|e| ConnectorError::fatal(e.to_string()))
    }

    /// Runs `call` on the instance (built if needed); a failure drops it.
    fn with_instance<T>(
        &self,
        call: impl FnOnce(&mut Instance) -> Result<T, ConnectorError>,
    ) -> Result<T, ConnectorError> {
        let mut slot = self.instance.lock().unwrap_or_else(|p| p.into_inner());
        let mut instance = match slot.take() {
            Some(i) => i,
            None => self.instantiate()?,
        };
        let result = call(&mut instance);
        if result.is_ok() {
            *slot = Some(instance);
        }
        result
    }
}

/// A record's failure with where the record is.
fn at_record(e: ConnectorError, record: Option<&ConnectRecord>) -> ConnectorError {
    match (e, record) {
        (ConnectorError::Data(d), Some(r)) => ConnectorError::Data(
            weir_connect_api::DataError::new(format!("{d} (record {})", describe(r))),
        ),
        (e, _) => e,
    }
}

/// Where a record is: topic-partition@offset for sink records, the source offset for
/// source records.
fn describe(record: &ConnectRecord) -> String {
    match (record.kafka_partition, record.kafka_offset, &record.source) {
        (Some(p), Some(o), _) => format!("{}-{p}@{o}", record.topic),
        (_, _, Some(pos)) => format!(
            "of topic {} at source offset {}",
            record.topic,
            serde_json::Value::Object(pos.offset.clone())
        ),
        _ => format!("of topic {}", record.topic),
    }
}

/// A transform backed by a WASM plugin.
pub struct WasmTransform(Loaded);

impl WasmTransform {
    /// `named`: the plugin the type named; `None` for `type=wasm` with `module`.
    pub fn new(named: Option<&str>) -> Self {
        WasmTransform(Loaded::new(named))
    }
}

impl Transform for WasmTransform {
    fn config_def(&self) -> ConfigDef {
        self.0.config_def()
    }

    fn configure(&mut self, config: &ConfigMap) -> Result<(), ConnectorError> {
        self.0.configure(config, Kind::Transform)
    }

    fn apply(&self, record: ConnectRecord) -> Result<Option<ConnectRecord>, ConnectorError> {
        let mut out = self.apply_many(record)?;
        match out.len() {
            0 | 1 => Ok(out.pop()),
            n => Err(ConnectorError::fatal(format!(
                "the WASM transform emitted {n} records where one was expected"
            ))),
        }
    }

    fn apply_many(&self, record: ConnectRecord) -> Result<Vec<ConnectRecord>, ConnectorError> {
        Ok(self.apply_batch(vec![record])?.0)
    }

    fn batched(&self) -> bool {
        true
    }

    /// The records `weir_transform` makes of a batch, in output order, and the index of
    /// the input each came from. The batch is written straight into the guest's memory and
    /// the output read where the guest left it; parts it did not change are not copied.
    fn apply_batch(
        &self,
        records: Vec<ConnectRecord>,
    ) -> Result<(Vec<ConnectRecord>, Vec<u32>), ConnectorError> {
        if records.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        // Taken for the output; still here when the call failed, to say which record.
        let mut inputs = Some(records);
        let result = self.0.with_instance(|instance| {
            let records = inputs.as_ref().map_or(&[][..], Vec::as_slice);
            let prepared = records::prepare(records)?;
            let refs = records::wire_refs(records, &prepared);
            let len = framing::encoded_len(&refs);
            let plugin = instance.plugin().to_string();
            let pending = instance
                .send_batch(len, |buf| framing::encode_into(&refs, buf))
                .map_err(|e| plugin_error(e, None))?;
            drop(refs);
            let records = inputs.take().unwrap_or_default();
            instance
                .read_batch(pending, |out| {
                    records::outputs(out, MAX_OUTPUTS_PER_INPUT, records, &prepared)
                })
                .map_err(|e| plugin_error(e, None))?
                .map_err(|e| {
                    ConnectorError::Data(weir_connect_api::DataError::new(format!(
                        "WASM plugin {plugin}, weir_transform: {e}"
                    )))
                })
        });
        result.map_err(|e| at_record(e, inputs.as_ref().and_then(|r| r.first())))
    }
}

/// A predicate backed by a WASM plugin.
pub struct WasmPredicate(Loaded);

impl WasmPredicate {
    pub fn new(named: Option<&str>) -> Self {
        WasmPredicate(Loaded::new(named))
    }
}

impl Predicate for WasmPredicate {
    fn config_def(&self) -> ConfigDef {
        self.0.config_def()
    }

    fn configure(&mut self, config: &ConfigMap) -> Result<(), ConnectorError> {
        self.0.configure(config, Kind::Predicate)
    }

    fn test(&self, record: &ConnectRecord) -> Result<bool, ConnectorError> {
        self.0
            .with_instance(|instance| {
                let batch = records::encode(std::slice::from_ref(record))?;
                let answers = instance
                    .test(&batch, 1)
                    .map_err(|e| plugin_error(e, None))?;
                Ok(answers.first().copied().unwrap_or(false))
            })
            .map_err(|e| at_record(e, Some(record)))
    }
}
