//! Real Kafka clients against `weir serve`: kcat, confluent-kafka (librdkafka), kafka-python
//! 2.x and 3.x, and kafkajs. The client scripts live in `tests/clients/` and print JSON lines
//! (see `tests/clients/common.py`); `./scripts/test` installs the clients and exports where
//! they are. A client that is missing fails its test: it never skips.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use weir_e2e::{Finished, Proc, Served, Workdir, run_with_timeout, wait_for};

/// No client call may take longer; a hung client fails the test instead of hanging it.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------
// Where the clients are

fn cache_dir() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is set");
    PathBuf::from(home).join(".cache/weir")
}

/// `env` if set, else `default` if it exists; otherwise the test fails with how to fix it.
fn installed(env: &str, default: PathBuf, what: &str) -> PathBuf {
    let path = std::env::var_os(env).map_or(default, PathBuf::from);
    assert!(
        path.exists(),
        "{what} not found at {} (set {env}, or run ./scripts/test, which installs it)",
        path.display()
    );
    path
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

fn kcat() -> PathBuf {
    let default = on_path("kcat").unwrap_or_else(|| PathBuf::from("/usr/bin/kcat"));
    installed("WEIR_KCAT", default, "kcat (Debian package kcat)")
}

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Client {
    Confluent,
    KafkaPython2,
    KafkaPython3,
    Kafkajs,
}

impl Client {
    fn name(self) -> &'static str {
        match self {
            Client::Confluent => "confluent-kafka",
            Client::KafkaPython2 => "kafka-python 2.x",
            Client::KafkaPython3 => "kafka-python 3.x",
            Client::Kafkajs => "kafkajs",
        }
    }

    /// A command running this client's script with `args`.
    fn command(self, args: &[&str]) -> Command {
        let venv_python = |env: &str, venv: &str| {
            installed(
                env,
                cache_dir().join("venvs").join(venv).join("bin/python"),
                &format!("{} (Python venv {venv})", self.name()),
            )
        };
        let mut cmd = match self {
            Client::Confluent => {
                let mut c = Command::new(venv_python("WEIR_PY_CONFLUENT", "confluent"));
                c.env("PYTHONDONTWRITEBYTECODE", "1");
                c.arg("-u")
                    .arg(clients_dir().join("confluent_kafka_client.py"));
                c
            }
            Client::KafkaPython2 | Client::KafkaPython3 => {
                let (env, venv) = if self == Client::KafkaPython2 {
                    ("WEIR_PY_KAFKA2", "kafka-python-2")
                } else {
                    ("WEIR_PY_KAFKA3", "kafka-python-3")
                };
                let mut c = Command::new(venv_python(env, venv));
                c.env("PYTHONDONTWRITEBYTECODE", "1");
                c.arg("-u")
                    .arg(clients_dir().join("kafka_python_client.py"));
                c
            }
            Client::Kafkajs => {
                let modules = installed(
                    "WEIR_NODE_PATH",
                    cache_dir().join("node/node_modules"),
                    "kafkajs (npm, node_modules directory)",
                );
                assert!(
                    modules.join("kafkajs").exists(),
                    "kafkajs is missing from {} (run ./scripts/test)",
                    modules.display()
                );
                let node = on_path("node").expect("node not on PATH (run ./scripts/test)");
                let mut c = Command::new(node);
                c.arg(clients_dir().join("kafkajs_client.js"))
                    .env("NODE_PATH", modules)
                    .env("KAFKAJS_NO_PARTITIONER_WARNING", "1");
                c
            }
        };
        cmd.args(args);
        cmd
    }

    fn run(self, args: &[&str]) -> Finished {
        let what = format!("{} {}", self.name(), args.join(" "));
        run_with_timeout(&what, self.command(args), CLIENT_TIMEOUT).success()
    }

    fn spawn(self, label: &str, args: &[&str]) -> Proc {
        Proc::spawn(&format!("{} {label}", self.name()), self.command(args))
    }

    /// Produces messages `start..start+count` of `tag` (see [`expected`]).
    fn produce(self, bootstrap: &str, topic: &str, tag: &str, start: usize, count: usize) {
        self.produce_with(bootstrap, topic, tag, start, count, "none");
    }

    fn produce_with(
        self,
        bootstrap: &str,
        topic: &str,
        tag: &str,
        start: usize,
        count: usize,
        compression: &str,
    ) -> Vec<Value> {
        let (start, count) = (start.to_string(), count.to_string());
        let out = self.run(&[
            "produce",
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
            "--tag",
            tag,
            "--start",
            &start,
            "--count",
            &count,
            "--compression",
            compression,
        ]);
        let lines = json_lines(&out.lines());
        assert!(
            lines.iter().any(|l| l["event"] == "produced"),
            "{} produce did not finish:\n{}",
            self.name(),
            out.tail()
        );
        lines
    }
}

// ---------------------------------------------------------------------------------------
// Messages and what the consumers print

/// Message `i` of run `tag`, as the client scripts generate it: (key, value, headers with
/// hex values).
fn expected(tag: &str, i: usize) -> (String, String, Vec<(String, String)>) {
    let bin = format!("{:02x}00ff", i % 256);
    (
        format!("key-{}", i % 37),
        format!("{tag}-{i}-{}", "x".repeat(i % 41)),
        vec![
            ("seq".to_owned(), hex(i.to_string().as_bytes())),
            ("bin".to_owned(), bin),
        ],
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// (tag, i) from a value `<tag>-<i>-xxx`.
fn parse_value(v: &str) -> (String, usize) {
    let mut parts = v.splitn(3, '-');
    let tag = parts.next().expect("tag").to_owned();
    let i = parts
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected value {v:?}"));
    (tag, i)
}

#[derive(Clone, Debug)]
struct Rec {
    p: i32,
    o: i64,
    tag: String,
    i: usize,
}

/// The JSON lines of a finished client, ignoring any that do not parse (for reports).
fn complete_json(out: &Finished) -> Vec<Value> {
    out.lines()
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn json_lines(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}")))
        .collect()
}

/// A record line, checked against [`expected`]: key and headers must come back intact.
fn record(line: &Value) -> Option<Rec> {
    line.get("p")?;
    let v = line["v"].as_str().expect("value is a string");
    let (tag, i) = parse_value(v);
    let (key, value, headers) = expected(&tag, i);
    assert_eq!(line["k"].as_str(), Some(key.as_str()), "key of {line}");
    assert_eq!(v, value, "value of {line}");
    let got: Vec<(String, String)> = line["h"]
        .as_array()
        .expect("headers array")
        .iter()
        .map(|h| {
            (
                h[0].as_str().expect("header name").to_owned(),
                h[1].as_str().expect("header value").to_owned(),
            )
        })
        .collect();
    assert_eq!(got, headers, "headers of {line}");
    Some(Rec {
        p: i32::try_from(line["p"].as_i64().expect("partition")).expect("partition fits i32"),
        o: line["o"].as_i64().expect("offset"),
        tag,
        i,
    })
}

/// What one consumer printed so far, in order.
#[derive(Default)]
struct Seen {
    records: Vec<Rec>,
    /// The partitions of each assignment, in order.
    assignments: Vec<Vec<i32>>,
    /// partition -> the highest offset this consumer committed (the next one to read).
    committed: BTreeMap<i32, i64>,
    closed: bool,
}

fn seen(lines: &[String]) -> Seen {
    let mut s = Seen::default();
    for line in json_lines(lines) {
        if let Some(r) = record(&line) {
            s.records.push(r);
            continue;
        }
        match line["event"].as_str() {
            Some("assigned") => s.assignments.push(partitions(&line["partitions"])),
            Some("committed") => {
                for pair in line["offsets"].as_array().expect("offsets") {
                    let p = i32::try_from(pair[0].as_i64().expect("partition")).expect("i32");
                    let o = pair[1].as_i64().expect("offset");
                    let e = s.committed.entry(p).or_insert(o);
                    *e = (*e).max(o);
                }
            }
            Some("closed") => s.closed = true,
            _ => {}
        }
    }
    s
}

fn partitions(v: &Value) -> Vec<i32> {
    v.as_array()
        .expect("partition list")
        .iter()
        .map(|p| i32::try_from(p.as_i64().expect("partition")).expect("i32"))
        .collect()
}

/// Every message of `tag` in `range` was consumed at least once by one of `consumers`.
fn consumed_all(consumers: &[&Proc], tag: &str, range: std::ops::Range<usize>) -> bool {
    let mut got = BTreeSet::new();
    for c in consumers {
        for r in seen(&c.lines()).records {
            if r.tag == tag && range.contains(&r.i) {
                got.insert(r.i);
            }
        }
    }
    got.len() == range.len()
}

fn tails(procs: &[&Proc]) -> String {
    procs
        .iter()
        .map(|p| p.tail())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Per partition, the records in the order one consumer read them.
fn by_partition(records: &[Rec]) -> BTreeMap<i32, Vec<Rec>> {
    let mut m: BTreeMap<i32, Vec<Rec>> = BTreeMap::new();
    for r in records {
        m.entry(r.p).or_default().push(r.clone());
    }
    m
}

/// Within one partition, offsets and message indexes both strictly increase: the producer
/// sent in index order, so the log must hold them in that order.
fn assert_in_order(who: &str, p: i32, recs: &[Rec]) {
    for w in recs.windows(2) {
        assert!(
            w[1].o > w[0].o && (w[1].tag != w[0].tag || w[1].i > w[0].i),
            "{who}: partition {p} out of order: {:?} then {:?}",
            w[0],
            w[1]
        );
    }
}

// ---------------------------------------------------------------------------------------
// Consumer groups: the same scenario for every client

fn consume_args<'a>(bootstrap: &'a str, topic: &'a str, group: &'a str) -> Vec<&'a str> {
    vec![
        "consume",
        "--bootstrap",
        bootstrap,
        "--topic",
        topic,
        "--group",
        group,
    ]
}

/// Two consumers split a 6-partition topic, each message is read exactly once and in order;
/// one consumer crashes and the other takes over its partitions from the committed offsets;
/// the survivor stops cleanly and a new consumer resumes exactly where it committed.
fn group_scenario(client: Client) {
    const PARTS: i32 = 6;
    const N1: usize = 3000;
    const N2: usize = 2000;
    const N3: usize = 1000;
    let w = Workdir::new();
    w.ok(&["topics", "create", "orders", "--partitions", "6"], b"");
    let served = w.serve(&[]);
    let bs = served.bootstrap();
    let group = "orders-app";
    let slow = w.dir.path().join("b-is-slow");
    let slow_arg = slow.to_str().expect("utf8 path");

    // Phase 1: A and B split the partitions before anything is produced, so the split is
    // what the coordinator decided, not whoever was first.
    let a = client.spawn("consumer A", &consume_args(&bs, "orders", group));
    let mut b_args = consume_args(&bs, "orders", group);
    b_args.extend(["--slow-file", slow_arg]);
    let mut b = client.spawn("consumer B", &b_args);
    wait_for(
        "consumers A and B to split the 6 partitions",
        CLIENT_TIMEOUT,
        || {
            let (sa, sb) = (seen(&a.lines()), seen(&b.lines()));
            match (sa.assignments.last(), sb.assignments.last()) {
                (Some(pa), Some(pb)) if !pa.is_empty() && !pb.is_empty() => {
                    let all: BTreeSet<i32> = pa.iter().chain(pb).copied().collect();
                    all.len() == pa.len() + pb.len() && all == (0..PARTS).collect()
                }
                _ => false,
            }
        },
        || tails(&[&a, &b]) + &server_log(&served),
    );
    let produced = client.produce_with(&bs, "orders", "one", 0, N1, "none");
    wait_for(
        "A and B to consume the first batch",
        CLIENT_TIMEOUT,
        || consumed_all(&[&a, &b], "one", 0..N1),
        || tails(&[&a, &b]),
    );
    let (sa, sb) = (seen(&a.lines()), seen(&b.lines()));
    assert_eq!(
        sa.records.len() + sb.records.len(),
        N1,
        "phase 1: every message exactly once across the group\n{}",
        tails(&[&a, &b])
    );
    let owner_a: BTreeSet<i32> = sa
        .assignments
        .last()
        .expect("A assigned")
        .iter()
        .copied()
        .collect();
    let mut key_partition: BTreeMap<usize, i32> = BTreeMap::new();
    for (who, s, owned) in [("A", &sa, true), ("B", &sb, false)] {
        for (p, recs) in by_partition(&s.records) {
            assert_eq!(
                owner_a.contains(&p),
                owned,
                "{who} read partition {p} it does not own"
            );
            assert_in_order(who, p, &recs);
            // A fresh topic: offsets are 0, 1, 2, ... without gaps.
            let offsets: Vec<i64> = recs.iter().map(|r| r.o).collect();
            assert_eq!(
                offsets,
                (0..recs.len() as i64).collect::<Vec<_>>(),
                "{who} p{p}"
            );
            for r in recs {
                let k = r.i % 37;
                assert_eq!(
                    *key_partition.entry(k).or_insert(p),
                    p,
                    "key-{k} spans partitions"
                );
            }
        }
    }
    assert!(
        !sa.records.is_empty() && !sb.records.is_empty(),
        "both consumers got records"
    );
    // The offsets the producer was told match where the messages are.
    let mut where_is: BTreeMap<usize, (i32, i64)> = BTreeMap::new();
    for r in sa.records.iter().chain(&sb.records) {
        where_is.insert(r.i, (r.p, r.o));
    }
    for d in produced.iter().filter(|l| l["event"] == "delivered") {
        let (_, i) = parse_value(d["v"].as_str().expect("value"));
        let at = (
            i32::try_from(d["p"].as_i64().expect("p")).expect("i32"),
            d["o"].as_i64().expect("o"),
        );
        assert_eq!(
            where_is.get(&i),
            Some(&at),
            "producer's delivery report for message {i}"
        );
    }

    // Phase 2: B slows down (one record and one commit at a time), gets killed mid-batch,
    // and A takes over B's partitions from B's committed offsets.
    std::fs::write(&slow, b"").expect("create slow file");
    let b_before = sb.records.len();
    client.produce(&bs, "orders", "two", N1, N2);
    wait_for(
        "B to read (and commit, one by one) some of the second batch",
        CLIENT_TIMEOUT,
        || {
            let s = seen(&b.lines());
            s.records.len() >= b_before + 5
        },
        || tails(&[&a, &b]),
    );
    b.kill();
    let sb = seen(&b.lines());
    let a_before = seen(&a.lines());
    wait_for(
        "A to take over B's partitions and consume the second batch",
        CLIENT_TIMEOUT,
        || consumed_all(&[&a, &b], "two", N1..N1 + N2),
        || tails(&[&a, &b]) + &server_log(&served),
    );
    let sa = seen(&a.lines());
    assert_eq!(
        sa.assignments.last().map(Vec::len),
        Some(PARTS as usize),
        "A owns every partition after B died\n{}",
        a.tail()
    );
    let b_parts: BTreeSet<i32> = sb
        .assignments
        .last()
        .expect("B assigned")
        .iter()
        .copied()
        .collect();
    let a_new = &sa.records[a_before.records.len()..];
    for (p, recs) in by_partition(a_new) {
        if b_parts.contains(&p) {
            // A starts at what B committed: not before B's last acknowledged commit (that
            // would redeliver committed records), not after what B read (that would lose).
            let committed = sb.committed.get(&p).copied().unwrap_or(0);
            let read_to = sb
                .records
                .iter()
                .filter(|r| r.p == p)
                .map(|r| r.o + 1)
                .max()
                .unwrap_or(0);
            let first = recs[0].o;
            println!(
                "{}: B's partition {p}: B committed {committed}, read to {read_to}; A resumed \
                 at {first}",
                client.name()
            );
            assert!(
                (committed..=read_to).contains(&first),
                "A resumed B's partition {p} at {first}, but B had committed {committed} and \
                 read up to {read_to}"
            );
        } else {
            // A's own partition: it continues after its own commits.
            let committed = a_before.committed.get(&p).copied().unwrap_or(0);
            let read_to = a_before
                .records
                .iter()
                .filter(|r| r.p == p)
                .map(|r| r.o + 1)
                .max()
                .unwrap_or(0);
            assert!(
                (committed..=read_to).contains(&recs[0].o),
                "A went back on its own partition {p}: {} (committed {committed})",
                recs[0].o
            );
        }
        // After the takeover, one pass in order (a rewind at most once, at the handover).
        let after_rewind = recs
            .windows(2)
            .position(|w| w[1].o <= w[0].o)
            .map_or(&recs[..], |at| &recs[at + 1..]);
        assert_in_order("A after takeover", p, after_rewind);
    }

    // Phase 3: A stops cleanly (commits, leaves); a new consumer C resumes exactly there.
    a.terminate();
    let a_done = a.wait(CLIENT_TIMEOUT);
    let sa = seen(&a_done.lines());
    assert!(sa.closed, "A did not close cleanly:\n{}", a_done.tail());
    client.produce(&bs, "orders", "three", N1 + N2, N3);
    let mut c_args = consume_args(&bs, "orders", group);
    let max = N3.to_string();
    c_args.extend(["--max", &max]);
    let c = client
        .spawn("consumer C", &c_args)
        .wait(CLIENT_TIMEOUT)
        .success();
    let sc = seen(&c.lines());
    let got: BTreeSet<usize> = sc.records.iter().map(|r| r.i).collect();
    assert!(
        sc.records.iter().all(|r| r.tag == "three") && got.len() == N3 && sc.records.len() == N3,
        "C must read exactly the third batch (restart resumes from the committed offsets)\n{}",
        c.tail()
    );
    // Where the second batch ended in each partition: A committed all of it before closing.
    let mut end: BTreeMap<i32, i64> = BTreeMap::new();
    for r in sa.records.iter().chain(&sb.records) {
        let e = end.entry(r.p).or_insert(0);
        *e = (*e).max(r.o + 1);
    }
    for (p, recs) in by_partition(&sc.records) {
        assert_in_order("C", p, &recs);
        assert_eq!(
            Some(recs[0].o),
            end.get(&p).copied(),
            "C starts partition {p} where the group committed"
        );
    }
    let (clean, log) = served.stop();
    assert!(
        clean,
        "weir serve exited with an error:\n{}",
        log.join("\n")
    );
    // Idempotence was on: every stored batch carries a producer id from InitProducerId.
    for p in 0..PARTS {
        let batches = stored_batches(&w.data_dir().join(format!("orders-{p}")));
        assert!(
            !batches.is_empty() && batches.iter().all(|b| b.producer_id >= 0),
            "orders-{p}: a batch without a producer id; {} did not produce idempotently",
            client.name()
        );
    }
}

/// The server's log so far, for failure messages.
fn server_log(served: &Served) -> String {
    let log = served.log_so_far();
    let tail = &log[log.len().saturating_sub(60)..];
    format!("\n--- weir serve log (tail) ---\n{}", tail.join("\n"))
}

#[test]
fn confluent_kafka_group_produce_consume_takeover_restart() {
    group_scenario(Client::Confluent);
}

#[test]
fn kafka_python_2_group_produce_consume_takeover_restart() {
    group_scenario(Client::KafkaPython2);
}

#[test]
fn kafka_python_3_group_produce_consume_takeover_restart() {
    group_scenario(Client::KafkaPython3);
}

#[test]
fn kafkajs_group_produce_consume_takeover_restart() {
    group_scenario(Client::Kafkajs);
}

// ---------------------------------------------------------------------------------------
// Admin API

#[test]
fn every_client_creates_topics_with_the_admin_api() {
    let w = Workdir::new();
    let served = w.serve(&[]);
    let bs = served.bootstrap();
    let clients = [
        Client::Confluent,
        Client::KafkaPython2,
        Client::KafkaPython3,
        Client::Kafkajs,
    ];
    // Every client runs even when one fails, so one report names all of them.
    let mut failures = Vec::new();
    for (n, client) in clients.into_iter().enumerate() {
        let topic = format!("admin-{n}");
        let parts = (n + 2).to_string();
        let args = [
            "create-topic",
            "--bootstrap",
            &bs,
            "--topic",
            &topic,
            "--partitions",
            &parts,
        ];
        let what = format!("{} {}", client.name(), args.join(" "));
        let out = run_with_timeout(&what, client.command(&args), CLIENT_TIMEOUT);
        let created = complete_json(&out).last().map(|l| l["partitions"].clone());
        if !out.status.success() || created != Some(Value::from(n + 2)) {
            failures.push(format!("{what}: {}\n{}", out.status, out.tail()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let md = kcat_metadata(&bs);
    for n in 0..4 {
        assert_eq!(
            topic_partitions(&md, &format!("admin-{n}")),
            Some(n + 2),
            "{md}"
        );
    }
    let (clean, log) = served.stop();
    assert!(clean, "{}", log.join("\n"));
}

// ---------------------------------------------------------------------------------------
// Compression

/// Compression codec ids in RecordBatch attributes bits 0-2.
fn codec_id(name: &str) -> u16 {
    match name {
        "gzip" => 1,
        "snappy" => 2,
        "lz4" => 3,
        "zstd" => 4,
        _ => panic!("unknown codec {name}"),
    }
}

/// The header fields of one stored batch that tell how the producer wrote it.
struct StoredBatch {
    /// Attributes bits 0-2.
    codec: u16,
    /// -1 unless the producer is idempotent (or transactional).
    producer_id: i64,
}

/// Every batch of every segment of `dir` (a partition directory), read straight from the
/// `.log` files: the broker stores producer batches unchanged (docs/storage-format.md).
fn stored_batches(dir: &Path) -> Vec<StoredBatch> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    let mut batches = Vec::new();
    for log in logs {
        let bytes = std::fs::read(&log).expect("read segment");
        let mut pos = 0;
        // baseOffset 8, batchLength 4, leaderEpoch 4, magic 1, crc 4, attributes 2,
        // lastOffsetDelta 4, baseTimestamp 8, maxTimestamp 8, producerId 8, ...
        while pos + 51 <= bytes.len() {
            let field = |at: usize, n: usize| &bytes[pos + at..pos + at + n];
            let len = i32::from_be_bytes(field(8, 4).try_into().expect("4 bytes"));
            batches.push(StoredBatch {
                codec: u16::from_be_bytes(field(21, 2).try_into().expect("2 bytes")) & 7,
                producer_id: i64::from_be_bytes(field(43, 8).try_into().expect("8 bytes")),
            });
            pos += 12 + usize::try_from(len).expect("batch length");
        }
    }
    batches
}

/// Batches per codec id in a partition directory.
fn stored_codecs(dir: &Path) -> BTreeMap<u16, usize> {
    let mut m = BTreeMap::new();
    for b in stored_batches(dir) {
        *m.entry(b.codec).or_insert(0) += 1;
    }
    m
}

#[test]
fn compressed_batches_are_stored_and_fetched_intact() {
    const N: usize = 2000;
    let all = ["gzip", "snappy", "lz4", "zstd"];
    let cases: Vec<(Client, &str)> = [
        (Client::Confluent, &all[..]),
        (Client::KafkaPython2, &all[..]),
        (Client::KafkaPython3, &all[..]),
        // kafkajs: gzip built in, snappy through kafkajs-snappy; lz4/zstd need native addons.
        (Client::Kafkajs, &["gzip", "snappy"][..]),
    ]
    .into_iter()
    .flat_map(|(c, codecs)| codecs.iter().map(move |z| (c, *z)))
    .collect();
    let topic = |c: Client, z: &str| format!("z-{}-{z}", c.name().replace([' ', '.'], ""));

    let w = Workdir::new();
    for (c, z) in &cases {
        w.ok(&["topics", "create", &topic(*c, z)], b"");
    }
    let served = w.serve(&[]);
    let bs = served.bootstrap();
    // Producers run side by side, then the consumers: each client reads back what it
    // wrote, and librdkafka (confluent-kafka) reads every topic too.
    let producers: Vec<(String, Proc)> = cases
        .iter()
        .map(|(c, z)| {
            let t = topic(*c, z);
            let n = N.to_string();
            let args = [
                "produce",
                "--bootstrap",
                &bs,
                "--topic",
                &t,
                "--tag",
                z,
                "--count",
                &n,
                "--compression",
                z,
            ];
            (t.clone(), c.spawn(&format!("produce {z}"), &args))
        })
        .collect();
    for (_, p) in producers {
        p.wait(CLIENT_TIMEOUT).success();
    }
    // Readers without a group (assign from the beginning) keep this test independent of
    // the group coordinator; kafkajs can only consume in a group.
    let mut readers = Vec::new();
    for (c, z) in &cases {
        let t = topic(*c, z);
        let mut consumers = vec![*c];
        if *c != Client::Confluent {
            consumers.push(Client::Confluent);
        }
        for reader in consumers {
            let n = N.to_string();
            let mut args = vec!["consume", "--bootstrap", &bs, "--topic", &t, "--max", &n];
            let group = format!("read-{t}");
            if reader == Client::Kafkajs {
                args.extend(["--group", &group]);
            }
            let p = reader.spawn(&format!("consume {t}"), &args);
            readers.push((z.to_string(), p));
        }
    }
    // Every reader and every topic is checked, so one report names all codec failures.
    let mut failures = Vec::new();
    for (z, p) in readers {
        let out = p.wait(CLIENT_TIMEOUT);
        let recs = seen_lossy(&out);
        let idx: Vec<usize> = recs.iter().map(|r| r.i).collect();
        if !out.status.success()
            || idx != (0..N).collect::<Vec<_>>()
            || recs.iter().any(|r| r.tag != z)
        {
            failures.push(format!(
                "{}: read {} of {N} records back ({}):\n{}",
                out.name,
                recs.len(),
                out.status,
                out.tail()
            ));
        }
    }
    let (clean, log) = served.stop();
    assert!(clean, "{}", log.join("\n"));
    for (c, z) in &cases {
        let t = topic(*c, z);
        let codecs = stored_codecs(&w.data_dir().join(format!("{t}-0")));
        let want = codec_id(z);
        if codecs.get(&want).copied().unwrap_or(0) == 0
            || codecs.keys().any(|k| *k != want && *k != 0)
        {
            failures.push(format!(
                "{t}: batches per codec id in the log: {codecs:?} (want {want})"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The record lines of a finished consumer (checked like [`record`]), skipping lines that
/// are not JSON.
fn seen_lossy(out: &Finished) -> Vec<Rec> {
    complete_json(out).iter().filter_map(record).collect()
}

// ---------------------------------------------------------------------------------------
// kcat

fn kcat_cmd(bootstrap: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(kcat());
    cmd.args(["-b", bootstrap]).args(args);
    cmd
}

fn kcat_run(bootstrap: &str, args: &[&str]) -> Finished {
    let what = format!("kcat {}", args.join(" "));
    run_with_timeout(&what, kcat_cmd(bootstrap, args), CLIENT_TIMEOUT).success()
}

fn kcat_metadata(bootstrap: &str) -> Value {
    let out = kcat_run(bootstrap, &["-L", "-J"]);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("kcat -L -J is not JSON ({e}):\n{}", out.tail()))
}

fn topic_partitions(md: &Value, topic: &str) -> Option<usize> {
    md["topics"]
        .as_array()?
        .iter()
        .find(|t| t["topic"] == topic)
        .and_then(|t| t["partitions"].as_array())
        .map(Vec::len)
}

/// 100,000 `key<TAB>value` lines: keys repeat, values vary in length and in their bytes
/// (printable ASCII except the two delimiters).
fn kcat_lines(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let filler: String = (0..i % 97)
            .map(|j| char::from(b' ' + u8::try_from((i + j) % 95).expect("< 95")))
            .collect();
        out.extend_from_slice(format!("k{}\tv{i}:{filler}\n", i % 1000).as_bytes());
    }
    out
}

#[test]
fn kcat_metadata_produce_consume_and_group() {
    let w = Workdir::new();
    w.ok(&["topics", "create", "lines"], b"");
    w.ok(&["topics", "create", "wide", "--partitions", "6"], b"");
    w.ok(&["topics", "create", "grouped", "--partitions", "3"], b"");
    let served = w.serve(&[]);
    let bs = served.bootstrap();

    // -L: the broker advertises the address it was reached on; topics and partitions.
    let md = kcat_metadata(&bs);
    let brokers = md["brokers"].as_array().expect("brokers");
    assert_eq!(brokers.len(), 1, "{md}");
    assert_eq!(brokers[0]["name"].as_str(), Some(bs.as_str()), "{md}");
    assert_eq!(topic_partitions(&md, "lines"), Some(1), "{md}");
    assert_eq!(topic_partitions(&md, "wide"), Some(6), "{md}");
    let leader = &brokers[0]["id"];
    for t in md["topics"].as_array().expect("topics") {
        for p in t["partitions"].as_array().expect("partitions") {
            assert_eq!(&p["leader"], leader, "{t}");
        }
    }

    // -P: 100,000 keyed messages from a file, idempotent, acks=all.
    let input = kcat_lines(100_000);
    let file = w.dir.path().join("lines.txt");
    std::fs::write(&file, &input).expect("write input");
    let file = file.to_str().expect("utf8 path");
    kcat_run(
        &bs,
        &[
            "-P",
            "-t",
            "lines",
            "-K",
            "\t",
            "-l",
            file,
            "-X",
            "enable.idempotence=true",
            "-X",
            "acks=all",
        ],
    );
    // -C -o beginning -e: the same bytes back, in order.
    let out = kcat_run(
        &bs,
        &["-C", "-t", "lines", "-o", "beginning", "-e", "-K", "\t"],
    );
    assert_eq!(out.stdout.len(), input.len(), "consumed size");
    assert!(
        out.stdout == input,
        "consumed bytes differ from the produced file"
    );
    // ... at offsets 0..n.
    let out = kcat_run(
        &bs,
        &[
            "-C",
            "-t",
            "lines",
            "-o",
            "beginning",
            "-e",
            "-f",
            "%p %o\n",
        ],
    );
    let want: String = (0..100_000).map(|o| format!("0 {o}\n")).collect();
    assert!(
        String::from_utf8_lossy(&out.stdout) == want,
        "offsets are not 0..100000"
    );

    // -G: a group reads everything once, commits, and a second run gets only what is new.
    let small = kcat_lines(3000);
    let file = w.dir.path().join("small.txt");
    std::fs::write(&file, &small).expect("write input");
    let file = file.to_str().expect("utf8 path");
    kcat_run(&bs, &["-P", "-t", "grouped", "-K", "\t", "-l", file]);
    let group_read = || {
        let out = kcat_run(
            &bs,
            &[
                "-G",
                "kcat-group",
                "-X",
                "auto.offset.reset=earliest",
                "-e",
                "-f",
                "%p\t%k\t%s\n",
                "grouped",
            ],
        );
        let mut per_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in out.lines() {
            let mut f = line.splitn(3, '\t');
            let (_p, k, v) = (f.next(), f.next().expect("key"), f.next().expect("value"));
            per_key.entry(k.to_owned()).or_default().push(v.to_owned());
        }
        per_key
    };
    let want_keys = |bytes: &[u8]| {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in String::from_utf8_lossy(bytes).lines() {
            let (k, v) = line.split_once('\t').expect("tab");
            m.entry(k.to_owned()).or_default().push(v.to_owned());
        }
        m
    };
    assert!(
        group_read() == want_keys(&small),
        "kcat -G read differs from what was produced"
    );
    assert!(
        group_read().is_empty(),
        "a second -G run re-read committed messages"
    );
    let more = &kcat_lines(3500)[small.len()..];
    std::fs::write(w.dir.path().join("more.txt"), more).expect("write");
    let more_file = w.dir.path().join("more.txt");
    kcat_run(
        &bs,
        &[
            "-P",
            "-t",
            "grouped",
            "-K",
            "\t",
            "-l",
            more_file.to_str().expect("utf8"),
        ],
    );
    assert!(
        group_read() == want_keys(more),
        "-G after commit must read only the new messages"
    );

    let (clean, log) = served.stop();
    assert!(clean, "{}", log.join("\n"));
    let batches = stored_batches(&w.data_dir().join("lines-0"));
    assert!(
        batches.iter().all(|b| b.producer_id >= 0),
        "kcat -X enable.idempotence=true stored a batch without a producer id"
    );
}
