//! The decoded pgoutput messages (protocol versions 1 and 2).
//!
//! Layouts are those of PostgreSQL's `proto.c`; see the field docs for the wire order. Column
//! values stay as the server sent them (text or binary bytes, sliced from the XLogData
//! buffer without copying); converting them by type is the schema module's job.

use bytes::Bytes;

use super::Lsn;

/// One pgoutput message, as carried by one XLogData frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// `B`: start of a non-streamed transaction.
    Begin(Begin),
    /// `C`: end of a non-streamed transaction.
    Commit(Commit),
    /// `O`: the replication origin of the current transaction.
    Origin(Origin),
    /// `R`: a relation's schema; sent before its first change in a session (or in each
    /// streamed transaction) and again after DDL.
    Relation(Relation),
    /// `Y`: a non-built-in type's name.
    Type(TypeMsg),
    /// `I`: a row inserted.
    Insert(Insert),
    /// `U`: a row updated.
    Update(Update),
    /// `D`: a row deleted.
    Delete(Delete),
    /// `T`: one or more tables truncated.
    Truncate(Truncate),
    /// `M`: a logical decoding message (`pg_logical_emit_message`).
    Message(LogicalMessage),
    /// `S` (v2): start of a block of changes of an in-progress transaction.
    StreamStart {
        /// Top-level transaction id of the block.
        xid: u32,
        /// True for the first block of this transaction.
        first_segment: bool,
    },
    /// `E` (v2): end of a stream block.
    StreamStop,
    /// `c` (v2): a streamed transaction committed.
    StreamCommit(StreamCommit),
    /// `A` (v2): a streamed transaction (`subxid == xid`) or one of its subtransactions
    /// aborted. The v4 `abort_lsn` / `abort_ts` fields are accepted and not kept.
    StreamAbort {
        /// Top-level transaction id.
        xid: u32,
        /// The aborted (sub)transaction; equal to `xid` for the whole transaction.
        subxid: u32,
    },
}

impl Message {
    /// The protocol's name of this message's type, as used in error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Begin(_) => "Begin",
            Message::Commit(_) => "Commit",
            Message::Origin(_) => "Origin",
            Message::Relation(_) => "Relation",
            Message::Type(_) => "Type",
            Message::Insert(_) => "Insert",
            Message::Update(_) => "Update",
            Message::Delete(_) => "Delete",
            Message::Truncate(_) => "Truncate",
            Message::Message(_) => "Message",
            Message::StreamStart { .. } => "Stream Start",
            Message::StreamStop => "Stream Stop",
            Message::StreamCommit(_) => "Stream Commit",
            Message::StreamAbort { .. } => "Stream Abort",
        }
    }
}

/// `B`: `Int64 final_lsn, Int64 commit_ts, Int32 xid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Begin {
    /// LSN of the transaction's commit record.
    pub final_lsn: Lsn,
    /// Commit time, microseconds since 2000-01-01 00:00 UTC.
    pub commit_ts: i64,
    /// Transaction id.
    pub xid: u32,
}

/// `C`: `Int8 flags, Int64 commit_lsn, Int64 end_lsn, Int64 commit_ts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commit {
    /// Flags (unused by the server, 0).
    pub flags: u8,
    /// LSN of the commit record.
    pub commit_lsn: Lsn,
    /// LSN just past the commit record: the position to confirm once the transaction is durable.
    pub end_lsn: Lsn,
    /// Commit time, microseconds since 2000-01-01 00:00 UTC.
    pub commit_ts: i64,
}

/// `O`: `Int64 commit_lsn, String name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Commit LSN on the origin server.
    pub commit_lsn: Lsn,
    /// Replication origin name.
    pub name: String,
}

/// A relation's replica identity (`pg_class.relreplident`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaIdentity {
    /// `d`: the primary key.
    Default,
    /// `n`: nothing.
    Nothing,
    /// `f`: all columns.
    Full,
    /// `i`: a chosen unique index.
    Index,
}

/// `R`: `xid?, Int32 oid, String namespace, String name, Int8 replident, Int16 ncols, columns`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// The (sub)transaction id; present only inside stream blocks.
    pub xid: Option<u32>,
    /// Relation oid, the key of later changes.
    pub oid: u32,
    /// Schema name; the server sends `""` for `pg_catalog`, kept as sent.
    pub namespace: String,
    /// Table name.
    pub name: String,
    /// Replica identity setting.
    pub replica_identity: ReplicaIdentity,
    /// Published columns, in tuple order.
    pub columns: Vec<RelColumn>,
}

/// One column of a [`Relation`]: `Int8 flags, String name, Int32 type_oid, Int32 typmod`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelColumn {
    /// Part of the replica identity key (flag bit 1).
    pub key: bool,
    /// Column name.
    pub name: String,
    /// Type oid.
    pub type_oid: u32,
    /// `atttypmod` (-1 when none).
    pub type_modifier: i32,
}

/// `Y`: `xid?, Int32 oid, String namespace, String name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeMsg {
    /// The (sub)transaction id; present only inside stream blocks.
    pub xid: Option<u32>,
    /// Type oid.
    pub oid: u32,
    /// Schema name of the type (`""` for `pg_catalog`).
    pub namespace: String,
    /// Type name.
    pub name: String,
}

/// One column value of a TupleData.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TupleValue {
    /// `n`: SQL NULL.
    Null,
    /// `u`: an unchanged TOASTed value that was not sent.
    Unchanged,
    /// `t`: the value in text format.
    Text(Bytes),
    /// `b`: the value in binary format (`binary 'true'`).
    Binary(Bytes),
}

/// `I`: `xid?, Int32 rel, 'N', TupleData`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insert {
    /// The (sub)transaction id; present only inside stream blocks.
    pub xid: Option<u32>,
    /// Relation oid.
    pub rel: u32,
    /// The new row.
    pub new: Vec<TupleValue>,
}

/// The old row of an Update or Delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OldTuple {
    /// `K`: only the replica identity columns; the other values are NULL.
    Key(Vec<TupleValue>),
    /// `O`: the full old row (REPLICA IDENTITY FULL).
    Full(Vec<TupleValue>),
}

/// `U`: `xid?, Int32 rel, ['K'|'O' TupleData]?, 'N' TupleData`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The (sub)transaction id; present only inside stream blocks.
    pub xid: Option<u32>,
    /// Relation oid.
    pub rel: u32,
    /// The old key (when a key column changed) or the full old row (REPLICA IDENTITY FULL).
    pub old: Option<OldTuple>,
    /// The new row.
    pub new: Vec<TupleValue>,
}

/// `D`: `xid?, Int32 rel, 'K'|'O' TupleData`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    /// The (sub)transaction id; present only inside stream blocks.
    pub xid: Option<u32>,
    /// Relation oid.
    pub rel: u32,
    /// The deleted row's key or full old row.
    pub old: OldTuple,
}

/// `T`: `xid?, Int32 nrels, Int8 options, Int32 rel × nrels`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncate {
    /// The (sub)transaction id; present only inside stream blocks.
    pub xid: Option<u32>,
    /// `TRUNCATE ... CASCADE` (option bit 1).
    pub cascade: bool,
    /// `TRUNCATE ... RESTART IDENTITY` (option bit 2).
    pub restart_identity: bool,
    /// Relation oids.
    pub rels: Vec<u32>,
}

/// `M`: `xid?, Int8 flags, Int64 lsn, String prefix, Int32 len, Byte[len] content`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalMessage {
    /// The (sub)transaction id; present only inside stream blocks.
    pub xid: Option<u32>,
    /// Emitted with `transactional = true` (flag bit 1): part of its transaction.
    pub transactional: bool,
    /// LSN of the message record.
    pub lsn: Lsn,
    /// The message's prefix.
    pub prefix: String,
    /// The message's content.
    pub content: Bytes,
}

/// `c` (v2): `Int32 xid, Int8 flags, Int64 commit_lsn, Int64 end_lsn, Int64 commit_ts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamCommit {
    /// Top-level transaction id.
    pub xid: u32,
    /// LSN of the commit record.
    pub commit_lsn: Lsn,
    /// LSN just past the commit record.
    pub end_lsn: Lsn,
    /// Commit time, microseconds since 2000-01-01 00:00 UTC.
    pub commit_ts: i64,
}
