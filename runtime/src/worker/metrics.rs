//! Per-task counters, updated lock-free by the task loops and read by `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the batch latency histogram buckets.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Counters of one task. `records_in`: polled from the source system (source) or read from
/// the log (sink); `records_out`: written to the log (source) or handed to `put` (sink).
#[derive(Debug, Default)]
pub struct TaskMetrics {
    records_in: AtomicU64,
    records_out: AtomicU64,
    errors: AtomicU64,
    dlq_writes: AtomicU64,
    offset_lag: AtomicU64,
    batches: AtomicU64,
    batch_micros: AtomicU64,
    buckets: [AtomicU64; 14],
}

/// A copy of one task's counters with its identity.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskMetricsSnapshot {
    pub connector: String,
    pub task: u32,
    /// `source` or `sink`.
    pub kind: &'static str,
    pub records_in: u64,
    pub records_out: u64,
    pub errors: u64,
    pub dlq_writes: u64,
    /// Sink: records in the log not yet delivered; source: records polled whose offsets are
    /// not committed yet.
    pub offset_lag: u64,
    pub batches: u64,
    pub batch_seconds_sum: f64,
    /// Cumulative counts per [`LATENCY_BUCKETS`] bound.
    pub batch_buckets: Vec<u64>,
}

impl TaskMetrics {
    pub fn add_in(&self, n: usize) {
        self.records_in.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub fn add_out(&self, n: usize) {
        self.records_out.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub fn add_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
    pub fn add_dlq_write(&self) {
        self.dlq_writes.fetch_add(1, Ordering::Relaxed);
    }
    pub fn set_offset_lag(&self, lag: u64) {
        self.offset_lag.store(lag, Ordering::Relaxed);
    }
    /// Records one batch's processing time.
    pub fn observe_batch(&self, elapsed: std::time::Duration) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.batch_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self, connector: &str, task: u32, kind: &'static str) -> TaskMetricsSnapshot {
        let mut cumulative = 0;
        let batch_buckets = self
            .buckets
            .iter()
            .map(|b| {
                cumulative += b.load(Ordering::Relaxed);
                cumulative
            })
            .collect();
        TaskMetricsSnapshot {
            connector: connector.to_string(),
            task,
            kind,
            records_in: self.records_in.load(Ordering::Relaxed),
            records_out: self.records_out.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            dlq_writes: self.dlq_writes.load(Ordering::Relaxed),
            offset_lag: self.offset_lag.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            batch_seconds_sum: self.batch_micros.load(Ordering::Relaxed) as f64 / 1e6,
            batch_buckets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn buckets_are_cumulative() {
        let m = TaskMetrics::default();
        m.observe_batch(Duration::from_micros(300));
        m.observe_batch(Duration::from_millis(30));
        m.observe_batch(Duration::from_secs(60));
        let s = m.snapshot("c", 0, "sink");
        assert_eq!(s.batches, 3);
        assert_eq!(s.batch_buckets[0], 1);
        assert_eq!(s.batch_buckets[6], 2);
        assert_eq!(*s.batch_buckets.last().expect("buckets"), 2);
    }
}
