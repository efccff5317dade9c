//! weir's WebAssembly plugin host: custom transforms, predicates, sources and sinks as
//! sandboxed plugins (wasmtime, plain core modules, ABI v1 in `ABI.md`).
//!
//! - [`host`]: the shared engine (epoch ticker, 512 KiB wasm stack), modules compiled once per
//!   content hash, the plugin kind read from the exports;
//! - [`instance`]: one instance per task with a memory cap and a deadline per call, the
//!   `weir` imports (`log`, `error`, `config`, `offset`, gated `http_request`) and nothing
//!   else;
//! - [`framing`]: the fixed-width little-endian record batch both sides read and write;
//! - [`http`]: the allow-listed plain HTTP client behind `weir.http_request`.
//!
//! What records mean (Connect values, schemas) is the runtime's business, not this crate's.

pub mod framing;
pub mod host;
pub mod http;
pub mod instance;

pub use framing::{Encoding, WireRecord, WireRef};
pub use host::{Host, Kind, Plugin, PluginError};
pub use http::HttpGrant;
pub use instance::{Instance, Output, Settings};
