//! The worker's log in this process vs on an external Kafka cluster, and how long a group
//! of workers takes to move a dead worker's share.
//!
//! 1. FileStreamSource -> log -> FileStreamSink, `--lines N` lines (default 500,000), in
//!    the same run: the embedded broker (one `weir serve`), then the log external (a
//!    `weir serve` worker with `bootstrap.servers` pointing at another weir process, reached
//!    over the Kafka protocol only). Records/s until the output holds every line.
//! 2. Three workers in one group, six connectors: after `kill -9` of one worker, the time
//!    until every connector and task RUNNING on the other two, with `session.timeout.ms`
//!    6000; after SIGTERM of another (it leaves the group), the same.
//!
//! `cargo build --release --bins && cargo run --release -p weir-e2e --example cluster_bench`

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use weir_e2e::bench::arg;
use weir_e2e::cluster::{WorkerProc, wait_settled, write_retrying};

fn write_input(path: &Path, lines: usize) {
    let mut text = String::with_capacity(lines * 40);
    for n in 0..lines {
        text.push_str(&format!("line {n:09} of the cluster benchmark input\n"));
    }
    std::fs::write(path, text).expect("write input");
}

fn count_lines(path: &Path) -> usize {
    std::fs::read(path)
        .map(|b| b.iter().filter(|c| **c == b'\n').count())
        .unwrap_or(0)
}

fn string_converters(mut config: Value) -> Value {
    config["key.converter"] = json!("org.apache.kafka.connect.storage.StringConverter");
    config["value.converter"] = json!("org.apache.kafka.connect.storage.StringConverter");
    config
}

/// Runs file -> file on `worker`; returns records/s.
fn file_to_file(worker: &WorkerProc, dir: &Path, lines: usize) -> f64 {
    let input = dir.join("in.txt");
    let output = dir.join("out.txt");
    write_input(&input, lines);
    let started = Instant::now();
    for (name, config) in [
        (
            "source",
            json!({"connector.class": "FileStreamSource", "file": input.display().to_string(), "topic": "bench"}),
        ),
        (
            "sink",
            json!({"connector.class": "FileStreamSink", "file": output.display().to_string(), "topics": "bench"}),
        ),
    ] {
        let r = write_retrying(
            worker,
            "PUT",
            &format!("/connectors/{name}/config"),
            &string_converters(config),
        );
        assert_eq!(r.status, 201, "{}", r.body);
    }
    while count_lines(&output) < lines {
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "pipeline stalled\n{}",
            worker.log_tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    lines as f64 / started.elapsed().as_secs_f64()
}

fn external_config(bootstrap: &str, group: Option<&str>) -> Value {
    let mut c = json!({
        "bootstrap.servers": bootstrap,
        "config.storage.replication.factor": "1",
        "offset.storage.replication.factor": "1",
        "status.storage.replication.factor": "1",
        "offset.flush.interval.ms": "1000",
        "session.timeout.ms": "6000",
        "heartbeat.interval.ms": "1000",
        "plugin.reload.interval.ms": "0",
    });
    if let Some(g) = group {
        c["group.id"] = json!(g);
        c["config.storage.topic"] = json!(format!("{g}-configs"));
        c["offset.storage.topic"] = json!(format!("{g}-offsets"));
        c["status.storage.topic"] = json!(format!("{g}-status"));
    }
    c
}

fn throughput(lines: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let embedded = WorkerProc::start(&json!({"offset.flush.interval.ms": "1000"}));
    let local = file_to_file(&embedded, dir.path(), lines);
    drop(embedded);

    let dir = tempfile::tempdir().expect("temp dir");
    let broker = WorkerProc::start(&json!({}));
    let bootstrap = broker.kafka().expect("the broker's Kafka address");
    let worker = WorkerProc::start(&external_config(&bootstrap, None));
    let external = file_to_file(&worker, dir.path(), lines);
    println!(
        "file->file {lines} lines: embedded log {local:.0} rec/s, external log (weir broker in another process) {external:.0} rec/s, ratio {:.2}",
        external / local
    );
}

fn rebalance() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = WorkerProc::start(&json!({}));
    let bootstrap = broker.kafka().expect("the broker's Kafka address");
    let config = external_config(&bootstrap, Some("bench"));
    let mut workers: Vec<WorkerProc> = (0..3).map(|_| WorkerProc::start(&config)).collect();
    let mut alive: BTreeSet<String> = workers.iter().map(WorkerProc::rest_addr).collect();
    let mut names = Vec::new();
    for i in 0..3 {
        let input = dir.path().join(format!("in-{i}.txt"));
        write_input(&input, 1000);
        for (name, config) in [
            (
                format!("src-{i}"),
                json!({"connector.class": "FileStreamSource", "file": input.display().to_string(), "topic": format!("t-{i}")}),
            ),
            (
                format!("snk-{i}"),
                json!({"connector.class": "FileStreamSink", "file": dir.path().join(format!("out-{i}.txt")).display().to_string(), "topics": format!("t-{i}")}),
            ),
        ] {
            let r = write_retrying(
                &workers[0],
                "PUT",
                &format!("/connectors/{name}/config"),
                &config,
            );
            assert_eq!(r.status, 201, "{}", r.body);
            names.push(name);
        }
    }
    wait_settled(&workers[0], &names, &alive, "deployed");
    workers[2].kill9();
    alive.remove(&workers[2].rest_addr());
    let t = Instant::now();
    wait_settled(&workers[0], &names, &alive, "after kill -9");
    let killed = t.elapsed();
    workers[1].terminate();
    alive.remove(&workers[1].rest_addr());
    let t = Instant::now();
    wait_settled(&workers[0], &names, &alive, "after SIGTERM");
    let left = t.elapsed();
    println!(
        "rebalance, 3 workers, 6 connectors + 6 tasks: after kill -9 {:.2} s (session.timeout.ms 6000), after SIGTERM (the worker leaves the group) {:.2} s",
        killed.as_secs_f64(),
        left.as_secs_f64()
    );
}

fn main() {
    let lines = arg("--lines", 500_000) as usize;
    throughput(lines);
    rebalance();
}
