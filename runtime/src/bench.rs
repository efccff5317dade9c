//! `weir bench`: how fast the storage engine appends and fetches on one disk, next to the raw
//! sequential write bandwidth of the same bytes measured in the same run.
//!
//! Batches are encoded once up front, so only the engine is measured: validation, offset
//! assignment, the write, index upkeep and (with `flush.messages=1`) the fsyncs. The raw
//! baseline writes the very same buffers, the same number of times, to a plain file in the
//! same directory; the ratio append/raw is the engine's overhead on this machine.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use kafka_protocol::records::Compression;
use weir_broker::batch::{NewRecord, encode_batch, next_offset_after};
use weir_broker::{Broker, BrokerOptions};

/// Record value sizes measured, with their labels.
const VALUE_SIZES: [(usize, &str); 2] = [(100, "100 B"), (1024, "1 KB")];
/// Distinct pre-encoded batches cycled through, so the same buffer is not written every time.
const DISTINCT_BATCHES: usize = 8;
const FETCH_MAX_BYTES: usize = 1 << 20;
const TOPIC: &str = "bench";
/// Kafka's default `max.message.bytes`.
const DEFAULT_MAX_MESSAGE_BYTES: usize = 1_048_588;
const APPEND_GOAL: f64 = 0.80;
const FETCH_GOAL_MB_S: f64 = 2_000.0;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Directory on the disk to measure; a scratch directory `weir-bench-<pid>` is created
    /// in it and removed afterwards.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Megabytes (10^6 bytes) of encoded batches written per case.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub mb: u64,
    /// Records per batch.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub records_per_batch: usize,
    /// Rounds per case, raw and append interleaved; the best of each is reported, which
    /// filters out the write-back stalls of a shared disk.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub rounds: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flush {
    /// `flush.messages=1` for the broker, `fsync` after every buffer for the raw file.
    EveryBatch,
    /// The default: write-back left to the OS.
    Os,
}

/// The pre-encoded batches of one case and how many times they are written in all.
struct Workload {
    batches: Vec<Bytes>,
    batch_len: usize,
    count: usize,
    bytes: u64,
    records: u64,
}

impl Workload {
    fn new(value_size: usize, args: &BenchArgs) -> Result<Self> {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64 ^ value_size as u64;
        let mut batches = Vec::with_capacity(DISTINCT_BATCHES);
        for _ in 0..DISTINCT_BATCHES {
            let records: Vec<NewRecord> = (0..args.records_per_batch)
                .map(|_| NewRecord {
                    value: Some(Bytes::from(noise(&mut seed, value_size))),
                    timestamp,
                    ..NewRecord::default()
                })
                .collect();
            let batch = encode_batch(&records, Compression::None)
                .map_err(|e| anyhow!("cannot encode a benchmark batch: {e}"))?;
            batches.push(batch);
        }
        // Every batch has the same length: same record count, value size and timestamp.
        let batch_len = batches.first().map_or(1, Bytes::len).max(1);
        let count = (args.mb * 1_000_000).div_ceil(batch_len as u64).max(1) as usize;
        let bytes = batches
            .iter()
            .cycle()
            .take(count)
            .map(|b| b.len() as u64)
            .sum();
        let records = (count * args.records_per_batch) as u64;
        Ok(Self {
            batches,
            batch_len,
            count,
            bytes,
            records,
        })
    }

    fn iter(&self) -> impl Iterator<Item = &Bytes> {
        self.batches.iter().cycle().take(self.count)
    }
}

/// Incompressible filler (xorshift64), so no layer below can shortcut the bytes.
fn noise(state: &mut u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The scratch directory, removed when dropped: on success, on error and on panic.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.0) {
            eprintln!("warning: cannot remove {}: {e}", self.0.display());
        }
    }
}

/// One row of the result table; rates in MB/s.
struct Row {
    value: &'static str,
    flush: Flush,
    batches: usize,
    raw: f64,
    append: f64,
    records_per_s: f64,
    fetch: Option<f64>,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64().max(1e-9)
}

/// Measures every case and prints the table. The goals are informational: missing one is
/// reported as BELOW, not as an error.
pub fn run(args: &BenchArgs) -> Result<()> {
    if args.mb == 0 || args.records_per_batch == 0 || args.rounds == 0 {
        bail!("--mb, --records-per-batch and --rounds must be at least 1");
    }
    let dir = args.dir.join(format!("weir-bench-{}", std::process::id()));
    fs::create_dir(&dir).with_context(|| {
        format!(
            "cannot create scratch directory {} (does --dir exist?)",
            dir.display()
        )
    })?;
    let scratch = Scratch(dir);
    let mut rows = Vec::new();
    for (value_size, label) in VALUE_SIZES {
        let work = Workload::new(value_size, args)?;
        for flush in [Flush::EveryBatch, Flush::Os] {
            eprintln!("measuring {label} values, {}...", flush_label(flush));
            let mut raw = Duration::MAX;
            let mut append = Duration::MAX;
            let mut fetch: Option<Duration> = None;
            for _ in 0..args.rounds {
                raw = raw.min(measure_raw(&scratch.0, &work, flush)?);
                let (a, f) = measure_broker(&scratch.0, &work, flush)?;
                append = append.min(a);
                fetch = match (fetch, f) {
                    (Some(x), Some(y)) => Some(x.min(y)),
                    (x, y) => x.or(y),
                };
            }
            let mb_s = |d: Duration| work.bytes as f64 / 1e6 / secs(d);
            rows.push(Row {
                value: label,
                flush,
                batches: work.count,
                raw: mb_s(raw),
                append: mb_s(append),
                records_per_s: work.records as f64 / secs(append),
                fetch: fetch.map(mb_s),
            });
        }
    }
    report(&scratch.0, args, &rows);
    Ok(())
}

fn flush_label(flush: Flush) -> &'static str {
    match flush {
        Flush::EveryBatch => "fsync/batch",
        Flush::Os => "OS flushing",
    }
}

/// Writes the workload's buffers to a plain file with `write_all`, the baseline.
fn measure_raw(dir: &Path, work: &Workload, flush: Flush) -> Result<Duration> {
    let path = dir.join("raw-sequential.bin");
    let on = |what: &str| format!("cannot {what} {}", path.display());
    let mut file = File::create(&path).with_context(|| on("create"))?;
    let started = Instant::now();
    for batch in work.iter() {
        file.write_all(batch).with_context(|| on("write"))?;
        if flush == Flush::EveryBatch {
            file.sync_data().with_context(|| on("fsync"))?;
        }
    }
    let elapsed = started.elapsed();
    // Untimed: write back now so this case's dirty pages do not slow the next one.
    file.sync_all().with_context(|| on("fsync"))?;
    drop(file);
    fs::remove_file(&path).with_context(|| on("remove"))?;
    Ok(elapsed)
}

/// Appends the workload through a fresh broker; with OS flushing, also reads it all back.
fn measure_broker(
    dir: &Path,
    work: &Workload,
    flush: Flush,
) -> Result<(Duration, Option<Duration>)> {
    let data_dir = dir.join("broker");
    let options = BrokerOptions {
        offsets_partitions: 1,
        ..BrokerOptions::new(&data_dir)
    };
    let broker = Broker::open(options)
        .with_context(|| format!("cannot open data directory {}", data_dir.display()))?;
    let mut configs = BTreeMap::new();
    if flush == Flush::EveryBatch {
        configs.insert("flush.messages".to_string(), "1".to_string());
    }
    // A large --records-per-batch would otherwise exceed the default batch size limit.
    let max_batch = work.batch_len.max(DEFAULT_MAX_MESSAGE_BYTES);
    configs.insert("max.message.bytes".to_string(), max_batch.to_string());
    broker
        .create_topic(TOPIC, 1, configs)
        .with_context(|| format!("cannot create topic {TOPIC}"))?;

    let started = Instant::now();
    let mut log_end = 0;
    for batch in work.iter() {
        log_end = broker
            .append(TOPIC, 0, batch)
            .with_context(|| format!("cannot append to {TOPIC}-0 at offset {log_end}"))?
            .log_end;
    }
    let append = started.elapsed();
    // Untimed: fsync everything so the fetch reads clean pages and the next case starts
    // without this one's write-back.
    broker
        .checkpoint()
        .context("cannot checkpoint the benchmark broker")?;

    let fetch = match flush {
        Flush::Os => Some(fetch_all(&broker, log_end, work)?),
        Flush::EveryBatch => None,
    };
    broker
        .close()
        .context("cannot close the benchmark broker")?;
    fs::remove_dir_all(&data_dir)
        .with_context(|| format!("cannot remove {}", data_dir.display()))?;
    Ok((append, fetch))
}

/// Reads the partition from offset 0 to `log_end` in fetches of about 1 MiB.
fn fetch_all(broker: &Broker, log_end: i64, work: &Workload) -> Result<Duration> {
    let started = Instant::now();
    let (mut offset, mut bytes) = (0i64, 0u64);
    while offset < log_end {
        let data = broker
            .fetch(TOPIC, 0, offset, FETCH_MAX_BYTES)
            .with_context(|| format!("cannot fetch {TOPIC}-0 at offset {offset}"))?;
        offset = next_offset_after(&data.records)
            .with_context(|| format!("fetch of {TOPIC}-0 at offset {offset} returned no batch"))?;
        bytes += data.records.len() as u64;
    }
    let elapsed = started.elapsed();
    if bytes != work.bytes {
        bail!("fetched {bytes} bytes but appended {}", work.bytes);
    }
    Ok(elapsed)
}

fn mark(pass: bool) -> &'static str {
    if pass { "PASS" } else { "BELOW" }
}

fn report(dir: &Path, args: &BenchArgs, rows: &[Row]) {
    let (mb, per_batch, at) = (args.mb, args.records_per_batch, dir.display());
    let rounds = args.rounds;
    println!(
        "\nweir bench in {at}: {mb} MB per case, {per_batch} records per batch, best of {rounds} rounds"
    );
    println!("(MB = 10^6 bytes of encoded batches; raw = the same buffers to a plain file)\n");
    println!(
        "value  flush        batches  raw MB/s  append MB/s  append rec/s  append/raw  fetch MB/s"
    );
    for r in rows {
        let (value, flush, batches) = (r.value, flush_label(r.flush), r.batches);
        let (raw, append, rec, pct) = (r.raw, r.append, r.records_per_s, r.append / r.raw * 100.0);
        let fetch = r.fetch.map_or("-".into(), |f| format!("{f:.0}"));
        println!(
            "{value:<6} {flush:<11} {batches:>8} {raw:>9.1} {append:>12.1} {rec:>13.0} {pct:>10.1}% {fetch:>11}"
        );
    }
    let goal = APPEND_GOAL * 100.0;
    println!("\ngoal: append without per-batch fsync >= {goal:.0}% of raw sequential write");
    for r in rows.iter().filter(|r| r.flush == Flush::Os) {
        let (value, ratio) = (r.value, r.append / r.raw);
        let pass = mark(ratio >= APPEND_GOAL);
        println!("  {value:<6} {:>7.1}%  {pass}", ratio * 100.0);
    }
    let goal = FETCH_GOAL_MB_S / 1000.0;
    println!("goal: fetch >= {goal:.0} GB/s from cache");
    for (value, f) in rows.iter().filter_map(|r| Some((r.value, r.fetch?))) {
        let pass = mark(f >= FETCH_GOAL_MB_S);
        println!("  {value:<6} {:>7.2} GB/s  {pass}", f / 1000.0);
    }
}
