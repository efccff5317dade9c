//! Idempotent producers: per partition, the last batches of each producer id, so a retried
//! batch is answered with its original offsets instead of being appended twice, and a batch
//! out of sequence is refused the way Kafka refuses it.
//!
//! The state is saved next to the recovery point (`producer-state`, JSON, written atomically
//! at each checkpoint) and, on open, brought up to date from the batches that recovery
//! re-verified after the checkpoint.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::batch::BatchHeader;
use crate::io;

const FILE: &str = "producer-state";
/// Kafka keeps the last five batches per producer (max.in.flight.requests.per.connection).
const CACHED_BATCHES: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct CachedBatch {
    first_seq: i32,
    last_seq: i32,
    base_offset: i64,
    last_offset: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    epoch: i16,
    batches: VecDeque<CachedBatch>,
}

/// What to do with a producer's batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    Append,
    /// A retry of a batch already in the log, at these offsets.
    Duplicate {
        base_offset: i64,
        last_offset: i64,
    },
}

/// Why a batch is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceError {
    OutOfOrder {
        expected: i32,
        got: i32,
    },
    /// The batch's epoch is older than the producer's current one: a zombie producer.
    Fenced {
        current: i16,
        got: i16,
    },
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerStates {
    /// The log end when this state was saved: batches from here on are replayed on open.
    offset: i64,
    producers: HashMap<i64, Entry>,
    #[serde(skip)]
    dirty: bool,
}

fn last_seq(h: &BatchHeader) -> i32 {
    // Sequences wrap from i32::MAX to 0, as in Kafka.
    ((i64::from(h.base_sequence) + i64::from(h.last_offset_delta)) % (i64::from(i32::MAX) + 1))
        as i32
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX { 0 } else { seq + 1 }
}

impl ProducerStates {
    /// Checks a batch before it is appended.
    pub fn check(&self, h: &BatchHeader) -> Result<SequenceCheck, SequenceError> {
        if h.producer_id < 0 || h.base_sequence < 0 {
            return Ok(SequenceCheck::Append);
        }
        let Some(entry) = self.producers.get(&h.producer_id) else {
            // Unknown producer (new, or its state expired): accept, as Kafka does since
            // KIP-360.
            return Ok(SequenceCheck::Append);
        };
        if h.producer_epoch < entry.epoch {
            return Err(SequenceError::Fenced {
                current: entry.epoch,
                got: h.producer_epoch,
            });
        }
        if h.producer_epoch > entry.epoch {
            return if h.base_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(SequenceError::OutOfOrder {
                    expected: 0,
                    got: h.base_sequence,
                })
            };
        }
        let last = last_seq(h);
        if let Some(b) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == last)
        {
            return Ok(SequenceCheck::Duplicate {
                base_offset: b.base_offset,
                last_offset: b.last_offset,
            });
        }
        let expected = entry.batches.back().map_or(0, |b| next_seq(b.last_seq));
        if h.base_sequence == expected {
            Ok(SequenceCheck::Append)
        } else {
            Err(SequenceError::OutOfOrder {
                expected,
                got: h.base_sequence,
            })
        }
    }

    /// Records an appended batch (its base offset already assigned). Batches before the
    /// saved state's offset are already in it and are ignored (recovery replays some).
    pub fn record(&mut self, h: &BatchHeader) {
        if h.producer_id < 0 || h.base_sequence < 0 || h.base_offset < self.offset {
            return;
        }
        let entry = self.producers.entry(h.producer_id).or_insert(Entry {
            epoch: h.producer_epoch,
            batches: VecDeque::new(),
        });
        if h.producer_epoch != entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == CACHED_BATCHES {
            entry.batches.pop_front();
        }
        entry.batches.push_back(CachedBatch {
            first_seq: h.base_sequence,
            last_seq: last_seq(h),
            base_offset: h.base_offset,
            last_offset: h.last_offset(),
        });
        self.dirty = true;
    }

    /// Loads the saved state of a partition (empty when none or unreadable).
    pub fn load(dir: &Path) -> Self {
        std::fs::read(dir.join(FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Saves the state, as of log end `offset`, if it changed since the last save.
    pub fn save(&mut self, dir: &Path, offset: i64) -> std::io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        self.offset = offset;
        let bytes = serde_json::to_vec(&*self).map_err(std::io::Error::other)?;
        io::write_atomic(&dir.join(FILE), &bytes)?;
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, count: i32, base: i64) -> BatchHeader {
        BatchHeader {
            base_offset: base,
            batch_length: 100,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: count,
        }
    }

    #[test]
    fn retries_are_duplicates_and_gaps_are_refused() {
        let mut s = ProducerStates::default();
        let a = header(7, 0, 0, 3, 10);
        assert_eq!(s.check(&a), Ok(SequenceCheck::Append));
        s.record(&a);
        assert_eq!(
            s.check(&header(7, 0, 0, 3, 0)),
            Ok(SequenceCheck::Duplicate {
                base_offset: 10,
                last_offset: 12
            })
        );
        assert_eq!(
            s.check(&header(7, 0, 5, 1, 0)),
            Err(SequenceError::OutOfOrder {
                expected: 3,
                got: 5
            })
        );
        assert_eq!(s.check(&header(7, 0, 3, 1, 0)), Ok(SequenceCheck::Append));
        s.record(&header(7, 2, 0, 1, 20));
        assert_eq!(
            s.check(&header(7, 1, 1, 1, 0)),
            Err(SequenceError::Fenced { current: 2, got: 1 })
        );
        assert_eq!(
            s.check(&header(7, 3, 4, 1, 0)),
            Err(SequenceError::OutOfOrder {
                expected: 0,
                got: 4
            })
        );
    }

    #[test]
    fn sequences_wrap() {
        let mut s = ProducerStates::default();
        s.record(&header(1, 0, i32::MAX - 1, 2, 0));
        assert_eq!(s.check(&header(1, 0, 0, 1, 0)), Ok(SequenceCheck::Append));
    }
}
