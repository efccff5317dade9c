//! The batch framing records cross the host/guest boundary in (ABI v1, see `ABI.md`):
//! fixed-width little-endian fields, no varints, so a guest in WAT or C reads and writes it
//! with plain loads and stores.
//!
//! ```text
//! batch  := u32 magic ("WRB1") | u32 count | record*
//! record := u32 index | u8 op | u8 flags | u16 n_headers | i64 timestamp_ms
//!           | u32 topic_len | topic | u32 key_len | key | u32 value_len | value
//!           | n_headers x (u16 name_len | name | u32 value_len | value)
//! ```
//! `index` is the record's position in the input batch; an output record carries the index
//! of the input it came from. Flags: bit 0 key is null, bit 1 value is null, bit 2 no
//! timestamp, bits 3-4 the key's [`Encoding`], bits 5-6 the value's; a null key, value or
//! header value has length `u32::MAX`.

use bytes::Bytes;

/// `"WRB1"` read as a little-endian u32.
pub const MAGIC: u32 = u32::from_le_bytes(*b"WRB1");
/// Flag bits.
pub const KEY_NULL: u8 = 1;
pub const VALUE_NULL: u8 = 2;
pub const NO_TIMESTAMP: u8 = 4;
const NULL_LEN: u32 = u32::MAX;
const KEY_ENCODING_SHIFT: u8 = 3;
const VALUE_ENCODING_SHIFT: u8 = 5;

/// What the bytes of a key or value are (flag bits 3-4 and 5-6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// Raw bytes.
    #[default]
    Bytes = 0,
    /// UTF-8 text.
    String = 1,
    /// Schemaless JSON text.
    Json = 2,
}

impl Encoding {
    fn from_bits(bits: u8) -> Option<Encoding> {
        match bits & 3 {
            0 => Some(Encoding::Bytes),
            1 => Some(Encoding::String),
            2 => Some(Encoding::Json),
            _ => None,
        }
    }
}

/// One record as it crosses the boundary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WireRecord {
    pub index: u32,
    /// Debezium's op (`c`, `u`, `d`, `r`, `t`) as a byte, 0 for a plain record.
    pub op: u8,
    pub timestamp: Option<i64>,
    pub topic: String,
    pub key: Option<Bytes>,
    pub key_encoding: Encoding,
    pub value: Option<Bytes>,
    pub value_encoding: Encoding,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// Why a batch could not be read: what, and at which byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed record batch at byte {at}: {what}")]
pub struct FramingError {
    pub at: usize,
    pub what: String,
}

/// One record as it crosses the boundary, borrowed: what the host encodes from its own
/// records and decodes from guest memory without copying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WireRef<'a> {
    pub index: u32,
    pub op: u8,
    pub timestamp: Option<i64>,
    pub topic: &'a str,
    pub key: Option<&'a [u8]>,
    pub key_encoding: Encoding,
    pub value: Option<&'a [u8]>,
    pub value_encoding: Encoding,
    /// The headers' bytes as framed: `n_headers` entries of name and value.
    pub headers: Headers<'a>,
}

/// A record's headers, borrowed from a framed batch or from the host's own list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Headers<'a> {
    count: u16,
    framed: &'a [u8],
}

impl<'a> Headers<'a> {
    /// Headers framed from `(name, value)` pairs into `buf` (reused by the caller).
    pub fn frame<N: AsRef<str>, V: AsRef<[u8]>>(
        pairs: impl IntoIterator<Item = (N, Option<V>)>,
        buf: &'a mut Vec<u8>,
    ) -> Headers<'a> {
        buf.clear();
        let mut count = 0u16;
        for (name, value) in pairs {
            let name = name.as_ref();
            buf.extend_from_slice(&(name.len() as u16).to_le_bytes());
            buf.extend_from_slice(name.as_bytes());
            put_bytes(buf, value.as_ref().map(AsRef::as_ref));
            count = count.saturating_add(1);
        }
        Headers { count, framed: buf }
    }

    /// Headers already framed by [`Headers::frame`] (`count` entries in `framed`).
    pub fn from_framed(count: u16, framed: &'a [u8]) -> Headers<'a> {
        Headers { count, framed }
    }

    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The headers in order (the framing was checked when it was decoded or built).
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Option<&'a [u8]>)> + 'a {
        let mut r = Reader {
            buf: self.framed,
            at: 0,
        };
        (0..self.count).map_while(move |_| {
            let len = r.u16("").ok()?;
            let name = r.text_ref(usize::from(len), "").ok()?;
            let value = r.bytes_ref("").ok()?;
            Some((name, value))
        })
    }
}

impl WireRef<'_> {
    fn size(&self) -> usize {
        28 + self.topic.len()
            + self.key.map_or(0, <[u8]>::len)
            + self.value.map_or(0, <[u8]>::len)
            + self.headers.framed.len()
    }

    fn flags(&self) -> u8 {
        let mut flags = 0;
        if self.key.is_none() {
            flags |= KEY_NULL;
        }
        if self.value.is_none() {
            flags |= VALUE_NULL;
        }
        if self.timestamp.is_none() {
            flags |= NO_TIMESTAMP;
        }
        flags
            | (self.key_encoding as u8) << KEY_ENCODING_SHIFT
            | (self.value_encoding as u8) << VALUE_ENCODING_SHIFT
    }
}

/// The size of the batch of `records`.
pub fn encoded_len(records: &[WireRef<'_>]) -> usize {
    8 + records.iter().map(WireRef::size).sum::<usize>()
}

/// A writer over a buffer exactly [`encoded_len`] long.
struct Writer<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.out[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }
    fn put_bytes(&mut self, bytes: Option<&[u8]>) {
        match bytes {
            Some(b) => {
                self.put(&(b.len() as u32).to_le_bytes());
                self.put(b);
            }
            None => self.put(&NULL_LEN.to_le_bytes()),
        }
    }
}

/// Writes the batch of `records` into `out`, which must be [`encoded_len`] bytes long
/// (guest memory, written in place).
pub fn encode_into(records: &[WireRef<'_>], out: &mut [u8]) {
    debug_assert_eq!(out.len(), encoded_len(records));
    let mut w = Writer { out, at: 0 };
    w.put(&MAGIC.to_le_bytes());
    w.put(&(records.len() as u32).to_le_bytes());
    for r in records {
        w.put(&r.index.to_le_bytes());
        w.put(&[r.op, r.flags()]);
        w.put(&r.headers.count.to_le_bytes());
        w.put(&r.timestamp.unwrap_or(0).to_le_bytes());
        w.put_bytes(Some(r.topic.as_bytes()));
        w.put_bytes(r.key);
        w.put_bytes(r.value);
        w.put(r.headers.framed);
    }
}

/// Encodes `records` as one batch.
pub fn encode(records: &[WireRecord]) -> Vec<u8> {
    let mut header_bufs: Vec<Vec<u8>> = vec![Vec::new(); records.len()];
    let refs: Vec<WireRef<'_>> = records
        .iter()
        .zip(header_bufs.iter_mut())
        .map(|(r, buf)| WireRef {
            index: r.index,
            op: r.op,
            timestamp: r.timestamp,
            topic: &r.topic,
            key: r.key.as_deref(),
            key_encoding: r.key_encoding,
            value: r.value.as_deref(),
            value_encoding: r.value_encoding,
            headers: Headers::frame(
                r.headers.iter().map(|(n, v)| (n.as_str(), v.as_deref())),
                buf,
            ),
        })
        .collect();
    let mut out = vec![0u8; encoded_len(&refs)];
    encode_into(&refs, &mut out);
    out
}

fn put_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => {
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
        }
        None => out.extend_from_slice(&NULL_LEN.to_le_bytes()),
    }
}

/// A cursor over untrusted bytes: every read is bounds-checked. Also reads the
/// `http_request` framing (`http.rs`).
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, at: 0 }
    }
    /// Whether every byte was read.
    pub(crate) fn is_done(&self) -> bool {
        self.at == self.buf.len()
    }
    fn fail<T>(&self, what: impl Into<String>) -> Result<T, FramingError> {
        Err(FramingError {
            at: self.at,
            what: what.into(),
        })
    }
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], FramingError> {
        match self.at.checked_add(n).filter(|end| *end <= self.buf.len()) {
            Some(end) => {
                let s = &self.buf[self.at..end];
                self.at = end;
                Ok(s)
            }
            None => self.fail(format!(
                "{what} needs {n} bytes, {} are left",
                self.buf.len() - self.at
            )),
        }
    }
    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], FramingError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }
    fn u8(&mut self, what: &str) -> Result<u8, FramingError> {
        Ok(self.array::<1>(what)?[0])
    }
    pub(crate) fn u16(&mut self, what: &str) -> Result<u16, FramingError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    pub(crate) fn u32(&mut self, what: &str) -> Result<u32, FramingError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn i64(&mut self, what: &str) -> Result<i64, FramingError> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }
    pub(crate) fn bytes_ref(&mut self, what: &str) -> Result<Option<&'a [u8]>, FramingError> {
        let len = self.u32(what)?;
        if len == NULL_LEN {
            return Ok(None);
        }
        Ok(Some(self.take(len as usize, what)?))
    }
    pub(crate) fn text_ref(&mut self, len: usize, what: &str) -> Result<&'a str, FramingError> {
        let at = self.at;
        let raw = self.take(len, what)?;
        std::str::from_utf8(raw).map_err(|_| FramingError {
            at,
            what: format!("{what} is not UTF-8"),
        })
    }
}

/// Decodes a batch without copying; `max_records` bounds what a guest may claim to return.
pub fn decode_ref(buf: &[u8], max_records: usize) -> Result<Vec<WireRef<'_>>, FramingError> {
    let mut r = Reader { buf, at: 0 };
    let magic = r.u32("the magic number")?;
    if magic != MAGIC {
        return Err(FramingError {
            at: 0,
            what: format!("the magic number is {magic:#010x}, not \"WRB1\""),
        });
    }
    let count = r.u32("the record count")? as usize;
    if count > max_records {
        return r.fail(format!(
            "the batch claims {count} records, more than the {max_records} allowed"
        ));
    }
    let mut records = Vec::with_capacity(count.min(4096));
    for _ in 0..count {
        let index = r.u32("a record's index")?;
        let op = r.u8("a record's op")?;
        let flags = r.u8("a record's flags")?;
        if flags & 0x80 != 0 {
            return r.fail(format!("unknown flag bits {flags:#04x}"));
        }
        let (Some(key_encoding), Some(value_encoding)) = (
            Encoding::from_bits(flags >> KEY_ENCODING_SHIFT),
            Encoding::from_bits(flags >> VALUE_ENCODING_SHIFT),
        ) else {
            return r.fail(format!("unknown encoding in flags {flags:#04x}"));
        };
        let n_headers = r.u16("a record's header count")?;
        let ts = r.i64("a record's timestamp")?;
        let topic_len = r.u32("a record's topic length")?;
        let topic = r.text_ref(topic_len as usize, "the topic")?;
        let key = r.bytes_ref("the key")?;
        let value = r.bytes_ref("the value")?;
        if key.is_some() == (flags & KEY_NULL != 0) || value.is_some() == (flags & VALUE_NULL != 0)
        {
            return r.fail("the null flags disagree with the key or value lengths");
        }
        let headers_at = r.at;
        for _ in 0..n_headers {
            let len = r.u16("a header name length")?;
            r.text_ref(usize::from(len), "a header name")?;
            r.bytes_ref("a header value")?;
        }
        records.push(WireRef {
            index,
            op,
            timestamp: (flags & NO_TIMESTAMP == 0).then_some(ts),
            topic,
            key,
            key_encoding,
            value,
            value_encoding,
            headers: Headers {
                count: n_headers,
                framed: &buf[headers_at..r.at],
            },
        });
    }
    if r.at != buf.len() {
        return r.fail(format!("{} bytes after the last record", buf.len() - r.at));
    }
    Ok(records)
}

impl WireRef<'_> {
    /// An owned copy.
    pub fn to_owned_record(&self) -> WireRecord {
        WireRecord {
            index: self.index,
            op: self.op,
            timestamp: self.timestamp,
            topic: self.topic.to_string(),
            key: self.key.map(Bytes::copy_from_slice),
            key_encoding: self.key_encoding,
            value: self.value.map(Bytes::copy_from_slice),
            value_encoding: self.value_encoding,
            headers: self
                .headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.map(Bytes::copy_from_slice)))
                .collect(),
        }
    }
}

/// Decodes a batch into owned records; `max_records` bounds what a guest may claim.
pub fn decode(buf: &[u8], max_records: usize) -> Result<Vec<WireRecord>, FramingError> {
    Ok(decode_ref(buf, max_records)?
        .iter()
        .map(WireRef::to_owned_record)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<WireRecord> {
        vec![
            WireRecord {
                index: 0,
                op: b'c',
                timestamp: Some(1_700_000_000_000),
                topic: "orders".into(),
                key: Some(Bytes::from_static(b"k1")),
                key_encoding: Encoding::String,
                value: Some(Bytes::from_static(b"{\"a\":1}")),
                value_encoding: Encoding::Json,
                headers: vec![
                    ("h".into(), Some(Bytes::from_static(b"v"))),
                    ("n".into(), None),
                ],
            },
            WireRecord {
                index: 1,
                topic: "orders".into(),
                ..WireRecord::default()
            },
        ]
    }

    #[test]
    fn batches_round_trip() {
        let bytes = encode(&sample());
        assert_eq!(&bytes[..4], b"WRB1");
        assert_eq!(decode(&bytes, 10), Ok(sample()));
        assert_eq!(decode(&encode(&[]), 10), Ok(vec![]));
    }

    #[test]
    fn every_truncation_and_garbage_is_an_error() {
        let bytes = encode(&sample());
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], 10).is_err(), "cut at {cut}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(decode(&extra, 10).is_err_and(|e| e.what.contains("after the last record")));
        assert!(decode(&bytes, 1).is_err_and(|e| e.what.contains("claims 2 records")));
        let mut bad = bytes.clone();
        bad[13] |= 0x18; // the first record's key encoding becomes 3
        assert!(decode(&bad, 10).is_err_and(|e| e.what.contains("unknown encoding")));
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(decode(&bad, 10).is_err_and(|e| e.what.contains("magic")));
        let mut huge = bytes;
        // The first record's topic length claims 4 GiB.
        huge[24..28].copy_from_slice(&0xFFFF_FFF0_u32.to_le_bytes());
        assert!(decode(&huge, 10).is_err_and(|e| e.what.contains("needs")));
    }
}
