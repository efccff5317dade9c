//! One plugin instance: its store (memory cap, deadline), the `weir` imports, and the typed
//! entry-point calls of ABI v1. An instance is used by one task at a time; after any failure
//! the caller drops it and builds a new one.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::{
    Caller, Linker, Memory, Store, StoreLimits, StoreLimitsBuilder, Trap, TypedFunc, WasmBacktrace,
    WasmParams, WasmResults,
};

use crate::host::{Kind, Plugin, PluginError, TICK, root_cause};
use crate::http::{self, HttpGrant};

/// Default memory cap per instance.
pub const DEFAULT_MEMORY_BYTES: usize = 32 << 20;
/// The most elements a guest table may hold (`table.grow` past it traps), so a table
/// cannot grow the host's memory without bound either.
const MAX_TABLE_ELEMENTS: usize = 1 << 16;
/// Default deadline per call.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(1);

/// Looks up the committed offset (JSON) of a source partition (JSON).
pub type OffsetLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What an instance is allowed and given.
#[derive(Clone)]
pub struct Settings {
    pub memory_bytes: usize,
    pub deadline: Duration,
    /// The plugin's config (`weir_init`, `weir.config`).
    pub config: BTreeMap<String, String>,
    /// Network access through `weir.http_request`, sources and sinks only.
    pub http: Option<HttpGrant>,
    /// `weir.offset`, sources only.
    pub offsets: Option<OffsetLookup>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            memory_bytes: DEFAULT_MEMORY_BYTES,
            deadline: DEFAULT_DEADLINE,
            config: BTreeMap::new(),
            http: None,
            offsets: None,
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Config values may be secrets: only their keys are shown.
        f.debug_struct("Settings")
            .field("memory_bytes", &self.memory_bytes)
            .field("deadline", &self.deadline)
            .field("config_keys", &self.config.keys().collect::<Vec<_>>())
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

/// What a store carries.
pub struct State {
    plugin: String,
    memory_bytes: usize,
    limits: StoreLimits,
    error: Option<String>,
    config: BTreeMap<String, String>,
    http: Option<HttpGrant>,
    offsets: Option<OffsetLookup>,
}

/// Where a guest left its output (a packed `(ptr << 32) | len`), until it is read.
#[derive(Debug)]
#[must_use]
pub struct Output(i64);

/// One instance of a plugin.
pub struct Instance {
    name: String,
    deadline: Duration,
    store: Store<State>,
    memory: Memory,
    alloc: TypedFunc<i32, i32>,
    reset: Option<TypedFunc<(), ()>>,
    batch_entry: Option<TypedFunc<(i32, i32), i64>>,
    /// The batch entry point's name (`weir_transform` or `weir_test`), for messages.
    batch_name: &'static str,
    put: Option<TypedFunc<(i32, i32), i32>>,
    flush: Option<TypedFunc<(), i32>>,
    poll: Option<TypedFunc<(), i64>>,
}

impl fmt::Debug for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instance")
            .field("plugin", &self.name)
            .finish_non_exhaustive()
    }
}

/// One guest call under a fresh deadline, with the guest's last error message cleared.
fn run<T>(
    store: &mut Store<State>,
    deadline: Duration,
    call: impl FnOnce(&mut Store<State>) -> wasmtime::Result<T>,
) -> wasmtime::Result<T> {
    store.set_epoch_deadline(ticks(deadline));
    store.data_mut().error = None;
    call(store)
}

fn ticks(deadline: Duration) -> u64 {
    (deadline.as_millis() / TICK.as_millis()).max(1) as u64
}

/// The bytes at `ptr..ptr+len` of the caller's memory, if they are inside it.
fn guest_bytes(caller: &mut Caller<'_, State>, ptr: i32, len: i32) -> Option<Vec<u8>> {
    let memory = caller.get_export("memory")?.into_memory()?;
    let data = memory.data(&caller);
    let (start, len) = (ptr as u32 as usize, len as u32 as usize);
    data.get(start..start.checked_add(len)?).map(<[u8]>::to_vec)
}

fn guest_text(caller: &mut Caller<'_, State>, ptr: i32, len: i32) -> Option<String> {
    guest_bytes(caller, ptr, len).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Copies `value` to the guest's `buf` when it fits; returns its length (ABI `config`).
fn answer(caller: &mut Caller<'_, State>, value: Option<&[u8]>, buf: i32, cap: i32) -> i32 {
    let Some(value) = value else { return -1 };
    let len = i32::try_from(value.len()).unwrap_or(i32::MAX);
    if value.len() <= cap as u32 as usize
        && let Some(memory) = caller.get_export("memory").and_then(|e| e.into_memory())
        && memory
            .write(&mut *caller, buf as u32 as usize, value)
            .is_err()
    {
        return -4;
    }
    len
}

fn link(linker: &mut Linker<State>, kind: Kind) -> wasmtime::Result<()> {
    linker.func_wrap(
        "weir",
        "log",
        |mut caller: Caller<'_, State>, level: i32, ptr: i32, len: i32| {
            let text = guest_text(&mut caller, ptr, len).unwrap_or_default();
            let plugin = &caller.data().plugin;
            match level {
                4.. => tracing::error!(plugin, "{text}"),
                3 => tracing::warn!(plugin, "{text}"),
                2 => tracing::info!(plugin, "{text}"),
                1 => tracing::debug!(plugin, "{text}"),
                _ => tracing::trace!(plugin, "{text}"),
            }
        },
    )?;
    linker.func_wrap(
        "weir",
        "error",
        |mut caller: Caller<'_, State>, ptr: i32, len: i32| {
            let text = guest_text(&mut caller, ptr, len);
            caller.data_mut().error = text;
        },
    )?;
    linker.func_wrap(
        "weir",
        "config",
        |mut caller: Caller<'_, State>, key: i32, key_len: i32, buf: i32, cap: i32| -> i32 {
            let Some(key) = guest_text(&mut caller, key, key_len) else {
                return -4;
            };
            let value = caller.data().config.get(&key).cloned();
            answer(&mut caller, value.as_deref().map(str::as_bytes), buf, cap)
        },
    )?;
    if kind == Kind::Source {
        linker.func_wrap(
            "weir",
            "offset",
            |mut caller: Caller<'_, State>, part: i32, part_len: i32, buf: i32, cap: i32| -> i32 {
                let Some(partition) = guest_text(&mut caller, part, part_len) else {
                    return -4;
                };
                let offset = caller
                    .data()
                    .offsets
                    .as_ref()
                    .and_then(|lookup| lookup(&partition));
                answer(&mut caller, offset.as_deref().map(str::as_bytes), buf, cap)
            },
        )?;
    }
    if matches!(kind, Kind::Source | Kind::Sink) {
        linker.func_wrap(
            "weir",
            "http_request",
            |mut caller: Caller<'_, State>, req: i32, req_len: i32, buf: i32, cap: i32| -> i64 {
                let Some(request) = guest_bytes(&mut caller, req, req_len) else {
                    return http::MALFORMED;
                };
                let plugin = caller.data().plugin.clone();
                let Some(grant) = caller.data().http.clone() else {
                    tracing::warn!(plugin, "http_request refused: the connector config lists no wasm.http.allowed.hosts");
                    return http::NOT_ALLOWED;
                };
                match http::request(&grant, &request) {
                    Ok((status, body)) => {
                        let n = body.len().min(cap as u32 as usize);
                        if let Some(memory) =
                            caller.get_export("memory").and_then(|e| e.into_memory())
                            && memory
                                .write(&mut caller, buf as u32 as usize, &body[..n])
                                .is_err()
                        {
                            return http::MALFORMED;
                        }
                        (i64::from(status) << 32) | body.len() as i64
                    }
                    Err(e) => {
                        tracing::warn!(plugin, "http_request failed: {e}");
                        e.code()
                    }
                }
            },
        )?;
    }
    Ok(())
}

/// Typed exports of a fresh instance, with a message naming the export when its signature
/// is not ABI.md's.
struct TypedLookup<'a> {
    instance: wasmtime::Instance,
    plugin: &'a str,
}

impl TypedLookup<'_> {
    fn get<P: WasmParams, R: WasmResults>(
        &self,
        store: &mut Store<State>,
        name: &str,
    ) -> Result<TypedFunc<P, R>, PluginError> {
        self.instance
            .get_typed_func(&mut *store, name)
            .map_err(|e| PluginError::Load {
                plugin: self.plugin.to_string(),
                message: format!(
                    "{name} does not have ABI.md's signature: {}",
                    root_cause(&e)
                ),
            })
    }
}

impl Instance {
    /// A new instance of `plugin`, initialised with `settings.config` (`weir_init`).
    pub fn new(plugin: &Plugin, settings: &Settings) -> Result<Instance, PluginError> {
        let name = plugin.name.clone();
        let load = |message: String| PluginError::Load {
            plugin: name.clone(),
            message,
        };
        let state = State {
            plugin: name.clone(),
            memory_bytes: settings.memory_bytes,
            limits: StoreLimitsBuilder::new()
                .memory_size(settings.memory_bytes)
                .table_elements(MAX_TABLE_ELEMENTS)
                .instances(1)
                .memories(1)
                .tables(4)
                .trap_on_grow_failure(true)
                .build(),
            error: None,
            config: settings.config.clone(),
            http: settings.http.clone(),
            offsets: settings.offsets.clone(),
        };
        let mut store = Store::new(&plugin.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(ticks(settings.deadline));
        let mut linker: Linker<State> = Linker::new(&plugin.engine);
        link(&mut linker, plugin.kind)
            .map_err(|e| load(format!("cannot link the host functions: {e}")))?;
        for import in plugin.module.imports() {
            if linker
                .get(&mut store, import.module(), import.name())
                .is_err()
            {
                return Err(load(format!(
                    "imports \"{}\".\"{}\", which a {} plugin is not given (ABI.md lists the weir imports; WASI and other imports are refused)",
                    import.module(),
                    import.name(),
                    plugin.kind.name()
                )));
            }
        }
        let instance = linker
            .instantiate(&mut store, &plugin.module)
            .map_err(|e| load(format!("cannot instantiate: {}", root_cause(&e))))?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| load("exports no memory".into()))?;
        let typed = TypedLookup {
            instance,
            plugin: &name,
        };
        let version: TypedFunc<(), i32> = typed.get(&mut store, "weir_abi_version")?;
        let alloc: TypedFunc<i32, i32> = typed.get(&mut store, "weir_alloc")?;
        let optional = |store: &mut Store<State>, name: &str| instance.get_func(&mut *store, name);
        let reset = match optional(&mut store, "weir_reset") {
            Some(_) => Some(typed.get(&mut store, "weir_reset")?),
            None => None,
        };
        let init: Option<TypedFunc<(i32, i32), i32>> = match optional(&mut store, "weir_init") {
            Some(_) => Some(typed.get(&mut store, "weir_init")?),
            None => None,
        };
        let (mut batch_entry, mut put, mut flush, mut poll) = (None, None, None, None);
        match plugin.kind {
            Kind::Transform | Kind::Predicate => {
                batch_entry = Some(typed.get(&mut store, plugin.kind.entry())?);
            }
            Kind::Sink => {
                put = Some(typed.get(&mut store, "weir_put")?);
                if optional(&mut store, "weir_flush").is_some() {
                    flush = Some(typed.get(&mut store, "weir_flush")?);
                }
            }
            Kind::Source => poll = Some(typed.get(&mut store, "weir_poll")?),
        }
        let mut this = Instance {
            name: name.clone(),
            deadline: settings.deadline,
            store,
            memory,
            alloc,
            reset,
            batch_entry,
            batch_name: plugin.kind.entry(),
            put,
            flush,
            poll,
        };
        let v = this.guarded("weir_abi_version", |s| version.call(s, ()))?;
        if v != 1 {
            return Err(load(format!(
                "speaks ABI version {v}; this host speaks version 1"
            )));
        }
        if let Some(init) = init {
            let config = serde_json::to_vec(&settings.config)
                .map_err(|e| load(format!("cannot encode the config: {e}")))?;
            let (ptr, len) = this.write_input("weir_init", &config)?;
            let code = this.guarded("weir_init", |s| init.call(s, (ptr, len)))?;
            if code != 0 {
                let e = this.failure("weir_init", format!("refused its config (code {code})"));
                return Err(load(e.to_string()));
            }
            this.reset()?;
        }
        Ok(this)
    }

    pub fn plugin(&self) -> &str {
        &self.name
    }

    /// An error of `entry`, with the guest's own message when it gave one.
    fn failure(&mut self, entry: &'static str, message: String) -> PluginError {
        let guest = self.store.data_mut().error.take();
        PluginError::Call {
            plugin: self.name.clone(),
            entry,
            message: match guest {
                Some(g) if !g.is_empty() => format!("{message}: {g}"),
                _ => message,
            },
            retriable: false,
        }
    }

    /// Runs one guest call under a fresh deadline; a trap becomes a readable error.
    fn guarded<T>(
        &mut self,
        entry: &'static str,
        call: impl FnOnce(&mut Store<State>) -> wasmtime::Result<T>,
    ) -> Result<T, PluginError> {
        let result = run(&mut self.store, self.deadline, call);
        result.map_err(|e| self.trapped(entry, &e))
    }

    fn trapped(&mut self, entry: &'static str, e: &wasmtime::Error) -> PluginError {
        let message = self.describe(e);
        self.failure(entry, message)
    }

    fn describe(&self, e: &wasmtime::Error) -> String {
        let at = e
            .downcast_ref::<WasmBacktrace>()
            .and_then(|bt| {
                bt.frames()
                    .first()
                    .and_then(|f| f.func_name().map(str::to_string))
            })
            .map(|f| format!(" (in {f})"))
            .unwrap_or_default();
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => format!(
                "ran past its deadline of {} ms (call.timeout.ms){at}",
                self.deadline.as_millis()
            ),
            Some(Trap::StackOverflow) => format!("trapped: stack overflow{at}"),
            Some(Trap::MemoryOutOfBounds) => format!("trapped: out-of-bounds memory access{at}"),
            Some(Trap::UnreachableCodeReached) => format!("trapped: unreachable code reached{at}"),
            Some(trap) => format!("trapped: {trap}{at}"),
            None => {
                let cause = root_cause(e);
                if cause.contains("memory") && cause.contains("grow") {
                    let cap = self.store.data().memory_bytes;
                    format!(
                        "trapped: {cause} (the memory cap is {cap} bytes, memory.max.bytes){at}"
                    )
                } else {
                    format!("trapped: {cause}{at}")
                }
            }
        }
    }

    /// Writes `input` into a buffer from `weir_alloc`; returns its pointer and length.
    fn write_input(
        &mut self,
        entry: &'static str,
        input: &[u8],
    ) -> Result<(i32, i32), PluginError> {
        self.write_with(entry, input.len(), |buf| buf.copy_from_slice(input))
    }

    /// Has `weir_alloc` give `len` bytes and lets `fill` write them in place.
    fn write_with(
        &mut self,
        entry: &'static str,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<(i32, i32), PluginError> {
        let len = i32::try_from(len)
            .map_err(|_| self.failure(entry, format!("a {len} byte input is too large")))?;
        let ptr = run(&mut self.store, self.deadline, |s| self.alloc.call(s, len))
            .map_err(|e| self.trapped("weir_alloc", &e))?;
        if ptr == 0 && len > 0 {
            return Err(self.failure(
                "weir_alloc",
                format!("could not allocate {len} bytes (out of memory)"),
            ));
        }
        let start = ptr as u32 as usize;
        let data = self.memory.data_mut(&mut self.store);
        match data.get_mut(start..start + len as usize) {
            Some(buf) => {
                fill(buf);
                Ok((ptr, len))
            }
            None => {
                let size = data.len();
                Err(self.failure(
                    "weir_alloc",
                    format!("returned {len} bytes at {ptr}, outside its memory of {size} bytes"),
                ))
            }
        }
    }

    /// Reads the bytes a packed `(ptr << 32) | len` result points at, in place.
    fn read_with<T>(
        &mut self,
        entry: &'static str,
        packed: i64,
        read: impl FnOnce(&[u8]) -> T,
    ) -> Result<T, PluginError> {
        if packed < 0 {
            return Err(self.failure(entry, format!("failed (returned {packed})")));
        }
        let (ptr, len) = (
            (packed as u64 >> 32) as usize,
            (packed as u64 & 0xFFFF_FFFF) as usize,
        );
        let data = self.memory.data(&self.store);
        match ptr.checked_add(len).and_then(|end| data.get(ptr..end)) {
            Some(out) => Ok(read(out)),
            None => {
                let size = data.len();
                Err(self.failure(
                    entry,
                    format!("returned {len} bytes at {ptr}, outside its memory of {size} bytes"),
                ))
            }
        }
    }

    /// The bytes a packed `(ptr << 32) | len` result points at.
    fn read_output(&mut self, entry: &'static str, packed: i64) -> Result<Vec<u8>, PluginError> {
        self.read_with(entry, packed, <[u8]>::to_vec)
    }

    fn reset(&mut self) -> Result<(), PluginError> {
        if let Some(reset) = &self.reset {
            run(&mut self.store, self.deadline, |s| reset.call(s, ()))
                .map_err(|e| self.trapped("weir_reset", &e))?;
        }
        Ok(())
    }

    /// `weir_transform`: an encoded input batch in, the guest's output batch bytes out.
    pub fn transform(&mut self, input: &[u8]) -> Result<Vec<u8>, PluginError> {
        let sent = self.send_batch(input.len(), |buf| buf.copy_from_slice(input))?;
        self.read_batch(sent, <[u8]>::to_vec)
    }

    /// A transform's or predicate's batch call without copies, first half: `fill` writes
    /// the `len`-byte input batch straight into guest memory and the guest runs.
    /// [`Instance::read_batch`] then reads its answer where the guest left it.
    pub fn send_batch(
        &mut self,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<Output, PluginError> {
        let entry = self.batch_name;
        if self.batch_entry.is_none() {
            return Err(self.failure(entry, "the module does not export it".into()));
        }
        let (ptr, len) = self.write_with(entry, len, fill)?;
        let Some(func) = &self.batch_entry else {
            return Err(self.failure(entry, "the module does not export it".into()));
        };
        run(&mut self.store, self.deadline, |s| func.call(s, (ptr, len)))
            .map(Output)
            .map_err(|e| self.trapped(entry, &e))
    }

    /// The second half of a batch call: `read` gets the answer in guest memory; then the
    /// guest's allocator is reset.
    pub fn read_batch<T>(
        &mut self,
        output: Output,
        read: impl FnOnce(&[u8]) -> T,
    ) -> Result<T, PluginError> {
        let out = self.read_with(self.batch_name, output.0, read)?;
        self.reset()?;
        Ok(out)
    }

    /// `weir_test`: one answer per input record.
    pub fn test(&mut self, input: &[u8], count: usize) -> Result<Vec<bool>, PluginError> {
        let sent = self.send_batch(input.len(), |buf| buf.copy_from_slice(input))?;
        let out = self.read_batch(sent, <[u8]>::to_vec)?;
        if out.len() != count {
            return Err(self.failure(
                "weir_test",
                format!("returned {} answers for {count} records", out.len()),
            ));
        }
        Ok(out.into_iter().map(|b| b != 0).collect())
    }

    fn status(&mut self, entry: &'static str, code: i32) -> Result<(), PluginError> {
        match code {
            0 => Ok(()),
            1 => match self.failure(entry, "failed; will retry (returned 1)".into()) {
                PluginError::Call {
                    plugin,
                    entry,
                    message,
                    ..
                } => Err(PluginError::Call {
                    plugin,
                    entry,
                    message,
                    retriable: true,
                }),
                other => Err(other),
            },
            c => Err(self.failure(entry, format!("failed (returned {c})"))),
        }
    }

    /// `weir_put`: delivers an encoded batch.
    pub fn put(&mut self, input: &[u8]) -> Result<(), PluginError> {
        let Some(put) = self.put.clone() else {
            return Err(self.failure("weir_put", "the module does not export it".into()));
        };
        let (ptr, len) = self.write_input("weir_put", input)?;
        let code = self.guarded("weir_put", |s| put.call(s, (ptr, len)))?;
        let status = self.status("weir_put", code);
        self.reset()?;
        status
    }

    /// `weir_flush`, when the guest has one.
    pub fn flush(&mut self) -> Result<(), PluginError> {
        let Some(flush) = self.flush.clone() else {
            return Ok(());
        };
        let code = self.guarded("weir_flush", |s| flush.call(s, ()))?;
        self.status("weir_flush", code)
    }

    /// `weir_poll`: the next batch's bytes, `None` when there is nothing new.
    pub fn poll(&mut self) -> Result<Option<Vec<u8>>, PluginError> {
        let Some(poll) = self.poll.clone() else {
            return Err(self.failure("weir_poll", "the module does not export it".into()));
        };
        let packed = self.guarded("weir_poll", |s| poll.call(s, ()))?;
        if packed == 0 {
            self.reset()?;
            return Ok(None);
        }
        let out = self.read_output("weir_poll", packed)?;
        self.reset()?;
        Ok(Some(out))
    }
}

#[cfg(test)]
#[path = "instance_tests.rs"]
mod tests;
