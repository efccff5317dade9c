//! Benchmark of the worker through the real binary: time from process start to a REST
//! answer, RSS of an idle `weir serve`, and FileStreamSource -> log -> FileStreamSink
//! records/s with its RSS, against a baseline measured in the same run (a plain buffered
//! line-by-line file copy of the same input).
//!
//! ```sh
//! cargo build --release --bins && cargo run --release -p weir-e2e --example worker_bench
//! ```
//! Options: `--lines N` (default 1,000,000), `--starts N` (default 10).

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use weir_e2e::bench::{arg, rss_mib};
use weir_e2e::{RestApi, Workdir, http, weir_bin};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Spawns `weir serve` on a fresh data dir and polls `GET /` until it answers.
fn time_to_ready(dir: &Path) -> Duration {
    let rest = format!("127.0.0.1:{}", free_port());
    let started = Instant::now();
    let mut child = Command::new(weir_bin())
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["serve", "--listen", "127.0.0.1:0", "--rest-listen", &rest])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn weir serve");
    let ready = loop {
        if std::net::TcpStream::connect(&rest).is_ok()
            && http("GET", &rest, "/", None, &[]).status == 200
        {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "weir serve never answered"
        );
        std::thread::sleep(Duration::from_micros(200));
    };
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    ready
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn write_input(path: &Path, lines: usize) -> u64 {
    let mut f = BufWriter::new(std::fs::File::create(path).expect("input"));
    for i in 0..lines {
        writeln!(f, "{i:09} the quick brown fox jumps over the lazy dog").expect("write");
    }
    f.flush().expect("flush");
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn count_lines(path: &Path) -> usize {
    std::fs::read(path)
        .map(|b| b.iter().filter(|c| **c == b'\n').count())
        .unwrap_or(0)
}

/// The baseline: read lines and write them to another file, buffered, then fsync.
fn baseline_copy(input: &Path, output: &Path) -> Duration {
    let started = Instant::now();
    let reader = BufReader::new(std::fs::File::open(input).expect("input"));
    let file = std::fs::File::create(output).expect("output");
    let mut writer = BufWriter::new(&file);
    for line in reader.lines() {
        let line = line.expect("line");
        writer.write_all(line.as_bytes()).expect("write");
        writer.write_all(b"\n").expect("write");
    }
    writer.flush().expect("flush");
    drop(writer);
    file.sync_all().expect("fsync");
    started.elapsed()
}

fn pipeline(lines: usize, converter: &str) {
    let w = Workdir::new();
    let dir = w.dir.path();
    let input = dir.join("in.txt");
    let output = dir.join("out.txt");
    let bytes = write_input(&input, lines);
    let baseline = baseline_copy(&input, &dir.join("copy.txt"));

    let served = w.serve(&[]);
    let pid = served.pid();
    std::thread::sleep(Duration::from_secs(1));
    let idle = rss_mib(pid, "VmRSS:");
    let api = RestApi::new(served.rest());
    let started = Instant::now();
    for (name, mut config) in [
        (
            "source",
            json!({"connector.class": "FileStreamSource", "file": input.display().to_string(), "topic": "bench"}),
        ),
        (
            "sink",
            json!({"connector.class": "FileStreamSink", "file": output.display().to_string(), "topics": "bench"}),
        ),
    ] {
        config["key.converter"] = json!(converter);
        config["value.converter"] = json!(converter);
        let r = api.send("PUT", &format!("/connectors/{name}/config"), &config);
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let mut peak: f64 = 0.0;
    // The sink writes at least every MiB and flushes at the offset commit interval; the
    // last lines arrive by the periodic flush.
    while count_lines(&output) < lines {
        peak = peak.max(rss_mib(pid, "VmRSS:"));
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "pipeline stalled"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = started.elapsed();
    let hwm = rss_mib(pid, "VmHWM:");
    let (_, _) = served.stop();
    let short = converter.rsplit('.').next().unwrap_or(converter);
    println!(
        "file->file {short:<18} {lines:>9} lines {:>7.1} MB  {:>9.0} rec/s  {:>6.1} MB/s  \
         baseline copy {:>10.0} rec/s  ratio {:>6.2}%  RSS idle {idle:.1} MiB, moving peak {peak:.1} MiB (HWM {hwm:.1})",
        bytes as f64 / 1e6,
        lines as f64 / took.as_secs_f64(),
        bytes as f64 / 1e6 / took.as_secs_f64(),
        lines as f64 / baseline.as_secs_f64(),
        100.0 * baseline.as_secs_f64() / took.as_secs_f64(),
    );
}

fn main() {
    let lines = arg("--lines", 1_000_000) as usize;
    let starts = arg("--starts", 10).max(1) as usize;
    println!("weir binary: {}", weir_bin().display());

    let w = Workdir::new();
    let mut fresh = Vec::new();
    let mut again = Vec::new();
    for _ in 0..starts {
        let w = Workdir::new();
        fresh.push(time_to_ready(w.dir.path()));
        again.push(time_to_ready(w.dir.path()));
    }
    // Keep one directory alive so the temp dirs are not all removed at once mid-measurement.
    drop(w);
    for (what, mut times) in [("fresh data dir", fresh), ("existing data dir", again)] {
        times.sort();
        println!(
            "start -> REST answers ({what}, {starts} starts): p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms",
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.9).as_secs_f64() * 1e3,
            times.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        );
    }

    for converter in [
        "org.apache.kafka.connect.storage.StringConverter",
        "org.apache.kafka.connect.json.JsonConverter",
    ] {
        pipeline(lines, converter);
    }
}
