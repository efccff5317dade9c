//! Topic names and the persisted topic metadata (`meta/topics.json`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io;

/// Kafka's limit on topic name length.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// Checks a topic name the way Kafka does: 1-249 characters of `[a-zA-Z0-9._-]`, not `.`
/// or `..`.
pub fn validate_topic_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("the name is empty".to_string())
    } else if name == "." || name == ".." {
        Some("'.' and '..' are not allowed".to_string())
    } else if name.len() > MAX_TOPIC_NAME_LEN {
        Some(format!(
            "the name is {} characters long; the maximum is {MAX_TOPIC_NAME_LEN}",
            name.len()
        ))
    } else {
        name.chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
            .map(|c| {
                format!("{c:?} is not allowed; use only ASCII letters, digits, '.', '_' and '-'")
            })
    };
    match reason {
        Some(reason) => Err(Error::InvalidTopicName {
            name: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// What is persisted about a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMeta {
    pub partitions: i32,
    /// Per-topic overrides, as given (effective values come from defaults + these).
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
    /// Kafka topic id (UUID), hex.
    pub topic_id: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct MetaFile {
    version: u32,
    topics: BTreeMap<String, TopicMeta>,
}

/// Reads and atomically rewrites the topic metadata file.
pub struct MetaStore {
    path: PathBuf,
}

impl MetaStore {
    pub fn new(data_dir: &Path) -> Result<Self> {
        let dir = data_dir.join("meta");
        if !dir.exists() {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            io::sync_dir(data_dir).map_err(|e| Error::io(data_dir, e))?;
        }
        Ok(Self {
            path: dir.join("topics.json"),
        })
    }

    pub fn load(&self) -> Result<BTreeMap<String, TopicMeta>> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        let file: MetaFile =
            serde_json::from_slice(&bytes).map_err(|e| Error::CorruptMetadata {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
        if file.version != 1 {
            return Err(Error::CorruptMetadata {
                path: self.path.clone(),
                reason: format!("unsupported metadata version {}", file.version),
            });
        }
        Ok(file.topics)
    }

    pub fn save(&self, topics: &BTreeMap<String, TopicMeta>) -> Result<()> {
        let file = MetaFile {
            version: 1,
            topics: topics.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| Error::CorruptMetadata {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        io::write_atomic(&self.path, &bytes).map_err(|e| Error::io(&self.path, e))
    }
}

/// A fresh random-looking topic id (UUID v4 layout) without an RNG dependency.
pub fn new_topic_id(name: &str) -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut bytes = [0u8; 16];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        let mut h = RandomState::new().build_hasher();
        h.write(name.as_bytes());
        h.write_usize(i);
        if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            h.write_u128(d.as_nanos());
        }
        chunk.copy_from_slice(&h.finish().to_be_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_name_rules() {
        for ok in ["a", "orders.v1", "A_b-c", &"x".repeat(249)] {
            validate_topic_name(ok).expect(ok);
        }
        for bad in ["", ".", "..", "a/b", "a b", "ü", &"x".repeat(250), "../etc"] {
            let err = validate_topic_name(bad).expect_err(bad).to_string();
            assert!(err.starts_with("invalid topic name"), "{err}");
        }
    }

    #[test]
    fn topic_ids_differ() {
        assert_ne!(new_topic_id("a"), new_topic_id("a"));
        assert_eq!(new_topic_id("a").len(), 32);
    }
}
