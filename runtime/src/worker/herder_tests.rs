//! The worker in-process on a real broker: lifecycle, restart recovery, offsets, errors.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use weir_broker::{Broker, BrokerOptions, OffsetSpec, batch};
use weir_connect_api::ConfigMap;

use super::*;
use crate::worker::internal::TargetState;
use crate::worker::model::{ConnectorOffsets, PartitionOffset, RestartRequest};

fn config(pairs: &[(&str, &str)]) -> ConfigMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn settings() -> WorkerSettings {
    let mut s = WorkerSettings {
        offset_flush_interval: Duration::from_millis(100),
        ..WorkerSettings::default()
    };
    s.internal_topics.offsets_partitions = 2;
    s.internal_topics.status_partitions = 1;
    s
}

async fn open(dir: &Path) -> (Arc<Broker>, Arc<Worker>) {
    let mut options = BrokerOptions::new(dir.join("data"));
    options.offsets_partitions = 1;
    let broker = Arc::new(Broker::open(options).expect("broker"));
    let worker = Worker::start(crate::log::Log::Embedded(Arc::clone(&broker)), settings())
        .await
        .expect("worker");
    (broker, worker)
}

async fn close(broker: Arc<Broker>, worker: Arc<Worker>) {
    worker.shutdown().await;
    drop(worker);
    // Task handles may still be dropping their broker clones.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut broker = broker;
    loop {
        match Arc::try_unwrap(broker) {
            Ok(b) => return b.close().expect("close"),
            Err(b) if Instant::now() < deadline => {
                broker = b;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(_) => panic!("broker still shared after shutdown"),
        }
    }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn states(worker: &Worker, name: &str) -> (String, Vec<String>) {
    let s = worker.connector_status(name).expect("status");
    (
        s.connector.state,
        s.tasks.into_iter().map(|t| t.state).collect(),
    )
}

fn source(dir: &Path, topic: &str) -> ConfigMap {
    config(&[
        ("connector.class", "FileStreamSource"),
        ("file", &dir.join("in.txt").display().to_string()),
        ("topic", topic),
    ])
}

fn sink(dir: &Path, topic: &str) -> ConfigMap {
    config(&[
        ("connector.class", "FileStreamSink"),
        ("file", &dir.join("out.txt").display().to_string()),
        ("topics", topic),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_to_file_with_pause_stop_resume_and_restart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    std::fs::write(dir.join("in.txt"), "a\nb\n").expect("write");
    let (broker, worker) = open(dir).await;
    let info = worker
        .create_connector("src", source(dir, "lines"), None)
        .await
        .expect("create source");
    assert_eq!(info.kind, "source");
    assert_eq!(info.config["name"], "src");
    worker
        .create_connector("snk", sink(dir, "lines"), None)
        .await
        .expect("create sink");
    let dup = worker
        .create_connector("snk", sink(dir, "lines"), None)
        .await
        .expect_err("duplicate");
    assert_eq!(dup.to_string(), "Connector snk already exists");
    let out = dir.join("out.txt");
    eventually("two lines", || read(&out) == "a\nb\n").await;
    assert_eq!(
        states(&worker, "src"),
        ("RUNNING".into(), vec!["RUNNING".into()])
    );
    assert_eq!(worker.active_topics("snk").expect("topics"), ["lines"]);

    worker.pause("src").await.expect("pause");
    eventually("paused", || states(&worker, "src").1 == ["PAUSED"]).await;
    assert_eq!(states(&worker, "src").0, "PAUSED");
    std::fs::write(dir.join("in.txt"), "a\nb\nc\n").expect("append");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(read(&out), "a\nb\n", "a paused source does not poll");
    worker.resume("src").await.expect("resume");
    eventually("third line", || read(&out) == "a\nb\nc\n").await;

    let running = worker
        .alter_offsets("src", ConnectorOffsets::default())
        .await;
    assert!(
        matches!(&running, Err(e) if e.status() == 400 && e.to_string().contains("STOPPED")),
        "{running:?}"
    );
    worker.stop("src").await.expect("stop");
    assert_eq!(states(&worker, "src"), ("STOPPED".into(), vec![]));
    assert!(worker.connector_info("src").expect("info").tasks.is_empty());
    let offsets = worker.offsets("src").await.expect("offsets");
    assert_eq!(offsets.offsets.len(), 1, "{offsets:?}");
    assert_eq!(
        offsets.offsets[0].offset.as_ref().expect("offset")["position"],
        6
    );
    // Rewind the source to the start of line "b": it is read again after resume.
    let mut partition = offsets.offsets[0].partition.clone();
    partition.insert(
        "filename".into(),
        dir.join("in.txt").display().to_string().into(),
    );
    let mut rewound = serde_json::Map::new();
    rewound.insert("position".into(), 2.into());
    let message = worker
        .alter_offsets(
            "src",
            ConnectorOffsets {
                offsets: vec![PartitionOffset {
                    partition,
                    offset: Some(rewound),
                }],
            },
        )
        .await
        .expect("alter");
    assert!(message.contains("altered successfully"), "{message}");
    worker.resume("src").await.expect("resume");
    eventually("replayed lines", || read(&out) == "a\nb\nc\nb\nc\n").await;

    // Sink offsets are the group's commits.
    eventually("sink commit", || {
        broker
            .committed("connect-snk", "lines", 0)
            .map(|c| c.offset)
            == Some(5)
    })
    .await;
    let restarted = worker
        .restart_connector(
            "snk",
            RestartRequest {
                include_tasks: true,
                only_failed: false,
            },
        )
        .await
        .expect("restart")
        .expect("a status for the KIP-745 form");
    assert_eq!(restarted.connector.state, "RESTARTING");
    eventually("sink running", || states(&worker, "snk").1 == ["RUNNING"]).await;
    worker.delete_connector("snk").await.expect("delete");
    assert_eq!(
        worker
            .connector_status("snk")
            .expect_err("gone")
            .to_string(),
        "No status found for connector snk"
    );
    close(broker, worker).await;

    // A new worker finds the source, its target state and offsets.
    let (broker, worker) = open(dir).await;
    assert_eq!(worker.connectors(), ["src"]);
    eventually("source running", || states(&worker, "src").1 == ["RUNNING"]).await;
    std::fs::write(dir.join("in.txt"), "a\nb\nc\nd\n").expect("append");
    let end = || broker.watermarks("lines", 0).map(|w| w.1).unwrap_or(0);
    eventually("line d in the log", || end() == 6).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(end(), 6, "no line is read twice after a clean restart");
    close(broker, worker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_goes_to_the_dlq_or_fails_the_task() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let (broker, worker) = open(dir).await;
    broker
        .create_topic("raw", 1, Default::default())
        .expect("topic");
    let good = r#"{"schema":{"type":"string","optional":false},"payload":"ok"}"#;
    let records: Vec<batch::NewRecord> = [good, "not json", good]
        .iter()
        .map(|v| batch::NewRecord {
            key: None,
            value: Some(bytes::Bytes::from(v.to_string())),
            headers: vec![("h".into(), Some(bytes::Bytes::from_static(b"v")))],
            timestamp: 1,
        })
        .collect();
    broker
        .append_records(
            "raw",
            0,
            &records,
            kafka_protocol::records::Compression::None,
        )
        .expect("append");

    let mut tolerant = sink(dir, "raw");
    tolerant.insert("errors.tolerance".into(), "all".into());
    tolerant.insert("errors.deadletterqueue.topic.name".into(), "dlq".into());
    tolerant.insert(
        "errors.deadletterqueue.context.headers.enable".into(),
        "true".into(),
    );
    worker
        .create_connector("tolerant", tolerant, None)
        .await
        .expect("create");
    let out = dir.join("out.txt");
    eventually("two good lines", || read(&out) == "ok\nok\n").await;
    assert_eq!(states(&worker, "tolerant").1, ["RUNNING"]);
    let (_, end) = broker.watermarks("dlq", 0).expect("dlq exists");
    assert_eq!(end, 1);
    let start = broker
        .list_offset("dlq", 0, OffsetSpec::Earliest)
        .expect("offset")
        .map_or(0, |(o, _)| o);
    let data = broker.fetch("dlq", 0, start, 1 << 20).expect("fetch");
    let dead = batch::decode_records(data.records).expect("decode");
    assert_eq!(dead[0].value.as_deref(), Some(&b"not json"[..]));
    let header = |k: &str| {
        dead[0]
            .headers
            .iter()
            .find(|(name, _)| name.as_str() == k)
            .and_then(|(_, v)| v.as_ref())
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    assert_eq!(header("h").as_deref(), Some("v"));
    assert_eq!(
        header("__connect.errors.stage").as_deref(),
        Some("VALUE_CONVERTER")
    );
    assert_eq!(header("__connect.errors.offset").as_deref(), Some("1"));
    let metrics = worker.metrics();
    assert_eq!(metrics[0].dlq_writes, 1, "{metrics:?}");

    let mut strict = sink(dir, "raw");
    strict.insert("file".into(), dir.join("strict.txt").display().to_string());
    worker
        .create_connector("strict", strict, None)
        .await
        .expect("create");
    eventually("failed", || states(&worker, "strict").1 == ["FAILED"]).await;
    let status = worker.connector_status("strict").expect("status");
    let trace = status.tasks[0].trace.clone().expect("trace");
    assert!(
        trace.contains("VALUE_CONVERTER") && trace.contains("raw-0"),
        "{trace}"
    );
    // Restarting only failed instances brings the task back (and it fails again).
    let plan = worker
        .restart_connector(
            "strict",
            RestartRequest {
                include_tasks: true,
                only_failed: true,
            },
        )
        .await
        .expect("restart")
        .expect("status");
    assert_eq!(plan.connector.state, "RUNNING");
    assert_eq!(plan.tasks[0].state, "RESTARTING");
    eventually("failed again", || states(&worker, "strict").1 == ["FAILED"]).await;
    close(broker, worker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_states_and_secrets_survive_a_restart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let secret_file = dir.join("secret.properties");
    std::fs::write(&secret_file, "topic=hidden-topic\n").expect("secret");
    let (broker, worker) = open(dir).await;
    let mut cfg = source(dir, "x");
    let placeholder = format!("${{file:{}:topic}}", secret_file.display());
    cfg.insert("topic".into(), placeholder.clone());
    worker
        .create_connector("paused", cfg, Some(TargetState::Paused))
        .await
        .expect("create");
    eventually("paused", || {
        states(&worker, "paused") == ("PAUSED".into(), vec!["PAUSED".into()])
    })
    .await;
    let tasks = worker.task_configs("paused").expect("tasks");
    assert_eq!(
        tasks[0].config["topic"], placeholder,
        "task configs keep the placeholder"
    );
    assert_eq!(
        worker.connector_config("paused").expect("config")["topic"],
        placeholder
    );
    close(broker, worker).await;
    let (broker, worker) = open(dir).await;
    eventually("paused again", || states(&worker, "paused").1 == ["PAUSED"]).await;
    worker.resume("paused").await.expect("resume");
    std::fs::write(dir.join("in.txt"), "z\n").expect("write");
    eventually("resolved topic used", || {
        broker.partition_count("hidden-topic").is_some()
    })
    .await;
    close(broker, worker).await;
}
