//! `weir topics create|list|describe|delete`.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Context, bail};

use crate::cli::{TopicsArgs, TopicsCommand};
use crate::config::WorkerConfig;
use crate::kafka_client::admin::Client;
use crate::kafka_client::consumer::{EARLIEST, LATEST, list_offset};

fn parse_configs(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for p in pairs {
        let Some((k, v)) = p.split_once('=') else {
            bail!("--config {p:?}: expected KEY=VALUE");
        };
        map.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(map)
}

pub fn run(cfg: &WorkerConfig, args: &TopicsArgs) -> anyhow::Result<()> {
    let cmd = &args.command;
    if let TopicsCommand::Create { configs, .. } = cmd {
        // Bad flags are reported before the data directory or the broker is touched.
        parse_configs(configs)?;
    }
    if let Some(bootstrap) = &args.bootstrap {
        let client_cfg = super::client_config(bootstrap)?;
        return super::block_on(async {
            let mut client = Client::connect(client_cfg).await?;
            run_remote(&mut client, cmd).await
        });
    }
    let broker = super::open_broker(cfg)?;
    let mut out = std::io::stdout().lock();
    match cmd {
        TopicsCommand::Create {
            name,
            partitions,
            configs,
            if_not_exists,
        } => {
            let map = parse_configs(configs)?;
            let errors = broker.validate_topic_configs(&map);
            if !errors.is_empty() {
                let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
                bail!(
                    "topic {name} not created, {} config error(s):\n  {}",
                    lines.len(),
                    lines.join("\n  ")
                );
            }
            match broker.create_topic(name, *partitions, map) {
                Ok(()) => writeln!(out, "Created topic {name}.")?,
                Err(weir_broker::Error::TopicExists(_)) if *if_not_exists => {}
                Err(e) => return Err(e.into()),
            }
        }
        TopicsCommand::List => {
            for t in broker.topics() {
                writeln!(out, "{t}")?;
            }
        }
        TopicsCommand::Describe { names } => {
            let names = if names.is_empty() {
                broker.topics()
            } else {
                names.clone()
            };
            for name in names {
                describe(&broker, &name, &mut out)?;
            }
        }
        TopicsCommand::Delete { name } => {
            broker
                .delete_topic(name)
                .with_context(|| format!("cannot delete topic {name}"))?;
            writeln!(out, "Deleted topic {name}.")?;
        }
    }
    out.flush()?;
    drop(out);
    broker.close()?;
    Ok(())
}

fn describe(broker: &weir_broker::Broker, name: &str, out: &mut impl Write) -> anyhow::Result<()> {
    let d = broker.describe_topic(name)?;
    let overrides: Vec<String> = d
        .overrides
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    writeln!(
        out,
        "Topic: {}\tTopicId: {}\tPartitionCount: {}\tInternal: {}\tConfigs: {}",
        d.name,
        d.topic_id,
        d.partitions.len(),
        d.internal,
        overrides.join(",")
    )?;
    writeln!(out, "\tDurability: {}", d.config.durability())?;
    for p in &d.partitions {
        write!(
            out,
            "\tPartition: {}\tLogStartOffset: {}\tLogEndOffset: {}\tHighWatermark: {}\tSize: {}\tSegments: {}",
            p.partition, p.log_start, p.log_end, p.high_watermark, p.size_bytes, p.segments
        )?;
        match &p.failure {
            Some(f) => writeln!(out, "\tFAILED: {f}")?,
            None => writeln!(out)?,
        }
    }
    Ok(())
}

/// `--bootstrap`: the same verbs through CreateTopics, Metadata, DescribeConfigs,
/// ListOffsets and DeleteTopics.
async fn run_remote(client: &mut Client, cmd: &TopicsCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        TopicsCommand::Create {
            name,
            partitions,
            configs,
            if_not_exists,
        } => {
            let map = parse_configs(configs)?;
            if client
                .create_topic(name, *partitions, &map, *if_not_exists)
                .await?
            {
                writeln!(out, "Created topic {name}.")?;
            }
        }
        TopicsCommand::List => {
            let mut names: Vec<String> = client
                .metadata(None, false)
                .await?
                .into_iter()
                .flatten()
                .map(|t| t.name)
                .collect();
            names.sort();
            for t in names {
                writeln!(out, "{t}")?;
            }
        }
        TopicsCommand::Describe { names } => {
            let wanted = (!names.is_empty()).then_some(names.as_slice());
            let mut found = client
                .metadata(wanted, false)
                .await?
                .into_iter()
                .collect::<Result<Vec<_>, _>>()?;
            found.sort_by(|a, b| a.name.cmp(&b.name));
            for t in found {
                let overrides: Vec<String> = client
                    .topic_overrides(&t.name)
                    .await?
                    .into_iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                writeln!(
                    out,
                    "Topic: {}\tTopicId: {}\tPartitionCount: {}\tInternal: {}\tConfigs: {}",
                    t.name,
                    t.topic_id,
                    t.partitions.len(),
                    t.internal,
                    overrides.join(",")
                )?;
                for (p, leader) in &t.partitions {
                    let start = list_offset(client, *leader, &t.name, *p, EARLIEST).await?;
                    let end = list_offset(client, *leader, &t.name, *p, LATEST).await?;
                    writeln!(
                        out,
                        "\tPartition: {p}\tLeader: {leader}\tLogStartOffset: {start}\tHighWatermark: {end}"
                    )?;
                }
            }
        }
        TopicsCommand::Delete { name } => {
            client.delete_topic(name).await?;
            writeln!(out, "Deleted topic {name}.")?;
        }
    }
    out.flush()?;
    Ok(())
}
