//! A group's committed offsets: OffsetFetch to resume, OffsetCommit after records are out.

use std::collections::BTreeMap;

use anyhow::anyhow;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{GroupId, OffsetCommitRequest, OffsetFetchRequest};
use kafka_protocol::protocol::StrBytes;

use super::admin::topic_name;
use super::error::{self, KafkaError};
use super::group::{GroupProtocol, Member};

impl<P: GroupProtocol> Member<P> {
    /// The committed offsets of `partitions` of `topic`; partitions without one are absent.
    pub async fn committed(
        &self,
        topic: &str,
        partitions: &[i32],
    ) -> anyhow::Result<BTreeMap<i32, i64>> {
        let request = OffsetFetchRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.group().to_string())))
            .with_topics(Some(vec![
                OffsetFetchRequestTopic::default()
                    .with_name(topic_name(topic))
                    .with_partition_indexes(partitions.to_vec()),
            ]));
        let what = format!("OffsetFetch for group {} on {topic}", self.group());
        let policy = self.cfg_retry();
        policy
            .run(async || {
                let (_, r) = self.coordinator.lock().await.send(&request).await?;
                error::check(r.error_code, None, &what)?;
                let mut out = BTreeMap::new();
                for p in r.topics.iter().flat_map(|t| &t.partitions) {
                    error::check(p.error_code, None, &what)?;
                    if p.committed_offset >= 0 {
                        out.insert(p.partition_index, p.committed_offset);
                    }
                }
                Ok(out)
            })
            .await
    }

    /// Commits `offsets` (partition -> next offset to consume) of `topic` in this
    /// generation. A stale generation asks for a rejoin and is returned as an error.
    pub async fn commit(&self, topic: &str, offsets: &BTreeMap<i32, i64>) -> anyhow::Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let partitions = offsets
            .iter()
            .map(|(p, o)| {
                OffsetCommitRequestPartition::default()
                    .with_partition_index(*p)
                    .with_committed_offset(*o)
                    .with_committed_leader_epoch(-1)
            })
            .collect();
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.group().to_string())))
            .with_generation_id_or_member_epoch(self.generation())
            .with_member_id(StrBytes::from_string(self.member_id().to_string()))
            .with_retention_time_ms(-1)
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(topic_name(topic))
                    .with_partitions(partitions),
            ]);
        let what = format!("OffsetCommit for group {} on {topic}", self.group());
        let policy = self.cfg_retry();
        let result = policy
            .run(async || {
                let (_, r) = self.coordinator.lock().await.send(&request).await?;
                let p = r
                    .topics
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .find(|p| p.error_code != error::NONE);
                if let Some(p) = p {
                    let what = format!("{what} partition {}", p.partition_index);
                    return Err(KafkaError::new(p.error_code, what).into());
                }
                if r.topics.is_empty() {
                    return Err(anyhow!("{what}: the coordinator answered for no partition"));
                }
                Ok(())
            })
            .await;
        if let Err(e) = &result
            && error::kafka_error(e).is_some_and(KafkaError::needs_rejoin)
        {
            self.request_rejoin();
        }
        result
    }
}
