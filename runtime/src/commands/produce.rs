//! `weir produce TOPIC`: stdin lines to records, batched per partition.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::io::BufRead;

use anyhow::{Context, bail};
use bytes::Bytes;
use kafka_protocol::records::Compression;
use weir_broker::batch::NewRecord;
use weir_broker::{Broker, Error};

use crate::cli::ProduceArgs;
use crate::config::WorkerConfig;
use crate::partitioner;

pub fn parse_compression(name: &str) -> anyhow::Result<Compression> {
    Ok(match name {
        "none" => Compression::None,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        other => bail!("--compression {other:?}: expected none, gzip, snappy, lz4 or zstd"),
    })
}

/// The topic's partition count, creating the topic when the worker config allows it.
fn partitions(broker: &Broker, cfg: &WorkerConfig, topic: &str) -> anyhow::Result<i32> {
    if let Some(n) = broker.partition_count(topic) {
        return Ok(n);
    }
    if !cfg.auto_create_topics {
        bail!(
            "unknown topic {topic} (auto.create.topics.enable=false): create it with `weir topics create {topic}`"
        );
    }
    match broker.create_topic(topic, cfg.num_partitions, BTreeMap::new()) {
        Ok(()) | Err(Error::TopicExists(_)) => {}
        Err(e) => return Err(e).with_context(|| format!("cannot create topic {topic}")),
    }
    Ok(cfg.num_partitions)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub fn run(cfg: &WorkerConfig, args: &ProduceArgs) -> anyhow::Result<()> {
    let compression = parse_compression(&args.compression)?;
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    if args.key_separator.is_empty() && !args.no_key {
        bail!("--key-separator must not be empty (use --no-key for values only)");
    }
    let broker = super::open_broker(cfg)?;
    let count = partitions(&broker, cfg, &args.topic)?;
    if let Some(p) = args.partition
        && !(0..count).contains(&p)
    {
        bail!(
            "--partition {p}: topic {} has partitions 0..{}",
            args.topic,
            count - 1
        );
    }
    let mut pending: BTreeMap<i32, Vec<NewRecord>> = BTreeMap::new();
    let mut round_robin = 0i32;
    let mut sent = 0u64;
    let stdin = std::io::stdin().lock();
    for line in stdin.split(b'\n') {
        let mut line = line.context("cannot read stdin")?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let (key, value) = split_key(&line, args);
        let partition = match (args.partition, &key) {
            (Some(p), _) => p,
            (None, Some(k)) => partitioner::partition_for_key(k, count),
            (None, None) => round_robin,
        };
        let record = NewRecord {
            key,
            value: Some(value),
            headers: vec![],
            timestamp: now_ms(),
        };
        let full = match pending.entry(partition) {
            Entry::Occupied(mut e) => {
                e.get_mut().push(record);
                e.get().len() >= args.batch_size
            }
            Entry::Vacant(e) => e.insert(vec![record]).len() >= args.batch_size,
        };
        if full && let Some(batch) = pending.remove(&partition) {
            sent += send(&broker, &args.topic, partition, &batch, compression)?;
            // Unkeyed records stick to a partition for a whole batch, then move on.
            round_robin = (round_robin + 1) % count;
        }
    }
    for (partition, batch) in std::mem::take(&mut pending) {
        sent += send(&broker, &args.topic, partition, &batch, compression)?;
    }
    broker.close()?;
    tracing::info!(topic = %args.topic, records = sent, "produced");
    Ok(())
}

fn split_key(line: &[u8], args: &ProduceArgs) -> (Option<Bytes>, Bytes) {
    if !args.no_key {
        let sep = args.key_separator.as_bytes();
        if let Some(i) = line.windows(sep.len()).position(|w| w == sep) {
            return (
                Some(Bytes::copy_from_slice(&line[..i])),
                Bytes::copy_from_slice(&line[i + sep.len()..]),
            );
        }
    }
    (None, Bytes::copy_from_slice(line))
}

fn send(
    broker: &Broker,
    topic: &str,
    partition: i32,
    batch: &[NewRecord],
    compression: Compression,
) -> anyhow::Result<u64> {
    broker
        .append_records(topic, partition, batch, compression)
        .with_context(|| format!("cannot append to {topic}-{partition}"))?;
    Ok(batch.len() as u64)
}
