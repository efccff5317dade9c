//! kcat (librdkafka's command-line client): metadata, producing and consuming a file, and a
//! consumer group that commits; its helpers are shared with the other tests.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use weir_e2e::{Finished, Workdir, run_with_timeout};

use crate::stored::stored_batches;
use crate::support::{CLIENT_TIMEOUT, installed, on_path};

fn kcat() -> PathBuf {
    let default = on_path("kcat").unwrap_or_else(|| PathBuf::from("/usr/bin/kcat"));
    installed("WEIR_KCAT", default, "kcat (Debian package kcat)")
}

fn kcat_cmd(bootstrap: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(kcat());
    cmd.args(["-b", bootstrap]).args(args);
    cmd
}

fn kcat_run(bootstrap: &str, args: &[&str]) -> Finished {
    let what = format!("kcat {}", args.join(" "));
    run_with_timeout(&what, kcat_cmd(bootstrap, args), CLIENT_TIMEOUT).success()
}

pub(crate) fn kcat_metadata(bootstrap: &str) -> Value {
    let out = kcat_run(bootstrap, &["-L", "-J"]);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("kcat -L -J is not JSON ({e}):\n{}", out.tail()))
}

pub(crate) fn topic_partitions(md: &Value, topic: &str) -> Option<usize> {
    md["topics"]
        .as_array()?
        .iter()
        .find(|t| t["topic"] == topic)
        .and_then(|t| t["partitions"].as_array())
        .map(Vec::len)
}

/// `n` `key<TAB>value` lines: keys repeat, values vary in length and in their bytes
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

/// Writes `lines` (see [`kcat_lines`]) to `name` in the workdir and produces them to `topic`
/// with `kcat -P`, followed by `extra` arguments.
fn produce_file(
    w: &Workdir,
    bootstrap: &str,
    name: &str,
    lines: &[u8],
    topic: &str,
    extra: &[&str],
) {
    let file = w.dir.path().join(name);
    std::fs::write(&file, lines).expect("write input");
    let file = file.to_str().expect("utf8 path");
    let mut args = vec!["-P", "-t", topic, "-K", "\t", "-l", file];
    args.extend(extra);
    kcat_run(bootstrap, &args);
}

/// `key<TAB>value` lines as key -> values in order.
fn per_key<'a>(lines: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in lines {
        let (k, v) = line.split_once('\t').expect("tab");
        m.entry(k.to_owned()).or_default().push(v.to_owned());
    }
    m
}

pub(crate) fn metadata_produce_consume_and_group() {
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
    produce_file(
        &w,
        &bs,
        "lines.txt",
        &input,
        "lines",
        &["-X", "enable.idempotence=true", "-X", "acks=all"],
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
    produce_file(&w, &bs, "small.txt", &small, "grouped", &[]);
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
        // Each line is `partition<TAB>key<TAB>value`.
        let lines = out.lines();
        per_key(
            lines
                .iter()
                .map(|l| l.split_once('\t').expect("partition").1),
        )
    };
    let want_keys = |bytes: &[u8]| per_key(String::from_utf8_lossy(bytes).lines());
    assert!(
        group_read() == want_keys(&small),
        "kcat -G read differs from what was produced"
    );
    assert!(
        group_read().is_empty(),
        "a second -G run re-read committed messages"
    );
    let more = &kcat_lines(3500)[small.len()..];
    produce_file(&w, &bs, "more.txt", more, "grouped", &[]);
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
