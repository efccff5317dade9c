//! weir's WebAssembly plugin host: custom transforms, sources and sinks as sandboxed plugins.
//!
//! What will live here: a wasmtime 48 host with a small core-module ABI (the guest exports
//! memory, an allocator and entry points; records cross in a compact, versioned binary
//! encoding; host imports are few: log, config, emit). Every instance gets a memory cap, a
//! CPU budget (fuel or epoch deadline) and no filesystem, network or stdio unless granted.
//! A guest SDK and example plugins (C, WAT and Rust) are built from source by the tests.

pub mod framing;
pub mod host;

/// The connector API version this host was built against.
pub const API_VERSION: &str = weir_connect_api::API_VERSION;
