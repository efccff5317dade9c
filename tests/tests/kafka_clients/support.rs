//! Where the clients are installed, how long they may take, and output for failure messages.

use std::path::{Path, PathBuf};
use std::time::Duration;

use weir_e2e::{Proc, Served};

/// No client call may take longer; a hung client fails the test instead of hanging it.
pub(crate) const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

pub(crate) use weir_e2e::{cache_dir, installed};

pub(crate) fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// The client scripts (`tests/clients/`).
pub(crate) fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

pub(crate) fn tails(procs: &[&Proc]) -> String {
    procs
        .iter()
        .map(|p| p.tail())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The server's log so far, for failure messages.
pub(crate) fn server_log(served: &Served) -> String {
    let log = served.log_so_far();
    let tail = &log[log.len().saturating_sub(60)..];
    format!("\n--- weir serve log (tail) ---\n{}", tail.join("\n"))
}
