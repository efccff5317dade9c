//! Helpers of the Postgres benchmarks (`pg_bench`, `outbox_bench`): arguments, process RSS, percentiles, Postgres
//! client commands, and polling a topic's log end through the broker's Kafka port.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::Workdir;
use crate::pg::{PgServer, SUPERUSER, pg_bin};

/// The value of `--name N` on the command line (underscores allowed), else `default`.
pub fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Resident set size of `pid` in MiB (`VmRSS:`, or `VmHWM:` for the peak).
pub fn rss_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU seconds (user + system) used so far by `pid`, from `/proc/<pid>/stat`.
pub fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    ticks / 100.0
}

/// The value at quantile `p` (0..=1) of sorted `values`.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// `psql` over TCP as the superuser into database `db`, quiet, unaligned, no psqlrc.
pub fn psql(pg: &PgServer, db: &str) -> Command {
    let mut cmd = pg_client(pg, "psql");
    cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db]);
    cmd
}

/// A Postgres client program (`psql`, `pg_recvlogical`, `pgbench`) connecting to `pg` as the
/// superuser over TCP.
pub fn pg_client(pg: &PgServer, program: &str) -> Command {
    let mut cmd = Command::new(pg_bin(program));
    cmd.args([
        "-h",
        pg.host(),
        "-p",
        &pg.port().to_string(),
        "-U",
        SUPERUSER,
    ])
    .env("PGCONNECT_TIMEOUT", "10");
    cmd
}

/// One value of a one-row query.
pub fn scalar(pg: &PgServer, db: &str, sql: &str) -> String {
    let rows = pg
        .sql_db(db, sql)
        .unwrap_or_else(|e| panic!("{sql}: {e:#}"));
    rows.first()
        .and_then(|r| r.first())
        .cloned()
        .flatten()
        .unwrap_or_else(|| panic!("{sql}: no value"))
}

/// Runs `cmd` to completion, with stdout to /dev/null and stdin closed; returns how long it
/// took. Panics with its stderr when it fails or runs longer than `timeout`.
pub fn timed(name: &str, mut cmd: Command, timeout: Duration) -> Duration {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let took = started.elapsed();
                if !status.success() {
                    let out = child.wait_with_output().ok();
                    let err = out.map(|o| String::from_utf8_lossy(&o.stderr).into_owned());
                    panic!("{name} failed ({status}): {}", err.unwrap_or_default());
                }
                return took;
            }
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{name} ran longer than {timeout:?}");
            }
            Ok(None) => std::thread::sleep(Duration::from_micros(500)),
            Err(e) => panic!("waiting for {name}: {e}"),
        }
    }
}

/// Runs `cmd` to completion (stdin closed) and returns its output.
pub fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// The high watermark (log end offset) of partition 0 of `topic`, from `weir topics
/// describe --bootstrap` against the running broker; `None` while the topic does not exist.
pub fn high_watermark(w: &Workdir, bootstrap: &str, topic: &str) -> Option<u64> {
    let out = output(&mut w.weir(&["topics", "describe", topic, "--bootstrap", bootstrap]));
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .skip_while(|f| *f != "HighWatermark:")
        .nth(1)
        .and_then(|v| v.parse().ok())
}

/// What [`wait_records`] saw while the topic filled.
pub struct Fill {
    /// From the call to the poll that saw `n` records.
    pub took: Duration,
    /// From the call to the first poll that saw a record.
    pub first: Option<Duration>,
    /// The largest `VmRSS` sampled, in MiB.
    pub peak_rss: f64,
    /// CPU seconds weir used meanwhile.
    pub cpu: f64,
}

/// Polls `topic`'s log end every `every` until it holds `n` records, sampling weir's RSS
/// (process `pid`) at each poll. `Err` with the count when it stops moving for `stall`.
pub fn wait_records(
    w: &Workdir,
    bootstrap: &str,
    topic: &str,
    n: u64,
    pid: u32,
    every: Duration,
    stall: Duration,
) -> Result<Fill, u64> {
    let started = Instant::now();
    let cpu0 = cpu_secs(pid);
    let mut fill = Fill {
        took: Duration::ZERO,
        first: None,
        peak_rss: 0.0,
        cpu: 0.0,
    };
    let mut last = (0, Instant::now());
    loop {
        let count = high_watermark(w, bootstrap, topic).unwrap_or(0);
        fill.peak_rss = fill.peak_rss.max(rss_mib(pid, "VmRSS:"));
        if count > 0 && fill.first.is_none() {
            fill.first = Some(started.elapsed());
        }
        if count >= n {
            fill.took = started.elapsed();
            fill.cpu = cpu_secs(pid) - cpu0;
            return Ok(fill);
        }
        if count != last.0 {
            last = (count, Instant::now());
        }
        if last.1.elapsed() > stall {
            return Err(count);
        }
        std::thread::sleep(every);
    }
}

/// `bytes` per `took`, in MB/s (10^6 bytes).
pub fn mb_per_s(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / 1e6 / took.as_secs_f64()
}

/// `n` per `took`.
pub fn per_s(n: u64, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

/// Microseconds since the Unix epoch, from the system clock (the one Postgres's
/// `clock_timestamp()` reads).
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// A process whose stdout lines are stamped with [`now_us`] as they arrive.
pub struct Follower {
    child: Child,
    reader: Option<JoinHandle<()>>,
    lines: Arc<Mutex<Vec<(i64, String)>>>,
}

impl Follower {
    /// Spawns `cmd` (stdout piped, stdin and stderr closed) and a thread reading its lines.
    pub fn spawn(name: &str, mut cmd: Command) -> Follower {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdout = child.stdout.take().expect("stdout pipe");
        let lines: Arc<Mutex<Vec<(i64, String)>>> = Arc::default();
        let sink = Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let at = now_us();
                if let Ok(mut v) = sink.lock() {
                    v.push((at, line));
                }
            }
        });
        Follower {
            child,
            reader: Some(reader),
            lines,
        }
    }

    /// Lines so far that contain `marker`.
    pub fn count(&self, marker: &str) -> usize {
        self.lines
            .lock()
            .map_or(0, |v| v.iter().filter(|(_, l)| l.contains(marker)).count())
    }

    /// Kills the process and returns every stamped line.
    pub fn stop(mut self) -> Vec<(i64, String)> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.lines.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Server settings of the Postgres benchmarks: no durability (nothing there tests it), no
/// checkpoint mid-run, and asynchronous commits flushed by the WAL writer every 10 ms
/// (instead of 200 ms): a walsender sends only flushed WAL, so this bounds how long a commit
/// waits to be decoded.
pub const PG_SETTINGS: [(&str, &str); 5] = [
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("wal_writer_delay", "10ms"),
    ("max_wal_size", "8GB"),
    ("shared_buffers", "512MB"),
];
/// How often a benchmark polls a topic's log end (one short `weir topics describe` each).
pub const POLL: Duration = Duration::from_millis(100);
/// How long a topic may stop growing before a benchmark gives up.
pub const STALL: Duration = Duration::from_secs(20);

/// Prints the load average, starts Postgres with [`PG_SETTINGS`] and prints its version
/// and settings.
pub fn start_postgres() -> PgServer {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average before the run (1/5/15 min): {}", load.trim());
    let mut opts = crate::pg::PgOptions::new();
    for (k, v) in PG_SETTINGS {
        opts = opts.set(k, v);
    }
    let pg = PgServer::start(opts).expect("start postgres");
    let version = scalar(&pg, "postgres", "SHOW server_version");
    let settings: Vec<String> = PG_SETTINGS
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    println!(
        "postgres {version}, wal_level=logical, {} (no durability: benchmark only)",
        settings.join(", ")
    );
    pg
}

/// Inserts `rows` rows into database `db` in transactions of `per_txn` rows: `insert(a, b)`
/// is the statement for rows `a..=b`. psql runs each statement as its own transaction; 100
/// statements per call keep calls short.
pub fn insert_in_transactions(
    pg: &PgServer,
    db: &str,
    rows: u64,
    per_txn: u64,
    insert: impl Fn(u64, u64) -> String,
) {
    let txns = rows.div_ceil(per_txn);
    for chunk in (0..txns).collect::<Vec<_>>().chunks(100) {
        let mut script = String::new();
        for t in chunk {
            script.push_str(&insert(t * per_txn + 1, ((t + 1) * per_txn).min(rows)));
            script.push_str(";\n");
        }
        pg.sql_db(db, &script).expect("insert rows");
    }
}

/// Produces one record per line (no key) into `topic` with `weir produce --bootstrap`.
pub fn produce_lines(
    w: &Workdir,
    bootstrap: &str,
    topic: &str,
    lines: impl Iterator<Item = String>,
) {
    use std::io::Write;
    let mut producer = w
        .weir(&["produce", topic, "--no-key", "--bootstrap", bootstrap])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("weir produce");
    {
        let mut stdin = std::io::BufWriter::new(producer.stdin.take().expect("stdin"));
        for line in lines {
            writeln!(stdin, "{line}").expect("write a record");
        }
    }
    assert!(
        producer.wait().expect("produce").success(),
        "weir produce failed"
    );
}
