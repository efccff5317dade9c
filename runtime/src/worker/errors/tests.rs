use std::cell::Cell;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::watch;
use weir_broker::{Broker, BrokerOptions, batch};
use weir_connect_api::error::{DataError, RecordFailure};
use weir_connect_api::{ConfigMap, ConnectorError};

use super::*;
use crate::partitioner;

const JSON: &str = "org.apache.kafka.connect.json.JsonConverter";
const SERDE: &str = "Converting byte[] to Kafka Connect data failed due to serialization error: ";

fn config(pairs: &[(&str, &str)]) -> ErrorConfig {
    let map: ConfigMap = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ErrorConfig::from_config(&map).expect("valid error config")
}

struct Fixture {
    _dir: tempfile::TempDir,
    broker: Arc<Broker>,
    metrics: Arc<TaskMetrics>,
    handler: ErrorHandler,
    /// Kept so the shutdown channel stays open.
    stop: watch::Sender<bool>,
    shutdown: watch::Receiver<bool>,
}

fn fixture(pairs: &[(&str, &str)]) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut options = BrokerOptions::new(dir.path());
    options.offsets_partitions = 1;
    let broker = Arc::new(Broker::open(options).expect("broker"));
    let metrics = Arc::new(TaskMetrics::default());
    let handler = ErrorHandler::new(
        config(pairs),
        "orders-sink",
        0,
        crate::log::Log::Embedded(Arc::clone(&broker)),
        Arc::clone(&metrics),
        3,
    );
    let (stop, shutdown) = watch::channel(false);
    Fixture {
        _dir: dir,
        broker,
        metrics,
        handler,
        stop,
        shutdown,
    }
}

/// The broker's own topics (`__consumer_offsets`), there before any DLQ.
fn topics_at_start() -> Vec<String> {
    fixture(&[]).broker.topics()
}

fn record() -> RawRecord {
    RawRecord {
        topic: "orders".into(),
        partition: 0,
        offset: 42,
        timestamp: Some(1_700_000_000_000),
        key: Some(Bytes::from_static(b"order-7")),
        value: Some(Bytes::from_static(b"{not json")),
        headers: vec![("trace".into(), Some(Bytes::from_static(b"abc")))],
    }
}

fn serde_error() -> ConnectorError {
    ConnectorError::Data(DataError::new(format!("{SERDE}Unexpected character")))
}

/// Every record of a topic, all partitions, with the partition it is in.
fn read_topic(broker: &Broker, topic: &str) -> Vec<(i32, kafka_protocol::records::Record)> {
    let mut out = Vec::new();
    for p in 0..broker.partition_count(topic).expect("topic exists") {
        let data = broker.fetch(topic, p, 0, 1 << 20).expect("fetch");
        let records = batch::decode_records(data.records).expect("decode");
        out.extend(records.into_iter().map(|r| (p, r)));
    }
    out
}

fn headers(r: &kafka_protocol::records::Record) -> Vec<(String, String)> {
    r.headers
        .iter()
        .map(|(k, v)| {
            let v = v.as_ref().expect("header value");
            (k.to_string(), String::from_utf8_lossy(v).into_owned())
        })
        .collect()
}

#[tokio::test]
async fn tolerance_none_fails_the_task_with_a_readable_sentence() {
    let f = fixture(&[]);
    let calls = Cell::new(0);
    let failure = f
        .handler
        .run(Stage::ValueConverter, JSON, &record(), &f.shutdown, || {
            calls.set(calls.get() + 1);
            Err::<(), _>(serde_error())
        })
        .await
        .expect_err("tolerance none fails");
    assert_eq!(
        failure.to_string(),
        format!(
            "Tolerance exceeded in error handler: the VALUE_CONVERTER stage ({JSON}) of \
             connector orders-sink task 0 failed on orders-0 at offset 42: \
             {SERDE}Unexpected character"
        )
    );
    assert_eq!(failure.kind, FailureKind::ToleranceExceeded);
    assert_eq!(
        failure.exception_class,
        "org.apache.kafka.connect.errors.DataException"
    );
    assert_eq!(calls.get(), 1, "a data error is not retried");
    assert_eq!(f.metrics.snapshot("c", 0, "sink").errors, 1);
    assert_eq!(f.broker.topics(), topics_at_start(), "no DLQ configured");
}

#[tokio::test]
async fn tolerated_failures_go_to_the_dlq_with_original_bytes_and_context_headers() {
    let f = fixture(&[
        ("errors.tolerance", "all"),
        ("errors.deadletterqueue.topic.name", "orders-dlq"),
        ("errors.deadletterqueue.context.headers.enable", "true"),
    ]);
    let out = f
        .handler
        .run(Stage::ValueConverter, JSON, &record(), &f.shutdown, || {
            Err::<(), _>(serde_error())
        })
        .await
        .expect("tolerated");
    assert_eq!(out, None, "the caller skips the record");

    assert_eq!(f.broker.partition_count("orders-dlq"), Some(3));
    let written = read_topic(&f.broker, "orders-dlq");
    assert_eq!(written.len(), 1);
    let (partition, r) = &written[0];
    assert_eq!(*partition, partitioner::partition_for_key(b"order-7", 3));
    assert_eq!(r.key.as_deref(), Some(&b"order-7"[..]));
    assert_eq!(r.value.as_deref(), Some(&b"{not json"[..]));
    assert_eq!(r.timestamp, 1_700_000_000_000);
    let message = format!("{SERDE}Unexpected character");
    let class = "org.apache.kafka.connect.errors.DataException";
    let want: Vec<(String, String)> = [
        ("trace", "abc"),
        ("__connect.errors.topic", "orders"),
        ("__connect.errors.partition", "0"),
        ("__connect.errors.offset", "42"),
        ("__connect.errors.connector.name", "orders-sink"),
        ("__connect.errors.task.id", "0"),
        ("__connect.errors.stage", "VALUE_CONVERTER"),
        ("__connect.errors.class.name", JSON),
        ("__connect.errors.exception.class.name", class),
        ("__connect.errors.exception.message", &message),
        (
            "__connect.errors.exception.stacktrace",
            &format!("{class}: {message}"),
        ),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(headers(r), want);

    // A record a sink rejected, with a null key and a cause: round-robin, ConnectException,
    // the cause in the stack trace.
    let mut keyless = record();
    keyless.key = None;
    keyless.offset = 43;
    let rejected = ConnectorError::fatal("document rejected")
        .caused_by(DataError::new("mapper_parsing_exception"));
    f.handler
        .report(Stage::TaskPut, "ElasticsearchSinkTask", &keyless, &rejected)
        .await
        .expect("tolerated");
    let written = read_topic(&f.broker, "orders-dlq");
    assert_eq!(written.len(), 2);
    let (_, r) = written
        .iter()
        .find(|(_, r)| r.key.is_none())
        .expect("keyless record");
    let h = headers(r);
    let get = |name: &str| {
        h.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .expect("header present")
    };
    assert_eq!(get(HEADER_STAGE), "TASK_PUT");
    assert_eq!(get(HEADER_ORIG_OFFSET), "43");
    assert_eq!(
        get(HEADER_EXCEPTION),
        "org.apache.kafka.connect.errors.ConnectException"
    );
    assert_eq!(get(HEADER_EXCEPTION_MESSAGE), "document rejected");
    assert_eq!(
        get(HEADER_EXCEPTION_STACK_TRACE),
        "org.apache.kafka.connect.errors.ConnectException: document rejected\n\
         Caused by: mapper_parsing_exception"
    );
    let s = f.metrics.snapshot("c", 0, "sink");
    assert_eq!((s.errors, s.dlq_writes), (2, 2));
}

#[tokio::test]
async fn without_a_dlq_tolerated_failures_are_only_skipped() {
    let f = fixture(&[("errors.tolerance", "all")]);
    let out = f
        .handler
        .run(
            Stage::Transformation,
            "RegexRouter",
            &record(),
            &f.shutdown,
            || Err::<(), _>(ConnectorError::fatal("bad regex group")),
        )
        .await
        .expect("tolerated");
    assert_eq!(out, None);
    assert_eq!(f.broker.topics(), topics_at_start(), "no topic created");
    let s = f.metrics.snapshot("c", 0, "sink");
    assert_eq!((s.errors, s.dlq_writes), (1, 0));
}

#[tokio::test]
async fn retriable_errors_are_retried_until_success_within_the_timeout() {
    let f = fixture(&[
        ("errors.retry.timeout", "60000"),
        ("errors.retry.delay.max.ms", "1"),
    ]);
    let calls = Cell::new(0);
    let out = f
        .handler
        .run(Stage::KeyConverter, JSON, &record(), &f.shutdown, || {
            calls.set(calls.get() + 1);
            if calls.get() < 4 {
                Err(ConnectorError::retriable("schema registry unavailable"))
            } else {
                Ok("converted")
            }
        })
        .await
        .expect("succeeds");
    assert_eq!(out, Some("converted"));
    assert_eq!(calls.get(), 4);
    assert_eq!(f.metrics.snapshot("c", 0, "sink").errors, 0);
}

#[tokio::test]
async fn retrying_stops_once_the_timeout_has_elapsed() {
    let f = fixture(&[
        ("errors.retry.timeout", "20"),
        ("errors.retry.delay.max.ms", "2"),
    ]);
    let calls = Cell::new(0);
    let failure = f
        .handler
        .run(Stage::ValueConverter, JSON, &record(), &f.shutdown, || {
            calls.set(calls.get() + 1);
            Err::<(), _>(ConnectorError::retriable("timed out"))
        })
        .await
        .expect_err("gives up, tolerance none");
    assert!(calls.get() > 1, "retried at least once");
    assert_eq!(failure.kind, FailureKind::ToleranceExceeded);
    assert_eq!(
        failure.exception_class,
        "org.apache.kafka.connect.errors.RetriableException"
    );

    // errors.retry.timeout=0 (the default): one attempt.
    let f = fixture(&[]);
    let calls = Cell::new(0);
    f.handler
        .run(Stage::ValueConverter, JSON, &record(), &f.shutdown, || {
            calls.set(calls.get() + 1);
            Err::<(), _>(ConnectorError::retriable("timed out"))
        })
        .await
        .expect_err("no retry");
    assert_eq!(calls.get(), 1);
}

#[tokio::test]
async fn retrying_forever_ends_at_shutdown_without_skipping_the_record() {
    let f = fixture(&[
        ("errors.retry.timeout", "-1"),
        ("errors.retry.delay.max.ms", "1"),
        ("errors.tolerance", "all"),
        ("errors.deadletterqueue.topic.name", "dlq"),
    ]);
    let calls = Cell::new(0);
    let failure = f
        .handler
        .run(Stage::ValueConverter, JSON, &record(), &f.shutdown, || {
            calls.set(calls.get() + 1);
            if calls.get() == 3 {
                f.stop.send_replace(true);
            }
            Err::<(), _>(ConnectorError::retriable("down"))
        })
        .await
        .expect_err("interrupted");
    assert!(failure.is_interrupted());
    assert_eq!(calls.get(), 3);
    assert_eq!(
        f.broker.partition_count("dlq"),
        None,
        "nothing dead-lettered"
    );
    assert_eq!(f.metrics.snapshot("c", 0, "sink").errors, 0);
}

#[tokio::test]
async fn non_retriable_errors_are_not_retried_and_task_errors_are_not_tolerated() {
    let f = fixture(&[
        ("errors.retry.timeout", "60000"),
        ("errors.retry.delay.max.ms", "1"),
        ("errors.tolerance", "all"),
    ]);
    let calls = Cell::new(0);
    let out = f
        .handler
        .run(
            Stage::Transformation,
            "Cast$Value",
            &record(),
            &f.shutdown,
            || {
                calls.set(calls.get() + 1);
                Err::<(), _>(ConnectorError::Data(DataError::new("cannot cast")))
            },
        )
        .await
        .expect("tolerated");
    assert_eq!((out, calls.get()), (None, 1));

    // A sink's own put failing is not a record error (Kafka: only errant-record reports are).
    let failure = f
        .handler
        .run(
            Stage::TaskPut,
            "JdbcSinkTask",
            &record(),
            &f.shutdown,
            || Err::<(), _>(ConnectorError::fatal("relation \"orders\" does not exist")),
        )
        .await
        .expect_err("unhandled");
    assert_eq!(failure.kind, FailureKind::Unhandled);
    assert!(
        failure
            .to_string()
            .starts_with("Unhandled exception in error handler: the TASK_PUT stage")
    );
    let partial = ConnectorError::RecordsFailed(vec![RecordFailure {
        index: 0,
        reason: "conflict".into(),
        retriable: false,
    }]);
    f.handler
        .report(Stage::TaskPut, "JdbcSinkTask", &record(), &partial)
        .await
        .expect("reported records follow the tolerance");
}

#[tokio::test]
async fn a_dlq_write_failure_fails_the_task() {
    let f = fixture(&[
        ("errors.tolerance", "all"),
        ("errors.deadletterqueue.topic.name", "tiny-dlq"),
    ]);
    let mut cfg = std::collections::BTreeMap::new();
    cfg.insert("max.message.bytes".to_string(), "100".to_string());
    f.broker.create_topic("tiny-dlq", 1, cfg).expect("create");
    let mut big = record();
    big.value = Some(Bytes::from(vec![b'x'; 1000]));
    let failure = f
        .handler
        .run(Stage::ValueConverter, JSON, &big, &f.shutdown, || {
            Err::<(), _>(serde_error())
        })
        .await
        .expect_err("the record must not be lost");
    assert!(matches!(failure.kind, FailureKind::DeadLetterQueue { .. }));
    assert!(
        failure
            .to_string()
            .starts_with("Could not write a failed record to the dead letter queue topic tiny-dlq"),
        "{failure}"
    );
}

#[test]
fn every_config_error_is_reported_at_once() {
    let map: ConfigMap = [
        ("errors.retry.timeout", "soon"),
        ("errors.tolerance", "some"),
        ("errors.log.enable", "yes"),
        ("errors.deadletterqueue.topic.name", "bad topic"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let errors = ErrorConfig::from_config(&map).expect_err("four errors");
    let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [RETRY_TIMEOUT, TOLERANCE, LOG_ENABLE, DLQ_TOPIC_NAME],
        "{errors:?}"
    );
    assert_eq!(
        errors[1].to_string(),
        "Invalid value some for configuration errors.tolerance: String must be one of: none, all"
    );
    assert!(errors[3].to_string().contains("' ' is not allowed"));

    assert_eq!(config(&[]), ErrorConfig::default());
    let all = config(&[
        ("errors.tolerance", "ALL"),
        ("errors.retry.timeout", "-1"),
        ("errors.deadletterqueue.topic.name", " dlq "),
        ("errors.deadletterqueue.topic.replication.factor", "1"),
    ]);
    assert!(all.tolerates_all());
    assert_eq!(all.retry_timeout, RetryTimeout::Forever);
    assert_eq!(all.dlq_topic(), Some("dlq"));
    assert_eq!(config(&[]).dlq_topic(), None);
    let keys: Vec<String> = config_def().keys().iter().map(|k| k.name.clone()).collect();
    assert_eq!(keys.len(), 8);
}

#[test]
fn backoff_doubles_from_300_ms_up_to_the_cap() {
    let ms = |a| backoff(a, 60_000).as_millis();
    assert_eq!([ms(1), ms(2), ms(3), ms(8)], [300, 600, 1200, 38_400]);
    for attempt in [9, 40, u32::MAX] {
        let d = backoff(attempt, 60_000).as_millis();
        assert!((30_000..=60_000).contains(&d), "{d}");
    }
    assert_eq!(backoff(1, 0), Duration::ZERO);
}

/// Collects what the log reporter writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn logged(pairs: &[(&str, &str)]) -> String {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let f = fixture(pairs);
    f.handler
        .run(Stage::ValueConverter, JSON, &record(), &f.shutdown, || {
            Err::<(), _>(serde_error())
        })
        .await
        .expect("tolerated");
    let bytes = captured.0.lock().expect("log buffer").clone();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test]
async fn the_log_reporter_shows_the_record_only_when_asked() {
    let plain = logged(&[("errors.tolerance", "all"), ("errors.log.enable", "true")]).await;
    assert!(plain.contains("ERROR"), "{plain}");
    assert!(
        plain.contains("the VALUE_CONVERTER stage failed on orders-0 at offset 42"),
        "{plain}"
    );
    assert!(plain.contains("connector=orders-sink"), "{plain}");
    assert!(!plain.contains("{not json"), "{plain}");

    let full = logged(&[
        ("errors.tolerance", "all"),
        ("errors.log.enable", "true"),
        ("errors.log.include.messages", "true"),
    ])
    .await;
    assert!(full.contains("value={not json"), "{full}");
    assert!(full.contains("key=order-7"), "{full}");

    let off = logged(&[("errors.tolerance", "all")]).await;
    assert!(!off.contains("VALUE_CONVERTER"), "{off}");
}

#[tokio::test]
async fn the_handler_can_be_shared_and_its_future_sent() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<ErrorHandler>();
    send_sync::<TaskFailure>();
    let f = fixture(&[]);
    let rec = record();
    let fut = f
        .handler
        .run(Stage::KeyConverter, JSON, &rec, &f.shutdown, || {
            Ok::<_, ConnectorError>(1)
        });
    send(&fut);
    assert_eq!(fut.await.expect("ok"), Some(1));
}
