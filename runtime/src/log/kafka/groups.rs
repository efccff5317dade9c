//! Group offsets at the group's coordinator, from outside the group's membership.

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    FindCoordinatorRequest, GroupId, OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest,
};

use super::*;

impl KafkaLog {
    /// The coordinator of `group` (FindCoordinator, cached).
    async fn coordinator(&self, group: &str) -> anyhow::Result<i32> {
        if let Some(node) = lock(&self.meta).coordinators.get(group) {
            return Ok(*node);
        }
        let response = self
            .call(ANY, self.cfg.request_timeout, |v| {
                if v >= 4 {
                    FindCoordinatorRequest::default().with_coordinator_keys(vec![s(group)])
                } else {
                    FindCoordinatorRequest::default().with_key(s(group))
                }
            })
            .await?;
        let (code, message, node, host, port) = match response.coordinators.first() {
            Some(c) => (
                c.error_code,
                c.error_message.clone(),
                c.node_id.0,
                c.host.clone(),
                c.port,
            ),
            None => (
                response.error_code,
                response.error_message.clone(),
                response.node_id.0,
                response.host.clone(),
                response.port,
            ),
        };
        error::check(
            code,
            message.as_deref(),
            &format!("FindCoordinator for group {group}"),
        )?;
        let mut meta = lock(&self.meta);
        meta.brokers.insert(node, format!("{host}:{port}"));
        meta.coordinators.insert(group.to_string(), node);
        Ok(node)
    }

    /// A group call failed: when the coordinator moved, forget it.
    fn coordinator_failed(&self, group: &str, e: &anyhow::Error) {
        if kafka_error(e).is_none_or(KafkaError::coordinator_moved) {
            lock(&self.meta).coordinators.remove(group);
        }
    }

    /// One call to the group's coordinator, retried; a coordinator that moved is looked up
    /// again. `read` turns the answer into the result.
    async fn group_call<R, T>(
        &self,
        group: &str,
        what: &str,
        build: impl Fn() -> R + Sync,
        read: impl Fn(R::Response) -> anyhow::Result<T> + Sync,
    ) -> Result<T>
    where
        R: Request + Send + Sync,
        R::Response: Send,
        T: Send,
    {
        let (build, read) = (&build, &read);
        self.retry(what, CALL_DEADLINE, || {
            Box::pin(async move {
                let node = self.coordinator(group).await?;
                let request = build();
                let result = match self.call(node, self.cfg.request_timeout, |_| request).await {
                    Ok(r) => read(r),
                    Err(e) => Err(e),
                };
                if let Err(e) = &result {
                    self.coordinator_failed(group, e);
                }
                result
            })
        })
        .await
        .map_err(LogError::kafka)
    }

    /// Committed offsets of the group: of `partitions`, or of every partition when `None`.
    pub async fn group_offsets(
        &self,
        group: &str,
        partitions: Option<&[(String, i32)]>,
    ) -> Result<Vec<(String, i32, i64)>> {
        let topics = partitions.map(|ps| {
            by_topic(ps.iter().map(|(t, p)| (t.as_str(), *p)))
                .into_iter()
                .map(|(t, ps)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partition_indexes(ps)
                })
                .collect::<Vec<_>>()
        });
        let what = format!("cannot read the committed offsets of group {group}");
        let build = || {
            OffsetFetchRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_topics(topics.clone())
        };
        self.group_call(group, &what, build, |r| {
            if r.error_code == GROUP_ID_NOT_FOUND {
                return Ok(Vec::new());
            }
            error::check(r.error_code, None, "OffsetFetch")?;
            let mut out = Vec::new();
            for t in &r.topics {
                for p in &t.partitions {
                    if p.error_code == error::UNKNOWN_TOPIC_OR_PARTITION {
                        continue;
                    }
                    error::check(p.error_code, None, "OffsetFetch")?;
                    if p.committed_offset >= 0 {
                        out.push((t.name.0.to_string(), p.partition_index, p.committed_offset));
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    /// Commits offsets for the group from outside its membership (generation -1).
    pub async fn commit_offsets(&self, group: &str, commits: &[(String, i32, i64)]) -> Result<()> {
        if commits.is_empty() {
            return Ok(());
        }
        let offsets: BTreeMap<(&str, i32), i64> = commits
            .iter()
            .map(|(t, p, o)| ((t.as_str(), *p), *o))
            .collect();
        let topics: Vec<OffsetCommitRequestTopic> = by_topic(offsets.keys().copied())
            .into_iter()
            .map(|(t, ps)| {
                OffsetCommitRequestTopic::default()
                    .with_name(topic_name(t))
                    .with_partitions(
                        ps.into_iter()
                            .map(|p| {
                                OffsetCommitRequestPartition::default()
                                    .with_partition_index(p)
                                    .with_committed_offset(offsets[&(t, p)])
                                    .with_committed_leader_epoch(-1)
                                    .with_committed_metadata(Some(StrBytes::default()))
                            })
                            .collect(),
                    )
            })
            .collect();
        let what = format!("cannot commit offsets for group {group}");
        let build = || {
            OffsetCommitRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_generation_id_or_member_epoch(-1)
                .with_member_id(StrBytes::default())
                .with_retention_time_ms(-1)
                .with_topics(topics.clone())
        };
        self.group_call(group, &what, build, |r| {
            check_partitions(
                "OffsetCommit",
                r.topics.iter().flat_map(|t| {
                    t.partitions
                        .iter()
                        .map(move |p| (&t.name.0, p.partition_index, p.error_code))
                }),
            )
        })
        .await
    }

    /// Deletes the group's committed offsets of `partitions` (OffsetDelete).
    pub async fn delete_offsets(&self, group: &str, partitions: &[(String, i32)]) -> Result<()> {
        if partitions.is_empty() {
            return Ok(());
        }
        let topics: Vec<OffsetDeleteRequestTopic> =
            by_topic(partitions.iter().map(|(t, p)| (t.as_str(), *p)))
                .into_iter()
                .map(|(t, ps)| {
                    OffsetDeleteRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partitions(
                            ps.into_iter()
                                .map(|p| {
                                    OffsetDeleteRequestPartition::default().with_partition_index(p)
                                })
                                .collect(),
                        )
                })
                .collect();
        let what = format!("cannot delete offsets of group {group}");
        let build = || {
            OffsetDeleteRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_topics(topics.clone())
        };
        self.group_call(group, &what, build, |r| {
            if r.error_code == GROUP_ID_NOT_FOUND {
                return Ok(());
            }
            error::check(r.error_code, None, "OffsetDelete")?;
            check_partitions(
                "OffsetDelete",
                r.topics.iter().flat_map(|t| {
                    t.partitions
                        .iter()
                        .map(move |p| (&t.name.0, p.partition_index, p.error_code))
                }),
            )
        })
        .await
    }
}

/// Partitions grouped by topic, in order.
fn by_topic<'a>(partitions: impl Iterator<Item = (&'a str, i32)>) -> BTreeMap<&'a str, Vec<i32>> {
    let mut out: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in partitions {
        out.entry(t).or_default().push(p);
    }
    out
}

/// The first per-partition error of an answer, naming the partition.
fn check_partitions<'a>(
    api: &str,
    codes: impl Iterator<Item = (&'a StrBytes, i32, i16)>,
) -> anyhow::Result<()> {
    for (topic, partition, code) in codes {
        error::check(code, None, &format!("{api} {topic}-{partition}"))?;
    }
    Ok(())
}
