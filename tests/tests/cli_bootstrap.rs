//! `weir produce|consume|topics --bootstrap`: the CLI against a running `weir serve`, through
//! weir's own Kafka client.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use weir_e2e::{Served, Workdir};

fn keyed_lines(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        out.extend_from_slice(
            format!("user-{}\tevent {i} {}\n", i % 97, "x".repeat(i % 13)).as_bytes(),
        );
    }
    out
}

fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect()
}

/// `weir ARGS --bootstrap ADDR` must succeed; returns stdout.
fn remote(w: &Workdir, served: &Served, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let addr = served.bootstrap();
    let mut all = args.to_vec();
    all.extend_from_slice(&["--bootstrap", &addr]);
    w.ok(&all, stdin)
}

#[test]
fn produce_consume_round_trip_through_a_running_broker() {
    let w = Workdir::new();
    let served = w.serve(&[]);
    remote(&w, &served, &["topics", "create", "events"], b"");
    let input = keyed_lines(10_000);
    remote(&w, &served, &["produce", "events"], &input);
    let out = remote(&w, &served, &["consume", "events", "--from-beginning"], b"");
    assert_eq!(out.len(), input.len());
    assert!(out == input, "consumed bytes differ from produced bytes");

    // --partition/--offset and --max pick the same slices as in directory mode.
    let out = remote(
        &w,
        &served,
        &[
            "consume",
            "events",
            "--partition",
            "0",
            "--offset",
            "9998",
            "--exit-at-end",
        ],
        b"",
    );
    let tail: Vec<&[u8]> = lines(&input).into_iter().skip(9998).collect();
    assert_eq!(out, [tail[0], b"\n", tail[1], b"\n"].concat());
    let out = remote(
        &w,
        &served,
        &["consume", "events", "--from-beginning", "--max", "3"],
        b"",
    );
    assert_eq!(lines(&out).len(), 3);
    // Starting at the end with --exit-at-end prints nothing and returns.
    assert!(remote(&w, &served, &["consume", "events", "--exit-at-end"], b"").is_empty());

    // WEIR_BOOTSTRAP works like --bootstrap; an auto-created multi-batch topic keeps order.
    let out = w
        .weir(&["produce", "auto", "--batch-size", "7"])
        .env("WEIR_BOOTSTRAP", served.bootstrap())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn weir produce");
    write_and_wait(out, b"a\t1\nb\t2\nno key\n");
    let got = remote(&w, &served, &["consume", "auto", "--from-beginning"], b"");
    assert_eq!(got, b"a\t1\nb\t2\nno key\n");

    // The data survives a restart and reads the same in directory mode.
    let (clean, log) = served.stop();
    assert!(clean, "{}", log.join("\n"));
    assert!(w.ok(&["consume", "events", "--from-beginning"], b"") == input);
}

fn write_and_wait(mut child: std::process::Child, input: &[u8]) {
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin pipe")
        .write_all(input)
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait for weir");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn topics_verbs_through_a_running_broker() {
    let w = Workdir::new();
    let served = w.serve(&[]);
    let out = remote(
        &w,
        &served,
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
    let out = String::from_utf8(remote(&w, &served, &["topics", "list"], b"")).expect("utf8");
    assert!(out.lines().any(|l| l == "t1"), "{out}");
    remote(
        &w,
        &served,
        &["produce", "t1", "--partition", "1"],
        b"k\tv\n",
    );
    let out =
        String::from_utf8(remote(&w, &served, &["topics", "describe", "t1"], b"")).expect("utf8");
    assert!(out.contains("PartitionCount: 2"), "{out}");
    assert!(out.contains("Configs: retention.ms=60000"), "{out}");
    assert!(
        out.contains("Partition: 1\tLeader: 0\tLogStartOffset: 0\tHighWatermark: 1"),
        "{out}"
    );

    let addr = served.bootstrap();
    let dup = w.run(&["topics", "create", "t1", "--bootstrap", &addr], b"");
    assert!(!dup.status.success());
    let err = String::from_utf8_lossy(&dup.stderr);
    assert!(
        err.contains("topic t1 not created") && err.contains("TopicAlreadyExists"),
        "{err}"
    );
    remote(
        &w,
        &served,
        &["topics", "create", "t1", "--if-not-exists"],
        b"",
    );

    let bad = w.run(
        &[
            "topics",
            "create",
            "t2",
            "--config",
            "retention.ms=soon",
            "--bootstrap",
            &addr,
        ],
        b"",
    );
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("retention.ms"), "{err}");

    let out = remote(&w, &served, &["topics", "delete", "t1"], b"");
    assert_eq!(String::from_utf8_lossy(&out), "Deleted topic t1.\n");
    let out = String::from_utf8(remote(&w, &served, &["topics", "list"], b"")).expect("utf8");
    assert!(!out.lines().any(|l| l == "t1"), "{out}");
    let gone = w.run(&["topics", "delete", "t1", "--bootstrap", &addr], b"");
    assert!(!gone.status.success());
    let missing = w.run(&["consume", "nowhere", "--bootstrap", &addr], b"");
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("unknown topic nowhere"), "{err}");
}

#[test]
fn a_bad_bootstrap_fails_fast_and_names_the_address() {
    let w = Workdir::new();
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    for args in [
        &["topics", "list"][..],
        &["produce", "t"][..],
        &["consume", "t", "--from-beginning"][..],
    ] {
        let started = Instant::now();
        let mut all = args.to_vec();
        all.extend_from_slice(&["--bootstrap", &addr]);
        let out = w.run(&all, b"a\t1\n");
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("--bootstrap {addr}")), "{err}");
        assert!(err.contains("Connection refused"), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{args:?} took too long"
        );
    }
    let out = w.run(&["topics", "list", "--bootstrap", "nonsense"], b"");
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected host:port"));
    let out = w.run(&["consume", "t", "--group", "g"], b"");
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --bootstrap"));
}

#[test]
fn the_directory_lock_message_suggests_bootstrap() {
    let w = Workdir::new();
    let served = w.serve(&[]);
    let refused = w.run(&["produce", "orders"], b"a\t1\n");
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("is in use by another weir process"), "{err}");
    assert!(err.contains("--bootstrap"), "{err}");
    drop(served);
}

/// Needs the group coordinator (JoinGroup/SyncGroup/Heartbeat/LeaveGroup) in `weir serve`.
#[test]
fn a_group_consumer_commits_and_resumes_without_duplicates_or_loss() {
    let w = Workdir::new();
    let served = w.serve(&[]);
    remote(
        &w,
        &served,
        &["topics", "create", "g-events", "--partitions", "3"],
        b"",
    );
    let input = keyed_lines(10_000);
    remote(
        &w,
        &served,
        &["produce", "g-events", "--batch-size", "100"],
        &input,
    );
    let group = ["--group", "cli-group", "--from-beginning"];
    let first = remote(
        &w,
        &served,
        &[&["consume", "g-events", "--max", "4000"][..], &group].concat(),
        b"",
    );
    assert_eq!(lines(&first).len(), 4000);
    let second = remote(
        &w,
        &served,
        &[&["consume", "g-events"][..], &group].concat(),
        b"",
    );
    assert_eq!(
        lines(&second).len(),
        6000,
        "the second run resumes after the commit"
    );
    // Together: every record exactly once, in order per key.
    let per_key = |chunks: &[&[u8]]| {
        let mut m: BTreeMap<Vec<u8>, Vec<Vec<u8>>> = BTreeMap::new();
        for chunk in chunks {
            for line in lines(chunk) {
                let tab = line
                    .iter()
                    .position(|b| *b == b'\t')
                    .expect("key separator");
                m.entry(line[..tab].to_vec())
                    .or_default()
                    .push(line[tab + 1..].to_vec());
            }
        }
        m
    };
    assert_eq!(per_key(&[&first, &second]), per_key(&[&input]));
    // Nothing left: a third run with --exit-at-end prints nothing.
    let third = remote(
        &w,
        &served,
        &[
            "consume",
            "g-events",
            "--group",
            "cli-group",
            "--exit-at-end",
        ],
        b"",
    );
    assert!(third.is_empty(), "{}", String::from_utf8_lossy(&third));
}
