//! Benchmark of the Elasticsearch sink through the real binary against the
//! Elasticsearch-compatible test server (`tests/src/es.rs`): documents/s and MB/s from the
//! log into the server against sending the same bulk bodies (same documents, ids and batch
//! size) with a plain keep-alive HTTP loop in the same run, plus the worker's RSS.
//!
//! ```sh
//! cargo build --release --bins && cargo run --release -p weir-e2e --example es_bench
//! ```
//! Options: `--docs N` (default 200,000), `--size BYTES` of padding per document (default 200).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;
use weir_e2e::bench::{arg, cpu_secs, mb_per_s, per_s, produce_lines, rss_mib};
use weir_e2e::es::EsServer;
use weir_e2e::{RestApi, Workdir};

const TOPIC: &str = "bench";
/// The worker's default `max.poll.records`: one bulk per `put`.
const BATCH: usize = 500;

/// One POST on a kept-alive connection; the answer's status.
fn post(conn: &mut BufReader<TcpStream>, host: &str, body: &[u8]) -> u16 {
    let head = format!(
        "POST /_bulk HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let stream = conn.get_mut();
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(body).expect("send body");
    let mut status_line = String::new();
    conn.read_line(&mut status_line).expect("status line");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        conn.read_line(&mut line).expect("header");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut answer = vec![0; length];
    conn.read_exact(&mut answer).expect("body");
    status
}

fn main() {
    let docs = usize::try_from(arg("--docs", 200_000)).expect("docs");
    let size = usize::try_from(arg("--size", 200)).expect("size");
    let es = EsServer::start();
    let w = Workdir::new();
    let served = w.serve(&[]);
    let api = RestApi::new(served.rest());
    let bootstrap = served.bootstrap();
    w.ok(&["topics", "--bootstrap", &bootstrap, "create", TOPIC], b"");

    let doc = |i: usize| {
        json!({"id": i, "name": format!("customer-{i}"), "pad": "x".repeat(size)}).to_string()
    };
    produce_lines(&w, &bootstrap, TOPIC, (0..docs).map(doc));
    let doc_bytes: usize = (0..docs).map(|i| doc(i).len()).sum();

    let cpu_before = cpu_secs(served.pid());
    let started = Instant::now();
    let config = json!({
        "connector.class": "io.confluent.connect.elasticsearch.ElasticsearchSinkConnector",
        "topics": TOPIC, "connection.url": es.url(), "key.ignore": "true", "schema.ignore": "true",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
    });
    let r = api.send("PUT", "/connectors/bench/config", &config);
    assert_eq!(r.status, 201, "{}", r.body);
    let last = format!("{TOPIC}+0+{}", docs - 1);
    let mut peak_rss = 0.0f64;
    while es.doc(TOPIC, &last).is_none() {
        peak_rss = peak_rss.max(rss_mib(served.pid(), "VmRSS:"));
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the sink did not finish"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let sink_took = started.elapsed();
    let weir_cpu = cpu_secs(served.pid()) - cpu_before;
    assert_eq!(es.docs(TOPIC).len(), docs, "every document indexed once");

    // The baseline: the same documents in bulks of the same size, one after the other on
    // one kept-alive connection, into another index.
    let bodies: Vec<Vec<u8>> = (0..docs)
        .collect::<Vec<_>>()
        .chunks(BATCH)
        .map(|chunk| {
            let mut body = Vec::new();
            for &i in chunk {
                let action =
                    json!({"index": {"_index": "baseline", "_id": format!("{TOPIC}+0+{i}")}});
                body.extend_from_slice(action.to_string().as_bytes());
                body.push(b'\n');
                body.extend_from_slice(doc(i).as_bytes());
                body.push(b'\n');
            }
            body
        })
        .collect();
    let bulk_bytes: usize = bodies.iter().map(Vec::len).sum();
    let mut conn = BufReader::new(TcpStream::connect(es.addr()).expect("connect"));
    let started = Instant::now();
    for body in &bodies {
        assert_eq!(post(&mut conn, &es.addr(), body), 200);
    }
    let raw_took = started.elapsed();
    assert_eq!(es.docs("baseline").len(), docs);

    let n = docs as u64;
    println!(
        "Elasticsearch sink benchmark: {docs} documents of {} B on average, bulks of {BATCH}",
        doc_bytes / docs
    );
    println!(
        "  sink (log -> ES):       {:9.0} docs/s {:7.1} MB/s of bulk bodies  ({:.2} s)",
        per_s(n, sink_took),
        mb_per_s(bulk_bytes as u64, sink_took),
        sink_took.as_secs_f64()
    );
    println!(
        "  plain HTTP loop:        {:9.0} docs/s {:7.1} MB/s                 ({:.2} s)",
        per_s(n, raw_took),
        mb_per_s(bulk_bytes as u64, raw_took),
        raw_took.as_secs_f64()
    );
    println!(
        "  ratio sink/loop:        {:9.2}x",
        raw_took.as_secs_f64() / sink_took.as_secs_f64()
    );
    println!(
        "  weir CPU while sinking: {weir_cpu:.2} s ({:.1} us per document); RSS peak {peak_rss:.1} MiB",
        weir_cpu * 1e6 / docs as f64
    );
    let (clean, _) = served.stop();
    assert!(clean, "weir did not stop cleanly");
}
