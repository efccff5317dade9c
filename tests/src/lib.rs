//! weir's end-to-end test harness.
//!
//! Runs the real `weir` binary (built by `cargo build`, found next to the test executable or
//! through `WEIR_BIN`) in temp directories, and later issues add the real servers the
//! connector tests need (Postgres, MariaDB, an S3 server, Kafka clients), each on a free
//! loopback port in its own temp dir, stopped by PID.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The `weir` binary under test.
pub fn weir_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("WEIR_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<test-exe> -> target/<profile>/weir
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let bin = dir.join("weir");
    assert!(
        bin.exists(),
        "{} not found: run `cargo build --workspace --bins` first or set WEIR_BIN",
        bin.display()
    );
    bin
}

/// A temp directory holding one weir data directory.
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Default for Workdir {
    fn default() -> Self {
        Self::new()
    }
}

impl Workdir {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("create temp dir"),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A `weir` command with `--data-dir` set, run in the temp dir.
    pub fn weir(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(weir_bin());
        cmd.current_dir(self.dir.path())
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(args)
            .env_remove("RUST_LOG");
        cmd
    }

    /// Runs `weir` to completion with `stdin` as input.
    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = self
            .weir(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn weir");
        let mut input = child.stdin.take().expect("stdin pipe");
        let data = stdin.to_vec();
        let writer = std::thread::spawn(move || {
            // The command may exit early (an error) and close its stdin.
            let _ = input.write_all(&data);
        });
        let out = child.wait_with_output().expect("wait for weir");
        writer.join().expect("stdin writer thread");
        out
    }

    /// Runs `weir` and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str], stdin: &[u8]) -> Vec<u8> {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "weir {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Starts `weir serve` and waits until it logs that it is ready.
    pub fn serve(&self, extra: &[&str]) -> Served {
        let mut args = vec!["serve"];
        args.extend_from_slice(extra);
        let mut child = self
            .weir(&args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn weir serve");
        let stderr = child.stderr.take().expect("stderr pipe");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut log = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    let ready = line.contains("weir ready");
                    log.push(line);
                    if ready {
                        break;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("weir serve did not become ready: {}", log.join("\n"));
                }
            }
        }
        Served { child, log, rx }
    }
}

/// A running `weir serve`, stopped with SIGTERM (and killed if still running on drop).
pub struct Served {
    child: Child,
    log: Vec<String>,
    rx: mpsc::Receiver<String>,
}

impl Served {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM, waits for exit, and returns (success, every log line).
    pub fn stop(mut self) -> (bool, Vec<String>) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let exit = self.child.wait().expect("wait for weir serve");
        let mut log = std::mem::take(&mut self.log);
        log.extend(self.rx.try_iter());
        while let Ok(line) = self.rx.recv_timeout(Duration::from_millis(200)) {
            log.push(line);
        }
        (exit.success(), log)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
