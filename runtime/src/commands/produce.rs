//! `weir produce TOPIC`: stdin lines to records, batched per partition, appended to the data
//! directory or (with `--bootstrap`) sent to a running broker. Both modes share the line
//! parsing, partitioning and batching in [`read_batches`].

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::io::BufRead;

use anyhow::{Context, bail};
use bytes::Bytes;
use kafka_protocol::records::Compression;
use tokio::sync::mpsc;
use weir_broker::batch::NewRecord;
use weir_broker::{Broker, Error};

use crate::cli::ProduceArgs;
use crate::config::WorkerConfig;
use crate::kafka_client::admin::Client;
use crate::kafka_client::producer::Producer;
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

/// Checks the flags that do not depend on the topic; returns the compression.
fn check_args(args: &ProduceArgs) -> anyhow::Result<Compression> {
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    if args.key_separator.is_empty() && !args.no_key {
        bail!("--key-separator must not be empty (use --no-key for values only)");
    }
    parse_compression(&args.compression)
}

fn check_partition(args: &ProduceArgs, count: i32) -> anyhow::Result<()> {
    if let Some(p) = args.partition
        && !(0..count).contains(&p)
    {
        bail!(
            "--partition {p}: topic {} has partitions 0..{}",
            args.topic,
            count - 1
        );
    }
    Ok(())
}

pub fn run(cfg: &WorkerConfig, args: &ProduceArgs) -> anyhow::Result<()> {
    let compression = check_args(args)?;
    if let Some(bootstrap) = &args.remote.bootstrap {
        let client_cfg = super::client_config(bootstrap)?;
        return super::block_on(run_remote(client_cfg, args, compression));
    }
    let broker = super::open_broker(cfg)?;
    let count = partitions(&broker, cfg, &args.topic)?;
    check_partition(args, count)?;
    let stdin = std::io::stdin().lock();
    let sent = read_batches(stdin, args, count, |partition, batch| {
        broker
            .append_records(&args.topic, partition, &batch, compression)
            .with_context(|| format!("cannot append to {}-{partition}", args.topic))?;
        Ok(())
    })?;
    broker.close()?;
    tracing::info!(topic = %args.topic, records = sent, "produced");
    Ok(())
}

/// `--bootstrap`: a reader thread parses and batches stdin into a small bounded channel;
/// this task sends each batch with acks=-1 before taking the next.
async fn run_remote(
    client_cfg: crate::kafka_client::ClientConfig,
    args: &ProduceArgs,
    compression: Compression,
) -> anyhow::Result<()> {
    let client = Client::connect(client_cfg).await?;
    let (mut producer, count) = Producer::new(client, &args.topic, compression).await?;
    check_partition(args, count)?;
    let (tx, mut rx) = mpsc::channel::<(i32, Vec<NewRecord>)>(4);
    let reader_args = args.clone();
    let reader = tokio::task::spawn_blocking(move || {
        let stdin = std::io::stdin().lock();
        read_batches(stdin, &reader_args, count, |p, batch| {
            // A closed channel means the sender failed; its error is the one reported.
            tx.blocking_send((p, batch))
                .map_err(|_| anyhow::anyhow!("producer stopped"))
        })
    });
    let mut sent = 0u64;
    while let Some((partition, batch)) = rx.recv().await {
        producer.send(partition, &batch).await?;
        sent += batch.len() as u64;
    }
    reader.await.context("stdin reader thread failed")??;
    tracing::info!(topic = %args.topic, records = sent, "produced");
    Ok(())
}

/// Reads lines from `input` (`key<SEP>value` or a value; a trailing CR is dropped), picks
/// each record's partition (`--partition`, Kafka's murmur2 of the key, or round robin per
/// batch for unkeyed records) and hands full batches to `send`. Returns the record count.
pub fn read_batches(
    input: impl BufRead,
    args: &ProduceArgs,
    count: i32,
    mut send: impl FnMut(i32, Vec<NewRecord>) -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    let mut pending: BTreeMap<i32, Vec<NewRecord>> = BTreeMap::new();
    let mut round_robin = 0i32;
    let mut sent = 0u64;
    for line in input.split(b'\n') {
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
            sent += batch.len() as u64;
            send(partition, batch)?;
            // Unkeyed records stick to a partition for a whole batch, then move on.
            round_robin = (round_robin + 1) % count;
        }
    }
    for (partition, batch) in std::mem::take(&mut pending) {
        sent += batch.len() as u64;
        send(partition, batch)?;
    }
    Ok(sent)
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
