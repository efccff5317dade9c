//! The CopyBoth replication stream of a logical slot.
//!
//! A tokio task (span `pg-replication`, field `slot`) owns the socket. It forwards XLogData
//! into a bounded channel and reads the socket only when the channel has room, so a slow
//! consumer holds back the walsender instead of growing a buffer. While it waits, for room or
//! for the server, it still answers keepalives that ask for a reply and sends a standby status
//! update at least every `min(status_interval, wal_sender_timeout / 2)`, and promptly after
//! [`ReplicationStream::set_flushed`] raises the flushed LSN, so the walsender neither times
//! out nor holds WAL longer than needed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;
use tracing::Instrument;

use super::codec::{self, ServerCopy};
use super::error::ServerFields;
use super::frame::{Backend, Framed};
use super::{Connection, Lsn, WireError, format_lsn, quote_ident};

/// Status updates are never sent more often than this, whatever the settings say.
const MIN_STATUS_INTERVAL: Duration = Duration::from_millis(100);

/// How the replication stream is paced.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// Longest time between two standby status updates (also bounded by half of the server's
    /// `wal_sender_timeout`). Default 10 s, as pg_recvlogical and Debezium.
    pub status_interval: Duration,
    /// Items buffered between the socket task and [`ReplicationStream::recv`].
    pub channel_capacity: usize,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            status_interval: Duration::from_secs(10),
            channel_capacity: 256,
        }
    }
}

/// One item of the replication stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replication {
    /// WAL data: one pgoutput message.
    XLog(XLogData),
    /// A primary keepalive (already answered if it asked for a reply). Dropped rather than
    /// waited for when the channel is full.
    Keepalive {
        /// The server's current end of WAL.
        wal_end: Lsn,
    },
}

/// XLogData (`w`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XLogData {
    /// WAL position of the start of this data.
    pub wal_start: Lsn,
    /// The server's current end of WAL.
    pub wal_end: Lsn,
    /// Server clock at transmission, µs since 2000-01-01 UTC.
    pub send_time: i64,
    /// The output plugin's message (for pgoutput: exactly one message).
    pub data: Bytes,
}

/// State shared by the consumer and the socket task.
struct Shared {
    flushed: AtomicU64,
    raised: Notify,
}

type CloseReply = oneshot::Sender<Result<(), WireError>>;

/// A running replication stream; see the module docs. Dropping it stops the task and closes
/// the socket (the server then ends the walsender); [`ReplicationStream::close`] ends it
/// cleanly.
pub struct ReplicationStream {
    rx: mpsc::Receiver<Result<Replication, WireError>>,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<CloseReply>>,
    addr: String,
    slot: String,
    pid: i32,
    io_timeout: Duration,
}

impl ReplicationStream {
    /// The next item. A closed socket, an ErrorResponse or the server ending the copy is an
    /// `Err`, never a silent end; once it has failed, every later call is an `Err` too.
    pub async fn recv(&mut self) -> Result<Replication, WireError> {
        match self.rx.recv().await {
            Some(item) => item,
            None => Err(WireError::closed(
                &self.addr,
                format!("the replication stream of slot \"{}\" has ended", self.slot),
            )),
        }
    }

    /// Records that everything before `lsn` is durable downstream; it is reported as the
    /// written, flushed and applied position (the slot's `confirmed_flush_lsn`) in the next
    /// status update, which is sent promptly. Never moves backwards.
    pub fn set_flushed(&self, lsn: Lsn) {
        let prev = self.shared.flushed.fetch_max(lsn, Ordering::AcqRel);
        if lsn > prev {
            self.shared.raised.notify_one();
        }
    }

    /// The highest LSN given to [`ReplicationStream::set_flushed`] (0 before any).
    pub fn flushed(&self) -> Lsn {
        self.shared.flushed.load(Ordering::Acquire)
    }

    /// Process id of the walsender (as in `pg_replication_slots.active_pid`).
    pub fn backend_pid(&self) -> i32 {
        self.pid
    }

    /// Ends the stream cleanly: a last status update, CopyDone, the server's remaining
    /// messages read up to ReadyForQuery (bounded by the query timeout), then Terminate. An
    /// error the consumer has not received yet is returned here.
    pub async fn close(mut self) -> Result<(), WireError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let asked = match self.stop.take() {
            Some(stop) => stop.send(reply_tx).is_ok(),
            None => false,
        };
        if asked {
            let bound = self.io_timeout * 2 + Duration::from_secs(1);
            match tokio::time::timeout(bound, reply_rx).await {
                Ok(Ok(r)) => return r,
                Ok(Err(_)) => {}
                Err(_) => {
                    return Err(WireError::Timeout {
                        what: format!(
                            "the replication stream of slot \"{}\" at {} to close",
                            self.slot, self.addr
                        ),
                        after: bound,
                    });
                }
            }
        }
        // The task had already ended: report its error if the consumer has not seen it.
        match self.rx.try_recv() {
            Ok(Err(e)) => Err(e),
            _ => Ok(()),
        }
    }
}

impl Connection {
    /// `START_REPLICATION SLOT "<slot>" LOGICAL <start> (<options>)` on a connection made
    /// with `replication: true`; the connection becomes the stream. `options` are the output
    /// plugin's (for pgoutput: `proto_version`, `publication_names`, `messages`, `streaming`,
    /// ...), values given unquoted. Reads `SHOW wal_sender_timeout` first to pace status
    /// updates.
    pub async fn start_replication(
        mut self,
        slot: &str,
        start: Lsn,
        options: &[(String, String)],
        settings: StreamSettings,
    ) -> Result<ReplicationStream, WireError> {
        let interval = self.status_interval(&settings).await?;
        let sql = start_replication_sql(slot, start, options);
        self.start_query(&sql).await?;
        // The query is not an ordinary one: its answer is CopyBothResponse.
        self.in_flight = None;
        let mut error = None;
        loop {
            let m = match self.recv().await {
                Ok(m) => m,
                // A FATAL error is followed by the socket closing: the error says more.
                Err(e) => return Err(error.unwrap_or(e)),
            };
            match m {
                Backend::CopyBoth if error.is_none() => break,
                Backend::Message(Message::ErrorResponse(body)) => {
                    error.get_or_insert(ServerFields::parse(body.fields()).into_error());
                }
                Backend::Message(Message::ReadyForQuery(_)) => {
                    return Err(error.unwrap_or_else(|| {
                        WireError::protocol(
                            self.addr(),
                            format!(
                                "START_REPLICATION for slot \"{slot}\" ended without streaming"
                            ),
                        )
                    }));
                }
                Backend::NegotiateProtocol { .. } => {}
                other => return Err(self.unexpected(&other, "in reply to START_REPLICATION")),
            }
        }
        tracing::debug!(server = %self.addr(), slot, start = %format_lsn(start),
            interval_ms = interval.as_millis() as u64, "replication stream started");
        let shared = Arc::new(Shared {
            flushed: AtomicU64::new(0),
            raised: Notify::new(),
        });
        let (tx, rx) = mpsc::channel(settings.channel_capacity.max(1));
        let (stop_tx, stop_rx) = oneshot::channel();
        let addr = self.addr().to_string();
        let worker = Worker {
            framed: self.framed,
            tx,
            shared: shared.clone(),
            interval,
            io_timeout: self.query_timeout,
            slot: slot.to_string(),
            next_status: Instant::now() + interval,
        };
        let span = tracing::info_span!("pg-replication", slot = %slot);
        tokio::spawn(worker.run(stop_rx).instrument(span));
        Ok(ReplicationStream {
            rx,
            shared,
            stop: Some(stop_tx),
            addr,
            slot: slot.to_string(),
            pid: self.pid,
            io_timeout: self.query_timeout,
        })
    }

    /// `min(status_interval, wal_sender_timeout / 2)`; a timeout of 0 disables the bound.
    async fn status_interval(&mut self, settings: &StreamSettings) -> Result<Duration, WireError> {
        let rows = self.simple_query("SHOW wal_sender_timeout").await?;
        let text = rows
            .first()
            .and_then(|r| r.get(0))
            .unwrap_or("0")
            .to_string();
        let wst = codec::parse_pg_duration(&text).map_err(|r| {
            WireError::protocol(self.addr(), format!("SHOW wal_sender_timeout: {r}"))
        })?;
        let mut interval = settings.status_interval;
        if let Some(wst) = wst {
            interval = interval.min(wst / 2);
        }
        Ok(interval.max(MIN_STATUS_INTERVAL))
    }
}

/// The command text. The slot is a quoted identifier; option names are identifiers and their
/// values string literals of the replication grammar, which doubles quotes and has no
/// backslash escapes.
pub(crate) fn start_replication_sql(
    slot: &str,
    start: Lsn,
    options: &[(String, String)],
) -> String {
    let mut sql = format!(
        "START_REPLICATION SLOT {} LOGICAL {}",
        quote_ident(slot),
        format_lsn(start)
    );
    if !options.is_empty() {
        let opts: Vec<String> = options
            .iter()
            .map(|(k, v)| format!("{} '{}'", quote_ident(k), v.replace('\'', "''")))
            .collect();
        sql.push_str(&format!(" ({})", opts.join(", ")));
    }
    sql
}

/// How the main loop ended.
enum Exit {
    Failed(WireError),
    Close(CloseReply),
    Dropped,
}

/// The socket task.
struct Worker {
    framed: Framed,
    tx: mpsc::Sender<Result<Replication, WireError>>,
    shared: Arc<Shared>,
    interval: Duration,
    io_timeout: Duration,
    slot: String,
    next_status: Instant,
}

type Stop = oneshot::Receiver<CloseReply>;

impl Worker {
    async fn run(mut self, mut stop: Stop) {
        match self.stream(&mut stop).await {
            Exit::Failed(e) => {
                tracing::debug!(error = %e, "replication stream failed");
                // Hand the error to whoever asks first: the consumer or close().
                tokio::select! {
                    permit = self.tx.reserve() => {
                        if let Ok(p) = permit {
                            p.send(Err(e));
                        }
                    }
                    reply = &mut stop => {
                        if let Ok(reply) = reply {
                            let _ = reply.send(Err(e));
                        }
                    }
                }
            }
            Exit::Close(reply) => {
                let r = self.shutdown().await;
                let _ = reply.send(r);
            }
            Exit::Dropped => tracing::debug!("replication stream dropped by its consumer"),
        }
    }

    async fn stream(&mut self, stop: &mut Stop) -> Exit {
        loop {
            tokio::select! {
                biased;
                s = &mut *stop => return stop_exit(s),
                _ = tokio::time::sleep_until(self.next_status) => {
                    if let Err(e) = self.send_status().await {
                        return Exit::Failed(e);
                    }
                }
                _ = self.shared.raised.notified() => {
                    if let Err(e) = self.send_status().await {
                        return Exit::Failed(e);
                    }
                }
                m = self.framed.read() => {
                    let m = match m {
                        Ok(m) => m,
                        Err(e) => return Exit::Failed(self.name_slot(e)),
                    };
                    if let Some(exit) = self.handle(m, stop).await {
                        return exit;
                    }
                }
            }
        }
    }

    async fn handle(&mut self, m: Backend, stop: &mut Stop) -> Option<Exit> {
        let addr = self.framed.addr.clone();
        let payload = match m {
            Backend::Message(Message::CopyData(body)) => body.into_bytes(),
            Backend::Message(Message::ErrorResponse(body)) => {
                return Some(Exit::Failed(
                    ServerFields::parse(body.fields()).into_error(),
                ));
            }
            Backend::Message(Message::CopyDone) => {
                return Some(Exit::Failed(WireError::closed(
                    &addr,
                    format!(
                        "the server ended the replication stream of slot \"{}\" (CopyDone)",
                        self.slot
                    ),
                )));
            }
            // A walsender shutting down (Postgres stopping) ends the command without CopyDone.
            Backend::Message(Message::CommandComplete(_))
            | Backend::Message(Message::ReadyForQuery(_)) => {
                return Some(Exit::Failed(WireError::closed(
                    &addr,
                    format!(
                        "the server ended the replication stream of slot \"{}\" (it is \
                         shutting down)",
                        self.slot
                    ),
                )));
            }
            Backend::Message(Message::NoticeResponse(body)) => {
                let f = ServerFields::parse(body.fields());
                tracing::debug!(code = %f.code, message = %f.message, "postgres notice");
                return None;
            }
            Backend::Message(Message::ParameterStatus(_))
            | Backend::Message(Message::NotificationResponse(_)) => return None,
            other => {
                return Some(Exit::Failed(WireError::protocol(
                    &addr,
                    format!(
                        "unexpected message {} in the replication stream of slot \"{}\"",
                        super::connection::describe(&other),
                        self.slot
                    ),
                )));
            }
        };
        match codec::decode_server_copy(payload) {
            Ok(ServerCopy::XLog {
                wal_start,
                wal_end,
                send_time,
                data,
            }) => {
                let item = Replication::XLog(XLogData {
                    wal_start,
                    wal_end,
                    send_time,
                    data,
                });
                self.forward(item, stop).await
            }
            Ok(ServerCopy::Keepalive {
                wal_end,
                reply_requested,
            }) => {
                if reply_requested && let Err(e) = self.send_status().await {
                    return Some(Exit::Failed(e));
                }
                match self.tx.try_send(Ok(Replication::Keepalive { wal_end })) {
                    Err(mpsc::error::TrySendError::Closed(_)) => Some(Exit::Dropped),
                    _ => None,
                }
            }
            Err(reason) => Some(Exit::Failed(WireError::protocol(
                &addr,
                format!(
                    "in the replication stream of slot \"{}\": {reason}",
                    self.slot
                ),
            ))),
        }
    }

    /// Waits for room in the channel without reading the socket, still sending status
    /// updates on time so the walsender does not time out behind a slow consumer.
    async fn forward(&mut self, item: Replication, stop: &mut Stop) -> Option<Exit> {
        // A handle of its own: the permit must not borrow `self`, which the other branches
        // need mutably.
        let tx = self.tx.clone();
        loop {
            tokio::select! {
                biased;
                s = &mut *stop => return Some(stop_exit(s)),
                permit = tx.reserve() => {
                    return match permit {
                        Ok(p) => {
                            p.send(Ok(item));
                            None
                        }
                        Err(_) => Some(Exit::Dropped),
                    };
                }
                _ = tokio::time::sleep_until(self.next_status) => {
                    if let Err(e) = self.send_status().await {
                        return Some(Exit::Failed(e));
                    }
                }
                _ = self.shared.raised.notified() => {
                    if let Err(e) = self.send_status().await {
                        return Some(Exit::Failed(e));
                    }
                }
            }
        }
    }

    async fn send_status(&mut self) -> Result<(), WireError> {
        let lsn = self.shared.flushed.load(Ordering::Acquire);
        let mut buf = BytesMut::with_capacity(40);
        codec::encode_status_update(&mut buf, lsn, codec::pg_now_us());
        self.write(&buf, "a standby status update").await?;
        self.next_status = Instant::now() + self.interval;
        Ok(())
    }

    async fn write(&mut self, buf: &[u8], what: &str) -> Result<(), WireError> {
        match tokio::time::timeout(self.io_timeout, self.framed.write_all(buf)).await {
            Ok(r) => r.map_err(|e| self.name_slot(e)),
            Err(_) => Err(WireError::Timeout {
                what: format!(
                    "the socket to Postgres at {} to accept {what} for slot \"{}\"",
                    self.framed.addr, self.slot
                ),
                after: self.io_timeout,
            }),
        }
    }

    /// Adds the slot to a closed-connection error, so the consumer knows which stream died.
    fn name_slot(&self, e: WireError) -> WireError {
        match e {
            WireError::Closed { addr, reason } => WireError::Closed {
                addr,
                reason: format!("{reason} (replication stream of slot \"{}\")", self.slot),
            },
            other => other,
        }
    }

    /// The clean end: a last status update, CopyDone, drain to ReadyForQuery, Terminate.
    async fn shutdown(&mut self) -> Result<(), WireError> {
        self.send_status().await?;
        let mut buf = BytesMut::new();
        frontend::copy_done(&mut buf);
        self.write(&buf, "CopyDone").await?;
        let io_timeout = self.io_timeout;
        let drained = tokio::time::timeout(io_timeout, async {
            let mut error = None;
            loop {
                match self.framed.read().await? {
                    Backend::Message(Message::ReadyForQuery(_)) => {
                        return match error {
                            Some(e) => Err(e),
                            None => Ok(()),
                        };
                    }
                    Backend::Message(Message::ErrorResponse(body)) => {
                        let e = ServerFields::parse(body.fields()).into_error();
                        error.get_or_insert(e);
                    }
                    // Data sent before the server saw CopyDone: not acknowledged, so it is
                    // sent again on the next START_REPLICATION.
                    _ => {}
                }
            }
        })
        .await;
        let result = match drained {
            Ok(r) => r,
            Err(_) => Err(WireError::Timeout {
                what: format!(
                    "Postgres at {} to end the replication stream of slot \"{}\"",
                    self.framed.addr, self.slot
                ),
                after: io_timeout,
            }),
        };
        buf.clear();
        frontend::terminate(&mut buf);
        let _ = self.write(&buf, "Terminate").await;
        self.framed.shutdown().await;
        result
    }
}

fn stop_exit(s: Result<CloseReply, oneshot::error::RecvError>) -> Exit {
    match s {
        Ok(reply) => Exit::Close(reply),
        Err(_) => Exit::Dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_replication_command_text() {
        let opts = vec![
            ("proto_version".to_string(), "1".to_string()),
            (
                "publication_names".to_string(),
                "\"pub\",\"it's\"".to_string(),
            ),
        ];
        assert_eq!(
            start_replication_sql("my slot", 0x16_B374_D848, &opts),
            "START_REPLICATION SLOT \"my slot\" LOGICAL 16/B374D848 (\"proto_version\" '1', \
             \"publication_names\" '\"pub\",\"it''s\"')"
        );
        assert_eq!(
            start_replication_sql("s", 0, &[]),
            "START_REPLICATION SLOT \"s\" LOGICAL 0/0"
        );
    }
}
