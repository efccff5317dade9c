//! `weir consume TOPIC`: records to stdout, one per line (`key<SEP>value`, or the value;
//! `null` for a tombstone), read from the data directory or, with `--bootstrap`, fetched from
//! a running broker ([`super::consume_remote`]).

use std::io::Write;

use anyhow::{Context, bail};
use weir_broker::{Broker, OffsetSpec, batch};

use crate::cli::ConsumeArgs;
use crate::config::WorkerConfig;

const FETCH_BYTES: usize = 1 << 20;

/// Prints one record the way both modes do.
pub(crate) fn write_record(
    out: &mut impl Write,
    sep: &[u8],
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> std::io::Result<()> {
    if let Some(k) = key {
        out.write_all(k)?;
        out.write_all(sep)?;
    }
    out.write_all(value.unwrap_or(b"null"))?;
    out.write_all(b"\n")
}

/// `--offset` as a number, or `None` for `earliest` / `latest` / unset.
pub(crate) fn parse_offset(args: &ConsumeArgs) -> anyhow::Result<Option<i64>> {
    match args.offset.as_deref() {
        None | Some("earliest" | "latest") => Ok(None),
        Some(n) => n
            .parse::<i64>()
            .ok()
            .filter(|o| *o >= 0)
            .map(Some)
            .with_context(|| format!("--offset {n:?}: expected a number, earliest or latest")),
    }
}

/// Whether the start is the earliest offset (else the latest) when no number is given.
pub(crate) fn starts_at_earliest(args: &ConsumeArgs) -> bool {
    match args.offset.as_deref() {
        Some("earliest") => true,
        Some("latest") => false,
        _ => args.from_beginning,
    }
}

fn start_offset(broker: &Broker, args: &ConsumeArgs, topic: &str, p: i32) -> anyhow::Result<i64> {
    if let Some(n) = parse_offset(args)? {
        return Ok(n);
    }
    let spec = if starts_at_earliest(args) {
        OffsetSpec::Earliest
    } else {
        OffsetSpec::Latest
    };
    Ok(broker
        .list_offset(topic, p, spec)?
        .map_or(0, |(offset, _)| offset))
}

pub fn run(cfg: &WorkerConfig, args: &ConsumeArgs) -> anyhow::Result<()> {
    parse_offset(args)?;
    if let Some(bootstrap) = &args.remote.bootstrap {
        let client_cfg = super::client_config(bootstrap)?;
        return super::block_on(super::consume_remote::run(client_cfg, args));
    }
    if let Some(group) = &args.group {
        bail!(
            "--group {group} needs --bootstrap HOST:PORT: consumer groups are coordinated by a running broker"
        );
    }
    let broker = super::open_broker(cfg)?;
    let topic = args.topic.as_str();
    let Some(count) = broker.partition_count(topic) else {
        bail!("unknown topic {topic}");
    };
    let partitions = selected_partitions(args, topic, count)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let sep = args.key_separator.as_bytes();
    let mut printed = 0u64;
    'partitions: for p in partitions {
        let mut offset = start_offset(&broker, args, topic, p)?;
        loop {
            let data = broker.fetch(topic, p, offset, FETCH_BYTES)?;
            if data.records.is_empty() {
                break;
            }
            let next = batch::next_offset_after(&data.records);
            let records = batch::decode_records(data.records).map_err(|e| {
                anyhow::anyhow!("cannot decode {topic}-{p} at offset {offset}: {e}")
            })?;
            for r in records {
                if r.offset < offset {
                    continue;
                }
                if args.max.is_some_and(|m| printed >= m) {
                    break 'partitions;
                }
                write_record(&mut out, sep, r.key.as_deref(), r.value.as_deref())?;
                printed += 1;
                offset = r.offset + 1;
            }
            offset = offset.max(next.unwrap_or(offset));
            if offset >= data.high_watermark {
                break;
            }
        }
    }
    out.flush()?;
    drop(out);
    broker.close()?;
    Ok(())
}

/// The partitions `--partition` selects (all of them without it), checked against `count`.
pub(crate) fn selected_partitions(
    args: &ConsumeArgs,
    topic: &str,
    count: i32,
) -> anyhow::Result<Vec<i32>> {
    Ok(match args.partition {
        Some(p) if !(0..count).contains(&p) => {
            bail!(
                "--partition {p}: topic {topic} has partitions 0..{}",
                count - 1
            )
        }
        Some(p) => vec![p],
        None => (0..count).collect(),
    })
}
