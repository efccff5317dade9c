//! The "range" assignor and Kafka's ConsumerProtocol binary layout, so weir's consumers can
//! share a group with Java, librdkafka or kafka-python consumers; [`ConsumerProtocol`] is
//! the [`GroupProtocol`] of a one-topic consumer.
//!
//! Subscription: version i16, topics [string], user_data bytes (v1+ appends owned
//! partitions, v2+ generation, v3+ rack; they are read past, not used).
//! Assignment: version i16, [topic string, [partition i32]], user_data bytes.
//! Arrays have an i32 count, strings an i16 length, bytes an i32 length (-1 = null).

use std::collections::BTreeMap;

use anyhow::{Context, anyhow, bail};
use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::ClientConfig;
use super::admin::Client;
use super::group::GroupProtocol;

pub const PROTOCOL: &str = "range";

/// A consumer of one topic with the range assignor. The leader asks the cluster for the
/// partition counts over a connection of its own, opened on first need.
pub struct ConsumerProtocol {
    topic: String,
    cfg: ClientConfig,
    client: Option<Client>,
}

impl ConsumerProtocol {
    pub fn new(cfg: &ClientConfig, topic: &str) -> Self {
        Self {
            topic: topic.to_string(),
            cfg: cfg.clone(),
            client: None,
        }
    }

    /// This member's partitions of the topic in an assignment from [`GroupProtocol::assign`].
    pub fn partitions(&self, assignment: &Bytes) -> anyhow::Result<Vec<i32>> {
        let mut mine = decode_assignment(assignment.clone())?;
        Ok(mine.remove(&self.topic).unwrap_or_default())
    }

    async fn partition_counts(
        &mut self,
        topics: &[String],
    ) -> anyhow::Result<BTreeMap<String, i32>> {
        let client = match &mut self.client {
            Some(c) => c,
            None => self.client.insert(Client::connect(self.cfg.clone()).await?),
        };
        let described = client.metadata(Some(topics), false).await;
        if described.is_err() {
            // Reconnect next time.
            self.client = None;
        }
        Ok(described?
            .into_iter()
            .flatten()
            .map(|t| (t.name.clone(), t.partitions.len() as i32))
            .collect())
    }
}

impl GroupProtocol for ConsumerProtocol {
    fn protocol_type(&self) -> &str {
        "consumer"
    }

    fn protocols(&mut self) -> anyhow::Result<Vec<(String, Bytes)>> {
        let subscription = encode_subscription(std::slice::from_ref(&self.topic));
        Ok(vec![(PROTOCOL.to_string(), subscription)])
    }

    async fn assign(
        &mut self,
        _protocol: &str,
        members: &[(String, Bytes)],
    ) -> anyhow::Result<BTreeMap<String, Bytes>> {
        let mut subscriptions = BTreeMap::new();
        for (member, metadata) in members {
            let topics = decode_subscription(metadata.clone())
                .map_err(|e| anyhow!("member {member} sent a bad subscription: {e:#}"))?;
            subscriptions.insert(member.clone(), topics);
        }
        let mut topics: Vec<String> = subscriptions.values().flatten().cloned().collect();
        topics.sort();
        topics.dedup();
        let counts = self.partition_counts(&topics).await?;
        Ok(range_assign(&subscriptions, &counts)
            .into_iter()
            .map(|(member, a)| (member, encode_assignment(&a)))
            .collect())
    }
}

fn put_str(out: &mut BytesMut, s: &str) {
    out.put_i16(s.len() as i16);
    out.put_slice(s.as_bytes());
}

fn get_str(buf: &mut Bytes) -> anyhow::Result<String> {
    let len = buf.try_get_i16().context("truncated string length")?;
    let len = usize::try_from(len).context("null string")?;
    if buf.remaining() < len {
        bail!("string runs past the end");
    }
    String::from_utf8(buf.split_to(len).to_vec()).context("string is not UTF-8")
}

fn get_count(buf: &mut Bytes) -> anyhow::Result<usize> {
    let n = buf.try_get_i32().context("truncated array length")?;
    // Never trust a count beyond what the buffer could hold.
    Ok(usize::try_from(n).unwrap_or(0).min(buf.remaining()))
}

/// A member's subscription metadata (version 0: topics, no user data).
pub fn encode_subscription(topics: &[String]) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(0);
    out.put_i32(topics.len() as i32);
    for t in topics {
        put_str(&mut out, t);
    }
    out.put_i32(-1);
    out.freeze()
}

/// The topics of a subscription of any version.
pub fn decode_subscription(mut buf: Bytes) -> anyhow::Result<Vec<String>> {
    buf.try_get_i16()
        .context("truncated subscription version")?;
    let n = get_count(&mut buf)?;
    (0..n).map(|_| get_str(&mut buf)).collect()
}

/// An assignment (version 0, no user data).
pub fn encode_assignment(partitions: &BTreeMap<String, Vec<i32>>) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(0);
    out.put_i32(partitions.len() as i32);
    for (topic, ps) in partitions {
        put_str(&mut out, topic);
        out.put_i32(ps.len() as i32);
        for p in ps {
            out.put_i32(*p);
        }
    }
    out.put_i32(-1);
    out.freeze()
}

/// The partitions of an assignment; an empty buffer is an empty assignment.
pub fn decode_assignment(mut buf: Bytes) -> anyhow::Result<BTreeMap<String, Vec<i32>>> {
    let mut out = BTreeMap::new();
    if buf.is_empty() {
        return Ok(out);
    }
    buf.try_get_i16().context("truncated assignment version")?;
    let topics = get_count(&mut buf)?;
    for _ in 0..topics {
        let topic = get_str(&mut buf)?;
        let n = get_count(&mut buf)?;
        let ps = (0..n)
            .map(|_| buf.try_get_i32().context("truncated partition list"))
            .collect::<anyhow::Result<Vec<i32>>>()?;
        out.insert(topic, ps);
    }
    Ok(out)
}

/// Kafka's RangeAssignor: per topic, the subscribed members in member-id order each take a
/// contiguous range; the first `partitions % members` take one extra.
pub fn range_assign(
    subscriptions: &BTreeMap<String, Vec<String>>,
    partition_counts: &BTreeMap<String, i32>,
) -> BTreeMap<String, BTreeMap<String, Vec<i32>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<i32>>> = subscriptions
        .keys()
        .map(|m| (m.clone(), BTreeMap::new()))
        .collect();
    for (topic, &count) in partition_counts {
        let members: Vec<&String> = subscriptions
            .iter()
            .filter(|(_, topics)| topics.contains(topic))
            .map(|(m, _)| m)
            .collect();
        if members.is_empty() {
            continue;
        }
        let per = count / members.len() as i32;
        let extra = count % members.len() as i32;
        for (i, m) in members.into_iter().enumerate() {
            let i = i as i32;
            let start = i * per + i.min(extra);
            let len = per + i32::from(i < extra);
            if let Some(assigned) = out.get_mut(m) {
                assigned.insert(topic.clone(), (start..start + len).collect());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_and_assignment_round_trip() {
        let topics = vec!["orders".to_string(), "users".to_string()];
        let sub = encode_subscription(&topics);
        // version 0, 2 topics, "orders", "users", null user data
        assert_eq!(&sub[..6], &[0, 0, 0, 0, 0, 2]);
        assert_eq!(decode_subscription(sub).expect("decodes"), topics);
        let mut a = BTreeMap::new();
        a.insert("orders".to_string(), vec![0, 2]);
        let bytes = encode_assignment(&a);
        assert_eq!(
            bytes.as_ref(),
            &[
                0, 0, 0, 0, 0, 1, 0, 6, b'o', b'r', b'd', b'e', b'r', b's', 0, 0, 0, 2, 0, 0, 0, 0,
                0, 0, 0, 2, 255, 255, 255, 255
            ]
        );
        assert_eq!(decode_assignment(bytes).expect("decodes"), a);
        assert!(decode_assignment(Bytes::new()).expect("empty").is_empty());
        assert!(decode_subscription(Bytes::from_static(&[0, 0, 0, 0, 0, 9, 0])).is_err());
    }

    #[test]
    fn range_gives_the_first_members_the_extra_partitions() {
        let subs: BTreeMap<String, Vec<String>> = ["m-b", "m-a", "m-c"]
            .iter()
            .map(|m| (m.to_string(), vec!["t".to_string()]))
            .collect();
        let counts = BTreeMap::from([("t".to_string(), 7)]);
        let a = range_assign(&subs, &counts);
        assert_eq!(a["m-a"]["t"], vec![0, 1, 2]);
        assert_eq!(a["m-b"]["t"], vec![3, 4]);
        assert_eq!(a["m-c"]["t"], vec![5, 6]);
        let counts = BTreeMap::from([("t".to_string(), 2)]);
        let a = range_assign(&subs, &counts);
        assert_eq!(a["m-c"]["t"], Vec::<i32>::new());
    }
}
