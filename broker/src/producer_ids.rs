//! Producer ids for idempotent producers (InitProducerId), unique across restarts: blocks
//! of ids are reserved in `meta/producer-ids` before any id of the block is handed out.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::io;

const BLOCK: i64 = 1000;

pub struct ProducerIds {
    path: PathBuf,
    /// (next id to hand out, end of the reserved block)
    state: Mutex<(i64, i64)>,
}

impl ProducerIds {
    pub fn open(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join("meta").join("producer-ids");
        let reserved = match std::fs::read_to_string(&path) {
            Ok(s) => s
                .trim()
                .parse::<i64>()
                .map_err(|e| Error::CorruptMetadata {
                    path: path.clone(),
                    reason: e.to_string(),
                })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(Error::io(&path, e)),
        };
        // Ids below the reserved end may have been handed out: start after it.
        Ok(Self {
            path,
            state: Mutex::new((reserved, reserved)),
        })
    }

    /// A new producer id.
    pub fn next(&self) -> Result<i64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.0 >= state.1 {
            let end = state.1 + BLOCK;
            io::write_atomic(&self.path, end.to_string().as_bytes())
                .map_err(|e| Error::io(&self.path, e))?;
            state.1 = end;
        }
        let id = state.0;
        state.0 += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_unique_across_restarts() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("meta")).expect("meta dir");
        let a = ProducerIds::open(dir.path()).expect("open");
        let first: Vec<i64> = (0..3).map(|_| a.next().expect("id")).collect();
        assert_eq!(first, [0, 1, 2]);
        drop(a);
        let b = ProducerIds::open(dir.path()).expect("reopen");
        assert_eq!(b.next().expect("id"), BLOCK);
    }
}
