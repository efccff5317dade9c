//! Compression: every library client produces with every codec it supports, the broker
//! stores the batches as they came, and the clients read them back intact.

use std::collections::BTreeMap;
use std::path::Path;

use weir_e2e::{Proc, Workdir};

use crate::client::Client;
use crate::records::seen_lossy;
use crate::stored::stored_batches;
use crate::support::CLIENT_TIMEOUT;

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

/// Batches per codec id in a partition directory.
fn stored_codecs(dir: &Path) -> BTreeMap<u16, usize> {
    let mut m = BTreeMap::new();
    for b in stored_batches(dir) {
        *m.entry(b.codec).or_insert(0) += 1;
    }
    m
}

pub(crate) fn every_codec_round_trips() {
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
    let producers: Vec<Proc> = cases
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
            c.spawn(&format!("produce {z}"), &args)
        })
        .collect();
    for p in producers {
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
