//! Kafka RecordBatch v2: header layout, validation, and record-level access.
//!
//! The broker stores batches byte for byte as producers send them; this module is the only
//! place that knows where the fields sit. Layout (big-endian):
//!
//! ```text
//!  0 baseOffset i64      12 partitionLeaderEpoch i32   17 crc u32 (CRC-32C of bytes 21..end)
//!  8 batchLength i32     16 magic i8 (= 2)             21 attributes i16
//! 23 lastOffsetDelta i32 27 baseTimestamp i64          35 maxTimestamp i64
//! 43 producerId i64      51 producerEpoch i16          53 baseSequence i32
//! 57 recordsCount i32    61 records...
//! ```

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::compression::{Decompressor, Gzip, Lz4, Snappy, Zstd};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// Bytes before `batchLength` counts: baseOffset + batchLength.
pub const LOG_OVERHEAD: usize = 12;
/// Size of the fixed batch header, up to the first record.
pub const HEADER_LEN: usize = 61;
const CRC_START: usize = 21;

/// A parsed RecordBatch v2 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

impl BatchHeader {
    /// Parses the fixed header; `None` when fewer than [`HEADER_LEN`] bytes are given.
    pub fn parse(b: &[u8]) -> Option<Self> {
        if b.len() < HEADER_LEN {
            return None;
        }
        Some(Self {
            base_offset: be_i64(b, 0),
            batch_length: be_i32(b, 8),
            partition_leader_epoch: be_i32(b, 12),
            magic: b[16] as i8,
            crc: be_i32(b, 17) as u32,
            attributes: be_i16(b, 21),
            last_offset_delta: be_i32(b, 23),
            base_timestamp: be_i64(b, 27),
            max_timestamp: be_i64(b, 35),
            producer_id: be_i64(b, 43),
            producer_epoch: be_i16(b, 51),
            base_sequence: be_i32(b, 53),
            records_count: be_i32(b, 57),
        })
    }

    /// Length of the whole batch on disk, header included. Callers check `batch_length` first.
    pub fn total_len(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }
    pub fn compression_code(&self) -> i16 {
        self.attributes & 0x7
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes & (1 << 4) != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes & (1 << 5) != 0
    }

    /// Checks the framing fields against the number of bytes available for this batch.
    /// Returns the reason the header is not a plausible RecordBatch v2.
    pub fn check_framing(&self, available: usize) -> Result<(), String> {
        if self.magic != 2 {
            return Err(format!(
                "unsupported magic byte {} (only RecordBatch v2 is accepted)",
                self.magic
            ));
        }
        if (self.batch_length as i64) < (HEADER_LEN - LOG_OVERHEAD) as i64 {
            return Err(format!("batch length {} is too small", self.batch_length));
        }
        if self.total_len() > available {
            return Err(format!(
                "batch length {} runs past the {} bytes available",
                self.batch_length,
                available.saturating_sub(LOG_OVERHEAD)
            ));
        }
        if self.last_offset_delta < 0 || self.records_count < 0 {
            return Err(format!(
                "negative last offset delta {} or record count {}",
                self.last_offset_delta, self.records_count
            ));
        }
        Ok(())
    }
}

/// Whether the stored CRC-32C matches the batch's content. `batch` is exactly one batch.
pub fn crc_matches(batch: &[u8]) -> bool {
    batch.len() >= HEADER_LEN && crc32c::crc32c(&batch[CRC_START..]) == be_i32(batch, 17) as u32
}

/// Writes `base_offset` into a batch; the field is outside the CRC.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Writes the partition leader epoch into a batch; the field is outside the CRC.
pub fn set_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[12..16].copy_from_slice(&epoch.to_be_bytes());
}

/// The offset after the last whole batch in a buffer of stored batches: where a reader
/// continues, even when compaction removed the batch's last records.
pub fn next_offset_after(mut bytes: &[u8]) -> Option<i64> {
    let mut next = None;
    while let Some(h) = BatchHeader::parse(bytes) {
        if h.check_framing(bytes.len()).is_err() {
            break;
        }
        next = Some(h.next_offset());
        bytes = &bytes[h.total_len()..];
    }
    next
}

/// Validates a producer's buffer of one or more batches and returns their headers.
/// On failure returns the byte position of the bad batch in `bytes` and the reason.
pub fn validate_produced(bytes: &[u8]) -> Result<Vec<BatchHeader>, (usize, String)> {
    let mut headers = Vec::new();
    let mut pos = 0;
    if bytes.is_empty() {
        return Err((0, "no record batch in the request".to_string()));
    }
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let h = BatchHeader::parse(rest).ok_or_else(|| {
            (
                pos,
                format!("truncated batch header ({} bytes)", rest.len()),
            )
        })?;
        h.check_framing(rest.len()).map_err(|r| (pos, r))?;
        if !crc_matches(&rest[..h.total_len()]) {
            return Err((pos, "CRC-32C mismatch".to_string()));
        }
        if h.records_count == 0 {
            return Err((pos, "batch holds no records".to_string()));
        }
        if !h.is_control() && h.last_offset_delta != h.records_count - 1 {
            return Err((
                pos,
                format!(
                    "last offset delta {} does not match {} records",
                    h.last_offset_delta, h.records_count
                ),
            ));
        }
        if h.compression_code() > 4 {
            return Err((
                pos,
                format!("unknown compression codec {}", h.compression_code()),
            ));
        }
        if h.attributes & (1 << 3) != 0 {
            return Err((
                pos,
                "LogAppendTime batches from a producer are not accepted".to_string(),
            ));
        }
        headers.push(h);
        pos += h.total_len();
    }
    Ok(headers)
}

/// One record inside a batch, borrowed from the (decompressed) records section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub offset_delta: i32,
    pub timestamp_delta: i64,
    pub key: Option<Bytes>,
    /// `None` is a tombstone.
    pub value: Option<Bytes>,
    /// The record's bytes as stored, its length varint included.
    pub raw: Bytes,
}

fn varint(buf: &mut Bytes) -> Result<i64, String> {
    let mut value: u64 = 0;
    for shift in (0..70).step_by(7) {
        if !buf.has_remaining() {
            return Err("truncated varint".into());
        }
        let b = buf.get_u8();
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            // zig-zag decoding
            return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    Err("varint longer than 10 bytes".into())
}

fn varbytes(buf: &mut Bytes) -> Result<Option<Bytes>, String> {
    let len = varint(buf)?;
    if len < 0 {
        return Ok(None);
    }
    let len = len as usize;
    if buf.remaining() < len {
        return Err("field runs past the end of the record".into());
    }
    Ok(Some(buf.split_to(len)))
}

/// The records section of a batch, decompressed when the batch is compressed.
pub fn records_section(batch: &Bytes) -> Result<Bytes, String> {
    let h = BatchHeader::parse(batch).ok_or("truncated batch header")?;
    let mut body = batch.slice(HEADER_LEN..h.total_len().min(batch.len()));
    let copy = |b: &mut Bytes| -> anyhow::Result<Bytes> { Ok(b.copy_to_bytes(b.remaining())) };
    let out = match h.compression_code() {
        0 => Ok(body),
        1 => Gzip::decompress(&mut body, copy),
        2 => Snappy::decompress(&mut body, copy),
        3 => Lz4::decompress(&mut body, copy),
        4 => Zstd::decompress(&mut body, copy),
        c => return Err(format!("unknown compression codec {c}")),
    };
    out.map_err(|e| format!("cannot decompress batch: {e:#}"))
}

/// Splits a batch into its records, keeping each record's stored bytes.
pub fn raw_records(batch: &Bytes) -> Result<Vec<RawRecord>, String> {
    let h = BatchHeader::parse(batch).ok_or("truncated batch header")?;
    let mut section = records_section(batch)?;
    let mut out = Vec::with_capacity(h.records_count.max(0) as usize);
    for _ in 0..h.records_count {
        let start = section.clone();
        let len = varint(&mut section)?;
        let len_bytes = start.len() - section.len();
        if len < 0 || section.remaining() < len as usize {
            return Err("record length runs past the end of the batch".into());
        }
        let raw = start.slice(..len_bytes + len as usize);
        let mut rec = section.split_to(len as usize);
        rec.advance(1); // attributes (unused in v2)
        let timestamp_delta = varint(&mut rec)?;
        let offset_delta = i32::try_from(varint(&mut rec)?).map_err(|e| e.to_string())?;
        let key = varbytes(&mut rec)?;
        let value = varbytes(&mut rec)?;
        out.push(RawRecord {
            offset_delta,
            timestamp_delta,
            key,
            value,
            raw,
        });
    }
    Ok(out)
}

/// Decodes every record of a buffer of batches with the kafka-protocol codec.
pub fn decode_records(bytes: Bytes) -> Result<Vec<Record>, String> {
    let mut buf = bytes;
    let mut out = Vec::new();
    while buf.has_remaining() {
        let set = RecordBatchDecoder::decode(&mut buf).map_err(|e| format!("{e:#}"))?;
        out.extend(set.records);
    }
    Ok(out)
}

/// A key/value pair with optional headers, as a producer would send it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
    pub timestamp: i64,
}

/// Encodes records as one RecordBatch v2 starting at offset 0 (the broker assigns offsets).
pub fn encode_batch(records: &[NewRecord], compression: Compression) -> Result<Bytes, String> {
    encode_batch_as(records, compression, None)
}

/// An idempotent producer's identity in a batch: producer id, epoch, and the sequence
/// number of the batch's first record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerStamp {
    pub producer_id: i64,
    pub epoch: i16,
    pub base_sequence: i32,
}

/// [`encode_batch`], stamped with an idempotent producer's id, epoch and sequence numbers
/// when one is given (sequence numbers wrap at `i32::MAX`, as Kafka's do).
pub fn encode_batch_as(
    records: &[NewRecord],
    compression: Compression,
    producer: Option<ProducerStamp>,
) -> Result<Bytes, String> {
    let (producer_id, producer_epoch) = producer.map_or((-1, -1), |p| (p.producer_id, p.epoch));
    let sequence = |i: usize| match producer {
        // Without a producer the base sequence is -1 (the codec takes the first record's).
        None => i as i32 - 1,
        Some(p) => ((i64::from(p.base_sequence) + i as i64) % (i64::from(i32::MAX) + 1)) as i32,
    };
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: sequence(i),
            timestamp: r.timestamp,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (k.clone().into(), v.clone()))
                .collect(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .map_err(|e| format!("{e:#}"))?;
    Ok(buf.freeze())
}

/// Rebuilds a batch keeping only `keep` of its records (compaction). Base offset, base
/// timestamp, last offset delta and producer fields stay as they were, so every kept record's
/// bytes are reused unchanged; only the count, length and CRC change.
pub fn rebuild_batch(batch: &Bytes, keep: &[RawRecord]) -> Result<Bytes, String> {
    let h = BatchHeader::parse(batch).ok_or("truncated batch header")?;
    let mut section = BytesMut::new();
    for r in keep {
        section.extend_from_slice(&r.raw);
    }
    let body: Bytes = match h.compression_code() {
        0 => section.freeze(),
        c => compress(section.freeze(), c)?,
    };
    let mut out = BytesMut::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&batch[..HEADER_LEN]);
    out.extend_from_slice(&body);
    let batch_length = (out.len() - LOG_OVERHEAD) as i32;
    out[8..12].copy_from_slice(&batch_length.to_be_bytes());
    out[57..61].copy_from_slice(&(keep.len() as i32).to_be_bytes());
    let crc = crc32c::crc32c(&out[CRC_START..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    Ok(out.freeze())
}

fn compress(section: Bytes, codec: i16) -> Result<Bytes, String> {
    use kafka_protocol::compression::Compressor;
    let mut out = BytesMut::new();
    let write = |b: &mut BytesMut| -> anyhow::Result<()> {
        b.extend_from_slice(&section);
        Ok(())
    };
    let res = match codec {
        1 => Gzip::compress(&mut out, write),
        2 => Snappy::compress(&mut out, write),
        3 => Lz4::compress(&mut out, write),
        4 => Zstd::compress(&mut out, write),
        c => return Err(format!("unknown compression codec {c}")),
    };
    res.map_err(|e| format!("cannot compress batch: {e:#}"))?;
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(k: &str, v: Option<&str>) -> NewRecord {
        NewRecord {
            key: Some(Bytes::copy_from_slice(k.as_bytes())),
            value: v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
            headers: vec![],
            timestamp: 1_000,
        }
    }

    #[test]
    fn encoded_batch_validates_and_splits() {
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let b = encode_batch(&[rec("a", Some("1")), rec("b", None)], c).expect("encode");
            let hs = validate_produced(&b).expect("valid batch");
            assert_eq!(hs.len(), 1);
            assert_eq!(hs[0].records_count, 2);
            assert_eq!(hs[0].base_sequence, -1);
            let rs = raw_records(&b).expect("records");
            assert_eq!(rs[0].key.as_deref(), Some(&b"a"[..]));
            assert_eq!(rs[1].value, None);
            assert_eq!(rs[1].offset_delta, 1);
            let kept = rebuild_batch(&b, &rs[1..]).expect("rebuild");
            assert!(crc_matches(&kept), "{c:?}");
            let decoded = decode_records(kept).expect("decode rebuilt");
            assert_eq!(decoded.len(), 1);
            assert_eq!(decoded[0].offset, 1);
        }
    }

    #[test]
    fn flipped_bit_fails_crc() {
        let b = encode_batch(&[rec("a", Some("1"))], Compression::None).expect("encode");
        let mut v = b.to_vec();
        let last = v.len() - 1;
        v[last] ^= 0x10;
        let err = validate_produced(&v).expect_err("must reject");
        assert_eq!(err, (0, "CRC-32C mismatch".to_string()));
    }

    #[test]
    fn wrong_magic_is_named() {
        let b = encode_batch(&[rec("a", Some("1"))], Compression::None).expect("encode");
        let mut v = b.to_vec();
        v[16] = 1;
        let err = validate_produced(&v).expect_err("must reject");
        assert!(err.1.contains("magic byte 1"), "{}", err.1);
    }
}
