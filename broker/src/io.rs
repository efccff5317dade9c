//! The I/O seam under segments and indexes.
//!
//! Everything the storage engine writes goes through [`FileIo`] (six methods, after redb's
//! `StorageBackend`) opened by a [`Backend`]. Production uses [`StdBackend`]; tests plug in a
//! backend that fails or tears a write at a chosen byte to simulate crashes and disk errors.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

/// Positional file access. Implementations must be safe to share between threads: reads may
/// run concurrently with an append at a higher position.
pub trait FileIo: Send + Sync {
    /// Reads up to `buf.len()` bytes at `pos`; returns how many were read (0 at end of file).
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize>;
    /// Writes all of `buf` at `pos`, or fails (a failure may leave a prefix written).
    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<()>;
    /// Truncates or extends the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Makes every completed write durable (fsync).
    fn sync(&self) -> io::Result<()>;
    /// The file's current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Whether the file holds no bytes.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// Opens files for the storage engine.
pub trait Backend: Send + Sync {
    /// Opens `path` for reading and writing, creating it when missing.
    fn open(&self, path: &Path) -> io::Result<Arc<dyn FileIo>>;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdBackend;

impl Backend for StdBackend {
    fn open(&self, path: &Path) -> io::Result<Arc<dyn FileIo>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        Ok(Arc::new(StdFile(file)))
    }
}

struct StdFile(File);

impl FileIo for StdFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        self.0.read_at(buf, pos)
    }
    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        self.0.write_all_at(buf, pos)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn sync(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
}

/// Reads exactly `buf.len()` bytes at `pos`, failing with `UnexpectedEof` on a short file.
pub(crate) fn read_exact_at(file: &dyn FileIo, buf: &mut [u8], mut pos: u64) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let n = file.read_at(&mut buf[done..], pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file ends inside the requested range",
            ));
        }
        done += n;
        pos += n as u64;
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically: a temp file, fsync, rename over, fsync of the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        io::Write::write_all(&mut f, bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Fsyncs a directory so that a create, rename or delete inside it is durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
