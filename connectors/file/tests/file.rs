//! The file source and sink through the connector API, as the worker drives them.

use std::collections::BTreeMap;
use std::io::Write;

use weir_connect_api::connector::SourceTaskContext;
use weir_connect_api::record::SourceMap;
use weir_connect_api::{ConfigMap, ConnectRecord, Connector, SinkTask, SourceTask, Value};
use weir_connector_file::{
    FileStreamSinkConnector, FileStreamSinkTask, FileStreamSourceConnector, FileStreamSourceTask,
};

struct Committed(Option<SourceMap>);

impl SourceTaskContext for Committed {
    fn committed_offset(&self, _partition: &SourceMap) -> Option<SourceMap> {
        self.0.clone()
    }
}

fn config(pairs: &[(&str, &str)]) -> ConfigMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn values(records: &[ConnectRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| r.value.as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn source_tails_lines_and_resumes_after_the_committed_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("in.txt");
    let mut f = std::fs::File::create(&path).expect("create");
    f.write_all(b"one\ntwo\nthr").expect("write");
    let cfg = config(&[
        ("file", path.to_str().expect("utf8")),
        ("topic", "lines"),
        ("batch.size", "10"),
    ]);
    let mut connector = FileStreamSourceConnector::default();
    connector.start(&cfg).expect("valid config");
    assert_eq!(connector.task_configs(4).expect("tasks").len(), 1);

    let mut task = FileStreamSourceTask::default();
    task.start(&cfg, Box::new(Committed(None))).expect("start");
    let first = task.poll().await.expect("poll");
    assert_eq!(
        values(&first),
        ["one", "two"],
        "the partial line waits for its newline"
    );
    assert_eq!(first[0].topic, "lines");
    let pos = first[1].source.as_ref().expect("position").offset["position"].clone();
    assert_eq!(pos, serde_json::json!(8));
    assert_eq!(
        first[1].source.as_ref().expect("partition").partition["filename"],
        serde_json::json!(path.to_str().expect("utf8"))
    );
    f.write_all(b"ee\nfour\n").expect("write");
    assert_eq!(values(&task.poll().await.expect("poll")), ["three", "four"]);
    assert!(task.poll().await.expect("idle poll").is_empty());
    task.stop().expect("stop");

    // A new task resumes after the committed position of "two".
    let mut resumed = FileStreamSourceTask::default();
    let mut offset = SourceMap::new();
    offset.insert("position".into(), serde_json::json!(8));
    resumed
        .start(&cfg, Box::new(Committed(Some(offset))))
        .expect("start");
    assert_eq!(
        values(&resumed.poll().await.expect("poll")),
        ["three", "four"]
    );
}

#[test]
fn source_config_errors_name_every_key() {
    let mut connector = FileStreamSourceConnector::default();
    let err = connector
        .start(&config(&[("batch.size", "0")]))
        .expect_err("invalid")
        .to_string();
    assert_eq!(
        err,
        "Missing required configuration \"topic\" which has no default value.; \
         Invalid value 0 for configuration batch.size: Value must be at least 1"
    );
    let err = connector
        .start(&config(&[("file", "/x"), ("topic", "a,b")]))
        .expect_err("two topics")
        .to_string();
    assert!(err.contains("single topic"), "{err}");
}

#[tokio::test]
async fn sink_writes_values_at_put_and_makes_them_durable_on_flush() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out.txt");
    let cfg = config(&[("file", path.to_str().expect("utf8")), ("topics", "lines")]);
    let mut connector = FileStreamSinkConnector::default();
    connector.start(&cfg).expect("valid");
    assert_eq!(connector.task_configs(2).expect("tasks").len(), 2);
    let mut task = FileStreamSinkTask::default();
    task.start(&cfg).expect("start");
    let rec = |v: Value| ConnectRecord::new("lines", None, Value::Null, None, v);
    task.put(vec![rec(Value::String("a".into())), rec(Value::Int32(7))])
        .await
        .expect("put");
    // Written at put, as Kafka's sink prints each record; fsynced at flush.
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "a\n7\n");
    task.flush(&BTreeMap::new()).await.expect("flush");
    task.put(vec![rec(Value::Null)]).await.expect("put");
    task.flush(&BTreeMap::new()).await.expect("flush");
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        "a\n7\nnull\n"
    );
}
