//! The messages the client scripts produce, and reading back what the consumers print: each
//! record is checked against the message it must be, and events (assigned, committed,
//! closed) are collected per consumer.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use serde_json::Value;
use weir_e2e::{Finished, Proc};

/// Message `i` of run `tag`, as the client scripts generate it: (key, value, headers with
/// hex values).
pub(crate) fn expected(tag: &str, i: usize) -> (String, String, Vec<(String, String)>) {
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
pub(crate) fn parse_value(v: &str) -> (String, usize) {
    let mut parts = v.splitn(3, '-');
    let tag = parts.next().expect("tag").to_owned();
    let i = parts
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected value {v:?}"));
    (tag, i)
}

#[derive(Clone, Debug)]
pub(crate) struct Rec {
    pub(crate) p: i32,
    pub(crate) o: i64,
    pub(crate) tag: String,
    pub(crate) i: usize,
}

/// The JSON lines of a finished client, ignoring any that do not parse (for reports).
pub(crate) fn complete_json(out: &Finished) -> Vec<Value> {
    out.lines()
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub(crate) fn json_lines(lines: &[String]) -> Vec<Value> {
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

/// The record lines of a finished consumer (checked like [`record`]), skipping lines that
/// are not JSON.
pub(crate) fn seen_lossy(out: &Finished) -> Vec<Rec> {
    complete_json(out).iter().filter_map(record).collect()
}

/// What one consumer printed so far, in order.
#[derive(Default)]
pub(crate) struct Seen {
    pub(crate) records: Vec<Rec>,
    /// The partitions of each assignment, in order.
    pub(crate) assignments: Vec<Vec<i32>>,
    /// partition -> the highest offset this consumer committed (the next one to read).
    pub(crate) committed: BTreeMap<i32, i64>,
    pub(crate) closed: bool,
}

impl Seen {
    /// The partitions of `who`'s latest assignment; the test fails if it had none.
    pub(crate) fn owned(&self, who: &str) -> BTreeSet<i32> {
        self.assignments
            .last()
            .unwrap_or_else(|| panic!("{who} assigned"))
            .iter()
            .copied()
            .collect()
    }
}

pub(crate) fn seen(lines: &[String]) -> Seen {
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
pub(crate) fn consumed_all(consumers: &[&Proc], tag: &str, range: Range<usize>) -> bool {
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

/// Per partition, the records in the order one consumer read them.
pub(crate) fn by_partition(records: &[Rec]) -> BTreeMap<i32, Vec<Rec>> {
    let mut m: BTreeMap<i32, Vec<Rec>> = BTreeMap::new();
    for r in records {
        m.entry(r.p).or_default().push(r.clone());
    }
    m
}

/// Per partition, the offset after the last of `records` read from it.
pub(crate) fn read_ends<'a>(records: impl IntoIterator<Item = &'a Rec>) -> BTreeMap<i32, i64> {
    let mut end: BTreeMap<i32, i64> = BTreeMap::new();
    for r in records {
        let e = end.entry(r.p).or_insert(0);
        *e = (*e).max(r.o + 1);
    }
    end
}

/// Within one partition, offsets and message indexes both strictly increase: the producer
/// sent in index order, so the log must hold them in that order.
pub(crate) fn assert_in_order(who: &str, p: i32, recs: &[Rec]) {
    for w in recs.windows(2) {
        assert!(
            w[1].o > w[0].o && (w[1].tag != w[0].tag || w[1].i > w[0].i),
            "{who}: partition {p} out of order: {:?} then {:?}",
            w[0],
            w[1]
        );
    }
}
