//! Committed consumer-group offsets, stored as Kafka stores them: records in the compacted
//! internal topic `__consumer_offsets`, keyed by (group, topic, partition).
//!
//! Key (version 1): `i16 version, string group, string topic, i32 partition`.
//! Value (version 3): `i16 version, i64 offset, i32 leader epoch, string metadata,
//! i64 commit timestamp`. Strings are `i16 length + UTF-8`. A null value (tombstone) deletes
//! the commit. These are the layouts of Kafka's group coordinator, so tools that read
//! `__consumer_offsets` understand weir's too.

use bytes::{Buf, BufMut, Bytes, BytesMut};

pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// One committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

/// (group, topic, partition).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OffsetKey {
    pub group: String,
    pub topic: String,
    pub partition: i32,
}

fn put_str(buf: &mut BytesMut, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(i16::MAX as usize)];
    buf.put_i16(bytes.len() as i16);
    buf.put_slice(bytes);
}

fn get_str(buf: &mut Bytes) -> Option<String> {
    if buf.remaining() < 2 {
        return None;
    }
    let len = buf.get_i16();
    if len < 0 || buf.remaining() < len as usize {
        return None;
    }
    String::from_utf8(buf.split_to(len as usize).to_vec()).ok()
}

impl OffsetKey {
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(1);
        put_str(&mut b, &self.group);
        put_str(&mut b, &self.topic);
        b.put_i32(self.partition);
        b.freeze()
    }

    /// Decodes an offset-commit key; `None` for group-metadata keys (version 2) or garbage.
    pub fn decode(mut b: Bytes) -> Option<Self> {
        if b.remaining() < 2 {
            return None;
        }
        let version = b.get_i16();
        if !(0..=1).contains(&version) {
            return None;
        }
        let group = get_str(&mut b)?;
        let topic = get_str(&mut b)?;
        if b.remaining() < 4 {
            return None;
        }
        Some(Self {
            group,
            topic,
            partition: b.get_i32(),
        })
    }
}

impl CommittedOffset {
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(3);
        b.put_i64(self.offset);
        b.put_i32(self.leader_epoch);
        put_str(&mut b, &self.metadata);
        b.put_i64(self.commit_timestamp);
        b.freeze()
    }

    /// Decodes value versions 0 to 3 (v1 also carries an expiry timestamp, ignored here);
    /// `None` for other versions (v4 is a flexible version with another string layout).
    pub fn decode(mut b: Bytes) -> Option<Self> {
        if b.remaining() < 2 {
            return None;
        }
        let version = b.get_i16();
        if !(0..=3).contains(&version) {
            return None;
        }
        if b.remaining() < 8 {
            return None;
        }
        let offset = b.get_i64();
        let leader_epoch = if version >= 3 {
            if b.remaining() < 4 {
                return None;
            }
            b.get_i32()
        } else {
            -1
        };
        let metadata = get_str(&mut b)?;
        if b.remaining() < 8 {
            return None;
        }
        Some(Self {
            offset,
            leader_epoch,
            metadata,
            commit_timestamp: b.get_i64(),
        })
    }
}

/// Java's `String.hashCode`, which Kafka uses to pick a group's offsets partition.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The `__consumer_offsets` partition that holds `group`'s commits.
pub fn partition_for(group: &str, partitions: i32) -> i32 {
    // Kafka: Utils.abs(groupId.hashCode) % groupMetadataTopicPartitionCount
    let h = java_string_hash(group);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_value_round_trip() {
        let k = OffsetKey {
            group: "connect-sink".into(),
            topic: "orders".into(),
            partition: 7,
        };
        assert_eq!(OffsetKey::decode(k.encode()), Some(k));
        let v = CommittedOffset {
            offset: 42,
            leader_epoch: -1,
            metadata: "m".into(),
            commit_timestamp: 1_700_000_000_000,
        };
        assert_eq!(CommittedOffset::decode(v.encode()), Some(v));
    }

    #[test]
    fn group_partition_matches_kafka() {
        // "hello".hashCode() == 99162322 in Java.
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(partition_for("hello", 50), 99_162_322 % 50);
    }
}
