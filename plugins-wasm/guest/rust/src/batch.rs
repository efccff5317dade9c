//! The record batch framing of ABI v1 (`plugins-wasm/ABI.md`): a bounds-checked reader over
//! a byte slice and a writer into a `Vec<u8>`.
//!
//! ```text
//! batch  := u32 magic ("WRB1") | u32 count | record*
//! record := u32 index | u8 op | u8 flags | u16 n_headers | i64 timestamp_ms
//!           | u32 topic_len | topic | u32 key_len | key | u32 value_len | value
//!           | n_headers x (u16 name_len | name | u32 value_len | value)
//! ```
//! Flags: bit 0 key null, bit 1 value null, bit 2 no timestamp, bits 3-4 the key's
//! [`Encoding`], bits 5-6 the value's. A null part has length `0xFFFF_FFFF` and no bytes.

use alloc::vec::Vec;

/// `"WRB1"` read as a little-endian u32.
pub const MAGIC: u32 = u32::from_le_bytes(*b"WRB1");
/// Flag bit: the key is null.
pub const KEY_NULL: u8 = 0x01;
/// Flag bit: the value is null.
pub const VALUE_NULL: u8 = 0x02;
/// Flag bit: the record has no timestamp.
pub const NO_TIMESTAMP: u8 = 0x04;
/// Shift of the key's encoding in the flags (2 bits).
pub const KEY_ENCODING_SHIFT: u8 = 3;
/// Shift of the value's encoding in the flags (2 bits).
pub const VALUE_ENCODING_SHIFT: u8 = 5;
/// The length that marks a null part.
pub const NULL_LEN: u32 = u32::MAX;

/// How a key's or value's bytes are to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Encoding {
    /// Raw bytes (a Connect bytes value).
    #[default]
    Bytes = 0,
    /// UTF-8 text (a Connect string).
    String = 1,
    /// Schemaless JSON (structs, maps, arrays, numbers, booleans).
    Json = 2,
    /// The value 3, which ABI v1 does not define.
    Reserved = 3,
}

impl Encoding {
    /// The encoding held in the two low bits of `bits`.
    pub fn from_bits(bits: u8) -> Encoding {
        match bits & 3 {
            0 => Encoding::Bytes,
            1 => Encoding::String,
            2 => Encoding::Json,
            _ => Encoding::Reserved,
        }
    }
}

/// Why a batch could not be read: what, and at which byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameError {
    /// Byte offset in the batch.
    pub at: usize,
    /// What was wrong.
    pub what: &'static str,
}

/// Why a record or header could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteError {
    /// What was wrong.
    pub what: &'static str,
}

fn err<T>(at: usize, what: &'static str) -> Result<T, FrameError> {
    Err(FrameError { at, what })
}

/// A bounds-checked cursor.
struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], FrameError> {
        match self.at.checked_add(n).filter(|end| *end <= self.buf.len()) {
            Some(end) => {
                let s = &self.buf[self.at..end];
                self.at = end;
                Ok(s)
            }
            None => err(self.at, what),
        }
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, FrameError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, FrameError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn part(&mut self, what: &'static str) -> Result<Option<&'a [u8]>, FrameError> {
        let at = self.at;
        let n = self.u32(what)?;
        if n == NULL_LEN {
            return Ok(None);
        }
        let n = usize::try_from(n).map_err(|_| FrameError { at, what })?;
        self.take(n, what)
            .map(Some)
            .map_err(|_| FrameError { at, what })
    }
}

/// A batch to read: its header was checked by [`Batch::parse`]; records are checked as they
/// are read.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    buf: &'a [u8],
    count: u32,
}

impl<'a> Batch<'a> {
    /// Checks the batch header (magic and count).
    pub fn parse(buf: &'a [u8]) -> Result<Batch<'a>, FrameError> {
        let mut c = Cursor { buf, at: 0 };
        if c.u32("the batch is shorter than its header")? != MAGIC {
            return err(0, "the batch does not start with \"WRB1\"");
        }
        let count = c.u32("the batch is shorter than its header")?;
        Ok(Batch { buf, count })
    }

    /// The number of records the batch claims.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The records in order. The iterator yields an error (and then stops) at the first
    /// malformed record, or when bytes follow the last record.
    pub fn records(&self) -> Records<'a> {
        Records {
            cursor: Cursor {
                buf: self.buf,
                at: 8,
            },
            left: self.count,
            done: false,
        }
    }
}

/// Iterator over the records of a [`Batch`].
pub struct Records<'a> {
    cursor: Cursor<'a>,
    left: u32,
    done: bool,
}

impl<'a> Records<'a> {
    fn read(&mut self) -> Result<Record<'a>, FrameError> {
        let c = &mut self.cursor;
        let start = c.at;
        let head = c.take(16, "a record header is cut off")?;
        let index = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let (op, flags) = (head[4], head[5]);
        let n_headers = u16::from_le_bytes([head[6], head[7]]);
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&head[8..16]);
        let ts = i64::from_le_bytes(ts);
        let topic_at = c.at;
        let topic = match c.part("a topic is cut off")? {
            Some(t) => t,
            None => return err(topic_at, "a topic is null"),
        };
        let key = c.part("a key is cut off")?;
        let value = c.part("a value is cut off")?;
        if key.is_none() != (flags & KEY_NULL != 0) || value.is_none() != (flags & VALUE_NULL != 0)
        {
            return err(
                start,
                "the null flags disagree with the key or value lengths",
            );
        }
        let headers_at = c.at;
        for _ in 0..n_headers {
            let n = c.u16("a header name is cut off")?;
            c.take(usize::from(n), "a header name is cut off")?;
            c.part("a header value is cut off")?;
        }
        Ok(Record {
            index,
            op,
            flags,
            timestamp: (flags & NO_TIMESTAMP == 0).then_some(ts),
            topic,
            key,
            value,
            n_headers,
            headers_raw: &c.buf[headers_at..c.at],
            raw: &c.buf[start..c.at],
        })
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.left == 0 {
            self.done = true;
            if self.cursor.at != self.cursor.buf.len() {
                return Some(err(self.cursor.at, "bytes after the last record"));
            }
            return None;
        }
        let r = self.read();
        match r {
            Ok(_) => self.left -= 1,
            Err(_) => self.done = true,
        }
        Some(r)
    }
}

/// One record of a batch, borrowing from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Position in the input batch (on output: the input record it came from).
    pub index: u32,
    /// Debezium's op (`c`, `u`, `d`, `r`, `t`) or 0. Informational.
    pub op: u8,
    /// The raw flags (null bits, no-timestamp bit, encodings).
    pub flags: u8,
    /// Milliseconds since the epoch, `None` when absent.
    pub timestamp: Option<i64>,
    /// The topic (UTF-8).
    pub topic: &'a [u8],
    /// The key, `None` when null.
    pub key: Option<&'a [u8]>,
    /// The value, `None` when null.
    pub value: Option<&'a [u8]>,
    n_headers: u16,
    headers_raw: &'a [u8],
    raw: &'a [u8],
}

impl<'a> Record<'a> {
    /// The key's encoding (flag bits 3-4).
    pub fn key_encoding(&self) -> Encoding {
        Encoding::from_bits(self.flags >> KEY_ENCODING_SHIFT)
    }
    /// The value's encoding (flag bits 5-6).
    pub fn value_encoding(&self) -> Encoding {
        Encoding::from_bits(self.flags >> VALUE_ENCODING_SHIFT)
    }
    /// The topic as text (`None` if it is not UTF-8).
    pub fn topic_str(&self) -> Option<&'a str> {
        core::str::from_utf8(self.topic).ok()
    }
    /// The number of headers.
    pub fn header_count(&self) -> u16 {
        self.n_headers
    }
    /// The headers in order.
    pub fn headers(&self) -> Headers<'a> {
        Headers {
            buf: self.headers_raw,
            left: self.n_headers,
        }
    }
    /// The value of the first header named `name`: `None` when absent, `Some(None)` when
    /// present with a null value.
    pub fn header(&self, name: &[u8]) -> Option<Option<&'a [u8]>> {
        self.headers().find(|h| h.name == name).map(|h| h.value)
    }
    /// The whole framed record (for copying it unchanged, see [`Writer::copy`]).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }
    /// An output record equal to this one (same index, op, timestamp, topic, key, value,
    /// encodings and headers); change its fields before [`Writer::push`].
    pub fn to_out(&self) -> OutRecord<'a> {
        OutRecord {
            index: self.index,
            op: self.op,
            timestamp: self.timestamp,
            topic: self.topic,
            key: self.key,
            key_encoding: self.key_encoding(),
            value: self.value,
            value_encoding: self.value_encoding(),
            inherited: (self.n_headers, self.headers_raw),
        }
    }
}

/// One header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// The name (UTF-8).
    pub name: &'a [u8],
    /// The value, `None` when null.
    pub value: Option<&'a [u8]>,
}

/// Iterator over a record's headers (already checked when the record was read).
#[derive(Clone, Debug)]
pub struct Headers<'a> {
    buf: &'a [u8],
    left: u16,
}

impl<'a> Iterator for Headers<'a> {
    type Item = Header<'a>;

    fn next(&mut self) -> Option<Header<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let mut c = Cursor {
            buf: self.buf,
            at: 0,
        };
        let n = c.u16("").ok()?;
        let name = c.take(usize::from(n), "").ok()?;
        let value = c.part("").ok()?;
        self.buf = &self.buf[c.at..];
        Some(Header { name, value })
    }
}

/// A record to write. Build one with [`OutRecord::new`] or [`Record::to_out`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutRecord<'a> {
    /// The index of the input record this one comes from (sources: 0, 1, 2, ...).
    pub index: u32,
    /// Debezium op or 0 (the host ignores it on output).
    pub op: u8,
    /// Milliseconds since the epoch, `None` for none.
    pub timestamp: Option<i64>,
    /// The topic.
    pub topic: &'a [u8],
    /// The key, `None` for null.
    pub key: Option<&'a [u8]>,
    /// How the host reads the key.
    pub key_encoding: Encoding,
    /// The value, `None` for null.
    pub value: Option<&'a [u8]>,
    /// How the host reads the value.
    pub value_encoding: Encoding,
    inherited: (u16, &'a [u8]),
}

impl<'a> OutRecord<'a> {
    /// A record for `topic` with null key and value (encoding bytes), no timestamp and no
    /// headers.
    pub fn new(index: u32, topic: &'a [u8]) -> OutRecord<'a> {
        OutRecord {
            index,
            op: 0,
            timestamp: None,
            topic,
            key: None,
            key_encoding: Encoding::Bytes,
            value: None,
            value_encoding: Encoding::Bytes,
            inherited: (0, &[]),
        }
    }
    /// The same record without the headers it took over from an input record.
    pub fn without_headers(mut self) -> OutRecord<'a> {
        self.inherited = (0, &[]);
        self
    }
}

/// Writes a batch into a `Vec<u8>`.
#[derive(Debug, Clone)]
pub struct Writer {
    buf: Vec<u8>,
    count: u32,
    last: Option<usize>,
}

impl Default for Writer {
    fn default() -> Self {
        Writer::new()
    }
}

fn len32(n: usize, what: &'static str) -> Result<u32, WriteError> {
    u32::try_from(n)
        .ok()
        .filter(|n| *n != NULL_LEN)
        .ok_or(WriteError { what })
}

impl Writer {
    /// An empty batch.
    pub fn new() -> Writer {
        Writer::with_capacity(64)
    }
    /// An empty batch with room for `capacity` bytes (a hint: when that much memory is not
    /// available the buffer starts small, and a later append reports the shortage).
    pub fn with_capacity(capacity: usize) -> Writer {
        let mut buf = Vec::new();
        if buf.try_reserve_exact(capacity.max(8)).is_err() {
            buf.reserve_exact(64);
        }
        buf.extend_from_slice(&MAGIC.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes());
        Writer {
            buf,
            count: 0,
            last: None,
        }
    }
    /// Records written so far.
    pub fn count(&self) -> u32 {
        self.count
    }
    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    /// True before the first record.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Makes room for `n` more bytes, or reports that memory ran out (instead of the
    /// allocation-failure abort a plain `Vec` append would trap with).
    fn room(&mut self, n: usize) -> Result<(), WriteError> {
        self.buf.try_reserve(n).map_err(|_| WriteError {
            what: "out of memory",
        })
    }

    fn part(&mut self, part: Option<&[u8]>, what: &'static str) -> Result<(), WriteError> {
        match part {
            None => self.buf.extend_from_slice(&NULL_LEN.to_le_bytes()),
            Some(b) => {
                let n = len32(b.len(), what)?;
                self.buf.extend_from_slice(&n.to_le_bytes());
                self.buf.extend_from_slice(b);
            }
        }
        Ok(())
    }

    /// Counts the record just appended at `at` (or takes it back when the count is full).
    fn bump_count(&mut self, at: usize) -> Result<(), WriteError> {
        match self.count.checked_add(1) {
            Some(c) => {
                self.count = c;
                self.last = Some(at);
                Ok(())
            }
            None => {
                self.buf.truncate(at);
                Err(WriteError {
                    what: "too many records",
                })
            }
        }
    }

    /// Appends `r` (with the headers it took over from an input record, if any). On error
    /// nothing is appended.
    pub fn push(&mut self, r: &OutRecord<'_>) -> Result<(), WriteError> {
        let start = self.buf.len();
        let mut flags = ((r.key_encoding as u8) << KEY_ENCODING_SHIFT)
            | ((r.value_encoding as u8) << VALUE_ENCODING_SHIFT);
        if r.key.is_none() {
            flags |= KEY_NULL;
        }
        if r.value.is_none() {
            flags |= VALUE_NULL;
        }
        if r.timestamp.is_none() {
            flags |= NO_TIMESTAMP;
        }
        self.room(
            28usize
                .saturating_add(r.topic.len())
                .saturating_add(r.key.map_or(0, <[u8]>::len))
                .saturating_add(r.value.map_or(0, <[u8]>::len))
                .saturating_add(r.inherited.1.len()),
        )?;
        self.buf.extend_from_slice(&r.index.to_le_bytes());
        self.buf.push(r.op);
        self.buf.push(flags);
        self.buf.extend_from_slice(&r.inherited.0.to_le_bytes());
        self.buf
            .extend_from_slice(&r.timestamp.unwrap_or(0).to_le_bytes());
        let written = self
            .part(Some(r.topic), "a topic is too long")
            .and_then(|_| self.part(r.key, "a key is too long"))
            .and_then(|_| self.part(r.value, "a value is too long"));
        if let Err(e) = written {
            self.buf.truncate(start);
            return Err(e);
        }
        self.buf.extend_from_slice(r.inherited.1);
        self.bump_count(start)
    }

    /// Appends an input record unchanged (its raw bytes, index included).
    pub fn copy(&mut self, r: &Record<'_>) -> Result<(), WriteError> {
        let start = self.buf.len();
        self.room(r.raw.len())?;
        self.buf.extend_from_slice(r.raw);
        self.bump_count(start)
    }

    /// Appends a header to the newest record (`None` writes a null value).
    pub fn header(&mut self, name: &[u8], value: Option<&[u8]>) -> Result<(), WriteError> {
        let at = self.buf.len();
        let last = self.last.ok_or(WriteError {
            what: "a header needs a record to go to",
        })?;
        let n = u16::from_le_bytes([self.buf[last + 6], self.buf[last + 7]]);
        let n = n.checked_add(1).ok_or(WriteError {
            what: "a record has 65535 headers already",
        })?;
        let name_len = u16::try_from(name.len()).map_err(|_| WriteError {
            what: "a header name is longer than 65535 bytes",
        })?;
        self.room(
            6usize
                .saturating_add(name.len())
                .saturating_add(value.map_or(0, <[u8]>::len)),
        )?;
        self.buf.extend_from_slice(&name_len.to_le_bytes());
        self.buf.extend_from_slice(name);
        if let Err(e) = self.part(value, "a header value is too long") {
            self.buf.truncate(at);
            return Err(e);
        }
        self.buf[last + 6..last + 8].copy_from_slice(&n.to_le_bytes());
        Ok(())
    }

    /// The finished batch.
    pub fn finish(mut self) -> Vec<u8> {
        let count = self.count.to_le_bytes();
        self.buf[4..8].copy_from_slice(&count);
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// Builds a batch by hand, independently of [`Writer`].
    fn hand_batch() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"WRB1");
        b.extend_from_slice(&2u32.to_le_bytes());
        // record 0: op 'c', key "k" (string), value {"a":1} (json), ts 42, two headers
        b.extend_from_slice(&0u32.to_le_bytes());
        b.push(b'c');
        b.push((1 << 3) | (2 << 5));
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&42i64.to_le_bytes());
        for part in [&b"orders"[..], b"k", b"{\"a\":1}"] {
            b.extend_from_slice(&(part.len() as u32).to_le_bytes());
            b.extend_from_slice(part);
        }
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(b"h");
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(b"v");
        b.extend_from_slice(&4u16.to_le_bytes());
        b.extend_from_slice(b"null");
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        // record 1: null key and value, no timestamp, no headers
        b.extend_from_slice(&1u32.to_le_bytes());
        b.push(0);
        b.push(KEY_NULL | VALUE_NULL | NO_TIMESTAMP);
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&0i64.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(b"t");
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        b
    }

    #[test]
    fn reads_every_field() {
        let buf = hand_batch();
        let batch = Batch::parse(&buf).unwrap();
        assert_eq!(batch.count(), 2);
        let recs: Vec<_> = batch.records().collect::<Result<_, _>>().unwrap();
        assert_eq!(recs.len(), 2);
        let r = &recs[0];
        assert_eq!((r.index, r.op, r.timestamp), (0, b'c', Some(42)));
        assert_eq!(r.topic_str(), Some("orders"));
        assert_eq!(r.key, Some(&b"k"[..]));
        assert_eq!(r.value, Some(&b"{\"a\":1}"[..]));
        assert_eq!(r.key_encoding(), Encoding::String);
        assert_eq!(r.value_encoding(), Encoding::Json);
        let hs: Vec<_> = r.headers().collect();
        assert_eq!(
            hs,
            vec![
                Header {
                    name: b"h",
                    value: Some(b"v")
                },
                Header {
                    name: b"null",
                    value: None
                }
            ]
        );
        assert_eq!(r.header(b"h"), Some(Some(&b"v"[..])));
        assert_eq!(r.header(b"null"), Some(None));
        assert_eq!(r.header(b"nope"), None);
        let r = &recs[1];
        assert_eq!(
            (r.index, r.timestamp, r.key, r.value),
            (1, None, None, None)
        );
        assert_eq!(r.header_count(), 0);
        assert_eq!(r.value_encoding(), Encoding::Bytes);
    }

    #[test]
    fn writer_round_trips_and_copies() {
        let buf = hand_batch();
        let batch = Batch::parse(&buf).unwrap();
        let mut w = Writer::new();
        for r in batch.records() {
            w.push(&r.unwrap().to_out()).unwrap();
        }
        assert_eq!(w.finish(), buf, "push(to_out()) reproduces the input bytes");
        let mut w = Writer::new();
        for r in batch.records() {
            w.copy(&r.unwrap()).unwrap();
        }
        assert_eq!(w.finish(), buf, "copy reproduces the input bytes");
    }

    #[test]
    fn writer_builds_new_records_and_headers() {
        let mut w = Writer::with_capacity(0);
        assert!(w.header(b"x", None).is_err(), "no record yet");
        let mut r = OutRecord::new(7, b"topic");
        r.key = Some(b"12");
        r.key_encoding = Encoding::String;
        r.value = Some(b"{\"n\":12}");
        r.value_encoding = Encoding::Json;
        r.timestamp = Some(-5);
        w.push(&r).unwrap();
        w.header(b"a", Some(b"1")).unwrap();
        w.header(b"b", None).unwrap();
        w.push(&OutRecord::new(8, b"other")).unwrap();
        w.header(b"c", Some(b"")).unwrap();
        assert_eq!(w.count(), 2);
        let out = w.finish();
        let batch = Batch::parse(&out).unwrap();
        assert_eq!(batch.count(), 2);
        let recs: Vec<_> = batch.records().collect::<Result<_, _>>().unwrap();
        assert_eq!(recs[0].index, 7);
        assert_eq!(recs[0].timestamp, Some(-5));
        assert_eq!(recs[0].key_encoding(), Encoding::String);
        assert_eq!(recs[0].value_encoding(), Encoding::Json);
        assert_eq!(recs[0].value, Some(&b"{\"n\":12}"[..]));
        assert_eq!(
            recs[0].headers().collect::<Vec<_>>(),
            vec![
                Header {
                    name: b"a",
                    value: Some(b"1")
                },
                Header {
                    name: b"b",
                    value: None
                }
            ]
        );
        assert_eq!(recs[1].topic, b"other");
        assert_eq!(
            (recs[1].key, recs[1].value, recs[1].timestamp),
            (None, None, None)
        );
        assert_eq!(recs[1].header(b"c"), Some(Some(&b""[..])));
        // inherited headers come first, added ones after
        let mut w = Writer::new();
        w.push(&recs[0].to_out()).unwrap();
        w.header(b"z", Some(b"9")).unwrap();
        w.push(&recs[0].to_out().without_headers()).unwrap();
        let out = w.finish();
        let again: Vec<_> = Batch::parse(&out)
            .unwrap()
            .records()
            .map(Result::unwrap)
            .collect();
        let names: Vec<_> = again[0].headers().map(|h| h.name).collect();
        assert_eq!(names, vec![&b"a"[..], b"b", b"z"]);
        assert_eq!(again[1].header_count(), 0);
    }

    #[test]
    fn empty_batch() {
        let out = Writer::new().finish();
        assert_eq!(out, b"WRB1\0\0\0\0");
        let b = Batch::parse(&out).unwrap();
        assert_eq!(b.records().count(), 0);
    }

    #[test]
    fn rejects_malformed_batches() {
        assert!(Batch::parse(b"WRB").is_err());
        assert_eq!(
            Batch::parse(b"XXXX\0\0\0\0").unwrap_err().what,
            "the batch does not start with \"WRB1\""
        );
        let buf = hand_batch();
        // every truncation fails somewhere, never panics
        for cut in 8..buf.len() {
            let b = Batch::parse(&buf[..cut]).unwrap();
            assert!(b.records().any(|r| r.is_err()), "cut at {cut}");
        }
        // trailing bytes
        let mut long = buf.clone();
        long.push(0);
        let errs: Vec<_> = Batch::parse(&long)
            .unwrap()
            .records()
            .filter_map(Result::err)
            .collect();
        assert_eq!(
            errs,
            vec![FrameError {
                at: buf.len(),
                what: "bytes after the last record"
            }]
        );
        // a count larger than the records
        let mut more = buf.clone();
        more[4] = 3;
        assert!(Batch::parse(&more).unwrap().records().any(|r| r.is_err()));
        // flags that disagree with the lengths
        let mut flags = buf.clone();
        flags[13] |= KEY_NULL;
        let first = Batch::parse(&flags).unwrap().records().next().unwrap();
        assert_eq!(
            first.unwrap_err().what,
            "the null flags disagree with the key or value lengths"
        );
        // a huge length does not overflow
        let mut huge = buf[..8 + 16].to_vec();
        huge.extend_from_slice(&0xFFFF_FFFEu32.to_le_bytes());
        assert!(
            Batch::parse(&huge)
                .unwrap()
                .records()
                .next()
                .unwrap()
                .is_err()
        );
    }

    #[test]
    fn encodings_from_flags() {
        for (bits, e) in [
            (0, Encoding::Bytes),
            (1, Encoding::String),
            (2, Encoding::Json),
            (3, Encoding::Reserved),
        ] {
            assert_eq!(Encoding::from_bits(bits), e);
        }
        let mut w = Writer::new();
        let mut r = OutRecord::new(0, b"t");
        r.key = Some(b"");
        r.key_encoding = Encoding::Json;
        r.value_encoding = Encoding::String;
        w.push(&r).unwrap();
        let out = w.finish();
        assert_eq!(out[13], VALUE_NULL | NO_TIMESTAMP | (2 << 3) | (1 << 5));
    }
}
