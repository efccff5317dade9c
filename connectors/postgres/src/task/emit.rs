//! The hand-over from the engine (snapshot, streaming) to `poll`: records in batches of at
//! most `max.batch.size` through a bounded channel of `max.queue.size` records, so a slow log
//! slows the engine (and Postgres keeps the WAL) instead of growing memory.

use tokio::sync::{mpsc, watch};
use weir_connect_api::{ConnectRecord, ConnectorError};

/// What the engine hands to `poll`.
#[derive(Debug)]
pub enum Item {
    Records(Vec<ConnectRecord>),
    /// The engine stopped with this error (after its own retries).
    Failed(ConnectorError),
    /// `snapshot.mode=initial_only`: the snapshot is complete and nothing more will come.
    Finished,
}

/// The engine's side of the channel.
pub struct Emitter {
    tx: mpsc::Sender<Item>,
    batch: Vec<ConnectRecord>,
    max_batch: usize,
    shutdown: watch::Receiver<bool>,
}

/// The engine was told to stop while waiting for room in the channel.
#[derive(Debug)]
pub struct Closed;

impl Emitter {
    /// An emitter and the receiver `poll` reads; the channel holds about `max_queue` records.
    pub fn new(
        max_batch: usize,
        max_queue: usize,
        shutdown: watch::Receiver<bool>,
    ) -> (Self, mpsc::Receiver<Item>) {
        let batches = (max_queue / max_batch.max(1)).max(1);
        let (tx, rx) = mpsc::channel(batches);
        (
            Self {
                tx,
                batch: Vec::with_capacity(max_batch),
                max_batch,
                shutdown,
            },
            rx,
        )
    }

    /// Adds the records of one change; they are never split across batches.
    pub async fn push_all(&mut self, records: Vec<ConnectRecord>) -> Result<(), Closed> {
        self.batch.extend(records);
        if self.batch.len() >= self.max_batch {
            self.flush().await?;
        }
        Ok(())
    }

    pub async fn push(&mut self, record: ConnectRecord) -> Result<(), Closed> {
        self.batch.push(record);
        if self.batch.len() >= self.max_batch {
            self.flush().await?;
        }
        Ok(())
    }

    /// The records not yet handed over (the newest last), e.g. to mark the last record of a
    /// transaction once its commit is seen.
    pub fn unsent_mut(&mut self) -> &mut Vec<ConnectRecord> {
        &mut self.batch
    }

    pub fn has_unsent(&self) -> bool {
        !self.batch.is_empty()
    }

    /// Hands the current batch over, waiting for room.
    pub async fn flush(&mut self) -> Result<(), Closed> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(self.max_batch));
        if *self.shutdown.borrow() {
            return Err(Closed);
        }
        tokio::select! {
            sent = self.tx.send(Item::Records(batch)) => sent.map_err(|_| Closed),
            _ = self.shutdown.changed() => Err(Closed),
        }
    }

    /// Reports the engine's end.
    pub async fn finish(mut self, item: Item) {
        if self.flush().await.is_ok() {
            let _ = self.tx.send(item).await;
        }
    }
}
