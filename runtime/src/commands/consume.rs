//! `weir consume TOPIC`: records to stdout, one per line.

use std::io::Write;

use anyhow::{Context, bail};
use weir_broker::{Broker, OffsetSpec, batch};

use crate::cli::ConsumeArgs;
use crate::config::WorkerConfig;

const FETCH_BYTES: usize = 1 << 20;

fn start_offset(broker: &Broker, args: &ConsumeArgs, topic: &str, p: i32) -> anyhow::Result<i64> {
    let spec =
        match args.offset.as_deref() {
            Some("earliest") => OffsetSpec::Earliest,
            Some("latest") => OffsetSpec::Latest,
            Some(n) => {
                return n.parse::<i64>().ok().filter(|o| *o >= 0).with_context(|| {
                    format!("--offset {n:?}: expected a number, earliest or latest")
                });
            }
            None if args.from_beginning => OffsetSpec::Earliest,
            None => OffsetSpec::Latest,
        };
    Ok(broker
        .list_offset(topic, p, spec)?
        .map_or(0, |(offset, _)| offset))
}

pub fn run(cfg: &WorkerConfig, args: &ConsumeArgs) -> anyhow::Result<()> {
    let broker = super::open_broker(cfg)?;
    let topic = args.topic.as_str();
    let Some(count) = broker.partition_count(topic) else {
        bail!("unknown topic {topic}");
    };
    let partitions: Vec<i32> = match args.partition {
        Some(p) if !(0..count).contains(&p) => {
            bail!(
                "--partition {p}: topic {topic} has partitions 0..{}",
                count - 1
            )
        }
        Some(p) => vec![p],
        None => (0..count).collect(),
    };
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
                if let Some(k) = &r.key {
                    out.write_all(k)?;
                    out.write_all(sep)?;
                }
                match &r.value {
                    Some(v) => out.write_all(v)?,
                    None => out.write_all(b"null")?,
                }
                out.write_all(b"\n")?;
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
