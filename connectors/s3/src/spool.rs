//! The bytes of files not uploaded yet. All spools of a task share one memory budget
//! (`s3.spool.memory.bytes`); a write that would pass it moves that spool to an anonymous
//! temporary file, so memory stays bounded whatever the number of open files.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;

/// Memory shared by a task's spools.
#[derive(Debug)]
pub struct Budget {
    used: AtomicUsize,
    limit: usize,
}

impl Budget {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            used: AtomicUsize::new(0),
            limit,
        })
    }

    /// Bytes held in memory by all spools now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Takes `n` bytes if they fit.
    fn try_take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(n).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }

    fn give_back(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::Relaxed);
    }
}

/// One file's bytes: in memory while the budget allows, then on disk.
#[derive(Debug)]
pub struct Spool {
    budget: Arc<Budget>,
    memory: Vec<u8>,
    disk: Option<std::fs::File>,
    len: u64,
}

impl Spool {
    pub fn new(budget: Arc<Budget>) -> Self {
        Self {
            budget,
            memory: Vec::new(),
            disk: None,
            len: 0,
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the spool moved to disk.
    pub fn on_disk(&self) -> bool {
        self.disk.is_some()
    }

    fn spill(&mut self) -> io::Result<&mut std::fs::File> {
        let mut file = tempfile::tempfile()?;
        file.write_all(&self.memory)?;
        self.budget.give_back(self.memory.len());
        self.memory = Vec::new();
        Ok(self.disk.insert(file))
    }

    /// The content in parts of at most `part_size` bytes, read one at a time.
    pub fn into_parts(mut self, part_size: usize) -> io::Result<Parts> {
        let source = match self.disk.take() {
            Some(file) => Source::Disk(file),
            None => {
                let bytes = Bytes::from(std::mem::take(&mut self.memory));
                // The budget is returned when the parts are dropped.
                Source::Memory {
                    bytes,
                    _lease: MemoryLease(Arc::clone(&self.budget), self.len),
                }
            }
        };
        Ok(Parts {
            source,
            len: std::mem::take(&mut self.len),
            position: 0,
            part_size: part_size.max(1),
        })
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.disk.is_none() && !self.budget.try_take(buf.len()) {
            self.spill()?;
        }
        match self.disk.as_mut() {
            Some(file) => file.write_all(buf)?,
            None => self.memory.extend_from_slice(buf),
        }
        self.len += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.budget.give_back(self.memory.len());
    }
}

/// Memory of a spool being uploaded, given back to the budget on drop.
#[derive(Debug)]
struct MemoryLease(Arc<Budget>, u64);

impl Drop for MemoryLease {
    fn drop(&mut self) {
        self.0.give_back(usize::try_from(self.1).unwrap_or(0));
    }
}

#[derive(Debug)]
enum Source {
    /// The lease returns the memory to the budget when the upload is done with it.
    Memory {
        bytes: Bytes,
        _lease: MemoryLease,
    },
    Disk(std::fs::File),
}

/// A spool's content as upload parts; [`Parts::rewind`] starts again (for a retry).
#[derive(Debug)]
pub struct Parts {
    source: Source,
    len: u64,
    position: u64,
    part_size: usize,
}

impl Parts {
    /// The whole content's size.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Back to the first part.
    pub fn rewind(&mut self) {
        self.position = 0;
    }

    /// The next part, `None` at the end.
    pub fn next_part(&mut self) -> io::Result<Option<Bytes>> {
        let remaining = self.len - self.position;
        if remaining == 0 {
            return Ok(None);
        }
        let n = usize::try_from(remaining)
            .unwrap_or(usize::MAX)
            .min(self.part_size);
        let start = usize::try_from(self.position).unwrap_or(usize::MAX);
        let part = match &mut self.source {
            Source::Memory { bytes, .. } => bytes.slice(start..start + n),
            Source::Disk(file) => {
                file.seek(SeekFrom::Start(self.position))?;
                let mut buf = vec![0; n];
                file.read_exact(&mut buf)?;
                Bytes::from(buf)
            }
        };
        self.position += n as u64;
        Ok(Some(part))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(parts: &mut Parts) -> Vec<Bytes> {
        let mut out = Vec::new();
        while let Some(p) = parts.next_part().expect("part") {
            out.push(p);
        }
        out
    }

    #[test]
    fn spools_past_the_budget_go_to_disk_and_read_back_whole() {
        let budget = Budget::new(10);
        let mut a = Spool::new(Arc::clone(&budget));
        let mut b = Spool::new(Arc::clone(&budget));
        a.write_all(b"0123456").expect("a");
        assert_eq!(budget.used(), 7);
        b.write_all(b"abcdef").expect("b");
        assert!(b.on_disk() && !a.on_disk());
        assert_eq!(budget.used(), 7);
        b.write_all(b"ghij").expect("b");
        let mut parts = b.into_parts(4).expect("parts");
        assert_eq!(collect(&mut parts), vec!["abcd", "efgh", "ij"]);
        let mut parts = a.into_parts(100).expect("parts");
        assert_eq!(budget.used(), 7, "held until uploaded");
        assert_eq!(collect(&mut parts), vec!["0123456"]);
        parts.rewind();
        assert_eq!(
            collect(&mut parts),
            vec!["0123456"],
            "read again for a retry"
        );
        drop(parts);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn dropped_spools_give_their_memory_back() {
        let budget = Budget::new(100);
        let mut a = Spool::new(Arc::clone(&budget));
        a.write_all(b"hello").expect("a");
        drop(a);
        assert_eq!(budget.used(), 0);
    }
}
