//! weir's Kafka client and kcat against librdkafka's mock cluster, a Kafka-protocol
//! implementation independent of weir's broker (`tests/clients/MOCK-KAFKA.md` lists what it
//! implements); and the [`WorkerProc`] harness that later tests run workers with.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use weir_e2e::cluster::{MockKafka, WorkerProc};
use weir_e2e::kcat::{self, kcat_bin};
use weir_e2e::{Workdir, run_with_timeout, wait_for};

/// `key-<i % 37>\tvalue <i> ...`, one record per line, as `weir produce` reads them.
fn keyed_lines(tag: &str, n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let line = format!("key-{}\t{tag} {i} {}\n", i % 37, "x".repeat(i % 11));
        out.extend_from_slice(line.as_bytes());
    }
    out
}

/// The records of `chunks` (`key\tvalue` lines) grouped by key, in order.
fn per_key(chunks: &[&[u8]]) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for chunk in chunks {
        for line in String::from_utf8_lossy(chunk).lines() {
            let (k, v) = line.split_once('\t').expect("a key separator");
            m.entry(k.to_owned()).or_default().push(v.to_owned());
        }
    }
    m
}

fn count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|b| **b == b'\n').count()
}

/// `weir ARGS --bootstrap ADDR`, which must succeed; returns stdout.
fn weir_ok(w: &Workdir, addr: &str, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    w.ok(&[args, &["--bootstrap", addr]].concat(), stdin)
}

/// The partition count of `topic` as kcat's metadata request sees it.
fn kcat_partitions(bootstrap: &str, topic: &str) -> usize {
    let mut cmd = Command::new(kcat_bin());
    cmd.args(["-b", bootstrap, "-L", "-J", "-t", topic]);
    let out = run_with_timeout("kcat -L", cmd, Duration::from_secs(30)).success();
    let doc: Value = serde_json::from_slice(&out.stdout).expect("kcat -L -J prints JSON");
    doc["topics"][0]["partitions"]
        .as_array()
        .map_or(0, Vec::len)
}

#[test]
fn weir_client_produces_and_consumes_through_the_mock_cluster() {
    let mut mock = MockKafka::start(3);
    // `--bootstrap` takes one address; the cluster's metadata names the other brokers.
    let addr = mock.brokers()[0].clone();
    let w = Workdir::new();

    // The mock has no CreateTopics: weir names the missing API, the launcher creates it.
    let refused = w.run(
        &[
            "topics",
            "create",
            "events",
            "--partitions",
            "3",
            "--bootstrap",
            &addr,
        ],
        b"",
    );
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && err.contains("does not support CreateTopics"),
        "{err}\n{}",
        mock.log()
    );
    mock.create_topic("events", 3);
    let list = String::from_utf8(weir_ok(&w, &addr, &["topics", "list"], b"")).expect("utf8");
    assert!(list.lines().any(|l| l == "events"), "{list}");

    let input = keyed_lines("e", 1000);
    weir_ok(
        &w,
        &addr,
        &["produce", "events", "--batch-size", "50"],
        &input,
    );
    let all = weir_ok(
        &w,
        &addr,
        &["consume", "events", "--from-beginning", "--exit-at-end"],
        b"",
    );
    assert_eq!(count(&all), 1000, "{}", mock.log());
    assert_eq!(per_key(&[&all]), per_key(&[&input]));
    // kcat reads what weir wrote, from all three leaders.
    assert_eq!(kcat::consume(&mock.bootstrap(), "events").len(), 1000);

    // A group consumer commits; the next member of the group resumes after the commit.
    let group = ["--group", "mock-group", "--from-beginning"];
    let first = weir_ok(
        &w,
        &addr,
        &[&["consume", "events", "--max", "400"][..], &group].concat(),
        b"",
    );
    assert_eq!(count(&first), 400);
    let second = weir_ok(
        &w,
        &addr,
        &[&["consume", "events", "--exit-at-end"][..], &group].concat(),
        b"",
    );
    assert_eq!(
        count(&second),
        600,
        "the second run resumes after the commit"
    );
    assert_eq!(per_key(&[&first, &second]), per_key(&[&input]));
    let third = weir_ok(
        &w,
        &addr,
        &[&["consume", "events", "--exit-at-end"][..], &group].concat(),
        b"",
    );
    assert!(third.is_empty(), "{}", String::from_utf8_lossy(&third));

    // Metadata auto-creates a topic with the mock's fixed 4 partitions.
    weir_ok(&w, &addr, &["produce", "auto"], b"a\t1\nb\t2\n");
    assert_eq!(kcat_partitions(&mock.bootstrap(), "auto"), 4);
    let got = weir_ok(
        &w,
        &addr,
        &["consume", "auto", "--from-beginning", "--exit-at-end"],
        b"",
    );
    assert_eq!(per_key(&[&got]), per_key(&[b"a\t1\nb\t2\n"]));
}

#[test]
fn kcat_produces_idempotently_and_weir_reads_it_back() {
    let mut mock = MockKafka::start(1);
    mock.create_topic("kc", 2);
    let mut input = String::new();
    for i in 0..1000 {
        input.push_str(&format!("k{}:v{i}\n", i % 13));
    }
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), &input).expect("write input");
    let mut cmd = Command::new(kcat_bin());
    cmd.args(["-b", &mock.bootstrap(), "-P", "-t", "kc", "-K", ":", "-l"])
        .args(["-X", "enable.idempotence=true"])
        .arg(file.path());
    run_with_timeout("kcat -P", cmd, Duration::from_secs(60)).success();

    let records = kcat::consume(&mock.bootstrap(), "kc");
    assert_eq!(records.len(), 1000, "{}", mock.log());
    assert_eq!(
        records.iter().map(|r| r.partition).max(),
        Some(1),
        "both partitions used"
    );
    let w = Workdir::new();
    let got = weir_ok(
        &w,
        &mock.bootstrap(),
        &["consume", "kc", "--from-beginning", "--exit-at-end"],
        b"",
    );
    let expected = input.replace(':', "\t");
    assert_eq!(per_key(&[&got]), per_key(&[expected.as_bytes()]));
}

/// The worker harness with a config that works today (the embedded broker): a connector
/// survives SIGKILL and a restart on the same data directory and ports.
#[test]
fn worker_proc_kills_restarts_and_stops_a_worker() {
    let mut worker = WorkerProc::start(&json!({"offset.flush.interval.ms": "200"}));
    let input = worker.dir().join("in.txt");
    let lines = |range: std::ops::Range<usize>| -> String {
        range.map(|i| format!("line {i}\n")).collect()
    };
    std::fs::write(&input, lines(0..100)).expect("write input");
    let config = json!({"connector.class": "FileStreamSource", "topic": "lines",
                        "file": input.display().to_string()});
    worker
        .rest()
        .put_running(Duration::from_secs(60), "source", &config);
    let kafka = worker.kafka().expect("the embedded broker's address");
    let w = Workdir::new();
    let read = || {
        let out = w.run(
            &[
                "consume",
                "lines",
                "--from-beginning",
                "--exit-at-end",
                "--bootstrap",
                &kafka,
            ],
            b"",
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect::<std::collections::BTreeSet<_>>()
    };
    wait_for(
        "100 lines in the topic",
        Duration::from_secs(60),
        || read().len() == 100,
        || worker.log_tail(),
    );

    worker.kill9();
    assert!(!worker.running());
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .expect("open input");
    file.write_all(lines(100..150).as_bytes())
        .expect("append input");
    worker.restart();
    assert_eq!(worker.kafka().as_deref(), Some(kafka.as_str()), "same port");
    worker
        .rest()
        .wait_state(Duration::from_secs(60), "source", "RUNNING");
    wait_for(
        "150 distinct lines after the restart",
        Duration::from_secs(60),
        || read().len() == 150,
        || worker.log_tail(),
    );
    let status = worker.terminate();
    assert!(status.success(), "{status}\n{}", worker.log_tail());
    let log = worker.log();
    assert!(log.contains("=== weir serve, run 2 ==="), "{log}");
    assert!(log.contains("weir stopped"), "{log}");
}
