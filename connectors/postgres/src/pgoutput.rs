//! The pgoutput logical decoding protocol, versions 1 and 2.
//!
//! - [`decode`] parses one message from an XLogData payload: transactions (Begin, Commit,
//!   Origin), schema (Relation, Type), changes (Insert, Update, Delete, Truncate), logical
//!   decoding messages, and v2 streaming (Stream Start / Stop / Commit / Abort). Two-phase
//!   messages (v3 `two_phase`) are refused: weir does not request them.
//! - [`Assembler`] turns the message sequence into committed transactions in commit order:
//!   non-streamed transactions pass through; streamed in-progress transactions are buffered per
//!   top-level xid, spilled to disk beyond a memory bound, and replayed on Stream Commit.
//!
//! Layouts follow PostgreSQL's `src/backend/replication/logical/proto.c` (big-endian integers,
//! NUL-terminated strings).

mod assembler;
mod decode;
mod message;
mod replay;
mod spill;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests_assembler;
#[cfg(test)]
mod tests_decode;

pub use assembler::{Assembler, AssemblerConfig, AssemblyError, Event};
pub use decode::{DecodeError, decode};
pub use message::{
    Begin, Commit, Delete, Insert, LogicalMessage, Message, OldTuple, Origin, RelColumn, Relation,
    ReplicaIdentity, StreamCommit, Truncate, TupleValue, TypeMsg, Update,
};

/// A WAL position (Postgres `XLogRecPtr`).
pub type Lsn = u64;

/// Formats an LSN as Postgres does ("16/B374D848").
fn fmt_lsn(lsn: Lsn) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}
