//! Distributed mode end to end: three `weir serve` workers in three processes share the
//! connectors of one group (`group.id`) on an external Kafka cluster reached only over the
//! Kafka protocol: weir's own broker in a separate process, and librdkafka's mock cluster
//! (an independent implementation of the protocol).
//!
//! Six connectors (three file sources, three file sinks) are deployed through different
//! workers (followers forward to the leader); a worker is killed with SIGKILL while lines
//! are being written, its connectors and tasks move to the other two, and every line ends
//! up in the sink files; then all three workers are restarted one by one with the pipeline
//! running, and again nothing is lost.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use weir_e2e::cluster::{MockKafka, SETTLE, WorkerProc, wait_settled, write_retrying as write};

const PIPELINES: usize = 3;
const SESSION_TIMEOUT_MS: u64 = 6_000;

fn worker_config(bootstrap: &str, group: &str) -> Value {
    json!({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "config.storage.topic": format!("{group}-configs"),
        "offset.storage.topic": format!("{group}-offsets"),
        "status.storage.topic": format!("{group}-status"),
        "config.storage.replication.factor": "1",
        "offset.storage.replication.factor": "1",
        "status.storage.replication.factor": "1",
        "offset.flush.interval.ms": "500",
        "session.timeout.ms": SESSION_TIMEOUT_MS.to_string(),
        "heartbeat.interval.ms": "1000",
        "plugin.reload.interval.ms": "0",
    })
}

/// Appends numbered lines to each pipeline's input file until stopped.
struct Writer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    fn start(inputs: Vec<PathBuf>, from: usize) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut files: Vec<std::fs::File> = inputs
                .iter()
                .map(|p| {
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(p)
                        .expect("open input")
                })
                .collect();
            let mut n = from;
            while !flag.load(Ordering::Relaxed) {
                for (i, f) in files.iter_mut().enumerate() {
                    writeln!(f, "p{i}-line-{n:06}").expect("append a line");
                }
                n += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Writer {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("writer thread");
        }
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Every input line is in its pipeline's output (at least once); returns the duplicates.
fn wait_delivered(dir: &Path, what: &str, workers: &[WorkerProc]) -> usize {
    let deadline = Instant::now() + SETTLE;
    loop {
        let mut missing = 0;
        let mut duplicates = 0;
        for i in 0..PIPELINES {
            let input = lines(&dir.join(format!("in-{i}.txt")));
            let output = lines(&dir.join(format!("out-{i}.txt")));
            let seen: BTreeSet<&String> = output.iter().collect();
            missing += input.iter().filter(|l| !seen.contains(l)).count();
            duplicates += output.len() - seen.len();
        }
        if missing == 0 {
            return duplicates;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = workers.iter().map(WorkerProc::log_tail).collect();
            panic!(
                "{what}: {missing} lines never reached the sinks\n{}",
                logs.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn deploy(workers: &[WorkerProc], dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for i in 0..PIPELINES {
        // Through a different worker each time: followers forward to the leader.
        let via = &workers[i % workers.len()];
        let source = json!({
            "name": format!("src-{i}"),
            "config": {
                "connector.class": "FileStreamSource",
                "file": dir.join(format!("in-{i}.txt")).display().to_string(),
                "topic": format!("lines-{i}"),
                "tasks.max": "1",
            }
        });
        let r = write(via, "POST", "/connectors", &source);
        assert_eq!(r.status, 201, "create src-{i} via worker {i}: {}", r.body);
        assert_eq!(
            r.header("location"),
            Some(format!("/connectors/src-{i}").as_str())
        );
        let sink = json!({
            "connector.class": "FileStreamSink",
            "file": dir.join(format!("out-{i}.txt")).display().to_string(),
            "topics": format!("lines-{i}"),
            "tasks.max": "1",
        });
        let via = &workers[(i + 1) % workers.len()];
        let r = write(via, "PUT", &format!("/connectors/snk-{i}/config"), &sink);
        assert_eq!(r.status, 201, "create snk-{i}: {}", r.body);
        names.push(format!("src-{i}"));
        names.push(format!("snk-{i}"));
    }
    names
}

/// The scenario, against the cluster at `bootstrap`.
fn three_workers_share_and_survive(bootstrap: &str, group: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = worker_config(bootstrap, group);
    let mut workers: Vec<WorkerProc> = (0..3).map(|_| WorkerProc::start(&config)).collect();
    let ids: Vec<String> = workers.iter().map(WorkerProc::rest_addr).collect();
    let mut alive: BTreeSet<String> = ids.iter().cloned().collect();
    // Every worker is in the group before anything is deployed.
    for w in &workers {
        let deadline = Instant::now() + SETTLE;
        while w.rest().get("/connectors").status != 200 {
            assert!(Instant::now() < deadline, "{}", w.log_tail());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let inputs: Vec<PathBuf> = (0..PIPELINES)
        .map(|i| dir.path().join(format!("in-{i}.txt")))
        .collect();
    for p in &inputs {
        std::fs::write(p, "").expect("create input");
    }
    let names = deploy(&workers, dir.path());
    let writer = Writer::start(inputs.clone(), 0);
    let placed = wait_settled(&workers[0], &names, &alive, "after deploying");
    let used: BTreeSet<&String> = placed.values().collect();
    assert!(
        used.len() == 3,
        "12 instances over 3 workers use all three: {placed:?}"
    );
    // Any worker answers for every connector.
    for w in &workers {
        assert_eq!(
            w.rest().get("/connectors").json().as_array().map(Vec::len),
            Some(6)
        );
    }

    // A worker dies; its share moves to the other two.
    let victim = 1;
    workers[victim].kill9();
    alive.remove(&ids[victim]);
    let killed = Instant::now();
    let moved = wait_settled(&workers[0], &names, &alive, "after kill -9");
    let rebalance = killed.elapsed();
    println!(
        "reassigned after kill -9 in {:.1} s (session.timeout.ms={SESSION_TIMEOUT_MS}): {moved:?}",
        rebalance.as_secs_f64()
    );
    assert!(
        rebalance < Duration::from_millis(SESSION_TIMEOUT_MS) + Duration::from_secs(20),
        "reassignment took {rebalance:?}"
    );
    writer.stop();
    let duplicates = wait_delivered(dir.path(), "after kill -9", &workers);
    println!("after kill -9: every line delivered, {duplicates} delivered twice");

    // The dead worker comes back, then every worker restarts in turn with lines flowing.
    workers[victim].restart();
    alive.insert(ids[victim].clone());
    let written = lines(&inputs[0]).len();
    let writer = Writer::start(inputs.clone(), written);
    wait_settled(
        &workers[0],
        &names,
        &alive,
        "after the dead worker came back",
    );
    for i in 0..workers.len() {
        workers[i].terminate();
        alive.remove(&ids[i]);
        let via = (i + 1) % workers.len();
        wait_settled(
            &workers[via],
            &names,
            &alive,
            &format!("while worker {i} is down"),
        );
        workers[i].restart();
        alive.insert(ids[i].clone());
        wait_settled(
            &workers[via],
            &names,
            &alive,
            &format!("after worker {i} came back"),
        );
    }
    writer.stop();
    let duplicates = wait_delivered(dir.path(), "after the rolling restart", &workers);
    println!("after the rolling restart: every line delivered, {duplicates} delivered twice");
    // A connector deleted through a follower is gone from every worker.
    let r = write(&workers[2], "DELETE", "/connectors/snk-2", &Value::Null);
    assert_eq!(r.status, 204, "{}", r.body);
    for w in &workers {
        let deadline = Instant::now() + SETTLE;
        while w.rest().get("/connectors/snk-2").status != 404 {
            assert!(
                Instant::now() < deadline,
                "snk-2 still known\n{}",
                w.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn workers_share_connectors_on_weirs_own_broker_in_another_process() {
    // The cluster: a weir process reached only over its Kafka port.
    let broker = WorkerProc::start(&json!({}));
    let bootstrap = broker.kafka().expect("the broker's Kafka address");
    three_workers_share_and_survive(&bootstrap, "weir-e2e");
}

#[test]
fn workers_share_connectors_on_librdkafkas_mock_cluster() {
    let mock = MockKafka::start(3);
    three_workers_share_and_survive(&mock.bootstrap(), "weir-mock");
}

/// The external cluster goes down mid-stream and comes back: a worker on it (no group)
/// waits it out and delivers every line.
#[test]
fn a_worker_rides_out_an_outage_of_its_kafka_cluster() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut broker = WorkerProc::start(&json!({}));
    let bootstrap = broker.kafka().expect("the broker's Kafka address");
    let mut config = worker_config(&bootstrap, "solo");
    config.as_object_mut().expect("object").remove("group.id");
    let worker = WorkerProc::start(&config);
    let inputs: Vec<PathBuf> = (0..PIPELINES)
        .map(|i| dir.path().join(format!("in-{i}.txt")))
        .collect();
    for p in &inputs {
        std::fs::write(p, "").expect("create input");
    }
    let names = deploy(std::slice::from_ref(&worker), dir.path());
    let alive = BTreeSet::from([worker.rest_addr()]);
    let writer = Writer::start(inputs.clone(), 0);
    wait_settled(&worker, &names, &alive, "before the outage");
    std::thread::sleep(Duration::from_secs(1));
    // The cluster stops (cleanly) and is back after a few seconds at the same address.
    broker.terminate();
    std::thread::sleep(Duration::from_secs(4));
    broker.restart();
    std::thread::sleep(Duration::from_secs(1));
    writer.stop();
    let duplicates = wait_delivered(
        dir.path(),
        "after the outage",
        std::slice::from_ref(&worker),
    );
    println!(
        "after a 4 s outage of the cluster: every line delivered, {duplicates} delivered twice"
    );
    wait_settled(&worker, &names, &alive, "after the outage");
}
