//! The S3 sink end to end against a real S3 server (s3s-fs): records produced with
//! librdkafka to weir's Kafka port, Confluent's configs posted to the REST API, objects
//! listed and read back with aws-sdk-s3 (Parquet with the `parquet` crate).

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::RowAccessor;
use serde_json::{Value, json};
use weir_e2e::s3::{ACCESS_KEY, Produce, REGION, S3Client, S3Server, SECRET_KEY, produce};
use weir_e2e::{RestApi, Served, Workdir, kcat, wait_for, with_keys};

const WAIT: Duration = Duration::from_secs(60);
const TOPIC: &str = "orders";
/// 2024-05-01T13:00:00Z.
const T0: i64 = 1_714_568_400_000;
const MINUTE: i64 = 60_000;

fn create_topic(served: &Served, partitions: i32) {
    let w = Workdir::new();
    w.ok(
        &[
            "topics",
            "--bootstrap",
            &served.bootstrap(),
            "create",
            TOPIC,
            "--partitions",
            &partitions.to_string(),
        ],
        b"",
    );
}

/// Confluent's config for the bucket on `server`, with `extra` keys on top.
fn sink(server: &S3Server, bucket: &str, extra: Value) -> Value {
    let config = json!({
        "connector.class": "io.confluent.connect.s3.S3SinkConnector",
        "storage.class": "io.confluent.connect.s3.storage.S3Storage",
        "format.class": "io.confluent.connect.s3.format.json.JsonFormat",
        "topics": TOPIC,
        "s3.bucket.name": bucket,
        "s3.region": REGION,
        "store.url": server.endpoint(),
        "aws.access.key.id": ACCESS_KEY,
        "aws.secret.access.key": SECRET_KEY,
        "flush.size": "3",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "true",
    });
    with_keys(config, &extra)
}

fn deploy(api: &RestApi, name: &str, config: &Value) {
    api.put_running(WAIT, name, config);
}

/// Order `i`: partition `i % partitions`, region alternating per offset, time T0 + 10 min × i.
fn order(i: i64, partitions: i64) -> (i32, Value, i64) {
    let offset = i / partitions;
    let region = if offset % 2 == 0 { "EU" } else { "US" };
    let ts = T0 + 10 * MINUTE * i;
    let payload = json!({"id": i, "region": region, "ts": ts});
    (
        i32::try_from(i % partitions).expect("partition"),
        payload,
        ts,
    )
}

fn order_envelope(payload: &Value) -> String {
    json!({
        "schema": {"type": "struct", "name": "shop.Order", "optional": false, "fields": [
            {"field": "id", "type": "int64", "optional": false},
            {"field": "region", "type": "string", "optional": false},
            {"field": "ts", "type": "int64", "optional": false}
        ]},
        "payload": payload
    })
    .to_string()
}

fn produce_orders(served: &Served, range: std::ops::Range<i64>, partitions: i64) {
    let records: Vec<Produce> = range
        .map(|i| {
            let (partition, payload, ts) = order(i, partitions);
            Produce {
                topic: TOPIC.into(),
                partition,
                key: Some(format!("k{i}")),
                value: Some(order_envelope(&payload)),
                ts: Some(ts),
            }
        })
        .collect();
    produce(&served.bootstrap(), &records);
}

fn wait_keys(s3: &S3Client, bucket: &str, prefix: &str, n: usize, api: &RestApi) -> Vec<String> {
    let mut keys = Vec::new();
    wait_for(
        &format!("{n} objects under {bucket}/{prefix}"),
        WAIT,
        || {
            keys = s3.keys(bucket, prefix);
            keys.len() >= n
        },
        || {
            format!(
                "{:?}\n{}",
                s3.keys(bucket, prefix),
                api.get("/connectors?expand=status").body
            )
        },
    );
    keys
}

fn json_lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8(bytes.to_vec())
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("gzip");
    out
}

fn parquet_rows(bytes: Vec<u8>) -> Vec<Value> {
    let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).expect("a Parquet file");
    let schema = reader.metadata().file_metadata().schema_descr();
    assert_eq!(schema.name(), "shop.Order");
    reader
        .get_row_iter(None)
        .expect("rows")
        .map(|row| {
            let row = row.expect("row");
            json!({"id": row.get_long(0).expect("id"), "region": row.get_string(1).expect("region"),
                   "ts": row.get_long(2).expect("ts")})
        })
        .collect()
}

#[test]
fn json_parquet_and_time_partitioned_objects_match_confluent() {
    let server = S3Server::start();
    let s3 = server.client();
    s3.create_bucket("archive");
    let w = Workdir::new();
    let (served, api) = w.serve_flushing(500);
    create_topic(&served, 3);
    produce_orders(&served, 0..30, 3);

    deploy(
        &api,
        "json-default",
        &sink(
            &server,
            "archive",
            json!({
        "topics.dir": "a", "flush.size": "4"}),
        ),
    );
    deploy(
        &api,
        "parquet-field",
        &sink(
            &server,
            "archive",
            json!({
        "topics.dir": "b", "flush.size": "5",
        "format.class": "io.confluent.connect.s3.format.parquet.ParquetFormat",
        "partitioner.class": "io.confluent.connect.storage.partitioner.FieldPartitioner",
        "partition.field.name": "region"}),
        ),
    );
    deploy(
        &api,
        "json-hourly",
        &sink(
            &server,
            "archive",
            json!({
        "topics.dir": "c", "flush.size": "100", "s3.compression.type": "gzip",
        "partitioner.class": "io.confluent.connect.storage.partitioner.TimeBasedPartitioner",
        "path.format": "'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH",
        "partition.duration.ms": "3600000", "locale": "en-US", "timezone": "UTC",
        "timestamp.extractor": "Record", "rotate.interval.ms": "3600000"}),
        ),
    );

    // What each partition holds, by offset.
    let by_partition = |p: i64| -> Vec<Value> { (0..10).map(|o| order(3 * o + p, 3).1).collect() };

    // DefaultPartitioner, 4 records a file: offsets 0-3 and 4-7 of each partition are
    // uploaded, 8-9 wait in an open file.
    let keys = wait_keys(&s3, "archive", "a/", 6, &api);
    let mut expected = Vec::new();
    for p in 0..3 {
        for start in [0, 4] {
            expected.push(format!(
                "a/orders/partition={p}/orders+{p}+{start:010}.json"
            ));
        }
    }
    expected.sort();
    assert_eq!(keys, expected);
    for p in 0..3i64 {
        let records = by_partition(p);
        for start in [0usize, 4] {
            let body = s3.get(
                "archive",
                &format!("a/orders/partition={p}/orders+{p}+{start:010}.json"),
            );
            assert_eq!(json_lines(&body), records[start..start + 4].to_vec());
            // Confluent's bytes: JsonConverter without schemas, one document per line.
            let first = String::from_utf8(body).expect("utf-8");
            assert!(
                first.starts_with(&format!("{{\"id\":{},\"region\":", 3 * start as i64 + p)),
                "{first}"
            );
        }
    }

    // FieldPartitioner on region, 5 records a file across regions: both regions' files
    // commit together; each file is named after its own first offset.
    let keys = wait_keys(&s3, "archive", "b/", 12, &api);
    let mut expected = BTreeMap::new();
    for p in 0..3i64 {
        let records = by_partition(p);
        for (first, region) in [(0usize, "EU"), (1, "US"), (5, "US"), (6, "EU")] {
            let end = if first < 5 { 5 } else { 10 };
            let rows: Vec<Value> = (first..end)
                .step_by(2)
                .map(|o| records[o].clone())
                .collect();
            expected.insert(
                format!("b/orders/region={region}/orders+{p}+{first:010}.snappy.parquet"),
                rows,
            );
        }
    }
    assert_eq!(keys, expected.keys().cloned().collect::<Vec<_>>());
    for (key, rows) in &expected {
        assert_eq!(&parquet_rows(s3.get("archive", key)), rows, "{key}");
    }

    // TimeBasedPartitioner by record time, hourly, rotating when the hour changes: offsets
    // (0,1) fall in 13:00, (2,3) in 14:00 ... (8,9) in 17:00 (still open).
    let keys = wait_keys(&s3, "archive", "c/", 12, &api);
    let mut expected = BTreeMap::new();
    for p in 0..3i64 {
        let records = by_partition(p);
        for (n, first) in [0usize, 2, 4, 6].into_iter().enumerate() {
            let hour = 13 + n;
            expected.insert(
                format!(
                    "c/orders/year=2024/month=05/day=01/hour={hour}/orders+{p}+{first:010}.json.gz"
                ),
                records[first..first + 2].to_vec(),
            );
        }
    }
    assert_eq!(keys, expected.keys().cloned().collect::<Vec<_>>());
    for (key, rows) in &expected {
        assert_eq!(&json_lines(&gunzip(&s3.get("archive", key))), rows, "{key}");
    }
    let (clean, log) = served.stop();
    assert!(clean, "{}", log.join("\n"));
}

#[test]
fn wall_clock_rotation_uploads_an_idle_file() {
    let server = S3Server::start();
    let s3 = server.client();
    s3.create_bucket("clock");
    let w = Workdir::new();
    let (served, api) = w.serve_flushing(500);
    create_topic(&served, 1);
    produce_orders(&served, 0..5, 1);
    deploy(
        &api,
        "scheduled",
        &sink(
            &server,
            "clock",
            json!({
        "flush.size": "1000", "rotate.schedule.interval.ms": "1000", "timezone": "UTC"}),
        ),
    );
    // No record arrives after the first five: the scheduled rotation alone uploads them.
    let keys = wait_keys(&s3, "clock", "", 1, &api);
    let total: usize = keys
        .iter()
        .map(|k| json_lines(&s3.get("clock", k)).len())
        .sum();
    wait_for(
        "all five records uploaded",
        WAIT,
        || {
            s3.keys("clock", "")
                .iter()
                .map(|k| json_lines(&s3.get("clock", k)).len())
                .sum::<usize>()
                == 5
        },
        || format!("{total} records in {keys:?}"),
    );
}

/// Every record of partition 0 in the bucket exactly once, and nothing else.
fn assert_exactly_once(s3: &S3Client, bucket: &str, n: i64) {
    let mut seen = Vec::new();
    for key in s3.keys(bucket, "") {
        seen.extend(
            json_lines(&s3.get(bucket, &key))
                .into_iter()
                .map(|v| v["id"].as_i64().expect("id")),
        );
    }
    seen.sort();
    assert_eq!(seen, (0..n).collect::<Vec<_>>());
}

#[test]
fn sigkill_between_upload_and_commit_rewrites_the_same_objects() {
    let server = S3Server::start();
    let s3 = server.client();
    s3.create_bucket("eos");
    let w = Workdir::new();
    // The group never commits before the kill: every uploaded file is replayed.
    let (served, api) = w.serve_flushing(3_600_000);
    create_topic(&served, 1);
    produce_orders(&served, 0..50, 1);
    deploy(
        &api,
        "eos",
        &sink(&server, "eos", json!({"flush.size": "10"})),
    );
    let keys = wait_keys(&s3, "eos", "", 5, &api);
    let before: Vec<Vec<u8>> = keys.iter().map(|k| s3.get("eos", k)).collect();
    drop(served); // SIGKILL: no final commit
    // Take one object away: the replay must write it again, byte for byte.
    s3.put("eos", &keys[2], b"stale".to_vec());

    let (served, api) = w.serve_flushing(500);
    api.wait_state(WAIT, "eos", "RUNNING");
    wait_for(
        "the replayed object rewritten",
        WAIT,
        || s3.get("eos", &keys[2]) == before[2],
        || String::from_utf8_lossy(&s3.get("eos", &keys[2])).into_owned(),
    );
    produce_orders(&served, 50..100, 1);
    let keys_after = wait_keys(&s3, "eos", "", 10, &api);
    assert_eq!(keys_after.len(), 10, "{keys_after:?}");
    for (k, bytes) in keys.iter().zip(&before) {
        assert_eq!(
            &s3.get("eos", k),
            bytes,
            "{k} rewritten with the same bytes"
        );
    }
    assert_exactly_once(&s3, "eos", 100);
}

#[test]
fn an_s3_outage_mid_stream_loses_nothing() {
    let mut server = S3Server::start();
    let s3 = server.client();
    s3.create_bucket("outage");
    let w = Workdir::new();
    let (served, api) = w.serve_flushing(500);
    create_topic(&served, 1);
    produce_orders(&served, 0..20, 1);
    deploy(
        &api,
        "outage",
        &sink(
            &server,
            "outage",
            json!({
        "flush.size": "10", "s3.retry.backoff.ms": "50", "s3.part.retries": "2"}),
        ),
    );
    wait_keys(&s3, "outage", "", 2, &api);
    server.stop();
    produce_orders(&served, 20..60, 1);
    std::thread::sleep(Duration::from_secs(30));
    let status = api.get("/connectors/outage/status").json();
    assert_eq!(status["tasks"][0]["state"], "RUNNING", "{status}");
    server.start_again();
    wait_keys(&s3, "outage", "", 6, &api);
    assert_exactly_once(&s3, "outage", 60);
}

/// The trace of the connector's task once it failed (the connector itself stays RUNNING).
fn task_trace(api: &RestApi, name: &str) -> String {
    let path = format!("/connectors/{name}/status");
    wait_for(
        &format!("the task of {name} to fail"),
        WAIT,
        || api.get(&path).json()["tasks"][0]["state"] == "FAILED",
        || api.get(&path).body,
    );
    let status = api.get(&path).json();
    status["tasks"][0]["trace"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn bad_buckets_credentials_and_records_are_named() {
    let server = S3Server::start();
    let s3 = server.client();
    s3.create_bucket("good");
    let w = Workdir::new();
    let (served, api) = w.serve_flushing(500);
    create_topic(&served, 1);

    // A bucket that does not exist, and a wrong secret: the task fails saying which.
    let r = api.send(
        "PUT",
        "/connectors/missing/config",
        &sink(&server, "nope", json!({})),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let trace = task_trace(&api, "missing");
    assert!(
        trace.contains("Non-existent S3 bucket: nope") && trace.contains(&server.endpoint()),
        "{trace}"
    );
    let r = api.send(
        "PUT",
        "/connectors/denied/config",
        &sink(&server, "good", json!({"aws.secret.access.key": "wrong"})),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let trace = task_trace(&api, "denied");
    assert!(
        trace.contains("Access to S3 bucket good at") && trace.contains("denied"),
        "{trace}"
    );
    assert!(
        !trace.contains("wrong"),
        "the secret must not appear: {trace}"
    );

    // Records Parquet cannot hold (schemaless) and null values go to the dead-letter queue;
    // the good records around them fill two files of four.
    let good = |i: i64| Produce {
        topic: TOPIC.into(),
        partition: 0,
        key: None,
        ts: None,
        value: Some(order_envelope(&order(i, 1).1)),
    };
    let mut records: Vec<Produce> = (0..4).map(good).collect();
    records.push(Produce {
        topic: TOPIC.into(),
        partition: 0,
        key: None,
        ts: None,
        value: Some(json!({"schema": null, "payload": {"id": 99}}).to_string()),
    });
    records.push(Produce {
        topic: TOPIC.into(),
        partition: 0,
        key: None,
        ts: None,
        value: None,
    });
    records.extend((4..8).map(good));
    produce(&served.bootstrap(), &records);
    deploy(
        &api,
        "parquet",
        &sink(
            &server,
            "good",
            json!({
        "format.class": "io.confluent.connect.s3.format.parquet.ParquetFormat",
        "flush.size": "4", "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": "s3-dlq",
        "errors.deadletterqueue.context.headers.enable": "true"}),
        ),
    );
    let dlq = kcat::wait_records(&served.bootstrap(), "s3-dlq", 2);
    let reasons: Vec<String> = dlq.iter().map(|r| r.dlq_reason()).collect();
    assert!(
        reasons[0].contains("ParquetFormat needs records with a value schema"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("Null valued records are not writeable"),
        "{reasons:?}"
    );
    let keys = wait_keys(&s3, "good", "topics/", 2, &api);
    assert_eq!(
        keys,
        vec![
            "topics/orders/partition=0/orders+0+0000000000.snappy.parquet",
            "topics/orders/partition=0/orders+0+0000000006.snappy.parquet",
        ]
    );
    for (key, ids) in keys.iter().zip([0..4, 4..8]) {
        let rows = parquet_rows(s3.get("good", key));
        let expected: Vec<Value> = ids.map(|i| order(i, 1).1).collect();
        assert_eq!(rows, expected, "{key}");
    }
}

#[test]
fn the_shipped_config_archives_by_hour_with_the_default_credential_chain() {
    let server = S3Server::start();
    let s3 = server.client();
    s3.create_bucket("orders-archive");
    let w = Workdir::new();
    // No keys in the config: AWS's default chain finds them in the environment.
    let served = w.serve_with_env(
        &[],
        &[
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ],
    );
    let api = RestApi::new(served.rest());
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/connectors/s3-sink.json");
    let mut body: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("s3-sink.json")).expect("JSON");
    body["config"]["store.url"] = json!(server.endpoint());
    let topic = body["config"]["topics"]
        .as_str()
        .expect("topics")
        .to_string();
    // Three events in the 13:00 hour, then one at 14:01: the hour changes, the file rotates.
    let event = |i: i64, minutes: i64| Produce {
        topic: topic.clone(),
        partition: 0,
        key: Some(format!("order-{i}")),
        ts: Some(T0 + minutes * MINUTE),
        value: Some(json!({"orderId": i, "status": "created"}).to_string()),
    };
    produce(
        &served.bootstrap(),
        &[event(1, 0), event(2, 1), event(3, 2), event(4, 61)],
    );
    let r = api.send("POST", "/connectors", &body);
    assert_eq!(r.status, 201, "{}", r.body);
    api.wait_state(WAIT, "orders-archive", "RUNNING");
    let keys = wait_keys(&s3, "orders-archive", "", 1, &api);
    assert_eq!(
        keys,
        vec![format!(
            "topics/{topic}/year=2024/month=05/day=01/hour=13/{topic}+0+0000000000.json.gz"
        )]
    );
    let lines = String::from_utf8(gunzip(&s3.get("orders-archive", &keys[0]))).expect("utf-8");
    assert_eq!(
        lines,
        "{\"orderId\":1,\"status\":\"created\"}\n{\"orderId\":2,\"status\":\"created\"}\n{\"orderId\":3,\"status\":\"created\"}\n"
    );
}

#[test]
fn large_files_go_up_in_parts_from_disk() {
    let server = S3Server::start();
    let s3 = server.client();
    s3.create_bucket("big");
    let w = Workdir::new();
    let (served, api) = w.serve_flushing(500);
    create_topic(&served, 1);
    // 60 values of 100 KiB: a 6 MiB file, two 5 MiB-parts, spooled to disk (1 KiB budget).
    let value = |i: usize| {
        format!("{i:04}-{}", "abcdefghij".repeat(10_240))
            .chars()
            .take(102_400)
            .collect::<String>()
    };
    let records: Vec<Produce> = (0..60)
        .map(|i| Produce {
            topic: TOPIC.into(),
            partition: 0,
            key: None,
            ts: None,
            value: Some(value(i)),
        })
        .collect();
    produce(&served.bootstrap(), &records);
    deploy(
        &api,
        "big",
        &sink(
            &server,
            "big",
            json!({
        "format.class": "io.confluent.connect.s3.format.bytearray.ByteArrayFormat",
        "value.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
        "flush.size": "60", "s3.part.size": "5242880", "s3.spool.memory.bytes": "1024"}),
        ),
    );
    let keys = wait_keys(&s3, "big", "", 1, &api);
    assert_eq!(
        keys,
        vec!["topics/orders/partition=0/orders+0+0000000000.bin"]
    );
    let mut expected = Vec::new();
    for i in 0..60 {
        expected.extend_from_slice(value(i).as_bytes());
        expected.push(b'\n');
    }
    let body = s3.get("big", &keys[0]);
    assert_eq!(body.len(), expected.len());
    assert!(body == expected, "the object differs from the records");
    let etag = s3.etag("big", &keys[0]);
    assert!(
        etag.trim_matches('"').ends_with("-2"),
        "a two-part upload, got ETag {etag}"
    );
}
