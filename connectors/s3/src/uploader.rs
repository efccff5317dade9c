//! Uploads in the background, one file at a time, while `put` fills the next files: the
//! task encodes and uploads at once instead of in turn.
//!
//! A failed upload (server down, throttling, timeouts past the SDK's own retries) is tried
//! again with a growing backoff until it succeeds; only a failure retrying cannot fix
//! (missing bucket, denied access) is reported. `put` stops taking records while
//! [`MAX_QUEUED`] files wait, so nothing piles up while S3 is away.

use std::time::Duration;

use tokio::sync::mpsc;
use weir_connect_api::{ConnectorError, TopicPartition};

use crate::store::Store;
use crate::writer::Upload;
use std::sync::Arc;

/// Files handed to the uploader and not uploaded yet, at most, before `put` waits.
pub const MAX_QUEUED: usize = 2;
/// How long `put` waits for a queued upload before it tells the worker to back off.
pub const WAIT_FOR_UPLOAD: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Capacity of the job channel; [`MAX_QUEUED`] is what bounds the work in practice.
const CHANNEL: usize = 64;

struct Job {
    tp: TopicPartition,
    upload: Upload,
}

/// A finished upload: the file's partition and first offset, or the error that ended it.
pub struct Done {
    pub tp: TopicPartition,
    pub start_offset: i64,
    pub result: Result<(), ConnectorError>,
}

pub struct Uploader {
    jobs: mpsc::Sender<Job>,
    done: mpsc::Receiver<Done>,
    task: tokio::task::JoinHandle<()>,
    /// Jobs sent and not reported done.
    queued: usize,
}

impl Uploader {
    /// Starts the upload task for `store`; `backoff` is the first wait after a failure.
    pub fn start(store: Arc<Store>, backoff: Duration, name: String) -> Self {
        let (jobs, mut rx) = mpsc::channel::<Job>(CHANNEL);
        let (done_tx, done) = mpsc::channel::<Done>(CHANNEL);
        let task = tokio::spawn(async move {
            while let Some(mut job) = rx.recv().await {
                let mut delay = backoff.max(Duration::from_millis(50));
                let result = loop {
                    match store.upload(&job.upload.key, &mut job.upload.parts).await {
                        Ok(()) => break Ok(()),
                        Err(e) if e.is_retriable() => {
                            tracing::warn!(uploader = %name, key = %job.upload.key, error = %e, ?delay,
                                "upload failed; trying again");
                            tokio::time::sleep(delay).await;
                            delay = (delay * 2).min(MAX_BACKOFF);
                        }
                        Err(e) => break Err(e),
                    }
                };
                if result.is_ok() {
                    tracing::debug!(uploader = %name, key = %job.upload.key,
                        records = job.upload.records, bytes = job.upload.parts.len(), "uploaded");
                }
                let done = Done {
                    tp: job.tp,
                    start_offset: job.upload.start_offset,
                    result,
                };
                if done_tx.send(done).await.is_err() {
                    break;
                }
            }
        });
        Self {
            jobs,
            done,
            task,
            queued: 0,
        }
    }

    /// Files waiting or being uploaded.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Hands a file over; gives it back when the channel is full.
    pub fn send(&mut self, tp: TopicPartition, upload: Upload) -> Result<(), Upload> {
        match self.jobs.try_send(Job { tp, upload }) {
            Ok(()) => {
                self.queued += 1;
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job)) => {
                Err(job.upload)
            }
        }
    }

    /// A finished upload if there is one, without waiting.
    pub fn try_done(&mut self) -> Option<Done> {
        let done = self.done.try_recv().ok()?;
        self.queued = self.queued.saturating_sub(1);
        Some(done)
    }

    /// The next finished upload, waiting at most `limit`.
    pub async fn wait_done(&mut self, limit: Duration) -> Option<Done> {
        let done = tokio::time::timeout(limit, self.done.recv()).await.ok()??;
        self.queued = self.queued.saturating_sub(1);
        Some(done)
    }
}

impl Drop for Uploader {
    fn drop(&mut self) {
        // Files not uploaded are read again from the last commit.
        self.task.abort();
    }
}
