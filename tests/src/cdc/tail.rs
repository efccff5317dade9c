//! Reading a CDC topic incrementally through `weir consume`, for the tests that drive
//! large volumes (the plain [`super::events`] re-reads everything each time), and the other
//! helpers those tests share.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::pg::PgServer;
use crate::{Served, Workdir};

static SERIAL: Mutex<()> = Mutex::new(());

/// A lock the heavy tests of one file take, so they run one at a time (each drives a real
/// Postgres and a real `weir serve` hard, on machines with two cores).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

const SEP: &str = "\u{1f}";
/// Records per `weir consume` call, so one call's output stays small.
const CHUNK: usize = 100_000;
pub const TIMEOUT: Duration = Duration::from_secs(90);

/// One record, reduced to what the checks need.
#[derive(Debug, Clone)]
pub struct Rec {
    /// The key's `id` field.
    pub id: Option<i64>,
    /// The envelope's `op`; `"tombstone"` for a null value; `""` for a value that is not a
    /// change event.
    pub op: String,
    pub after: Value,
    pub tx_id: Option<i64>,
    /// The whole value when it is not a change event (a heartbeat).
    pub other: Value,
}

pub fn parse(line: &str) -> Rec {
    let (k, v) = line.split_once(SEP).unwrap_or(("null", line));
    let key: Value = serde_json::from_str(k).unwrap_or(Value::Null);
    let value: Value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
    let id = key.get("id").and_then(Value::as_i64);
    match value {
        Value::Null => Rec {
            id,
            op: "tombstone".into(),
            after: Value::Null,
            tx_id: None,
            other: Value::Null,
        },
        Value::Object(m) if !m.contains_key("op") => Rec {
            id,
            op: String::new(),
            after: Value::Null,
            tx_id: None,
            other: Value::Object(m),
        },
        Value::Object(mut m) => Rec {
            id,
            op: m
                .get("op")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            tx_id: m.get("source").and_then(|s| s["txId"].as_i64()),
            after: m.remove("after").unwrap_or(Value::Null),
            other: Value::Null,
        },
        other => Rec {
            id,
            op: String::new(),
            after: Value::Null,
            tx_id: None,
            other,
        },
    }
}

/// The records of a topic read so far; `poll` reads the new ones (partition 0: topics are
/// created with one partition).
pub struct Tail {
    pub topic: String,
    pub recs: Vec<Rec>,
}

impl Tail {
    pub fn new(topic: &str) -> Tail {
        Tail {
            topic: topic.to_string(),
            recs: Vec::new(),
        }
    }

    /// Reads the records past those already read: through the running broker, or with
    /// `served == None` straight from the data directory (weir must not be running).
    pub fn poll(&mut self, w: &Workdir, served: Option<&Served>) -> usize {
        let before = self.recs.len();
        loop {
            let offset = self.recs.len().to_string();
            let max = CHUNK.to_string();
            let mut args = vec![
                "consume",
                &self.topic,
                "--partition",
                "0",
                "--offset",
                &offset,
                "--max",
                &max,
                "--key-separator",
                SEP,
            ];
            let bootstrap = served.map(Served::bootstrap);
            if let Some(b) = &bootstrap {
                args.extend(["--exit-at-end", "--bootstrap", b]);
            }
            let out = w.run(&args, b"");
            if !out.status.success() {
                // A topic not created yet reads as empty.
                break;
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let n = self.recs.len();
            self.recs
                .extend(text.lines().filter(|l| !l.is_empty()).map(parse));
            if self.recs.len() - n < CHUNK {
                break;
            }
        }
        self.recs.len() - before
    }

    /// Polls until `done` holds for the records read; fails after `timeout` with weir's log.
    pub fn wait(
        &mut self,
        w: &Workdir,
        served: &Served,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[Rec]) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        loop {
            self.poll(w, Some(served));
            if done(&self.recs) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: timed out waiting for {what}; {} records read, last: {:?}\nweir log (tail):\n{}",
                self.topic,
                self.recs.len(),
                self.recs.last(),
                log_tail(served)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The last 40 lines of weir's log, for failure messages.
pub fn log_tail(served: &Served) -> String {
    let log = served.log_so_far();
    log[log.len().saturating_sub(40)..].join("\n")
}

/// The server's current WAL position.
pub fn lsn_now(pg: &PgServer, db: &str) -> u64 {
    pg.sql_db(db, "SELECT (pg_current_wal_lsn() - '0/0')::bigint")
        .expect("wal lsn")[0][0]
        .as_deref()
        .and_then(|v| v.parse().ok())
        .expect("an lsn")
}
