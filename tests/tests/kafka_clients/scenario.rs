//! Consumer groups: the same scenario for every library client. Two consumers split a
//! topic, one crashes and the other takes over, the survivor stops and a new consumer
//! resumes from the committed offsets.

use std::collections::{BTreeMap, BTreeSet};

use weir_e2e::{Workdir, wait_for};

use crate::client::Client;
use crate::records::{assert_in_order, by_partition, consumed_all, parse_value, read_ends, seen};
use crate::stored::stored_batches;
use crate::support::{CLIENT_TIMEOUT, server_log, tails};

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
pub(crate) fn group_scenario(client: Client) {
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
    let owner_a = sa.owned("A");
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
    let b_parts = sb.owned("B");
    let (b_read_to, a_read_to) = (read_ends(&sb.records), read_ends(&a_before.records));
    let a_new = &sa.records[a_before.records.len()..];
    for (p, recs) in by_partition(a_new) {
        if b_parts.contains(&p) {
            // A starts at what B committed: not before B's last acknowledged commit (that
            // would redeliver committed records), not after what B read (that would lose).
            let committed = sb.committed.get(&p).copied().unwrap_or(0);
            let read_to = b_read_to.get(&p).copied().unwrap_or(0);
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
            let read_to = a_read_to.get(&p).copied().unwrap_or(0);
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
    let end = read_ends(sa.records.iter().chain(&sb.records));
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
