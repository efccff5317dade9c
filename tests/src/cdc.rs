//! Helpers for the Postgres CDC tests: a weir worker plus a Postgres server, the Debezium
//! connector config, and reading a topic's events back as JSON through the Kafka port.

pub mod tail;

use std::time::Duration;

use serde_json::{Value, json};

use crate::pg::PgServer;
use crate::{RestApi, Served, Workdir, wait_for};

/// One record read back: key and value parsed as JSON (`Null` for a tombstone).
#[derive(Debug, Clone)]
pub struct Event {
    pub key: Value,
    pub value: Value,
    /// The value's JSON text as stored (field order included).
    pub raw: String,
}

impl Event {
    /// The Debezium payload: the value's `payload` with schemas, the value itself without.
    pub fn payload(&self) -> &Value {
        self.value.get("payload").unwrap_or(&self.value)
    }

    pub fn op(&self) -> Option<&str> {
        self.payload()["op"].as_str()
    }

    pub fn key_payload(&self) -> &Value {
        self.key.get("payload").unwrap_or(&self.key)
    }

    /// The top-level field names of the value's JSON text, in stored order.
    pub fn field_order(&self) -> Vec<String> {
        let mut out = Vec::new();
        let (mut depth, mut in_str, mut esc, mut start) = (0i32, false, false, None);
        for (i, c) in self.raw.char_indices() {
            if in_str {
                match c {
                    _ if esc => esc = false,
                    '\\' => esc = true,
                    '"' => {
                        in_str = false;
                        if let Some(s) = start.take()
                            && self.raw[i + 1..].trim_start().starts_with(':')
                        {
                            out.push(self.raw[s..i].to_string());
                        }
                    }
                    _ => {}
                }
                continue;
            }
            match c {
                '{' | '[' => depth += 1,
                '}' | ']' => depth -= 1,
                '"' => {
                    in_str = true;
                    start = (depth == 1).then_some(i + 1);
                }
                _ => {}
            }
        }
        out
    }
}

const SEP: &str = "\u{1f}";

/// Every record of `topic` from the beginning, read through the broker's Kafka port.
pub fn events(w: &Workdir, served: &Served, topic: &str) -> Vec<Event> {
    let out = w.run(
        &[
            "consume",
            topic,
            "--from-beginning",
            "--exit-at-end",
            "--key-separator",
            SEP,
            "--bootstrap",
            &served.bootstrap(),
        ],
        b"",
    );
    if !out.status.success() {
        // A topic not created yet reads as empty.
        return Vec::new();
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once(SEP).unwrap_or(("null", l));
            Event {
                raw: v.to_string(),
                key: serde_json::from_str(k).unwrap_or(Value::String(k.to_string())),
                value: serde_json::from_str(v).unwrap_or(Value::String(v.to_string())),
            }
        })
        .collect()
}

/// Waits until `topic` holds at least `n` records; returns them.
pub fn wait_events(w: &Workdir, served: &Served, topic: &str, n: usize) -> Vec<Event> {
    let mut last = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while std::time::Instant::now() < deadline {
        last = events(w, served, topic);
        if last.len() >= n {
            return last;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "{topic}: expected {n} records, found {}: {:?}\nweir log:\n{}",
        last.len(),
        last.iter().rev().take(3).collect::<Vec<_>>(),
        served.log_so_far().join("\n")
    );
}

/// The Debezium connector config for `pg`'s database `db` (superuser, trust), with
/// schemaless JSON so tests read payloads directly; `extra` overrides keys.
pub fn connector_config(pg: &PgServer, db: &str, prefix: &str, extra: &[(&str, &str)]) -> Value {
    let mut config = json!({
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "plugin.name": "pgoutput",
        "database.hostname": pg.host(),
        "database.port": pg.port().to_string(),
        "database.user": "postgres",
        "database.password": "",
        "database.dbname": db,
        "topic.prefix": prefix,
        "slot.name": format!("{}_slot", prefix.replace(['.', '-'], "_")),
        "publication.name": format!("{}_pub", prefix.replace(['.', '-'], "_")),
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "false",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
    });
    let map = config.as_object_mut().expect("object");
    for (k, v) in extra {
        map.insert((*k).to_string(), Value::String((*v).to_string()));
    }
    config
}

/// `weir serve` committing source offsets every 200 ms (`offset.flush.interval.ms` is a
/// worker setting), so the slot is acknowledged quickly.
pub fn serve(w: &Workdir) -> Served {
    let config = w.data_dir().with_file_name("cdc-worker.json");
    std::fs::write(&config, r#"{"offset.flush.interval.ms": "200"}"#).expect("worker config");
    w.serve(&["--worker-config", &config.display().to_string()])
}

/// Posts connector `name` and waits until it and its task run.
pub fn deploy(rest: &RestApi, name: &str, config: &Value) {
    let r = rest.send(
        "POST",
        "/connectors",
        &json!({"name": name, "config": config}),
    );
    assert_eq!(r.status, 201, "POST /connectors: {}", r.body);
    rest.wait_state(Duration::from_secs(60), name, "RUNNING");
}

/// Waits until the connector's task is FAILED; returns its trace.
pub fn wait_failed(rest: &RestApi, name: &str) -> String {
    let path = format!("/connectors/{name}/status");
    let mut trace = String::new();
    wait_for(
        &format!("{name}'s task to fail"),
        Duration::from_secs(90),
        || {
            let doc = rest.get(&path).json();
            match doc["tasks"].get(0) {
                Some(t) if t["state"] == "FAILED" => {
                    trace = t["trace"].as_str().unwrap_or_default().to_string();
                    true
                }
                _ => false,
            }
        },
        || rest.get(&path).body,
    );
    trace
}

/// The slot's `confirmed_flush_lsn` as a number.
pub fn confirmed_flush(pg: &PgServer, db: &str, slot: &str) -> Option<u64> {
    let rows = pg
        .sql_db(
            db,
            &format!(
                "SELECT (confirmed_flush_lsn - '0/0')::bigint FROM pg_replication_slots \
                 WHERE slot_name = '{slot}'"
            ),
        )
        .ok()?;
    rows.first()?.first()?.as_deref()?.parse().ok()
}

/// Waits until replication slot `slot` exists and a walsender streams from it: changes
/// committed from then on are captured (with `snapshot.mode=no_data`, earlier ones are not).
pub fn wait_streaming(pg: &PgServer, db: &str, slot: &str) {
    wait_for(
        &format!("slot {slot} to stream"),
        Duration::from_secs(60),
        || {
            pg.sql_db(
                db,
                &format!(
                    "SELECT 1 FROM pg_replication_slots WHERE slot_name = '{slot}' AND active"
                ),
            )
            .is_ok_and(|rows| !rows.is_empty())
        },
        || pg.log(),
    );
}
