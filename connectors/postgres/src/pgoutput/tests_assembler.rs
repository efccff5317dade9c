//! Assembler tests: pass-through, streamed transactions, aborts, spilling, sequence errors.

use bytes::Bytes;

use super::fixtures as f;
use super::*;

fn assembler(memory_limit: usize, dir: &tempfile::TempDir) -> Assembler {
    Assembler::new(AssemblerConfig {
        memory_limit,
        spill_dir: dir.path().join("spill"),
    })
}

/// Pushes `(wal_start, message)` pairs, draining after each push as the task does.
fn run(a: &mut Assembler, input: &[(u64, Bytes)]) -> Vec<Event> {
    let mut out = Vec::new();
    for (lsn, data) in input {
        a.push(*lsn, data.clone()).expect("push succeeds");
        while let Some(e) = a.next_event().expect("next_event succeeds") {
            out.push(e);
        }
    }
    out
}

fn kinds(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            Event::Begin { xid, streamed, .. } => {
                format!("B{xid}{}", if *streamed { "s" } else { "" })
            }
            Event::Change { lsn, message } => format!("{}@{lsn}", message.kind()),
            Event::Commit { xid, .. } => format!("C{xid}"),
            Event::NonTxMessage { lsn, .. } => format!("NonTx@{lsn}"),
        })
        .collect()
}

#[test]
fn non_streamed_transaction_passes_through_event_by_event() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut a = assembler(1 << 20, &dir);
    a.push(10, f::begin(50, 7, 900)).expect("begin");
    assert_eq!(
        a.next_event().expect("event"),
        Some(Event::Begin {
            xid: 900,
            final_lsn: 50,
            commit_ts: 7,
            streamed: false
        })
    );
    assert_eq!(a.next_event().expect("drained"), None);
    let events = run(
        &mut a,
        &[
            (11, f::origin(1, "o")),
            (12, f::relation(None, 5)),
            (13, f::type_msg(None, 7000, "public", "mood")),
            (14, f::insert(None, 5, &["t:1", "t:a"])),
            (15, f::update(None, 5, None, &["t:1", "t:b"])),
            (16, f::delete(None, 5, b'K', &["t:1", "n"])),
            (17, f::truncate(None, 0, &[5])),
            (18, f::message(None, true, 18, "p", b"x")),
            (19, f::commit(50, 60, 7)),
        ],
    );
    assert_eq!(
        kinds(&events),
        [
            "Relation@12",
            "Type@13",
            "Insert@14",
            "Update@15",
            "Delete@16",
            "Truncate@17",
            "Message@18",
            "C900"
        ]
    );
    assert_eq!(
        events.last(),
        Some(&Event::Commit {
            xid: 900,
            commit_lsn: 50,
            end_lsn: 60,
            commit_ts: 7
        })
    );
    assert!(a.is_idle());
}

#[test]
fn non_transactional_messages_are_handed_out_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut a = assembler(1 << 20, &dir);
    let events = run(
        &mut a,
        &[
            (5, f::message(None, false, 5, "hb", b"1")),
            (10, f::begin(50, 0, 1)),
            (11, f::message(None, false, 11, "hb", b"2")),
            (12, f::commit(50, 60, 0)),
            (20, f::stream_start(2, true)),
            (21, f::message(Some(2), false, 21, "hb", b"3")),
            (22, f::stream_stop()),
        ],
    );
    assert_eq!(
        kinds(&events),
        ["NonTx@5", "B1", "NonTx@11", "C1", "NonTx@21"]
    );
    let Event::NonTxMessage { message, .. } = &events[0] else {
        panic!("expected a non-transactional message");
    };
    assert_eq!(
        (message.prefix.as_str(), &message.content[..]),
        ("hb", &b"1"[..])
    );
}

/// Two streamed transactions interleaved with a plain one; the later-started one commits first.
fn interleaved() -> Vec<(u64, Bytes)> {
    vec![
        (100, f::stream_start(10, true)),
        (101, f::relation(Some(10), 5)),
        (102, f::insert(Some(10), 5, &["t:1", "t:a"])),
        (103, f::stream_stop()),
        (110, f::stream_start(20, true)),
        (111, f::relation(Some(20), 5)),
        (112, f::insert(Some(20), 5, &["t:2", "t:b"])),
        (113, f::stream_stop()),
        (120, f::begin(125, 3, 30)),
        (121, f::insert(None, 5, &["t:3", "t:c"])),
        (122, f::commit(125, 126, 3)),
        (130, f::stream_start(10, false)),
        (131, f::update(Some(11), 5, None, &["t:1", "t:z"])),
        (132, f::delete(Some(10), 5, b'K', &["t:1", "n"])),
        (133, f::stream_stop()),
        (140, f::stream_commit(20, 140, 141, 4)),
        (150, f::stream_commit(10, 150, 151, 5)),
    ]
}

#[test]
fn interleaved_streamed_transactions_replay_in_commit_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut a = assembler(1 << 20, &dir);
    let events = run(&mut a, &interleaved());
    assert_eq!(
        kinds(&events),
        [
            "B30",
            "Insert@121",
            "C30",
            "B20s",
            "Relation@111",
            "Insert@112",
            "C20",
            "B10s",
            "Relation@101",
            "Insert@102",
            "Update@131",
            "Delete@132",
            "C10",
        ]
    );
    assert_eq!(
        events[3],
        Event::Begin {
            xid: 20,
            final_lsn: 140,
            commit_ts: 4,
            streamed: true
        }
    );
    assert_eq!(
        events[12],
        Event::Commit {
            xid: 10,
            commit_lsn: 150,
            end_lsn: 151,
            commit_ts: 5
        }
    );
    // Replayed changes keep the subtransaction id they were streamed with.
    let Event::Change {
        message: Message::Update(u),
        ..
    } = &events[10]
    else {
        panic!("expected the update");
    };
    assert_eq!(u.xid, Some(11));
    assert_eq!((a.buffered_bytes(), a.spilled_bytes()), (0, 0));
    assert!(a.is_idle());
}

#[test]
fn relation_messages_inside_stream_blocks_are_buffered_with_the_transaction() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut a = assembler(1 << 20, &dir);
    let events = run(
        &mut a,
        &[
            (1, f::stream_start(7, true)),
            (2, f::relation(Some(7), 5)),
            (3, f::type_msg(Some(7), 7000, "public", "mood")),
            (4, f::stream_stop()),
        ],
    );
    assert!(events.is_empty(), "nothing is handed out before the commit");
    assert!(a.buffered_bytes() > 0);
    assert!(!a.is_idle());
    let events = run(&mut a, &[(9, f::stream_commit(7, 9, 10, 0))]);
    assert_eq!(kinds(&events), ["B7s", "Relation@2", "Type@3", "C7"]);
    let Event::Change {
        message: Message::Relation(r),
        ..
    } = &events[1]
    else {
        panic!("expected the relation");
    };
    assert_eq!((r.xid, r.oid, r.name.as_str()), (Some(7), 5, "t5"));
}

fn with_subxact_abort() -> Vec<(u64, Bytes)> {
    vec![
        (1, f::stream_start(10, true)),
        (2, f::insert(Some(10), 5, &["t:1", "t:a"])),
        (3, f::insert(Some(11), 5, &["t:2", "t:b"])),
        (4, f::insert(Some(12), 5, &["t:3", "t:c"])),
        (5, f::stream_stop()),
        (6, f::stream_abort(10, 11)),
        (7, f::stream_start(10, false)),
        (8, f::insert(Some(13), 5, &["t:4", "t:d"])),
        (9, f::stream_stop()),
        (10, f::stream_abort(10, 13)),
        (11, f::stream_commit(10, 20, 21, 0)),
    ]
}

#[test]
fn subtransaction_abort_drops_only_its_changes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut a = assembler(1 << 20, &dir);
    let events = run(&mut a, &with_subxact_abort());
    assert_eq!(kinds(&events), ["B10s", "Insert@2", "Insert@4", "C10"]);
    assert_eq!(a.buffered_bytes(), 0);
}

#[test]
fn whole_abort_drops_the_transaction() {
    let dir = tempfile::tempdir().expect("temp dir");
    for limit in [1 << 20, 0] {
        let mut a = assembler(limit, &dir);
        let events = run(
            &mut a,
            &[
                (1, f::stream_start(10, true)),
                (2, f::insert(Some(10), 5, &["t:1", "t:a"])),
                (3, f::insert(Some(11), 5, &["t:2", "t:b"])),
                (4, f::stream_stop()),
                (5, f::stream_abort(10, 10)),
            ],
        );
        assert!(events.is_empty());
        assert_eq!((a.buffered_bytes(), a.spilled_bytes()), (0, 0));
        assert!(a.is_idle());
        let err = a
            .push(6, f::stream_commit(10, 6, 7, 0))
            .expect_err("commit of an aborted txn");
        assert_eq!(
            err.to_string(),
            "pgoutput messages out of order at LSN 0/6: Stream Commit of transaction 10 \
             (commit LSN 0/6), which was never streamed"
        );
    }
}

/// A long run of interleaved streamed transactions with subtransaction aborts.
fn big_workload() -> Vec<(u64, Bytes)> {
    let mut input = Vec::new();
    let mut lsn = 1000;
    let mut push = |data: Bytes| {
        lsn += 1;
        input.push((lsn, data));
    };
    for round in 0..6u32 {
        for xid in [100u32, 200] {
            push(f::stream_start(xid, round == 0));
            if round == 0 {
                push(f::relation(Some(xid), 5));
            }
            for i in 0..5u32 {
                let value = format!("t:{xid}-{round}-{i}-{}", "x".repeat(40));
                // Subtransaction ids are unique per round, as in Postgres.
                let subxid = if i % 3 == 0 {
                    xid
                } else {
                    xid + round * 10 + i % 3
                };
                push(f::insert(Some(subxid), 5, &["t:1", &value]));
            }
            push(f::stream_stop());
        }
        if round == 2 {
            push(f::stream_abort(100, 121));
        }
        if round == 4 {
            push(f::begin(5000, 0, 300));
            push(f::insert(None, 5, &["t:9", "t:plain"]));
            push(f::commit(5000, 5001, 0));
        }
    }
    push(f::stream_commit(200, 9000, 9001, 1));
    push(f::stream_abort(100, 102));
    push(f::stream_commit(100, 9100, 9101, 2));
    input
}

#[test]
fn spill_beyond_a_tiny_memory_limit_replays_like_memory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = big_workload();
    let mut in_memory = assembler(usize::MAX, &dir);
    let expected = run(&mut in_memory, &input);
    assert!(expected.len() > 40, "the workload produces changes");

    for limit in [0, 200, 700] {
        let mut spilling = assembler(limit, &dir);
        let before_commit = input.len() - 3;
        let mut got = run(&mut spilling, &input[..before_commit]);
        assert!(spilling.spilled_bytes() > 0, "limit {limit} spills");
        assert!(spilling.buffered_bytes() <= limit, "limit {limit} is kept");
        got.extend(run(&mut spilling, &input[before_commit..]));
        assert_eq!(
            got, expected,
            "limit {limit}: replay equals the in-memory result"
        );
        assert_eq!(
            (spilling.buffered_bytes(), spilling.spilled_bytes()),
            (0, 0)
        );
    }
    // Spill files are anonymous: nothing is left in the directory.
    let spill_dir = dir.path().join("spill");
    let left = std::fs::read_dir(&spill_dir)
        .expect("spill dir exists")
        .count();
    assert_eq!(left, 0);
}

#[test]
fn replay_is_incremental() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut a = assembler(300, &dir);
    let mut input = vec![(1, f::stream_start(10, true))];
    for i in 0..20u64 {
        input.push((
            2 + i,
            f::insert(Some(10), 5, &["t:1", &format!("t:{}", "y".repeat(50))]),
        ));
    }
    input.push((30, f::stream_stop()));
    run(&mut a, &input);
    let spilled = a.spilled_bytes();
    assert!(spilled > 0);
    a.push(31, f::stream_commit(10, 31, 32, 0)).expect("commit");
    let mut changes = 0;
    while let Some(e) = a.next_event().expect("event") {
        if matches!(e, Event::Change { .. }) {
            changes += 1;
        }
        if changes == 1 {
            // One record read; the file is still held until its end.
            assert_eq!(a.spilled_bytes(), spilled);
        }
    }
    assert_eq!(changes, 20);
    assert_eq!((a.buffered_bytes(), a.spilled_bytes()), (0, 0));
}

#[test]
fn pushes_before_draining_keep_their_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut a = assembler(0, &dir);
    for (lsn, data) in [
        (1, f::stream_start(10, true)),
        (2, f::insert(Some(10), 5, &["t:1", "t:a"])),
        (3, f::stream_stop()),
        (4, f::stream_commit(10, 4, 5, 0)),
        (6, f::begin(8, 0, 11)),
        (7, f::insert(None, 5, &["t:2", "t:b"])),
        (8, f::commit(8, 9, 0)),
    ] {
        a.push(lsn, data).expect("push");
    }
    let mut events = Vec::new();
    while let Some(e) = a.next_event().expect("event") {
        events.push(e);
    }
    assert_eq!(
        kinds(&events),
        ["B10s", "Insert@2", "C10", "B11", "Insert@7", "C11"]
    );
}

fn first_error(input: &[(u64, Bytes)]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut a = assembler(1 << 20, &dir);
    for (lsn, data) in input {
        if let Err(e) = a.push(*lsn, data.clone()) {
            return e.to_string();
        }
        while a.next_event().expect("event").is_some() {}
    }
    panic!("no error");
}

#[test]
fn sequence_errors_name_the_xid_and_lsn() {
    assert_eq!(
        first_error(&[(0x1_0000_0010, f::commit(5, 6, 0))]),
        "pgoutput messages out of order at LSN 1/10: Commit (commit LSN 0/5) without a Begin"
    );
    assert_eq!(
        first_error(&[(1, f::begin(9, 0, 40)), (2, f::begin(9, 0, 41))]),
        "pgoutput messages out of order at LSN 0/2: Begin of transaction 41 while transaction 40 \
         (begun at LSN 0/1) is still open"
    );
    assert_eq!(
        first_error(&[(1, f::stream_start(7, true)), (2, f::begin(9, 0, 41))]),
        "pgoutput messages out of order at LSN 0/2: Begin of transaction 41 inside the stream \
         block of transaction 7"
    );
    assert_eq!(
        first_error(&[(1, f::begin(9, 0, 40)), (2, f::stream_start(7, true))]),
        "pgoutput messages out of order at LSN 0/2: Stream Start of transaction 7 inside \
         transaction 40 (begun at LSN 0/1)"
    );
    assert_eq!(
        first_error(&[(1, f::stream_start(7, false))]),
        "pgoutput messages out of order at LSN 0/1: Stream Start continues streamed transaction \
         7, whose first segment was not received"
    );
    assert_eq!(
        first_error(&[(3, f::stream_stop())]),
        "pgoutput messages out of order at LSN 0/3: Stream Stop outside a stream block"
    );
    assert_eq!(
        first_error(&[(4, f::insert(None, 5, &["t:1"]))]),
        "pgoutput messages out of order at LSN 0/4: Insert message outside a transaction"
    );
    assert_eq!(
        first_error(&[(4, f::message(None, true, 4, "p", b""))]),
        "pgoutput messages out of order at LSN 0/4: Message message outside a transaction"
    );
    assert_eq!(
        first_error(&[
            (1, f::stream_start(7, true)),
            (2, f::stream_commit(7, 2, 3, 0))
        ]),
        "pgoutput messages out of order at LSN 0/2: Stream Commit of transaction 7 inside the \
         stream block of transaction 7"
    );
}

#[test]
fn decode_errors_carry_the_lsn_and_cause() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut a = assembler(1 << 20, &dir);
    let err = a
        .push(0xAB, Bytes::from_static(b"b"))
        .expect_err("two-phase");
    assert_eq!(
        err.to_string(),
        "could not decode the pgoutput message at LSN 0/AB"
    );
    let cause = std::error::Error::source(&err).expect("cause").to_string();
    assert!(cause.contains("Begin Prepare"), "{cause}");
}

#[test]
fn relation_outside_a_transaction_passes_through() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut a = assembler(1 << 20, &dir);
    let events = run(&mut a, &[(3, f::relation(None, 5))]);
    assert_eq!(kinds(&events), ["Relation@3"]);
}
