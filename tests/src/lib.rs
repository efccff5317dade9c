//! weir's end-to-end test harness.
//!
//! Runs the real `weir` binary (built by `cargo build`, found next to the test executable or
//! through `WEIR_BIN`) in temp directories, `weir serve` with its Kafka listener on a free
//! loopback port, and client processes ([`Proc`]) that are killed when they overrun their
//! deadline, so a hung client fails its test instead of hanging the suite. Later issues add
//! the real servers the connector tests need (Postgres, MariaDB, an S3 server), and
//! [`cluster`] a second Kafka implementation and workers run as separate processes.

pub mod bench;
pub mod cdc;
pub mod cluster;
pub mod es;
pub mod jdbc;
pub mod kcat;
pub mod mariadb;
pub mod pg;
pub mod s3;
pub mod wasm;

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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

    /// Starts `weir serve` and waits until it logs that it is ready. The Kafka listener
    /// and the REST API bind free loopback ports (`--listen 127.0.0.1:0`,
    /// `--rest-listen 127.0.0.1:0`) unless `extra` names them; [`Served::bootstrap`] and
    /// [`Served::rest`] tell which.
    pub fn serve(&self, extra: &[&str]) -> Served {
        self.serve_with_env(extra, &[])
    }

    /// [`Workdir::serve`] committing offsets every `flush_ms` (`offset.flush.interval.ms`,
    /// a worker setting), with a REST client for it.
    pub fn serve_flushing(&self, flush_ms: u64) -> (Served, RestApi) {
        let config = self.dir.path().join("worker.json");
        let body = serde_json::json!({"offset.flush.interval.ms": flush_ms.to_string()});
        std::fs::write(&config, body.to_string()).expect("worker config");
        let served = self.serve(&["--worker-config", &config.display().to_string()]);
        let api = RestApi::new(served.rest());
        (served, api)
    }

    /// [`Workdir::serve`] with environment variables set for the worker (credentials a
    /// connector reads from its environment, as AWS's default chain does).
    pub fn serve_with_env(&self, extra: &[&str], env: &[(&str, &str)]) -> Served {
        let mut args = vec!["serve"];
        if !extra.contains(&"--listen") {
            args.extend_from_slice(&["--listen", "127.0.0.1:0"]);
        }
        if !extra.contains(&"--rest-listen") {
            args.extend_from_slice(&["--rest-listen", "127.0.0.1:0"]);
        }
        args.extend_from_slice(extra);
        let mut child = self
            .weir(&args)
            .env("RUST_LOG", "info")
            // AWS's default credential chain must not probe the instance metadata service
            // (tests send traffic to loopback only).
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(env.iter().copied())
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
        Served {
            child,
            log: RefCell::new(log),
            rx,
        }
    }
}

/// A running `weir serve`, stopped with SIGTERM (and killed if still running on drop).
pub struct Served {
    child: Child,
    log: RefCell<Vec<String>>,
    rx: mpsc::Receiver<String>,
}

impl Served {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The Kafka bootstrap address (`host:port`), from the `kafka=` field of the
    /// `weir ready` log line.
    pub fn bootstrap(&self) -> String {
        self.ready_field("kafka")
    }

    /// The REST API address (`host:port`), from the `rest=` field of the `weir ready` line.
    pub fn rest(&self) -> String {
        self.ready_field("rest")
    }

    fn ready_field(&self, name: &str) -> String {
        let log = self.log.borrow();
        let ready = log
            .iter()
            .rev()
            .find(|l| l.contains("weir ready"))
            .expect("serve() returns only after the ready line");
        log_field(ready, name).unwrap_or_else(|| {
            panic!("the `weir ready` line has no {name}=<host:port> field: {ready}")
        })
    }

    /// The log lines read so far (the ready line and everything before it, plus whatever
    /// has arrived since).
    pub fn log_so_far(&self) -> Vec<String> {
        let mut log = self.log.borrow_mut();
        log.extend(self.rx.try_iter());
        log.clone()
    }

    /// Sends SIGTERM, waits for exit, and returns (success, every log line).
    pub fn stop(mut self) -> (bool, Vec<String>) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let exit = self.child.wait().expect("wait for weir serve");
        let mut log = self.log.take();
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

/// The value of field `name=` in a log line (quotes and colour codes removed).
fn log_field(line: &str, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    strip_ansi(line)
        .split_whitespace()
        .find_map(|field| field.strip_prefix(prefix.as_str()))
        .map(|value| value.trim_matches('"').to_owned())
}

/// `line` without terminal colour codes (`ESC [ ... m`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// An HTTP answer: status, headers (names lower-cased) and body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("answer is not JSON ({e}): {} {}", self.status, self.body))
    }

    /// Asserts Kafka Connect's error answer: `status`, an equal `error_code`, and a message
    /// containing `message`.
    pub fn assert_error(&self, status: u16, message: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        let doc = self.json();
        assert_eq!(doc["error_code"], status, "{}", self.body);
        let got = doc["message"].as_str().unwrap_or_default();
        assert!(got.contains(message), "expected {message:?} in {got:?}");
    }
}

/// The REST API of one `weir serve` (see [`Served::rest`]), with optional headers sent on
/// every request (credentials).
pub struct RestApi {
    pub addr: String,
    pub headers: Vec<(String, String)>,
}

impl RestApi {
    pub fn new(addr: String) -> Self {
        Self {
            addr,
            headers: Vec::new(),
        }
    }

    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> HttpResponse {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        http(method, &self.addr, path, body, &headers)
    }

    pub fn get(&self, path: &str) -> HttpResponse {
        self.call("GET", path, None)
    }

    pub fn send(&self, method: &str, path: &str, body: &serde_json::Value) -> HttpResponse {
        self.call(method, path, Some(&body.to_string()))
    }

    /// Polls `/connectors/{name}/status` until the connector and every task are `state`.
    /// `PUT /connectors/<name>/config` (201 expected), then waits until it runs.
    pub fn put_running(&self, timeout: Duration, name: &str, config: &serde_json::Value) {
        let r = self.send("PUT", &format!("/connectors/{name}/config"), config);
        assert_eq!(r.status, 201, "PUT /connectors/{name}/config: {}", r.body);
        self.wait_state(timeout, name, "RUNNING");
    }

    pub fn wait_state(&self, timeout: Duration, name: &str, state: &str) {
        let path = format!("/connectors/{name}/status");
        wait_for(
            &format!("{name} to be {state}"),
            timeout,
            || {
                let r = self.get(&path);
                let doc = if r.status == 200 {
                    r.json()
                } else {
                    serde_json::Value::Null
                };
                doc["connector"]["state"] == state
                    && doc["tasks"]
                        .as_array()
                        .is_some_and(|t| t.iter().all(|t| t["state"] == state))
            },
            || self.get(&path).body,
        );
    }
}

/// A blocking HTTP/1.1 request to `addr` (`host:port`, loopback in tests) with a 30 s
/// deadline; one connection per request. `headers` are added as given (e.g. an
/// `Authorization`); a body is sent as `application/json`.
pub fn http(
    method: &str,
    addr: &str,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> HttpResponse {
    use std::net::TcpStream;
    let timeout = Duration::from_secs(30);
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream
        .set_read_timeout(Some(timeout))
        .expect("read timeout");
    stream
        .set_write_timeout(Some(timeout))
        .expect("write timeout");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or(""));
    stream
        .write_all(request.as_bytes())
        .unwrap_or_else(|e| panic!("{method} {path}: send: {e}"));
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("{method} {path}: read: {e}"));
    parse_http(&raw).unwrap_or_else(|| {
        panic!(
            "{method} {path}: not an HTTP answer: {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

fn parse_http(raw: &[u8]) -> Option<HttpResponse> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body)?;
    }
    Some(HttpResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// A child process (a Kafka client, a tool) whose stdout and stderr are collected as they
/// arrive. Every wait has a deadline; on drop the process is killed.
pub struct Proc {
    name: String,
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

/// What a [`Proc`] left behind once it exited.
#[derive(Debug)]
pub struct Finished {
    pub name: String,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Finished {
    /// stdout as lines (lossy UTF-8).
    pub fn lines(&self) -> Vec<String> {
        complete_lines(&self.stdout)
    }

    /// Panics with the process's output unless it exited with status 0.
    pub fn success(self) -> Self {
        assert!(
            self.status.success(),
            "{} failed ({}):\n{}",
            self.name,
            self.status,
            self.tail()
        );
        self
    }

    /// The last lines of stdout and stderr, for failure messages.
    pub fn tail(&self) -> String {
        format!(
            "--- stdout (tail) ---\n{}\n--- stderr (tail) ---\n{}",
            tail_of(&String::from_utf8_lossy(&self.stdout), 40),
            tail_of(&self.stderr, 60)
        )
    }
}

/// The last `lines` lines of `text`, each cut to 400 bytes.
fn tail_of(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| match l.char_indices().nth(400) {
            Some((cut, _)) => format!("{}...", &l[..cut]),
            None => (*l).to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn complete_lines(bytes: &[u8]) -> Vec<String> {
    let end = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    String::from_utf8_lossy(&bytes[..end])
        .lines()
        .map(str::to_owned)
        .collect()
}

fn collect(mut from: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = vec![0; 64 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock()
                .expect("output buffer lock")
                .extend_from_slice(&buf[..n]);
        }
    })
}

impl Proc {
    /// Starts `cmd` with stdin closed and stdout/stderr collected; `name` appears in every
    /// failure message.
    pub fn spawn(name: &str, mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(
                child.stdout.take().expect("stdout pipe"),
                Arc::clone(&stdout),
            ),
            collect(
                child.stderr.take().expect("stderr pipe"),
                Arc::clone(&stderr),
            ),
        ];
        Proc {
            name: name.to_owned(),
            child,
            stdout,
            stderr,
            readers,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The complete stdout lines so far.
    pub fn lines(&self) -> Vec<String> {
        complete_lines(&self.stdout.lock().expect("output buffer lock"))
    }

    /// The last lines of stdout and stderr so far, for failure messages.
    pub fn tail(&self) -> String {
        format!(
            "--- {} stdout (tail) ---\n{}\n--- {} stderr (tail) ---\n{}",
            self.name,
            tail_of(&self.lines().join("\n"), 40),
            self.name,
            tail_of(
                &String::from_utf8_lossy(&self.stderr.lock().expect("lock")),
                60
            )
        )
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM (a client shuts down cleanly: commits, leaves its group).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {} failed", self.name);
    }

    /// Sends SIGKILL (a client crashes: no commit, no LeaveGroup) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the exit; past `timeout` the process is killed and the test fails.
    pub fn wait(mut self, timeout: Duration) -> Finished {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("poll child") {
                break status;
            }
            if Instant::now() > deadline {
                self.kill();
                panic!(
                    "{} did not finish within {timeout:?}; killed\n{}",
                    self.name,
                    self.tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        for r in self.readers.drain(..) {
            r.join().expect("output reader thread");
        }
        Finished {
            name: std::mem::take(&mut self.name),
            status,
            stdout: std::mem::take(&mut *self.stdout.lock().expect("lock")),
            stderr: String::from_utf8_lossy(&self.stderr.lock().expect("lock")).into_owned(),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

/// Runs `cmd` to completion; past `timeout` it is killed and the test fails.
pub fn run_with_timeout(name: &str, cmd: Command, timeout: Duration) -> Finished {
    Proc::spawn(name, cmd).wait(timeout)
}

/// Polls `cond` every 50 ms until it holds; past `timeout` fails the test with `what` and
/// `context()` (typically the output of the processes involved).
pub fn wait_for(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// weir's cache directory (`$HOME/.cache/weir`), where `./scripts/test` installs tools.
pub fn cache_dir() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is set");
    PathBuf::from(home).join(".cache/weir")
}

/// `env` if set, else `default` if it exists; otherwise the test fails with how to fix it.
pub fn installed(env: &str, default: PathBuf, what: &str) -> PathBuf {
    let path = std::env::var_os(env).map_or(default, PathBuf::from);
    assert!(
        path.exists(),
        "{what} not found at {} (set {env}, or run ./scripts/test, which installs it)",
        path.display()
    );
    path
}

/// `base` (a JSON object) with the keys of `extra` set on top.
pub fn with_keys(mut base: serde_json::Value, extra: &serde_json::Value) -> serde_json::Value {
    for (k, v) in extra.as_object().expect("an object of extra keys") {
        base[k] = v.clone();
    }
    base
}
