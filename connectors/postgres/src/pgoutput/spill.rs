//! Buffered entries of streamed transactions and their spill files.
//!
//! A spill file is an anonymous temp file (unlinked at creation where the OS allows, deleted on
//! close otherwise), so it disappears when its transaction ends or the assembler drops, even
//! after a crash. Records are `Int64 wal_start, Int32 subxid, Int32 len, Byte[len] message`,
//! big-endian, appended in arrival order and read back one at a time.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use bytes::Bytes;

use super::Lsn;

/// Bytes counted per buffered entry on top of its message, for the bookkeeping around it.
pub(super) const ENTRY_OVERHEAD: usize = 32;

/// Header size of one spill record.
const RECORD_HEADER: usize = 16;

/// One buffered change of a streamed transaction: its raw pgoutput message (with the xid prefix
/// of stream blocks), the (sub)transaction it belongs to and its XLogData position.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) wal_start: Lsn,
    pub(super) subxid: u32,
    pub(super) data: Bytes,
}

impl Entry {
    /// The bytes this entry counts against the memory limit.
    pub(super) fn cost(&self) -> usize {
        self.data.len() + ENTRY_OVERHEAD
    }
}

/// The spilled part of one transaction, open for appending.
pub(super) struct SpillWriter {
    file: BufWriter<File>,
    records: u64,
    bytes: u64,
}

impl SpillWriter {
    /// Creates an anonymous temp file in `dir` (creating `dir` if it is missing).
    pub(super) fn create(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let file = tempfile::tempfile_in(dir)?;
        Ok(SpillWriter {
            file: BufWriter::new(file),
            records: 0,
            bytes: 0,
        })
    }

    /// Bytes written so far.
    pub(super) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Appends one record.
    pub(super) fn append(&mut self, entry: &Entry) -> io::Result<()> {
        let len = u32::try_from(entry.data.len()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a {}-byte message does not fit a spill record",
                    entry.data.len()
                ),
            )
        })?;
        let mut header = [0u8; RECORD_HEADER];
        header[..8].copy_from_slice(&entry.wal_start.to_be_bytes());
        header[8..12].copy_from_slice(&entry.subxid.to_be_bytes());
        header[12..].copy_from_slice(&len.to_be_bytes());
        self.file.write_all(&header)?;
        self.file.write_all(&entry.data)?;
        self.records += 1;
        self.bytes += (RECORD_HEADER + entry.data.len()) as u64;
        Ok(())
    }

    /// Flushes the file and rewinds it for reading.
    pub(super) fn into_reader(self) -> io::Result<SpillReader> {
        let mut file = self.file.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        Ok(SpillReader {
            file: BufReader::new(file),
            records_left: self.records,
            bytes_left: self.bytes,
            bytes: self.bytes,
        })
    }
}

/// A spill file being replayed record by record.
pub(super) struct SpillReader {
    file: BufReader<File>,
    records_left: u64,
    bytes_left: u64,
    bytes: u64,
}

impl SpillReader {
    /// The file's size (released from the spilled-bytes count when the reader drops).
    pub(super) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Reads the next record; `None` once every record written has been read.
    pub(super) fn next_entry(&mut self) -> io::Result<Option<Entry>> {
        if self.records_left == 0 {
            return Ok(None);
        }
        let mut header = [0u8; RECORD_HEADER];
        self.file.read_exact(&mut header)?;
        let mut wal_start = [0u8; 8];
        wal_start.copy_from_slice(&header[..8]);
        let mut subxid = [0u8; 4];
        subxid.copy_from_slice(&header[8..12]);
        let mut len = [0u8; 4];
        len.copy_from_slice(&header[12..]);
        let len = u64::from(u32::from_be_bytes(len));
        let record = RECORD_HEADER as u64 + len;
        if record > self.bytes_left {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "spill record of {record} bytes exceeds the {} bytes left in the file",
                    self.bytes_left
                ),
            ));
        }
        let mut data = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
        self.file.read_exact(&mut data)?;
        self.records_left -= 1;
        self.bytes_left -= record;
        Ok(Some(Entry {
            wal_start: u64::from_be_bytes(wal_start),
            subxid: u32::from_be_bytes(subxid),
            data: Bytes::from(data),
        }))
    }
}
