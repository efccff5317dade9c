//! Replay of a committed streamed transaction: Begin, its changes (spilled part first, read
//! record by record, then the in-memory part), Commit.

use std::collections::{HashSet, VecDeque};

use super::assembler::{AssemblyError, Event};
use super::decode::decode;
use super::message::StreamCommit;
use super::spill::{Entry, SpillReader};

/// Where a replay stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Begin,
    Body,
    Done,
}

/// A committed streamed transaction waiting to be handed out event by event.
pub(super) struct Replay {
    commit: StreamCommit,
    phase: Phase,
    file: Option<SpillReader>,
    mem: VecDeque<Entry>,
    dropped: HashSet<u32>,
}

/// Memory and disk released by a replay step, for the assembler's counters.
#[derive(Debug, Default)]
pub(super) struct Released {
    pub(super) memory: usize,
    pub(super) disk: u64,
}

impl Replay {
    pub(super) fn new(
        commit: StreamCommit,
        file: Option<SpillReader>,
        mem: VecDeque<Entry>,
        dropped: HashSet<u32>,
    ) -> Self {
        Replay {
            commit,
            phase: Phase::Begin,
            file,
            mem,
            dropped,
        }
    }

    /// The next event, or `None` once the Commit has been handed out.
    pub(super) fn next(&mut self, released: &mut Released) -> Result<Option<Event>, AssemblyError> {
        let c = self.commit;
        match self.phase {
            Phase::Begin => {
                self.phase = Phase::Body;
                return Ok(Some(Event::Begin {
                    xid: c.xid,
                    final_lsn: c.commit_lsn,
                    commit_ts: c.commit_ts,
                    streamed: true,
                }));
            }
            Phase::Done => return Ok(None),
            Phase::Body => {}
        }
        while let Some(entry) = self.next_entry(released)? {
            if self.dropped.contains(&entry.subxid) {
                continue;
            }
            let message = decode(&entry.data, true).map_err(|source| AssemblyError::Decode {
                lsn: entry.wal_start,
                source,
            })?;
            return Ok(Some(Event::Change {
                lsn: entry.wal_start,
                message,
            }));
        }
        self.phase = Phase::Done;
        Ok(Some(Event::Commit {
            xid: c.xid,
            commit_lsn: c.commit_lsn,
            end_lsn: c.end_lsn,
            commit_ts: c.commit_ts,
        }))
    }

    /// The next buffered entry: from the spill file while it has records, then from memory.
    fn next_entry(&mut self, released: &mut Released) -> Result<Option<Entry>, AssemblyError> {
        if let Some(file) = &mut self.file {
            match file.next_entry() {
                Ok(Some(entry)) => return Ok(Some(entry)),
                Ok(None) => {
                    released.disk += file.bytes();
                    self.file = None;
                }
                Err(source) => {
                    return Err(AssemblyError::SpillRead {
                        xid: self.commit.xid,
                        source,
                    });
                }
            }
        }
        let entry = self.mem.pop_front();
        if let Some(e) = &entry {
            released.memory += e.cost();
        }
        Ok(entry)
    }
}
