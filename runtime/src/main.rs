//! The `weir` binary: argument parsing and wiring only; the work lives in the libraries.

/// Hostile Kafka frames must fail to decode, not abort the process (see `alloc_guard`).
#[global_allocator]
static ALLOC: weir_broker::alloc_guard::GuardedAlloc = weir_broker::alloc_guard::GuardedAlloc;

fn main() -> std::process::ExitCode {
    weir_runtime::cli::main()
}
