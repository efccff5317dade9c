//! Kafka clusters and Connect workers as separate processes, for the tests of a worker that
//! uses an external Kafka cluster and shares its connectors with other workers.
//!
//! - [`MockKafka`]: librdkafka's mock cluster (`tests/clients/mock_kafka.py`, see
//!   `tests/clients/MOCK-KAFKA.md` for what it implements), an implementation of the Kafka
//!   protocol independent of weir's broker. The other one is `weir serve` itself
//!   ([`crate::Workdir::serve`]), reached over its Kafka port only.
//! - [`WorkerProc`]: `weir serve --worker-config <file>` with a worker config the test
//!   gives, on free loopback ports, that can be SIGKILLed, stopped and started again on the
//!   same config and data directory.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::{RestApi, cache_dir, collect, installed, log_field, strip_ansi, tail_of, weir_bin};

/// How long a process may take to say it is ready.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// librdkafka's mock Kafka cluster in a child process, killed on drop. Its brokers listen on
/// 127.0.0.1; topics can be created up front ([`MockKafka::create_topic`]) since the mock has
/// no CreateTopics API.
pub struct MockKafka {
    child: Child,
    stdin: ChildStdin,
    replies: mpsc::Receiver<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    bootstrap: String,
}

impl MockKafka {
    /// A cluster of `brokers` brokers whose groups rebalance at once (no initial delay).
    /// `WEIR_MOCK_KAFKA_DEBUG=1` makes it log every request it receives (see [`Self::log`]).
    pub fn start(brokers: usize) -> MockKafka {
        Self::start_with(brokers, &[])
    }

    /// [`MockKafka::start`] with more launcher options (`--topic NAME:N`,
    /// `--rebalance-delay-ms MS`, `--as-advertised`, `--debug`); later ones win.
    pub fn start_with(brokers: usize, args: &[&str]) -> MockKafka {
        let python = installed(
            "WEIR_PY_MOCK_KAFKA",
            cache_dir().join("venvs/mock-kafka/bin/python"),
            "confluent-kafka for the mock cluster (Python venv mock-kafka)",
        );
        let script = installed(
            "WEIR_MOCK_KAFKA",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/mock_kafka.py"),
            "the mock cluster launcher",
        );
        let mut cmd = Command::new(python);
        cmd.env("PYTHONDONTWRITEBYTECODE", "1")
            .arg("-u")
            .arg(script)
            .args([
                "--brokers",
                &brokers.to_string(),
                "--rebalance-delay-ms",
                "0",
            ])
            .args(args);
        if std::env::var_os("WEIR_MOCK_KAFKA_DEBUG").is_some_and(|v| v == "1") {
            cmd.arg("--debug");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the mock Kafka cluster ({cmd:?}): {e}"));
        let stdin = child.stdin.take().expect("stdin pipe");
        let stdout = child.stdout.take().expect("stdout pipe");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        collect(
            child.stderr.take().expect("stderr pipe"),
            Arc::clone(&stderr),
        );
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut mock = MockKafka {
            child,
            stdin,
            replies,
            stderr,
            bootstrap: String::new(),
        };
        mock.bootstrap = mock.reply("its bootstrap address", START_TIMEOUT);
        assert!(
            mock.bootstrap.starts_with("127.0.0.1:"),
            "the mock cluster printed {:?} instead of its bootstrap address\n{}",
            mock.bootstrap,
            mock.log()
        );
        mock
    }

    /// Every broker, Kafka style: `127.0.0.1:port,127.0.0.1:port,...`.
    pub fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    /// Each broker's `host:port`, broker 1 first.
    pub fn brokers(&self) -> Vec<String> {
        self.bootstrap.split(',').map(str::to_owned).collect()
    }

    /// Creates `name` with `partitions` partitions (replicated on up to 3 brokers).
    pub fn create_topic(&mut self, name: &str, partitions: i32) {
        self.command(&format!("create-topic {name} {partitions}"));
    }

    /// Closes broker `id`'s connections and refuses new ones until [`Self::broker_up`].
    pub fn broker_down(&mut self, id: i32) {
        self.command(&format!("broker-down {id}"));
    }

    pub fn broker_up(&mut self, id: i32) {
        self.command(&format!("broker-up {id}"));
    }

    /// Makes broker `id` the coordinator of consumer group `group`.
    pub fn set_group_coordinator(&mut self, group: &str, id: i32) {
        self.command(&format!("coordinator group {group} {id}"));
    }

    /// What the mock logged (errors, such as a request it does not implement, and with
    /// debug every request).
    pub fn log(&self) -> String {
        let text = String::from_utf8_lossy(&self.stderr.lock().expect("lock")).into_owned();
        format!("--- mock Kafka log (tail) ---\n{}", tail_of(&text, 80))
    }

    fn command(&mut self, line: &str) {
        writeln!(self.stdin, "{line}")
            .and_then(|()| self.stdin.flush())
            .unwrap_or_else(|e| panic!("mock cluster: cannot send {line:?}: {e}\n{}", self.log()));
        let reply = self.reply(line, Duration::from_secs(10));
        assert!(
            reply == "ok",
            "mock cluster: {line:?}: {reply}\n{}",
            self.log()
        );
    }

    fn reply(&self, what: &str, timeout: Duration) -> String {
        self.replies.recv_timeout(timeout).unwrap_or_else(|_| {
            panic!(
                "the mock cluster did not answer {what} within {timeout:?}\n{}",
                self.log()
            )
        })
    }
}

impl Drop for MockKafka {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `weir serve --worker-config <file>` as a child process with its own temp directory: the
/// data directory, the config file and a log file that every start appends to.
pub struct WorkerProc {
    dir: tempfile::TempDir,
    config: Map<String, Value>,
    env: Vec<(String, String)>,
    child: Option<Child>,
    /// Where the current run's output starts in the log file.
    run_start: u64,
    runs: usize,
}

impl WorkerProc {
    /// Starts a worker with `config` (a JSON object of worker keys, passed through as given)
    /// and waits for its `weir ready` line. `data.dir`, `listeners` (the embedded broker's
    /// Kafka port) and `rest.listeners` default to the temp directory and free loopback
    /// ports, kept across restarts.
    pub fn start(config: &Value) -> WorkerProc {
        Self::start_with_env(config, &[])
    }

    /// [`WorkerProc::start`] with environment variables for the worker.
    pub fn start_with_env(config: &Value, env: &[(&str, &str)]) -> WorkerProc {
        let dir = tempfile::tempdir().expect("create temp dir");
        let mut config = config
            .as_object()
            .expect("a worker config is a JSON object")
            .clone();
        let defaults = [
            ("data.dir", dir.path().join("data").display().to_string()),
            ("listeners", format!("127.0.0.1:{}", free_port())),
            ("rest.listeners", format!("127.0.0.1:{}", free_port())),
        ];
        for (key, value) in defaults {
            config.entry(key).or_insert(Value::String(value));
        }
        std::fs::write(
            dir.path().join("worker.json"),
            serde_json::to_string_pretty(&config).expect("config to JSON"),
        )
        .expect("write worker config");
        let mut worker = WorkerProc {
            dir,
            config,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            child: None,
            run_start: 0,
            runs: 0,
        };
        worker.spawn();
        worker
    }

    /// The REST API's `host:port`.
    pub fn rest_addr(&self) -> String {
        let listener = self.config["rest.listeners"].as_str().unwrap_or_default();
        listener
            .split_once("://")
            .map_or(listener, |(_, addr)| addr)
            .to_owned()
    }

    pub fn rest(&self) -> RestApi {
        RestApi::new(self.rest_addr())
    }

    /// The embedded broker's Kafka address, from the current run's `weir ready` line.
    pub fn kafka(&self) -> Option<String> {
        self.current_log()
            .lines()
            .find(|l| l.contains("weir ready"))
            .and_then(|l| log_field(l, "kafka"))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("worker.json")
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the current run is still going.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILL: no shutdown at all, as a crash or a power cut.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for the exit (a clean shutdown); panics with the log after 60 s.
    pub fn terminate(&mut self) -> ExitStatus {
        let Some(mut child) = self.child.take() else {
            panic!("terminate: the worker is not running\n{}", self.log_tail());
        };
        if let Some(status) = child.try_wait().expect("poll worker") {
            return status;
        }
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {} failed", child.id());
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("poll worker") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the worker did not stop within {START_TIMEOUT:?} of SIGTERM; killed\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the worker again with the same config and data directory (stopping it with
    /// SIGTERM first if it still runs).
    pub fn restart(&mut self) {
        if self.running() {
            self.terminate();
        }
        self.child = None;
        self.spawn();
    }

    /// Every line the worker logged, all runs (colour codes removed).
    pub fn log(&self) -> String {
        strip_ansi(&std::fs::read_to_string(self.log_path()).unwrap_or_default())
    }

    /// The current run's log.
    pub fn current_log(&self) -> String {
        let all = std::fs::read(self.log_path()).unwrap_or_default();
        let start = usize::try_from(self.run_start).map_or(all.len(), |s| s.min(all.len()));
        strip_ansi(&String::from_utf8_lossy(&all[start..]))
    }

    /// The last lines of the log, for failure messages.
    pub fn log_tail(&self) -> String {
        format!(
            "--- worker log {} (tail) ---\n{}",
            self.log_path().display(),
            tail_of(&self.log(), 80)
        )
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("worker.log")
    }

    fn spawn(&mut self) {
        self.runs += 1;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open worker log");
        self.run_start = log.metadata().map_or(0, |m| m.len());
        writeln!(log, "=== weir serve, run {} ===", self.runs).expect("write worker log");
        let mut cmd = Command::new(weir_bin());
        cmd.current_dir(self.dir.path())
            .arg("serve")
            .arg("--worker-config")
            .arg(self.config_path())
            .env("RUST_LOG", "info")
            // AWS's default credential chain must not probe the instance metadata service.
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.current_log().contains("weir ready") {
            if !self.running() {
                panic!("the worker exited before it was ready\n{}", self.log_tail());
            }
            if Instant::now() > deadline {
                self.kill9();
                panic!(
                    "the worker was not ready within {START_TIMEOUT:?}\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for WorkerProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// How long a group of workers gets to settle after a change.
pub const SETTLE: Duration = Duration::from_secs(90);

/// Every connector RUNNING with every task RUNNING on a worker in `alive`, as `via` reports
/// it; returns where each instance runs.
pub fn settled(
    via: &WorkerProc,
    names: &[String],
    alive: &BTreeSet<String>,
) -> Option<BTreeMap<String, String>> {
    let mut placed = BTreeMap::new();
    for name in names {
        let r = via.rest().get(&format!("/connectors/{name}/status"));
        if r.status != 200 {
            return None;
        }
        let s = r.json();
        let c = &s["connector"];
        if c["state"] != "RUNNING" || !alive.contains(c["worker_id"].as_str()?) {
            return None;
        }
        placed.insert(name.clone(), c["worker_id"].as_str()?.to_string());
        let tasks = s["tasks"].as_array()?;
        if tasks.is_empty() {
            return None;
        }
        for t in tasks {
            let w = t["worker_id"].as_str()?;
            if t["state"] != "RUNNING" || !alive.contains(w) {
                return None;
            }
            placed.insert(format!("{name}-{}", t["id"]), w.to_string());
        }
    }
    Some(placed)
}

pub fn wait_settled(
    via: &WorkerProc,
    names: &[String],
    alive: &BTreeSet<String>,
    what: &str,
) -> BTreeMap<String, String> {
    let deadline = Instant::now() + SETTLE;
    loop {
        if let Some(p) = settled(via, names, alive) {
            return p;
        }
        if Instant::now() > deadline {
            let statuses: Vec<String> = names
                .iter()
                .map(|n| {
                    via.rest()
                        .get(&format!("/connectors/{n}/status"))
                        .json()
                        .to_string()
                })
                .collect();
            panic!(
                "{what}: not every connector and task RUNNING on {alive:?} within {SETTLE:?}\n{}\n{}",
                statuses.join("\n"),
                via.log_tail()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A write, retried while the group rebalances (409), as Kafka Connect's clients do.
pub fn write_retrying(
    via: &WorkerProc,
    method: &str,
    path: &str,
    body: &Value,
) -> crate::HttpResponse {
    let deadline = Instant::now() + SETTLE;
    loop {
        let r = via.rest().send(method, path, body);
        let rebalancing = r.status == 409
            && (r.body.contains("conflicting operation") || r.body.contains("momentarily"));
        if !rebalancing || Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
