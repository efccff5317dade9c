//! Decoding of one pgoutput message from the bytes of an XLogData frame.
//!
//! Every read is bounds-checked: malformed or truncated input gives a [`DecodeError`] that
//! names the message type and the byte offset, never a panic. Counts read from the wire
//! never size an allocation beyond what the remaining bytes can hold.

use bytes::Bytes;
use thiserror::Error;

use super::message::{
    Begin, Commit, Delete, Insert, LogicalMessage, Message, OldTuple, Origin, RelColumn, Relation,
    ReplicaIdentity, StreamCommit, Truncate, TupleValue, TypeMsg, Update,
};

/// Why a pgoutput message could not be decoded. Offsets count from the message's tag byte.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The XLogData payload was empty.
    #[error("pgoutput message is empty: an XLogData frame must carry one message")]
    Empty,
    /// The tag byte is not a pgoutput message type.
    #[error("unknown pgoutput message type 0x{tag:02x} at byte 0")]
    UnknownType {
        /// The tag byte.
        tag: u8,
    },
    /// A two-phase commit message (protocol v3 with `two_phase`), which weir does not request.
    #[error(
        "pgoutput {message} message received at byte 0, but two-phase decoding is not enabled: \
         create the slot without TWO_PHASE and do not pass the two_phase option"
    )]
    TwoPhase {
        /// The message type's name.
        message: &'static str,
    },
    /// The message ended before a field.
    #[error(
        "pgoutput {message} message is truncated at byte {offset}: {field} needs {needed} bytes, \
         {available} left"
    )]
    Truncated {
        /// The message type's name.
        message: &'static str,
        /// Offset of the field.
        offset: usize,
        /// The field being read.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the message.
        available: usize,
    },
    /// A field holds a value the protocol does not allow.
    #[error("pgoutput {message} message is malformed at byte {offset}: {reason}")]
    Malformed {
        /// The message type's name.
        message: &'static str,
        /// Offset of the field.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Decodes one pgoutput message. `in_stream_block` says whether it was received between a
/// Stream Start and a Stream Stop: there, change messages start with a (sub)transaction id.
pub fn decode(data: &Bytes, in_stream_block: bool) -> Result<Message, DecodeError> {
    let Some(&tag) = data.first() else {
        return Err(DecodeError::Empty);
    };
    let message = message_name(tag).ok_or(DecodeError::UnknownType { tag })?;
    if matches!(tag, b'b' | b'P' | b'K' | b'r' | b'p') {
        return Err(DecodeError::TwoPhase { message });
    }
    let mut r = Reader {
        data,
        pos: 1,
        message,
    };
    // Inside a stream block, change messages start with their (sub)transaction id.
    let xid = if in_stream_block && matches!(tag, b'R' | b'Y' | b'I' | b'U' | b'D' | b'T' | b'M') {
        Some(r.u32("xid")?)
    } else {
        None
    };
    let msg = match tag {
        b'B' => Message::Begin(Begin {
            final_lsn: r.u64("final_lsn")?,
            commit_ts: r.i64("commit_ts")?,
            xid: r.u32("xid")?,
        }),
        b'C' => Message::Commit(Commit {
            flags: r.u8("flags")?,
            commit_lsn: r.u64("commit_lsn")?,
            end_lsn: r.u64("end_lsn")?,
            commit_ts: r.i64("commit_ts")?,
        }),
        b'O' => Message::Origin(Origin {
            commit_lsn: r.u64("origin commit_lsn")?,
            name: r.string("origin name")?,
        }),
        b'R' => Message::Relation(relation(&mut r, xid)?),
        b'Y' => Message::Type(TypeMsg {
            xid,
            oid: r.u32("type oid")?,
            namespace: r.string("type namespace")?,
            name: r.string("type name")?,
        }),
        b'I' => {
            let rel = r.u32("relation oid")?;
            r.expect_marker(b"N", "new tuple marker")?;
            Message::Insert(Insert {
                xid,
                rel,
                new: r.tuple()?,
            })
        }
        b'U' => Message::Update(update(&mut r, xid)?),
        b'D' => {
            let rel = r.u32("relation oid")?;
            let old = match r.expect_marker(b"KO", "old tuple marker")? {
                b'K' => OldTuple::Key(r.tuple()?),
                _ => OldTuple::Full(r.tuple()?),
            };
            Message::Delete(Delete { xid, rel, old })
        }
        b'T' => Message::Truncate(truncate(&mut r, xid)?),
        b'M' => Message::Message(logical_message(&mut r, xid)?),
        b'S' => Message::StreamStart {
            xid: r.u32("xid")?,
            first_segment: match r.u8("first_segment")? {
                0 => false,
                1 => true,
                other => {
                    return Err(
                        r.malformed_at(r.pos - 1, format!("first_segment is {other}, not 0 or 1"))
                    );
                }
            },
        },
        b'E' => Message::StreamStop,
        b'c' => {
            let xid = r.u32("xid")?;
            let _flags = r.u8("flags")?;
            Message::StreamCommit(StreamCommit {
                xid,
                commit_lsn: r.u64("commit_lsn")?,
                end_lsn: r.u64("end_lsn")?,
                commit_ts: r.i64("commit_ts")?,
            })
        }
        b'A' => {
            let xid = r.u32("xid")?;
            let subxid = r.u32("subxid")?;
            // Protocol v4 with `streaming 'parallel'` adds abort_lsn and abort_ts.
            if r.remaining() > 0 {
                let _abort_lsn = r.u64("abort_lsn")?;
                let _abort_ts = r.i64("abort_ts")?;
            }
            Message::StreamAbort { xid, subxid }
        }
        _ => return Err(DecodeError::UnknownType { tag }),
    };
    if r.remaining() > 0 {
        return Err(r.malformed_at(
            r.pos,
            format!("{} unexpected bytes after the message", r.remaining()),
        ));
    }
    Ok(msg)
}

/// The protocol name of a message tag, or None when the tag is unknown.
fn message_name(tag: u8) -> Option<&'static str> {
    Some(match tag {
        b'B' => "Begin",
        b'C' => "Commit",
        b'O' => "Origin",
        b'R' => "Relation",
        b'Y' => "Type",
        b'I' => "Insert",
        b'U' => "Update",
        b'D' => "Delete",
        b'T' => "Truncate",
        b'M' => "Message",
        b'S' => "Stream Start",
        b'E' => "Stream Stop",
        b'c' => "Stream Commit",
        b'A' => "Stream Abort",
        b'b' => "Begin Prepare",
        b'P' => "Prepare",
        b'K' => "Commit Prepared",
        b'r' => "Rollback Prepared",
        b'p' => "Stream Prepare",
        _ => return None,
    })
}

fn relation(r: &mut Reader<'_>, xid: Option<u32>) -> Result<Relation, DecodeError> {
    let oid = r.u32("relation oid")?;
    let namespace = r.string("relation namespace")?;
    let name = r.string("relation name")?;
    let replica_identity = match r.u8("replica identity")? {
        b'd' => ReplicaIdentity::Default,
        b'n' => ReplicaIdentity::Nothing,
        b'f' => ReplicaIdentity::Full,
        b'i' => ReplicaIdentity::Index,
        other => {
            return Err(r.malformed_at(
                r.pos - 1,
                format!("replica identity 0x{other:02x} is not one of d, n, f, i"),
            ));
        }
    };
    let ncols = usize::from(r.u16("column count")?);
    // Each column takes at least 10 bytes (flags, empty name, type oid, typmod).
    let mut columns = Vec::with_capacity(ncols.min(r.remaining() / 10));
    for _ in 0..ncols {
        columns.push(RelColumn {
            key: r.u8("column flags")? & 1 == 1,
            name: r.string("column name")?,
            type_oid: r.u32("column type oid")?,
            type_modifier: r.i32("column type modifier")?,
        });
    }
    Ok(Relation {
        xid,
        oid,
        namespace,
        name,
        replica_identity,
        columns,
    })
}

fn update(r: &mut Reader<'_>, xid: Option<u32>) -> Result<Update, DecodeError> {
    let rel = r.u32("relation oid")?;
    let (old, new) = match r.expect_marker(b"KON", "tuple marker")? {
        b'N' => (None, r.tuple()?),
        marker => {
            let values = r.tuple()?;
            let old = if marker == b'K' {
                OldTuple::Key(values)
            } else {
                OldTuple::Full(values)
            };
            r.expect_marker(b"N", "new tuple marker")?;
            (Some(old), r.tuple()?)
        }
    };
    Ok(Update { xid, rel, old, new })
}

fn truncate(r: &mut Reader<'_>, xid: Option<u32>) -> Result<Truncate, DecodeError> {
    let count_at = r.pos;
    let nrels = r.u32("relation count")?;
    let options = r.u8("options")?;
    let nrels = usize::try_from(nrels).unwrap_or(usize::MAX);
    if nrels > r.remaining() / 4 {
        return Err(r.malformed_at(
            count_at,
            format!(
                "relation count {nrels} needs {} bytes of oids, {} left",
                nrels.saturating_mul(4),
                r.remaining()
            ),
        ));
    }
    let mut rels = Vec::with_capacity(nrels);
    for _ in 0..nrels {
        rels.push(r.u32("relation oid")?);
    }
    Ok(Truncate {
        xid,
        cascade: options & 1 != 0,
        restart_identity: options & 2 != 0,
        rels,
    })
}

fn logical_message(r: &mut Reader<'_>, xid: Option<u32>) -> Result<LogicalMessage, DecodeError> {
    let flags = r.u8("flags")?;
    let lsn = r.u64("message lsn")?;
    let prefix = r.string("prefix")?;
    let content = r.counted_bytes("content")?;
    Ok(LogicalMessage {
        xid,
        transactional: flags & 1 != 0,
        lsn,
        prefix,
        content,
    })
}

/// A bounds-checked cursor over one message.
struct Reader<'a> {
    data: &'a Bytes,
    pos: usize,
    message: &'static str,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn malformed_at(&self, offset: usize, reason: String) -> DecodeError {
        DecodeError::Malformed {
            message: self.message,
            offset,
            reason,
        }
    }

    /// Takes `n` bytes, or fails naming `field`.
    fn take(&mut self, n: usize, field: &'static str) -> Result<&[u8], DecodeError> {
        let available = self.remaining();
        if n > available {
            return Err(DecodeError::Truncated {
                message: self.message,
                offset: self.pos,
                field,
                needed: n,
                available,
            });
        }
        let start = self.pos;
        self.pos += n;
        Ok(self.data.get(start..self.pos).unwrap_or_default())
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array(field)?))
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    fn i64(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array(field)?))
    }

    /// A NUL-terminated UTF-8 string.
    fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let start = self.pos;
        let rest = self.data.get(start..).unwrap_or_default();
        let Some(nul) = rest.iter().position(|&b| b == 0) else {
            return Err(self.malformed_at(start, format!("{field} has no terminating NUL byte")));
        };
        let text = std::str::from_utf8(&rest[..nul])
            .map_err(|e| self.malformed_at(start, format!("{field} is not valid UTF-8 ({e})")))?
            .to_owned();
        self.pos = start + nul + 1;
        Ok(text)
    }

    /// `Int32 len, Byte[len]`, sliced from the frame without copying.
    fn counted_bytes(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        let len_at = self.pos;
        let len = self.i32(field)?;
        let len = usize::try_from(len)
            .map_err(|_| self.malformed_at(len_at, format!("{field} has negative length {len}")))?;
        let start = self.pos;
        self.take(len, field)?;
        Ok(self.data.slice(start..self.pos))
    }

    /// Reads a one-byte marker that must be one of `allowed`.
    fn expect_marker(&mut self, allowed: &[u8], field: &'static str) -> Result<u8, DecodeError> {
        let marker = self.u8(field)?;
        if allowed.contains(&marker) {
            return Ok(marker);
        }
        let expected: Vec<String> = allowed.iter().map(|&b| char::from(b).to_string()).collect();
        Err(self.malformed_at(
            self.pos - 1,
            format!(
                "{field} is 0x{marker:02x}, expected one of {}",
                expected.join(", ")
            ),
        ))
    }

    /// TupleData: `Int16 ncols`, then per column `n`, `u`, `t Int32 len bytes` or `b ...`.
    fn tuple(&mut self) -> Result<Vec<TupleValue>, DecodeError> {
        let ncols = usize::from(self.u16("tuple column count")?);
        // Each column takes at least its one kind byte.
        let mut values = Vec::with_capacity(ncols.min(self.remaining()));
        for _ in 0..ncols {
            let value = match self.expect_marker(b"nutb", "column value kind")? {
                b'n' => TupleValue::Null,
                b'u' => TupleValue::Unchanged,
                b't' => TupleValue::Text(self.counted_bytes("text column value")?),
                _ => TupleValue::Binary(self.counted_bytes("binary column value")?),
            };
            values.push(value);
        }
        Ok(values)
    }
}
