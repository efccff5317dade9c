//! Turns the sequence of XLogData messages into committed transactions, in commit order.
//!
//! Non-streamed transactions (`B` … `C`) pass straight through, one event per message.
//! Streamed ones (protocol v2, `S` … `E` blocks interleaved between transactions) are buffered
//! per top-level xid as raw message bytes, spilled to temp files when the bytes held in memory
//! over all transactions pass the limit, replayed on Stream Commit and dropped on Stream Abort.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::path::PathBuf;

use bytes::Bytes;
use thiserror::Error;

use super::decode::{DecodeError, decode};
use super::message::{LogicalMessage, Message, StreamCommit};
use super::replay::{Released, Replay};
use super::spill::{Entry, SpillWriter};
use super::{Lsn, fmt_lsn};

/// Settings of an [`Assembler`].
#[derive(Debug, Clone)]
pub struct AssemblerConfig {
    /// Bytes of streamed-transaction messages held in memory over all transactions before the
    /// largest buffer is spilled to disk (each message counts its size plus a small overhead).
    pub memory_limit: usize,
    /// Directory of the spill files (created when first needed).
    pub spill_dir: PathBuf,
}

/// What the assembler hands out, in commit order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A transaction starts. `streamed` is true for a replayed streamed transaction, whose
    /// `final_lsn` is its Stream Commit's `commit_lsn`.
    Begin {
        /// Transaction id.
        xid: u32,
        /// LSN of the commit record.
        final_lsn: Lsn,
        /// Commit time, microseconds since 2000-01-01 00:00 UTC.
        commit_ts: i64,
        /// Whether the transaction was streamed while in progress.
        streamed: bool,
    },
    /// Relation, Type, Insert, Update, Delete, Truncate or a transactional Message, with the
    /// WAL position of its XLogData (wal_start; for replayed streamed changes, the original one).
    Change {
        /// The XLogData `wal_start` of the message.
        lsn: Lsn,
        /// The decoded message.
        message: Message,
    },
    /// The transaction committed; `end_lsn` is the position to confirm once it is durable.
    Commit {
        /// Transaction id.
        xid: u32,
        /// LSN of the commit record.
        commit_lsn: Lsn,
        /// LSN just past the commit record.
        end_lsn: Lsn,
        /// Commit time, microseconds since 2000-01-01 00:00 UTC.
        commit_ts: i64,
    },
    /// A non-transactional logical decoding message, handed out when it arrives (even inside a
    /// transaction or stream block, as Debezium does).
    NonTxMessage {
        /// The XLogData `wal_start` of the message.
        lsn: Lsn,
        /// The message.
        message: LogicalMessage,
    },
}

/// Why the message sequence could not be assembled. After an error the assembler's state is
/// not reliable: the caller restarts replication from the last confirmed LSN.
#[derive(Debug, Error)]
pub enum AssemblyError {
    /// A message could not be decoded.
    #[error("could not decode the pgoutput message at LSN {}", fmt_lsn(*.lsn))]
    Decode {
        /// XLogData position of the message.
        lsn: Lsn,
        /// What is wrong with it.
        #[source]
        source: DecodeError,
    },
    /// A message arrived where the protocol does not allow it.
    #[error("pgoutput messages out of order at LSN {}: {detail}", fmt_lsn(*.lsn))]
    Sequence {
        /// XLogData position of the offending message.
        lsn: Lsn,
        /// What was expected, naming the transaction ids involved.
        detail: String,
    },
    /// A spill file could not be created or written.
    #[error(
        "could not spill streamed transaction {xid} to a temp file in {}",
        .dir.display()
    )]
    SpillWrite {
        /// Top-level transaction id.
        xid: u32,
        /// The spill directory.
        dir: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A spill file could not be read back.
    #[error("could not read back the spill file of streamed transaction {xid}")]
    SpillRead {
        /// Top-level transaction id.
        xid: u32,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// An open non-streamed transaction.
#[derive(Debug, Clone, Copy)]
struct OpenTxn {
    xid: u32,
    begin_lsn: Lsn,
}

/// A streamed transaction still in progress.
struct StreamTxn {
    first_lsn: Lsn,
    mem: VecDeque<Entry>,
    mem_bytes: usize,
    spill: Option<SpillWriter>,
    /// Aborted subtransactions whose spilled entries are skipped at replay.
    dropped: HashSet<u32>,
}

/// Work waiting to be handed out by `next_event`.
enum Pending {
    Event(Event),
    Replay(Replay),
}

/// Turns the XLogData sequence into committed transactions, in commit order.
///
/// Call [`Assembler::push`] for each XLogData, then drain [`Assembler::next_event`] until it
/// returns `None`. Events not yet drained stay queued (one per pushed message, except a
/// replayed transaction, which is read incrementally from its buffers).
pub struct Assembler {
    config: AssemblerConfig,
    txn: Option<OpenTxn>,
    /// Top-level xid of the open stream block.
    block: Option<u32>,
    streams: HashMap<u32, StreamTxn>,
    pending: VecDeque<Pending>,
    buffered: usize,
    spilled: u64,
}

impl Assembler {
    /// An assembler with nothing in progress.
    pub fn new(config: AssemblerConfig) -> Self {
        Assembler {
            config,
            txn: None,
            block: None,
            streams: HashMap::new(),
            pending: VecDeque::new(),
            buffered: 0,
            spilled: 0,
        }
    }

    /// Bytes of streamed-transaction messages held in memory.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    /// Bytes in spill files not yet replayed or dropped.
    pub fn spilled_bytes(&self) -> u64 {
        self.spilled
    }

    /// True when no transaction is open, no streamed transaction is in progress and every
    /// event has been handed out (a keepalive's `wal_end` may then be confirmed).
    pub fn is_idle(&self) -> bool {
        self.txn.is_none()
            && self.block.is_none()
            && self.streams.is_empty()
            && self.pending.is_empty()
    }

    /// Takes one XLogData message (`wal_start` and its pgoutput payload).
    pub fn push(&mut self, wal_start: Lsn, data: Bytes) -> Result<(), AssemblyError> {
        let message =
            decode(&data, self.block.is_some()).map_err(|source| AssemblyError::Decode {
                lsn: wal_start,
                source,
            })?;
        let fail = |detail: String| AssemblyError::Sequence {
            lsn: wal_start,
            detail,
        };
        match message {
            Message::Begin(b) => {
                self.check_no_block(wal_start, "Begin", b.xid)?;
                if let Some(open) = self.txn {
                    return Err(fail(format!(
                        "Begin of transaction {} while transaction {} (begun at LSN {}) is \
                         still open",
                        b.xid,
                        open.xid,
                        fmt_lsn(open.begin_lsn)
                    )));
                }
                self.txn = Some(OpenTxn {
                    xid: b.xid,
                    begin_lsn: wal_start,
                });
                self.emit(Event::Begin {
                    xid: b.xid,
                    final_lsn: b.final_lsn,
                    commit_ts: b.commit_ts,
                    streamed: false,
                });
            }
            Message::Commit(c) => {
                let Some(open) = self.txn.take() else {
                    return Err(fail(format!(
                        "Commit (commit LSN {}) without a Begin",
                        fmt_lsn(c.commit_lsn)
                    )));
                };
                self.emit(Event::Commit {
                    xid: open.xid,
                    commit_lsn: c.commit_lsn,
                    end_lsn: c.end_lsn,
                    commit_ts: c.commit_ts,
                });
            }
            Message::Origin(o) => {
                tracing::trace!(origin = %o.name, lsn = %fmt_lsn(wal_start), "origin message skipped");
            }
            Message::StreamStart { xid, first_segment } => {
                self.stream_start(wal_start, xid, first_segment)?;
            }
            Message::StreamStop => {
                if self.block.take().is_none() {
                    return Err(fail("Stream Stop outside a stream block".to_owned()));
                }
            }
            Message::StreamCommit(c) => self.stream_commit(wal_start, c)?,
            Message::StreamAbort { xid, subxid } => self.stream_abort(wal_start, xid, subxid)?,
            Message::Message(m) if !m.transactional => {
                self.emit(Event::NonTxMessage {
                    lsn: wal_start,
                    message: m,
                });
            }
            change => self.change(wal_start, data, change)?,
        }
        Ok(())
    }

    /// The next event, or `None` when everything pushed so far has been handed out.
    pub fn next_event(&mut self) -> Result<Option<Event>, AssemblyError> {
        loop {
            let Some(front) = self.pending.front_mut() else {
                return Ok(None);
            };
            let event = match front {
                Pending::Event(_) => match self.pending.pop_front() {
                    Some(Pending::Event(e)) => Some(e),
                    _ => None,
                },
                Pending::Replay(replay) => {
                    let mut released = Released::default();
                    let next = replay.next(&mut released);
                    self.buffered = self.buffered.saturating_sub(released.memory);
                    self.spilled = self.spilled.saturating_sub(released.disk);
                    match next? {
                        Some(e) => Some(e),
                        None => {
                            self.pending.pop_front();
                            None
                        }
                    }
                }
            };
            if event.is_some() {
                return Ok(event);
            }
        }
    }

    fn emit(&mut self, event: Event) {
        self.pending.push_back(Pending::Event(event));
    }

    /// Fails when a stream block is open: `what` of `xid` is not allowed inside one.
    fn check_no_block(&self, lsn: Lsn, what: &str, xid: u32) -> Result<(), AssemblyError> {
        match self.block {
            Some(open) => Err(AssemblyError::Sequence {
                lsn,
                detail: format!(
                    "{what} of transaction {xid} inside the stream block of transaction {open}"
                ),
            }),
            None => Ok(()),
        }
    }

    /// Fails when a non-streamed transaction is open.
    fn check_no_txn(&self, lsn: Lsn, what: &str, xid: u32) -> Result<(), AssemblyError> {
        match self.txn {
            Some(open) => Err(AssemblyError::Sequence {
                lsn,
                detail: format!(
                    "{what} of transaction {xid} inside transaction {} (begun at LSN {})",
                    open.xid,
                    fmt_lsn(open.begin_lsn)
                ),
            }),
            None => Ok(()),
        }
    }

    fn stream_start(&mut self, lsn: Lsn, xid: u32, first: bool) -> Result<(), AssemblyError> {
        self.check_no_block(lsn, "Stream Start", xid)?;
        self.check_no_txn(lsn, "Stream Start", xid)?;
        let known = self.streams.get(&xid).map(|t| t.first_lsn);
        match (known, first) {
            (None, true) => {
                self.streams.insert(
                    xid,
                    StreamTxn {
                        first_lsn: lsn,
                        mem: VecDeque::new(),
                        mem_bytes: 0,
                        spill: None,
                        dropped: HashSet::new(),
                    },
                );
            }
            (Some(_), false) => {}
            (Some(first_lsn), true) => {
                return Err(AssemblyError::Sequence {
                    lsn,
                    detail: format!(
                        "second first segment of streamed transaction {xid} (first one at LSN {})",
                        fmt_lsn(first_lsn)
                    ),
                });
            }
            (None, false) => {
                return Err(AssemblyError::Sequence {
                    lsn,
                    detail: format!(
                        "Stream Start continues streamed transaction {xid}, whose first segment \
                         was not received"
                    ),
                });
            }
        }
        self.block = Some(xid);
        Ok(())
    }

    fn stream_commit(&mut self, lsn: Lsn, c: StreamCommit) -> Result<(), AssemblyError> {
        self.check_no_block(lsn, "Stream Commit", c.xid)?;
        self.check_no_txn(lsn, "Stream Commit", c.xid)?;
        let Some(txn) = self.streams.remove(&c.xid) else {
            return Err(AssemblyError::Sequence {
                lsn,
                detail: format!(
                    "Stream Commit of transaction {} (commit LSN {}), which was never streamed",
                    c.xid,
                    fmt_lsn(c.commit_lsn)
                ),
            });
        };
        let file = match txn.spill {
            Some(w) => Some(
                w.into_reader()
                    .map_err(|source| AssemblyError::SpillRead { xid: c.xid, source })?,
            ),
            None => None,
        };
        let replay = Replay::new(c, file, txn.mem, txn.dropped);
        self.pending.push_back(Pending::Replay(replay));
        Ok(())
    }

    fn stream_abort(&mut self, lsn: Lsn, xid: u32, subxid: u32) -> Result<(), AssemblyError> {
        self.check_no_block(lsn, "Stream Abort", xid)?;
        self.check_no_txn(lsn, "Stream Abort", xid)?;
        if xid == subxid {
            match self.streams.remove(&xid) {
                Some(txn) => {
                    self.buffered = self.buffered.saturating_sub(txn.mem_bytes);
                    let disk = txn.spill.as_ref().map_or(0, SpillWriter::bytes);
                    self.spilled = self.spilled.saturating_sub(disk);
                }
                None => tracing::debug!(xid, "stream abort of a transaction with nothing buffered"),
            }
            return Ok(());
        }
        let Some(txn) = self.streams.get_mut(&xid) else {
            tracing::debug!(
                xid,
                subxid,
                "stream abort of a subtransaction with nothing buffered"
            );
            return Ok(());
        };
        let before = txn.mem_bytes;
        txn.mem.retain(|e| e.subxid != subxid);
        txn.mem_bytes = txn.mem.iter().map(Entry::cost).sum();
        self.buffered = self.buffered.saturating_sub(before - txn.mem_bytes);
        if txn.spill.is_some() {
            txn.dropped.insert(subxid);
        }
        Ok(())
    }

    /// A change message: buffered in a stream block, passed through in a transaction.
    fn change(&mut self, lsn: Lsn, data: Bytes, message: Message) -> Result<(), AssemblyError> {
        if let Some(top) = self.block {
            let subxid = message_xid(&message).unwrap_or(top);
            let entry = Entry {
                wal_start: lsn,
                subxid,
                data,
            };
            let cost = entry.cost();
            if let Some(txn) = self.streams.get_mut(&top) {
                txn.mem.push_back(entry);
                txn.mem_bytes += cost;
                self.buffered += cost;
            }
            return self.spill_over_limit();
        }
        let schema = matches!(message, Message::Relation(_) | Message::Type(_));
        if self.txn.is_none() && !schema {
            return Err(AssemblyError::Sequence {
                lsn,
                detail: format!("{} message outside a transaction", message.kind()),
            });
        }
        self.emit(Event::Change { lsn, message });
        Ok(())
    }

    /// Spills the largest in-memory buffers until the memory held is within the limit.
    fn spill_over_limit(&mut self) -> Result<(), AssemblyError> {
        while self.buffered > self.config.memory_limit {
            let largest = self
                .streams
                .iter()
                .filter(|(_, t)| t.mem_bytes > 0)
                .max_by_key(|(_, t)| t.mem_bytes)
                .map(|(&xid, _)| xid);
            let Some(xid) = largest else {
                return Ok(());
            };
            let dir = &self.config.spill_dir;
            let Some(txn) = self.streams.get_mut(&xid) else {
                return Ok(());
            };
            let io_err = |source| AssemblyError::SpillWrite {
                xid,
                dir: dir.clone(),
                source,
            };
            let writer = match &mut txn.spill {
                Some(w) => w,
                None => txn.spill.insert(SpillWriter::create(dir).map_err(io_err)?),
            };
            let before = writer.bytes();
            for entry in &txn.mem {
                writer.append(entry).map_err(io_err)?;
            }
            self.spilled += writer.bytes() - before;
            self.buffered = self.buffered.saturating_sub(txn.mem_bytes);
            tracing::debug!(
                xid,
                bytes = txn.mem_bytes,
                spilled = self.spilled,
                "streamed transaction spilled to disk"
            );
            txn.mem.clear();
            txn.mem_bytes = 0;
        }
        Ok(())
    }
}

/// The (sub)transaction id carried by a change message inside a stream block.
fn message_xid(message: &Message) -> Option<u32> {
    match message {
        Message::Relation(m) => m.xid,
        Message::Type(m) => m.xid,
        Message::Insert(m) => m.xid,
        Message::Update(m) => m.xid,
        Message::Delete(m) => m.xid,
        Message::Truncate(m) => m.xid,
        Message::Message(m) => m.xid,
        _ => None,
    }
}
