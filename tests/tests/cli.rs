//! The `weir` CLI end to end: produce/consume, topics, the data-directory lock, and `serve`.

use std::collections::BTreeMap;

use weir_e2e::Workdir;

fn keyed_lines(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        // Keys repeat so per-key order matters; values vary in length and bytes.
        out.extend_from_slice(
            format!("user-{}\tevent {i} {}\n", i % 97, "x".repeat(i % 13)).as_bytes(),
        );
    }
    out
}

#[test]
fn produce_consume_round_trip_is_byte_exact() {
    let w = Workdir::new();
    w.ok(&["topics", "create", "events"], b"");
    let input = keyed_lines(10_000);
    w.ok(&["produce", "events"], &input);
    let out = w.ok(&["consume", "events", "--from-beginning"], b"");
    assert_eq!(out.len(), input.len());
    assert!(out == input, "consumed bytes differ from produced bytes");

    // --max, --partition and --offset pick the expected slice.
    let out = w.ok(
        &["consume", "events", "--partition", "0", "--offset", "9998"],
        b"",
    );
    let tail: Vec<&[u8]> = input.split(|b| *b == b'\n').skip(9998).take(2).collect();
    assert_eq!(out, [tail[0], b"\n", tail[1], b"\n"].concat());
    let out = w.ok(
        &["consume", "events", "--from-beginning", "--max", "3"],
        b"",
    );
    assert_eq!(out.split(|b| *b == b'\n').count() - 1, 3);
    // Without --from-beginning a consumer starts at the end.
    assert!(w.ok(&["consume", "events"], b"").is_empty());
}

#[test]
fn keyed_records_keep_per_key_order_across_partitions() {
    let w = Workdir::new();
    w.ok(&["topics", "create", "multi", "--partitions", "4"], b"");
    let input = keyed_lines(10_000);
    w.ok(&["produce", "multi", "--batch-size", "250"], &input);
    let per_key = |bytes: &[u8]| {
        let mut m: BTreeMap<Vec<u8>, Vec<Vec<u8>>> = BTreeMap::new();
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let tab = line
                .iter()
                .position(|b| *b == b'\t')
                .expect("key separator");
            m.entry(line[..tab].to_vec())
                .or_default()
                .push(line[tab + 1..].to_vec());
        }
        m
    };
    let out = w.ok(&["consume", "multi", "--from-beginning"], b"");
    assert_eq!(per_key(&out), per_key(&input));
    // Each key lives in exactly one partition.
    let mut seen: BTreeMap<Vec<u8>, i32> = BTreeMap::new();
    let mut used = 0;
    for p in 0..4 {
        let part = w.ok(
            &[
                "consume",
                "multi",
                "--partition",
                &p.to_string(),
                "--offset",
                "earliest",
            ],
            b"",
        );
        used += usize::from(!part.is_empty());
        for k in per_key(&part).into_keys() {
            assert_eq!(*seen.entry(k).or_insert(p), p, "a key spans partitions");
        }
    }
    assert!(used > 1, "keys should spread over partitions");
}

#[test]
fn topics_verbs_and_bad_input() {
    let w = Workdir::new();
    let out = w.ok(
        &[
            "topics",
            "create",
            "t1",
            "--partitions",
            "2",
            "--config",
            "retention.ms=60000",
        ],
        b"",
    );
    assert_eq!(String::from_utf8_lossy(&out), "Created topic t1.\n");
    let out = String::from_utf8(w.ok(&["topics", "list"], b"")).expect("utf8");
    assert_eq!(out, "__consumer_offsets\nt1\n");
    let out = String::from_utf8(w.ok(&["topics", "describe", "t1"], b"")).expect("utf8");
    assert!(out.contains("PartitionCount: 2"), "{out}");
    assert!(out.contains("Configs: retention.ms=60000"), "{out}");

    let bad = w.run(&["topics", "create", "../escape"], b"");
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("invalid topic name \"../escape\""), "{err}");
    assert!(!w.dir.path().join("escape-0").exists());
    assert!(!w.data_dir().join("..").join("escape-0").exists());

    let bad = w.run(
        &[
            "topics",
            "create",
            "t2",
            "--config",
            "retention.ms=soon",
            "--config",
            "nope=1",
        ],
        b"",
    );
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("2 config error(s)"), "{err}");
    assert!(err.contains("retention.ms=\"soon\""), "{err}");
    assert!(err.contains("nope=\"1\": unknown topic config"), "{err}");

    let dup = w.run(&["topics", "create", "t1"], b"");
    assert!(String::from_utf8_lossy(&dup.stderr).contains("topic t1 already exists"));

    w.ok(&["topics", "delete", "t1"], b"");
    let out = String::from_utf8(w.ok(&["topics", "list"], b"")).expect("utf8");
    assert_eq!(out, "__consumer_offsets\n");
    assert!(!w.data_dir().join("t1-0").exists());

    let missing = w.run(&["consume", "nowhere", "--from-beginning"], b"");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("unknown topic nowhere"));
}

#[test]
fn serve_holds_the_lock_stops_on_sigterm_and_restarts() {
    let w = Workdir::new();
    w.ok(&["topics", "create", "orders"], b"");
    w.ok(&["produce", "orders"], b"a\t1\nb\t2\n");

    let served = w.serve(&[]);
    for args in [&["topics", "list"][..], &["produce", "orders"][..]] {
        let refused = w.run(args, b"c\t3\n");
        assert!(!refused.status.success(), "{args:?} must be refused");
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(err.contains("is in use by another weir process"), "{err}");
    }
    let (clean, log) = served.stop();
    assert!(clean, "serve exited with an error: {}", log.join("\n"));
    assert!(
        log.iter()
            .any(|l| l.contains("broker storage closed cleanly")),
        "{}",
        log.join("\n")
    );
    // Everything was flushed and checkpointed at shutdown.
    let checkpoint = std::fs::read_to_string(w.data_dir().join("orders-0/recovery-point"))
        .expect("recovery point written at shutdown");
    assert!(checkpoint.starts_with("1 2 0 "), "{checkpoint}");

    // Restart on the same directory; data is intact and appends continue.
    let served = w.serve(&[]);
    let (clean, _) = served.stop();
    assert!(clean);
    w.ok(&["produce", "orders"], b"c\t3\n");
    let out = w.ok(&["consume", "orders", "--from-beginning"], b"");
    assert_eq!(out, b"a\t1\nb\t2\nc\t3\n");
}

#[test]
fn serve_uses_the_shipped_worker_config() {
    let w = Workdir::new();
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/worker.json");
    let served = w.serve(&["--worker-config", config.to_str().expect("utf8 path")]);
    let (clean, log) = served.stop();
    assert!(clean, "{}", log.join("\n"));
    assert!(w.data_dir().join("meta/topics.json").exists());
}

#[test]
fn bad_worker_config_is_named() {
    let w = Workdir::new();
    let path = w.dir.path().join("bad.json");
    std::fs::write(
        &path,
        r#"{"log.segment.bytes": "huge", "num.partitions": 0}"#,
    )
    .expect("write config");
    let out = w.run(
        &[
            "--worker-config",
            path.to_str().expect("utf8"),
            "topics",
            "list",
        ],
        b"",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.json"), "{err}");
    assert!(err.contains("log.segment.bytes"), "{err}");
    assert!(err.contains("num.partitions"), "{err}");
}
