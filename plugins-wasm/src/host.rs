//! The wasmtime host (draft): one engine with epoch interruption driven by a ticker thread,
//! modules compiled once, and per-task instances with a memory cap and a deadline per call.
//! Only the `weir` imports of ABI v1 are linked: a module importing anything else does not
//! instantiate.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{
    Caller, Config, Engine, Linker, Memory, Module, Store, StoreLimits, StoreLimitsBuilder,
    TypedFunc,
};

/// Epoch ticks per second: the deadline's granularity.
const TICK: Duration = Duration::from_millis(10);

/// Why a plugin could not be loaded or called.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("plugin {plugin}: {message}")]
    Load { plugin: String, message: String },
    #[error("plugin {plugin}, {entry}: {message}")]
    Call {
        plugin: String,
        entry: &'static str,
        message: String,
    },
}

/// The shared engine and its epoch ticker (stopped on drop).
pub struct Host {
    engine: Engine,
    stop: Arc<AtomicBool>,
}

impl Host {
    pub fn new() -> Result<Host, PluginError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| PluginError::Load {
            plugin: String::new(),
            message: format!("cannot start the WebAssembly engine: {e}"),
        })?;
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
            .map_err(|e| PluginError::Load {
                plugin: String::new(),
                message: format!("cannot start the epoch ticker: {e}"),
            })?;
        Ok(Host { engine, stop })
    }

    /// Compiles a module from WebAssembly binary or text.
    pub fn compile(&self, name: &str, bytes: &[u8]) -> Result<Module, PluginError> {
        Module::new(&self.engine, bytes).map_err(|e| PluginError::Load {
            plugin: name.to_string(),
            message: format!("cannot compile: {e}"),
        })
    }

    /// A fresh instance of `module` with `memory_bytes` at most and `deadline` per call.
    pub fn instantiate(
        &self,
        name: &str,
        module: &Module,
        memory_bytes: usize,
        deadline: Duration,
    ) -> Result<Instance, PluginError> {
        let load = |message: String| PluginError::Load {
            plugin: name.to_string(),
            message,
        };
        let state = State {
            limits: StoreLimitsBuilder::new()
                .memory_size(memory_bytes)
                .instances(1)
                .trap_on_grow_failure(true)
                .build(),
            error: None,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(ticks(deadline));
        let mut linker: Linker<State> = Linker::new(&self.engine);
        linker
            .func_wrap(
                "weir",
                "log",
                |mut caller: Caller<'_, State>, level: i32, ptr: i32, len: i32| {
                    let text = read_text(&mut caller, ptr, len).unwrap_or_default();
                    match level {
                        4.. => tracing::error!(plugin_log = %text),
                        3 => tracing::warn!(plugin_log = %text),
                        2 => tracing::info!(plugin_log = %text),
                        _ => tracing::debug!(plugin_log = %text),
                    }
                },
            )
            .and_then(|l| {
                l.func_wrap(
                    "weir",
                    "error",
                    |mut caller: Caller<'_, State>, ptr: i32, len: i32| {
                        let text = read_text(&mut caller, ptr, len);
                        caller.data_mut().error = text;
                    },
                )
            })
            .map_err(|e| load(format!("cannot link the host functions: {e}")))?;
        let instance = linker
            .instantiate(&mut store, module)
            .map_err(|e| load(format!("cannot instantiate: {e}")))?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| load("exports no memory".into()))?;
        let version: TypedFunc<(), i32> = instance
            .get_typed_func(&mut store, "weir_abi_version")
            .map_err(|e| load(format!("weir_abi_version: {e}")))?;
        let v = version
            .call(&mut store, ())
            .map_err(|e| load(format!("weir_abi_version trapped: {e}")))?;
        if v != 1 {
            return Err(load(format!("speaks ABI version {v}; this host speaks 1")));
        }
        let alloc = instance
            .get_typed_func(&mut store, "weir_alloc")
            .map_err(|e| load(format!("weir_alloc: {e}")))?;
        let reset = instance.get_typed_func(&mut store, "weir_reset").ok();
        let transform = instance.get_typed_func(&mut store, "weir_transform").ok();
        Ok(Instance {
            name: name.to_string(),
            deadline,
            store,
            memory,
            alloc,
            reset,
            transform,
        })
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn ticks(deadline: Duration) -> u64 {
    (deadline.as_millis() / TICK.as_millis()).max(1) as u64
}

/// What a store carries: its limits and the guest's last error message.
pub struct State {
    limits: StoreLimits,
    error: Option<String>,
}

fn read_text(caller: &mut Caller<'_, State>, ptr: i32, len: i32) -> Option<String> {
    let memory = caller.get_export("memory")?.into_memory()?;
    let data = memory.data(&caller);
    let (start, len) = (usize::try_from(ptr).ok()?, usize::try_from(len).ok()?);
    let bytes = data.get(start..start.checked_add(len)?)?;
    Some(String::from_utf8_lossy(bytes).into_owned())
}

/// One plugin instance, used by one task at a time.
pub struct Instance {
    name: String,
    deadline: Duration,
    store: Store<State>,
    memory: Memory,
    alloc: TypedFunc<i32, i32>,
    reset: Option<TypedFunc<(), ()>>,
    transform: Option<TypedFunc<(i32, i32), i64>>,
}

impl Instance {
    fn call_error(&mut self, entry: &'static str, message: String) -> PluginError {
        let guest = self.store.data_mut().error.take();
        PluginError::Call {
            plugin: self.name.clone(),
            entry,
            message: match guest {
                Some(g) => format!("{message}: {g}"),
                None => message,
            },
        }
    }

    /// Calls `weir_transform` with an input batch; returns the output batch's bytes.
    pub fn transform(&mut self, input: &[u8]) -> Result<Vec<u8>, PluginError> {
        const ENTRY: &str = "weir_transform";
        let Some(transform) = self.transform.clone() else {
            return Err(self.call_error(ENTRY, "the module exports no weir_transform".into()));
        };
        let len = i32::try_from(input.len()).map_err(|_| {
            self.call_error(ENTRY, format!("a {} byte batch is too large", input.len()))
        })?;
        self.store.set_epoch_deadline(ticks(self.deadline));
        let ptr = match self.alloc.call(&mut self.store, len) {
            Ok(0) => return Err(self.call_error("weir_alloc", "out of memory".into())),
            Ok(p) => p,
            Err(e) => return Err(self.call_error("weir_alloc", format!("trapped: {e}"))),
        };
        let start = usize::try_from(ptr).unwrap_or(usize::MAX);
        if self.memory.write(&mut self.store, start, input).is_err() {
            return Err(
                self.call_error("weir_alloc", format!("returned {ptr}, outside its memory"))
            );
        }
        let packed = match transform.call(&mut self.store, (ptr, len)) {
            Ok(p) if p < 0 => return Err(self.call_error(ENTRY, format!("failed with code {p}"))),
            Ok(p) => p as u64,
            Err(e) => return Err(self.call_error(ENTRY, format!("trapped: {e}"))),
        };
        let (out_ptr, out_len) = ((packed >> 32) as usize, (packed & 0xFFFF_FFFF) as usize);
        let data = self.memory.data(&self.store);
        let Some(out) = out_ptr
            .checked_add(out_len)
            .and_then(|end| data.get(out_ptr..end))
        else {
            return Err(self.call_error(
                ENTRY,
                format!(
                    "returned {out_len} bytes at {out_ptr}, outside its memory of {} bytes",
                    data.len()
                ),
            ));
        };
        let out = out.to_vec();
        if let Some(reset) = self.reset.clone() {
            reset
                .call(&mut self.store, ())
                .map_err(|e| self.call_error("weir_reset", format!("trapped: {e}")))?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::{WireRecord, decode, encode};

    const IDENTITY: &str = r#"(module
      (memory (export "memory") 2)
      (global $top (mut i32) (i32.const 1024))
      (func (export "weir_abi_version") (result i32) (i32.const 1))
      (func (export "weir_alloc") (param $n i32) (result i32)
        (local $p i32) (local.set $p (global.get $top))
        (global.set $top (i32.add (local.get $p) (local.get $n))) (local.get $p))
      (func (export "weir_reset") (global.set $top (i32.const 1024)))
      (func (export "weir_transform") (param $p i32) (param $n i32) (result i64)
        (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32))
                (i64.extend_i32_u (local.get $n)))))"#;

    fn records() -> Vec<WireRecord> {
        vec![WireRecord {
            topic: "t".into(),
            value: Some(bytes::Bytes::from_static(b"hello")),
            ..WireRecord::default()
        }]
    }

    #[test]
    fn identity_round_trips_a_batch() {
        let host = Host::new().expect("host");
        let module = host
            .compile("identity", IDENTITY.as_bytes())
            .expect("compile");
        let mut instance = host
            .instantiate("identity", &module, 32 << 20, Duration::from_secs(1))
            .expect("instance");
        for _ in 0..3 {
            let out = instance.transform(&encode(&records())).expect("transform");
            assert_eq!(decode(&out, 10).expect("decode"), records());
        }
    }

    #[test]
    fn hostile_guests_are_contained() {
        let host = Host::new().expect("host");
        let looping = IDENTITY.replace(
            "(func (export \"weir_transform\") (param $p i32) (param $n i32) (result i64)",
            "(func (export \"weir_transform\") (param $p i32) (param $n i32) (result i64) (loop $l (br $l))",
        );
        let module = host.compile("loop", looping.as_bytes()).expect("compile");
        let mut instance = host
            .instantiate("loop", &module, 32 << 20, Duration::from_millis(50))
            .expect("instance");
        let e = instance
            .transform(&encode(&records()))
            .expect_err("deadline");
        assert!(
            e.to_string()
                .contains("plugin loop, weir_transform: trapped"),
            "{e}"
        );

        let forbidden = IDENTITY.replace(
            "(memory (export \"memory\") 2)",
            "(import \"wasi_snapshot_preview1\" \"fd_write\" (func (param i32 i32 i32 i32) (result i32))) (memory (export \"memory\") 2)",
        );
        let module = host.compile("wasi", forbidden.as_bytes()).expect("compile");
        let e = host
            .instantiate("wasi", &module, 32 << 20, Duration::from_secs(1))
            .err()
            .expect("unknown import refused");
        assert!(e.to_string().contains("cannot instantiate"), "{e}");

        let outside = IDENTITY.replace(
            "(i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32))",
            "(i64.or (i64.shl (i64.const 4000000) (i64.const 32))",
        );
        let module = host.compile("oob", outside.as_bytes()).expect("compile");
        let mut instance = host
            .instantiate("oob", &module, 32 << 20, Duration::from_secs(1))
            .expect("instance");
        let e = instance
            .transform(&encode(&records()))
            .expect_err("out of bounds");
        assert!(e.to_string().contains("outside its memory"), "{e}");
    }
}
