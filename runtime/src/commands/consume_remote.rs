//! `weir consume TOPIC --bootstrap ADDR`: fetch from a running broker, optionally as a
//! member of a consumer group.
//!
//! Without `--from-beginning` or `--exit-at-end` the consumer follows the log until `--max`
//! records or Ctrl-C / SIGTERM. With `--group` it resumes from the group's committed offsets
//! and commits what it printed (after flushing stdout): every few seconds, at a rebalance and
//! on exit, so `--max N` commits exactly the N printed records.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::consume::{parse_offset, starts_at_earliest, write_record};
use crate::cli::ConsumeArgs;
use crate::kafka_client::ClientConfig;
use crate::kafka_client::admin::Client;
use crate::kafka_client::assignor::ConsumerProtocol;
use crate::kafka_client::consumer::{EARLIEST, Fetcher, LATEST, list_offset};
use crate::kafka_client::group::{GroupTimings, Member};

type Consumer = Member<ConsumerProtocol>;

const COMMIT_INTERVAL: Duration = Duration::from_secs(5);

/// Resolves when the process is asked to stop (SIGTERM or Ctrl-C).
async fn stop_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

/// (partition, leader, start offset) for each partition: the committed offset when there is
/// one, else `--offset`, else earliest or latest.
async fn starts(
    client: &mut Client,
    args: &ConsumeArgs,
    leaders: &BTreeMap<i32, i32>,
    partitions: &[i32],
    committed: &BTreeMap<i32, i64>,
) -> anyhow::Result<Vec<(i32, i32, i64)>> {
    let reset = if starts_at_earliest(args) {
        EARLIEST
    } else {
        LATEST
    };
    let fixed = parse_offset(args)?;
    let mut out = Vec::new();
    for &p in partitions {
        let leader = *leaders
            .get(&p)
            .with_context(|| format!("topic {} has no partition {p}", args.topic))?;
        let offset = match (committed.get(&p), fixed) {
            (Some(&o), _) | (None, Some(o)) => o,
            (None, None) => list_offset(client, leader, &args.topic, p, reset).await?,
        };
        out.push((p, leader, offset));
    }
    Ok(out)
}

/// Joins (or rejoins) the group and points the fetcher at the assigned partitions; returns
/// the offsets the group has committed for them.
async fn assign_from_group(
    client: &mut Client,
    member: &mut Consumer,
    args: &ConsumeArgs,
    leaders: &BTreeMap<i32, i32>,
    fetcher: &mut Fetcher,
) -> anyhow::Result<BTreeMap<i32, i64>> {
    let joined = member.rejoin().await?;
    let partitions = member.protocol().partitions(&joined.assignment)?;
    let committed = member.committed(&args.topic, &partitions).await?;
    fetcher.assign(&starts(client, args, leaders, &partitions, &committed).await?);
    Ok(committed)
}

/// Commits the positions that moved since `committed`.
async fn commit(
    member: &Consumer,
    topic: &str,
    fetcher: &Fetcher,
    committed: &mut BTreeMap<i32, i64>,
) -> anyhow::Result<()> {
    let moved: BTreeMap<i32, i64> = fetcher
        .consumed()
        .into_iter()
        .filter(|(p, o)| committed.get(p) != Some(o))
        .collect();
    member.commit(topic, &moved).await?;
    committed.extend(moved);
    Ok(())
}

pub async fn run(client_cfg: ClientConfig, args: &ConsumeArgs) -> anyhow::Result<()> {
    let mut client = Client::connect(client_cfg).await?;
    let topic = args.topic.as_str();
    let meta = client.topic(topic, false).await?;
    let leaders: BTreeMap<i32, i32> = meta.partitions.iter().copied().collect();
    let count = leaders.len() as i32;
    let follow = !args.from_beginning && !args.exit_at_end;
    let mut fetcher = Fetcher::new(topic);
    let mut committed = BTreeMap::new();
    let mut member = match &args.group {
        Some(group) => {
            let protocol = ConsumerProtocol::new(&client.cfg, topic);
            let timings = GroupTimings::consumer();
            let (m, joined) = Member::join(&client.cfg, group, protocol, timings).await?;
            let partitions = m.protocol().partitions(&joined.assignment)?;
            committed = m.committed(topic, &partitions).await?;
            fetcher.assign(&starts(&mut client, args, &leaders, &partitions, &committed).await?);
            Some(m)
        }
        None => {
            let partitions = super::consume::selected_partitions(args, topic, count)?;
            fetcher.assign(&starts(&mut client, args, &leaders, &partitions, &committed).await?);
            None
        }
    };
    let wait = if follow {
        Duration::from_millis(500)
    } else {
        Duration::from_millis(100)
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let sep = args.key_separator.as_bytes();
    let mut printed = 0u64;
    let mut last_commit = Instant::now();
    let stop = stop_signal();
    tokio::pin!(stop);
    let done = |printed: u64| args.max.is_some_and(|m| printed >= m);
    while !done(printed) && (follow || !fetcher.at_end()) {
        if let Some(m) = member.as_mut()
            && m.needs_rejoin()
        {
            out.flush()?;
            if let Err(e) = commit(m, topic, &fetcher, &mut committed).await {
                tracing::warn!(error = %e, "commit before rejoining failed");
            }
            committed = assign_from_group(&mut client, m, args, &leaders, &mut fetcher).await?;
        }
        let polled = tokio::select! {
            polled = fetcher.poll(&mut client, wait) => polled?,
            stopped = &mut stop => { stopped?; break; }
        };
        let all = polled.len();
        for (i, (p, r)) in polled.into_iter().enumerate() {
            if done(printed) {
                break;
            }
            write_record(&mut out, sep, r.key.as_deref(), r.value.as_deref())?;
            fetcher.mark(p, r.offset);
            printed += 1;
            if i + 1 == all {
                fetcher.mark_all_fetched();
            }
        }
        if all == 0 {
            fetcher.mark_all_fetched();
        }
        if let Some(m) = &member
            && last_commit.elapsed() >= COMMIT_INTERVAL
        {
            // Records reach stdout before their offsets are committed.
            out.flush()?;
            if let Err(e) = commit(m, topic, &fetcher, &mut committed).await {
                tracing::warn!(error = %e, "periodic commit failed");
            }
            last_commit = Instant::now();
        }
    }
    out.flush()?;
    drop(out);
    if let Some(m) = member {
        commit(&m, topic, &fetcher, &mut committed)
            .await
            .with_context(|| format!("cannot commit the offsets of group {}", m.group()))?;
        if let Err(e) = m.leave().await {
            tracing::warn!(error = %e, "cannot leave the group cleanly");
        }
    }
    Ok(())
}
