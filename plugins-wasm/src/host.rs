//! The wasmtime host: one engine with epoch interruption driven by a ticker thread, and
//! modules compiled once per content hash. Instances live in [`crate::instance`].

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::{Config, Engine, ExternType, Module};

/// Epoch tick: the deadline's granularity.
pub(crate) const TICK: Duration = Duration::from_millis(10);
/// The WebAssembly stack a call may use.
const MAX_WASM_STACK: usize = 512 << 10;

/// Why a plugin could not be loaded or called.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PluginError {
    #[error("WASM plugin {plugin}: {message}")]
    Load { plugin: String, message: String },
    #[error("WASM plugin {plugin}, {entry}: {message}")]
    Call {
        plugin: String,
        entry: &'static str,
        message: String,
        /// The guest asked for the call to be retried (a sink's `weir_put` returned 1).
        retriable: bool,
    },
}

impl PluginError {
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            PluginError::Call {
                retriable: true,
                ..
            }
        )
    }
}

/// What a module is, from the entry points it exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Transform,
    Predicate,
    Sink,
    Source,
}

impl Kind {
    /// The entry point that makes a module this kind.
    pub fn entry(self) -> &'static str {
        match self {
            Kind::Transform => "weir_transform",
            Kind::Predicate => "weir_test",
            Kind::Sink => "weir_put",
            Kind::Source => "weir_poll",
        }
    }

    /// Kafka Connect's word for the kind in plugin listings.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Transform => "transformation",
            Kind::Predicate => "predicate",
            Kind::Sink => "sink",
            Kind::Source => "source",
        }
    }
}

/// A compiled plugin: its name, kind, content hash and module.
#[derive(Clone)]
pub struct Plugin {
    pub name: String,
    pub kind: Kind,
    /// SHA-256 of the module's bytes, hex.
    pub hash: String,
    pub(crate) module: Module,
    pub(crate) engine: Engine,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("hash", &self.hash)
            .finish()
    }
}

impl Plugin {
    /// A short version string for listings: `wasm-<first 12 hex digits of the hash>`.
    pub fn version(&self) -> String {
        format!("wasm-{}", &self.hash[..12.min(self.hash.len())])
    }
}

/// The shared engine, its epoch ticker (stopped on drop) and the compiled-module cache.
pub struct Host {
    engine: Engine,
    stop: Arc<AtomicBool>,
    cache: Mutex<HashMap<String, Module>>,
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host").finish_non_exhaustive()
    }
}

static SHARED: OnceLock<Result<Host, PluginError>> = OnceLock::new();

impl Host {
    /// The process's host, started on first use.
    pub fn shared() -> Result<&'static Host, PluginError> {
        SHARED.get_or_init(Host::new).as_ref().map_err(Clone::clone)
    }

    pub fn new() -> Result<Host, PluginError> {
        let engine_error = |message: String| PluginError::Load {
            plugin: String::new(),
            message,
        };
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.max_wasm_stack(MAX_WASM_STACK);
        let engine = Engine::new(&config)
            .map_err(|e| engine_error(format!("cannot start the WebAssembly engine: {e}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (ticking, flag) = (engine.clone(), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    ticking.increment_epoch();
                }
            })
            .map_err(|e| engine_error(format!("cannot start the epoch ticker: {e}")))?;
        Ok(Host {
            engine,
            stop,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Compiles `bytes` (WebAssembly binary or text) as plugin `name`, or takes the module
    /// compiled before from the same bytes; checks the ABI exports and finds the kind.
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<Plugin, PluginError> {
        let load = |message: String| PluginError::Load {
            plugin: name.to_string(),
            message,
        };
        let hash = hex(&Sha256::digest(bytes));
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&hash)
            .cloned();
        let module = match cached {
            Some(m) => m,
            None => {
                let m = Module::new(&self.engine, bytes)
                    .map_err(|e| load(format!("cannot compile: {}", root_cause(&e))))?;
                let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                // Modules of files since changed are not needed again; keep the cache small.
                if cache.len() >= 64 {
                    cache.clear();
                }
                cache.insert(hash.clone(), m.clone());
                m
            }
        };
        let kind = kind_of(&module).map_err(load)?;
        Ok(Plugin {
            name: name.to_string(),
            kind,
            hash,
            module,
            engine: self.engine.clone(),
        })
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The innermost message of a wasmtime error (its chain repeats the context otherwise).
pub(crate) fn root_cause(e: &wasmtime::Error) -> String {
    e.root_cause().to_string()
}

/// The module's kind, after checking the exports every kind needs.
fn kind_of(module: &Module) -> Result<Kind, String> {
    let exports: HashMap<&str, ExternType> = module.exports().map(|e| (e.name(), e.ty())).collect();
    let func = |name: &str| matches!(exports.get(name), Some(ExternType::Func(_)));
    if !matches!(exports.get("memory"), Some(ExternType::Memory(_))) {
        return Err("the module exports no memory named \"memory\" (ABI.md)".into());
    }
    for required in ["weir_abi_version", "weir_alloc"] {
        if !func(required) {
            return Err(format!(
                "the module exports no function \"{required}\" (ABI.md)"
            ));
        }
    }
    let kinds: Vec<Kind> = [Kind::Transform, Kind::Predicate, Kind::Sink, Kind::Source]
        .into_iter()
        .filter(|k| func(k.entry()))
        .collect();
    match kinds.as_slice() {
        [kind] => Ok(*kind),
        [] => Err("the module exports none of weir_transform, weir_test, weir_put, weir_poll, so it is no plugin kind (ABI.md)".into()),
        many => Err(format!(
            "the module exports the entry points of several kinds ({}); a plugin is one kind",
            many.iter()
                .map(|k| k.entry())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}
