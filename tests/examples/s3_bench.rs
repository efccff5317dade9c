//! Benchmark of the S3 sink through the real binary against a local S3 server (s3s-fs):
//! MB/s from the log into the bucket (ByteArrayFormat, the records already in the topic
//! when the connector starts) against raw PUTs of the same objects with the same client
//! (aws-sdk-s3) in the same run, plus the worker's RSS.
//!
//! ```sh
//! cargo build --release --bins && cargo run --release -p weir-e2e --example s3_bench
//! ```
//! Options: `--records N` (default 262,144), `--size BYTES` per record (default 1,024),
//! `--flush N` records per object (default 8,192).

use std::time::{Duration, Instant};

use serde_json::json;
use weir_e2e::bench::{arg, mb_per_s, produce_lines, rss_mib};
use weir_e2e::s3::{ACCESS_KEY, REGION, S3Server, SECRET_KEY};
use weir_e2e::{RestApi, Workdir};

const TOPIC: &str = "bench";

fn main() {
    let records = arg("--records", 262_144);
    let size = usize::try_from(arg("--size", 1024)).expect("size").max(2);
    let flush = arg("--flush", 8192);
    let objects = records / flush;
    assert!(objects > 0, "--records must be at least --flush");

    let server = S3Server::start();
    let s3 = server.client();
    s3.create_bucket("sink");
    s3.create_bucket("raw");
    let w = Workdir::new();
    let served = w.serve(&[]);
    let api = RestApi::new(served.rest());
    let bootstrap = served.bootstrap();
    w.ok(&["topics", "--bootstrap", &bootstrap, "create", TOPIC], b"");

    // The records: distinct lines of `size` bytes with their newline.
    let line = |i: u64| {
        let mut l = format!("{i:012}-");
        while l.len() < size - 1 {
            l.push(char::from(b'a' + (l.len() % 26) as u8));
        }
        l.truncate(size - 1);
        l
    };
    produce_lines(&w, &bootstrap, TOPIC, (0..records).map(line));
    let total_bytes = (records / flush * flush) * size as u64;

    let started = Instant::now();
    let config = json!({
        "connector.class": "io.confluent.connect.s3.S3SinkConnector",
        "storage.class": "io.confluent.connect.s3.storage.S3Storage",
        "format.class": "io.confluent.connect.s3.format.bytearray.ByteArrayFormat",
        "value.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
        "key.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
        "topics": TOPIC, "s3.bucket.name": "sink", "s3.region": REGION,
        "store.url": server.endpoint(), "aws.access.key.id": ACCESS_KEY,
        "aws.secret.access.key": SECRET_KEY, "flush.size": flush.to_string(),
    });
    let r = api.send("PUT", "/connectors/archive/config", &config);
    assert_eq!(r.status, 201, "{}", r.body);
    let mut peak_rss = 0.0f64;
    loop {
        peak_rss = peak_rss.max(rss_mib(served.pid(), "VmRSS:"));
        if s3.keys("sink", "").len() as u64 >= objects {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the sink did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let sink_took = started.elapsed();

    // The baseline: the same objects PUT one after the other with the same client.
    let keys = s3.keys("sink", "");
    let bodies: Vec<Vec<u8>> = keys.iter().map(|k| s3.get("sink", k)).collect();
    let uploaded: u64 = bodies.iter().map(|b| b.len() as u64).sum();
    let started = Instant::now();
    for (key, body) in keys.iter().zip(bodies) {
        s3.put("raw", key, body);
    }
    let raw_took = started.elapsed();

    let sink_rate = mb_per_s(total_bytes, sink_took);
    let raw_rate = mb_per_s(uploaded, raw_took);
    println!(
        "S3 sink benchmark: {records} records of {size} B, {objects} objects of {flush} records"
    );
    println!(
        "  sink (log -> S3):      {sink_rate:8.1} MB/s of records  ({:.2} s, {:.1} MB uploaded)",
        sink_took.as_secs_f64(),
        uploaded as f64 / 1e6
    );
    println!(
        "  raw PUTs, same objects: {raw_rate:8.1} MB/s             ({:.2} s)",
        raw_took.as_secs_f64()
    );
    println!(
        "  ratio sink/raw:         {:8.2}x (of uploaded bytes: {:.2}x)",
        sink_rate / raw_rate,
        mb_per_s(uploaded, sink_took) / raw_rate
    );
    println!("  weir RSS peak while sinking: {peak_rss:.1} MiB");
    let (clean, _) = served.stop();
    assert!(clean, "weir did not stop cleanly");
}
