//! Snapshot progress: rows done and the planner's estimate per table, logged as it goes and
//! readable by whoever holds the handle.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Progress of one snapshot.
#[derive(Debug, Default)]
pub struct Progress {
    state: Mutex<State>,
}

#[derive(Debug, Default, Clone)]
pub struct State {
    pub table: Option<String>,
    pub table_rows: u64,
    pub table_estimate: Option<u64>,
    pub tables_done: usize,
    pub total_rows: u64,
    pub finished: bool,
    last_log: Option<Instant>,
}

const LOG_EVERY: Duration = Duration::from_secs(10);

impl Progress {
    pub fn start_table(&self, table: &str, estimate: Option<u64>) {
        let mut s = self.lock();
        if s.table.is_some() {
            s.tables_done += 1;
        }
        s.table = Some(table.to_string());
        s.table_rows = 0;
        s.table_estimate = estimate;
        tracing::info!(table, estimate, "snapshot of {table} started");
    }

    pub fn add_rows(&self, n: u64) {
        let mut s = self.lock();
        s.table_rows += n;
        s.total_rows += n;
        if s.last_log.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
            s.last_log = Some(Instant::now());
            let table = s.table.clone().unwrap_or_default();
            match s.table_estimate {
                Some(e) if e > 0 => tracing::info!(
                    "snapshot of {table}: {} of about {e} rows ({}%)",
                    s.table_rows,
                    (s.table_rows * 100 / e).min(100)
                ),
                _ => tracing::info!("snapshot of {table}: {} rows", s.table_rows),
            }
        }
    }

    pub fn finish(&self) {
        let mut s = self.lock();
        if s.table.take().is_some() {
            s.tables_done += 1;
        }
        s.finished = true;
        tracing::info!(
            tables = s.tables_done,
            rows = s.total_rows,
            "snapshot completed: {} rows from {} tables",
            s.total_rows,
            s.tables_done
        );
    }

    pub fn snapshot(&self) -> State {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}
