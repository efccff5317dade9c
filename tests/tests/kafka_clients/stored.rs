//! What the broker wrote to disk: batch headers read straight from the segment files.

use std::path::{Path, PathBuf};

/// The header fields of one stored batch that tell how the producer wrote it.
pub(crate) struct StoredBatch {
    /// Attributes bits 0-2.
    pub(crate) codec: u16,
    /// -1 unless the producer is idempotent (or transactional).
    pub(crate) producer_id: i64,
}

/// Every batch of every segment of `dir` (a partition directory), read straight from the
/// `.log` files: the broker stores producer batches unchanged (docs/storage-format.md).
pub(crate) fn stored_batches(dir: &Path) -> Vec<StoredBatch> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    let mut batches = Vec::new();
    for log in logs {
        let bytes = std::fs::read(&log).expect("read segment");
        let mut pos = 0;
        // baseOffset 8, batchLength 4, leaderEpoch 4, magic 1, crc 4, attributes 2,
        // lastOffsetDelta 4, baseTimestamp 8, maxTimestamp 8, producerId 8, ...
        while pos + 51 <= bytes.len() {
            let field = |at: usize, n: usize| &bytes[pos + at..pos + at + n];
            let len = i32::from_be_bytes(field(8, 4).try_into().expect("4 bytes"));
            batches.push(StoredBatch {
                codec: u16::from_be_bytes(field(21, 2).try_into().expect("2 bytes")) & 7,
                producer_id: i64::from_be_bytes(field(43, 8).try_into().expect("8 bytes")),
            });
            pos += 12 + usize::try_from(len).expect("batch length");
        }
    }
    batches
}
