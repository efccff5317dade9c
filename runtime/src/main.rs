//! The `weir` binary: argument parsing and wiring only; the work lives in the libraries.

fn main() -> std::process::ExitCode {
    weir_runtime::cli::main()
}
