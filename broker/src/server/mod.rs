//! The Kafka wire-protocol server: any Kafka client or tool can use the broker unchanged.
//!
//! Produce path: socket -> [`frame`] (size-checked before any allocation) -> request header
//! -> the handler registered for the API in [`api`] -> storage -> response frame. Requests
//! on one connection are answered in order, one at a time, as Kafka does. Every connection
//! is a named task; the accept loop enforces a connection limit and stops on the shutdown
//! signal, letting in-flight requests finish.

pub mod api;
pub mod errors;
pub mod frame;
mod handlers;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::broker::Broker;
use crate::coordinator::GroupCoordinator;
use crate::producer_ids::ProducerIds;

/// Listener settings (Kafka's `listeners`, `advertised.listeners`, `socket.request.max.bytes`,
/// `max.connections`).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Host and port clients are told to connect to (Metadata, FindCoordinator).
    pub advertised_host: String,
    pub advertised_port: i32,
    pub node_id: i32,
    pub cluster_id: String,
    pub max_request_bytes: usize,
    pub max_connections: usize,
    pub auto_create_topics: bool,
    pub num_partitions: i32,
    /// How long a closing server waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// The longest a Fetch may wait for data, whatever `max_wait_ms` the client asks (keeps
    /// a misbehaving client from pinning a connection).
    pub fetch_max_wait: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            advertised_host: "127.0.0.1".to_string(),
            advertised_port: 9092,
            node_id: 0,
            cluster_id: "weir-cluster".to_string(),
            max_request_bytes: 100 * 1024 * 1024,
            max_connections: 1000,
            auto_create_topics: true,
            num_partitions: 1,
            shutdown_grace: Duration::from_secs(10),
            fetch_max_wait: Duration::from_secs(30),
        }
    }
}

/// What every handler can reach.
pub struct Context {
    pub broker: Arc<Broker>,
    pub config: ServerConfig,
    pub groups: GroupCoordinator,
    pub producer_ids: Arc<ProducerIds>,
}

/// Serves the Kafka protocol on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<Context>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(ctx.config.max_connections));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                    tracing::warn!(%peer, max = ctx.config.max_connections,
                        "connection refused: max.connections reached");
                    drop(stream);
                    continue;
                };
                let ctx = Arc::clone(&ctx);
                let stop = shutdown.clone();
                connections.spawn(async move {
                    connection(stream, peer, ctx, stop).await;
                    drop(permit);
                });
            }
            _ = shutdown.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let grace = ctx.config.shutdown_grace;
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            remaining = connections.len(),
            "aborting connections still busy at shutdown"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// One client connection: read a request, answer it, repeat. Stops between requests when
/// the server shuts down.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<Context>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::with_capacity(64 * 1024, read);
    tracing::debug!(%peer, "connection opened");
    let reason = loop {
        let frame = tokio::select! {
            f = frame::read_frame(&mut read, ctx.config.max_request_bytes) => f,
            _ = shutdown.changed() => break "server shutting down".to_string(),
        };
        let request = match frame {
            Ok(Some(r)) => r,
            Ok(None) => break "closed by client".to_string(),
            Err(e) => break e.to_string(),
        };
        match api::handle(&ctx, request).await {
            Ok(Some(response)) => {
                if let Err(e) = write.write_all(&response).await {
                    break format!("cannot write response: {e}");
                }
            }
            Ok(None) => {}
            Err(e) => break e.to_string(),
        }
    };
    let _ = write.shutdown().await;
    if reason == "closed by client" {
        tracing::debug!(%peer, "connection closed by client");
    } else {
        tracing::info!(%peer, reason = %reason, "connection closed");
    }
}
