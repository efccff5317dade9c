//! Broker-level restarts: topics, partition counts, configs, data and committed group
//! offsets come back after `close` (and after a crash); deletions stay deleted; bad topic
//! names create nothing; a data directory is locked while a broker has it open.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use kafka_protocol::records::Compression;
use weir_broker::groups::OFFSETS_TOPIC;
use weir_broker::{Broker, BrokerOptions, Error, TopicConfig};

use common::{Rec, decode, rec, wall_now};

fn options(dir: &Path) -> BrokerOptions {
    let mut o = BrokerOptions::new(dir);
    o.offsets_partitions = 3;
    o.defaults = TopicConfig {
        segment_bytes: 4096,
        ..TopicConfig::default()
    };
    o
}

fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Every record of a partition, fetched batch by batch from its log start.
fn fetch_all(broker: &Broker, topic: &str, p: i32) -> Vec<Rec> {
    let desc = broker.describe_topic(topic).expect("describe");
    let part = &desc.partitions[p as usize];
    let mut out = Vec::new();
    let mut offset = part.log_start;
    while offset < part.log_end {
        let data = broker.fetch(topic, p, offset, 300).expect("fetch");
        assert!(
            !data.records.is_empty(),
            "fetch at {offset} returned nothing"
        );
        out.extend(decode(&data.records));
        offset = weir_broker::batch::next_offset_after(&data.records).expect("whole batches");
    }
    out
}

fn write_data(broker: &Broker) -> Vec<(String, i32, Vec<Rec>)> {
    let now = wall_now();
    let mut out = Vec::new();
    for (topic, partitions) in [("orders", 3), ("audit.log", 1)] {
        for p in 0..partitions {
            for i in 0..25 {
                let key = format!("{topic}-{p}-{i}");
                let value = "v".repeat(i * 7);
                let records = [
                    rec(Some(&key), Some(&value), now + i as i64),
                    rec(None, None, now + i as i64),
                ];
                let compression = if i % 3 == 0 {
                    Compression::Gzip
                } else {
                    Compression::None
                };
                broker
                    .append_records(topic, p, &records, compression)
                    .expect("append");
            }
            out.push((topic.to_string(), p, fetch_all(broker, topic, p)));
        }
    }
    out
}

fn check_data(broker: &Broker, data: &[(String, i32, Vec<Rec>)], what: &str) {
    for (topic, p, records) in data {
        assert_eq!(records.len(), 50);
        assert_eq!(
            &fetch_all(broker, topic, *p),
            records,
            "{what}: {topic}-{p}"
        );
    }
}

#[test]
fn topics_configs_data_and_offsets_survive_restart() {
    for clean in [true, false] {
        let what = if clean { "clean restart" } else { "crash" };
        let dir = common::tempdir();
        let broker = Broker::open(options(dir.path())).expect("open");
        let orders_cfg = overrides(&[
            ("retention.ms", "123456"),
            ("segment.bytes", "1024"),
            ("cleanup.policy", "compact,delete"),
            ("min.insync.replicas", "2"),
        ]);
        broker
            .create_topic("orders", 2, orders_cfg.clone())
            .expect("create orders");
        broker.create_partitions("orders", 3).expect("grow orders");
        broker
            .create_topic("audit.log", 1, BTreeMap::new())
            .expect("create audit.log");
        assert!(matches!(
            broker.create_topic("orders", 1, BTreeMap::new()),
            Err(Error::TopicExists(_))
        ));
        let data = write_data(&broker);
        broker
            .commit_offsets(
                "billing",
                &[
                    ("orders".to_string(), 0, 10, "m0".to_string()),
                    ("orders".to_string(), 2, 7, String::new()),
                ],
            )
            .expect("commit");
        broker
            .commit_offsets(
                "billing",
                &[("orders".to_string(), 0, 12, "m1".to_string())],
            )
            .expect("commit again");
        broker
            .commit_offsets("audit", &[("audit.log".to_string(), 0, 3, String::new())])
            .expect("commit");
        broker
            .commit_offsets("gone", &[("orders".to_string(), 1, 5, String::new())])
            .expect("commit");
        broker.delete_group_offsets("gone").expect("delete group");
        let ids: Vec<String> = ["orders", "audit.log"]
            .iter()
            .map(|t| broker.describe_topic(t).expect("describe").topic_id)
            .collect();
        let before: Vec<_> = ["orders", "audit.log"]
            .iter()
            .map(|t| broker.describe_topic(t).expect("describe").partitions)
            .collect();
        if clean {
            broker.close().expect("close");
        } else {
            drop(broker);
        }

        let broker = Broker::open(options(dir.path())).expect("reopen");
        assert_eq!(
            broker.topics(),
            vec![
                OFFSETS_TOPIC.to_string(),
                "audit.log".to_string(),
                "orders".to_string()
            ],
            "{what}"
        );
        assert_eq!(broker.partition_count("orders"), Some(3), "{what}");
        assert_eq!(broker.partition_count("audit.log"), Some(1), "{what}");
        assert_eq!(broker.partition_count(OFFSETS_TOPIC), Some(3), "{what}");
        let orders = broker.describe_topic("orders").expect("describe");
        assert_eq!(orders.overrides, orders_cfg, "{what}: overrides as given");
        assert_eq!(
            orders.config,
            options(dir.path())
                .defaults
                .with_overrides(&orders_cfg)
                .expect("valid")
        );
        assert_eq!(orders.config.retention_ms, 123_456);
        assert_eq!(orders.config.segment_bytes, 1024);
        assert!(orders.config.compact && orders.config.delete);
        assert_eq!(orders.topic_id, ids[0], "{what}: topic id kept");
        assert_eq!(orders.partitions, before[0], "{what}: partition state");
        let audit = broker.describe_topic("audit.log").expect("describe");
        assert!(audit.overrides.is_empty());
        assert_eq!(
            audit.config,
            options(dir.path()).defaults,
            "{what}: defaults"
        );
        assert_eq!(audit.topic_id, ids[1]);
        assert_eq!(audit.partitions, before[1]);
        let offsets = broker.describe_topic(OFFSETS_TOPIC).expect("describe");
        assert!(offsets.internal && offsets.config.compact && !offsets.config.delete);
        check_data(&broker, &data, what);

        let c = broker
            .committed("billing", "orders", 0)
            .expect("billing orders-0");
        assert_eq!((c.offset, c.metadata.as_str()), (12, "m1"), "{what}");
        let c = broker
            .committed("billing", "orders", 2)
            .expect("billing orders-2");
        assert_eq!(c.offset, 7, "{what}");
        assert!(broker.committed("billing", "orders", 1).is_none());
        assert_eq!(
            broker.committed("audit", "audit.log", 0).map(|c| c.offset),
            Some(3)
        );
        assert!(broker.committed("gone", "orders", 1).is_none(), "{what}");
        assert_eq!(
            broker.groups(),
            vec!["audit".to_string(), "billing".to_string()]
        );
        assert_eq!(broker.group_offsets("billing").len(), 2);

        // Appends continue after the restored log ends.
        let info = broker
            .append_records(
                "orders",
                1,
                &[rec(Some("k"), Some("v"), wall_now())],
                Compression::None,
            )
            .expect("append after restart");
        assert_eq!(info.base_offset, 50, "{what}");
        broker.close().expect("close");
    }
}

#[test]
fn deleted_topics_and_group_offsets_stay_deleted() {
    let dir = common::tempdir();
    let broker = Broker::open(options(dir.path())).expect("open");
    broker
        .create_topic("orders", 2, BTreeMap::new())
        .expect("create");
    broker
        .create_topic("keep", 1, BTreeMap::new())
        .expect("create");
    for p in 0..2 {
        broker
            .append_records(
                "orders",
                p,
                &[rec(Some("k"), Some("v"), wall_now())],
                Compression::None,
            )
            .expect("append");
    }
    broker
        .commit_offsets(
            "g",
            &[
                ("orders".to_string(), 0, 1, String::new()),
                ("keep".to_string(), 0, 4, String::new()),
            ],
        )
        .expect("commit");
    broker
        .commit_offsets("h", &[("keep".to_string(), 0, 2, String::new())])
        .expect("commit");
    broker.delete_topic("orders").expect("delete topic");
    broker.delete_group_offsets("h").expect("delete group h");
    assert!(!dir.path().join("orders-0").exists());
    assert!(!dir.path().join("orders-1").exists());
    assert!(broker.committed("g", "orders", 0).is_none());
    assert!(matches!(
        broker.fetch("orders", 0, 0, 1),
        Err(Error::UnknownTopic(_))
    ));
    broker.close().expect("close");

    let broker = Broker::open(options(dir.path())).expect("reopen");
    assert!(!broker.topics().contains(&"orders".to_string()));
    assert!(matches!(
        broker.describe_topic("orders"),
        Err(Error::UnknownTopic(_))
    ));
    assert!(broker.committed("g", "orders", 0).is_none());
    assert_eq!(broker.committed("g", "keep", 0).map(|c| c.offset), Some(4));
    assert!(broker.committed("h", "keep", 0).is_none());
    assert_eq!(broker.groups(), vec!["g".to_string()]);
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list data dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("orders"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The name can be used again, starting from an empty log.
    broker
        .create_topic("orders", 1, BTreeMap::new())
        .expect("recreate");
    assert_eq!(
        broker
            .describe_topic("orders")
            .expect("describe")
            .partitions[0]
            .log_end,
        0
    );
    broker.close().expect("close");
}

/// Commits survive compaction of `__consumer_offsets` (older versions and expired
/// tombstones removed) and a restart.
#[test]
fn committed_offsets_survive_offsets_topic_compaction() {
    let dir = common::tempdir();
    let mut opts = options(dir.path());
    opts.offsets_partitions = 1;
    let broker = Broker::open(opts.clone()).expect("open");
    broker
        .create_topic("t", 1, BTreeMap::new())
        .expect("create");
    for i in 0..20 {
        broker
            .commit_offsets("g", &[("t".to_string(), 0, i, format!("v{i}"))])
            .expect("commit");
    }
    broker
        .commit_offsets("dropped", &[("t".to_string(), 0, 99, String::new())])
        .expect("commit");
    broker.delete_group_offsets("dropped").expect("delete");
    broker
        .partition(OFFSETS_TOPIC, 0)
        .expect("offsets partition")
        .lock()
        .roll()
        .expect("roll");
    // Far enough in the future that the tombstone expired (delete.retention.ms 24 h).
    let (_, removed) = broker
        .run_cleanup(wall_now() + 2 * 24 * 3_600_000)
        .expect("cleanup");
    assert_eq!(
        removed,
        19 + 2,
        "19 old versions, the deleted commit and its tombstone"
    );
    assert_eq!(broker.committed("g", "t", 0).map(|c| c.offset), Some(19));
    broker.close().expect("close");
    let broker = Broker::open(opts).expect("reopen");
    let c = broker.committed("g", "t", 0).expect("commit kept");
    assert_eq!((c.offset, c.metadata.as_str()), (19, "v19"));
    assert!(broker.committed("dropped", "t", 0).is_none());
    assert_eq!(broker.groups(), vec!["g".to_string()]);
}

#[test]
fn invalid_topic_names_are_rejected_without_side_effects() {
    let dir = common::tempdir();
    let broker = Broker::open(options(dir.path())).expect("open");
    let listing = || {
        let mut v: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list data dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let before = listing();
    let long = "x".repeat(250);
    for bad in ["a/b", "..", ".", "", "a b", "../escape", "ü", long.as_str()] {
        match broker.create_topic(bad, 1, BTreeMap::new()) {
            Err(Error::InvalidTopicName { name, .. }) => assert_eq!(name, bad),
            other => panic!("topic name {bad:?} must be rejected, got {other:?}"),
        }
    }
    assert!(matches!(
        broker.create_topic("ok", 0, BTreeMap::new()),
        Err(Error::InvalidPartitions { .. })
    ));
    assert!(matches!(
        broker.create_topic("ok", 1, overrides(&[("retention.ms", "soon")])),
        Err(Error::InvalidConfig { .. })
    ));
    assert_eq!(listing(), before, "nothing created in the data dir");
    assert!(
        !dir.path()
            .parent()
            .expect("parent")
            .join("escape-0")
            .exists()
    );
    assert_eq!(broker.topics(), vec![OFFSETS_TOPIC.to_string()]);
    // The longest legal name works.
    let longest = "y".repeat(249);
    broker
        .create_topic(&longest, 1, BTreeMap::new())
        .expect("249 characters is legal");
    broker.close().expect("close");
    let broker = Broker::open(options(dir.path())).expect("reopen");
    assert_eq!(broker.partition_count(&longest), Some(1));
}

#[test]
fn data_dir_is_locked_while_open() {
    let dir = common::tempdir();
    let first = Broker::open(options(dir.path())).expect("open");
    match Broker::open(options(dir.path())) {
        Err(Error::Locked { path }) => assert_eq!(path, dir.path()),
        Err(other) => panic!("second open must be refused as locked, got {other:?}"),
        Ok(_) => panic!("second open of a locked data dir succeeded"),
    }
    first
        .create_topic("still-works", 1, BTreeMap::new())
        .expect("first broker unaffected");
    drop(first);
    let second = Broker::open(options(dir.path())).expect("open after the first closed");
    assert_eq!(second.partition_count("still-works"), Some(1));
}

/// A deletion interrupted after the metadata was saved leaves the partition directory
/// behind; creating a topic of the same name must not bring its old records back.
#[test]
fn recreated_topic_does_not_resurrect_a_stale_directory() {
    let dir = common::tempdir();
    {
        let broker = Broker::open(options(dir.path())).expect("open");
        broker
            .create_topic("orders", 1, BTreeMap::new())
            .expect("create");
        broker
            .append_records(
                "orders",
                0,
                &[rec(Some("k"), Some("old"), wall_now())],
                Compression::None,
            )
            .expect("append");
        broker.close().expect("close");
    }
    // Simulate the crash: keep the directory, drop the topic from the metadata.
    let kept = dir.path().join("orders-0.keep");
    std::fs::rename(dir.path().join("orders-0"), &kept).expect("set aside");
    {
        let broker = Broker::open(options(dir.path())).expect("open");
        broker.delete_topic("orders").expect("delete");
        broker.close().expect("close");
    }
    std::fs::rename(&kept, dir.path().join("orders-0")).expect("put back");
    let broker = Broker::open(options(dir.path())).expect("reopen");
    assert!(!broker.topics().contains(&"orders".to_string()));
    broker
        .create_topic("orders", 1, BTreeMap::new())
        .expect("recreate");
    assert!(
        fetch_all(&broker, "orders", 0).is_empty(),
        "old records came back"
    );
}
