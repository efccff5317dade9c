//! A small Kafka client for `weir produce|consume|topics --bootstrap`: enough of the protocol
//! to talk to `weir serve` or a Kafka cluster, built on the `kafka-protocol` codec.
//!
//! This file is one broker connection: 4-byte size framing, correlation ids, ApiVersions
//! negotiation (the highest version both sides support, from [`SUPPORTED`]), a connect and a
//! request timeout, and a cap on the response frame size so a broken or hostile peer cannot
//! make us allocate what it claims. [`error`] classifies Kafka error codes and retries the
//! retriable ones with backoff; [`admin`] holds the cluster view (metadata, one connection per
//! broker) and the topic admin calls; [`producer`], [`consumer`] and [`group`] build on it.
//! [`group`] serves any group protocol: the consumer's ([`assignor`]) and Kafka Connect's
//! ([`connect_protocol`]).

pub mod admin;
pub mod assignor;
pub mod connect_protocol;
pub mod consumer;
pub mod error;
pub mod group;
mod heartbeat;
pub mod offsets;
pub mod producer;

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

pub use error::{KafkaError, RetryPolicy};

/// The API versions this client speaks; a request uses the highest the broker also speaks.
/// Maxima stop before versions that change a request's shape in ways this client does not
/// implement (topic ids in Fetch 13+, multi-group OffsetFetch 8+, DeleteTopics 6+).
const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 9),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 1, 12),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 7),
    (ApiKey::FindCoordinator, 1, 4),
    (ApiKey::JoinGroup, 2, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 5),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::OffsetDelete, 0, 0),
];

const UNSUPPORTED_VERSION: i16 = 35;

/// Client settings: timeouts, limits and retries.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port` to start from (`--bootstrap`), or a comma-separated list of them
    /// (Kafka's `bootstrap.servers`), tried in turn.
    pub bootstrap: String,
    pub client_id: String,
    pub connect_timeout: Duration,
    /// How long one request may take before the connection is given up.
    pub request_timeout: Duration,
    /// The largest response frame accepted (Kafka's `fetch.max.bytes` is 50 MiB).
    pub max_response_bytes: usize,
    pub retry: RetryPolicy,
}

impl ClientConfig {
    pub fn new(bootstrap: &str) -> Self {
        Self {
            bootstrap: bootstrap.to_string(),
            client_id: "weir-cli".to_string(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_response_bytes: 100 * 1024 * 1024,
            retry: RetryPolicy::default(),
        }
    }

    /// The bootstrap addresses, in the order given.
    pub fn bootstrap_addrs(&self) -> impl Iterator<Item = &str> {
        self.bootstrap
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
    }
}

/// One broker connection. Requests go one at a time; after a timeout or an i/o error the
/// connection is marked broken (a response may still be in flight) and refuses further use.
pub struct Connection {
    addr: String,
    reader: BufReader<OwnedReadHalf>,
    writer: BufWriter<OwnedWriteHalf>,
    next_correlation: i32,
    /// The broker's (min, max) per API key.
    versions: BTreeMap<i16, (i16, i16)>,
    cfg: ClientConfig,
    broken: bool,
}

impl Connection {
    /// Connects to `addr` and negotiates API versions.
    pub async fn connect(addr: &str, cfg: &ClientConfig) -> anyhow::Result<Self> {
        let stream = tokio::time::timeout(cfg.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| {
                anyhow!(
                    "cannot connect to Kafka broker {addr}: no answer within {:?}",
                    cfg.connect_timeout
                )
            })?
            .with_context(|| format!("cannot connect to Kafka broker {addr}"))?;
        stream.set_nodelay(true).ok();
        let (r, w) = stream.into_split();
        let mut conn = Self {
            addr: addr.to_string(),
            reader: BufReader::with_capacity(64 * 1024, r),
            writer: BufWriter::with_capacity(64 * 1024, w),
            next_correlation: 0,
            versions: BTreeMap::new(),
            cfg: cfg.clone(),
            broken: false,
        };
        conn.negotiate()
            .await
            .with_context(|| format!("API version negotiation with {addr} failed"))?;
        Ok(conn)
    }

    /// Whether an earlier request failed midway (the connection must be replaced).
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Marks the connection unusable, so its owner replaces it before the next request.
    pub fn abandon(&mut self) {
        self.broken = true;
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Asks for the broker's versions with our highest ApiVersions; a broker that does not
    /// know it answers in v0 with its own range, and we ask again within it.
    async fn negotiate(&mut self) -> anyhow::Result<()> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("weir"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let mut version = 3;
        for _ in 0..2 {
            let mut body = self
                .round_trip::<ApiVersionsRequest>(&request, version, self.cfg.request_timeout)
                .await?;
            let code = body.clone().try_get_i16().unwrap_or(-1);
            if code == UNSUPPORTED_VERSION {
                version = retry_version(&body, version);
                continue;
            }
            let response: ApiVersionsResponse = decode(&mut body, version)?;
            error::check(code, None, "ApiVersions")?;
            self.versions = response
                .api_keys
                .iter()
                .map(|k| (k.api_key, (k.min_version, k.max_version)))
                .collect();
            return Ok(());
        }
        bail!("the broker refused every ApiVersions version")
    }

    /// The version to use for `key`: the highest both sides support.
    pub fn version(&self, key: ApiKey) -> anyhow::Result<i16> {
        let (_, our_min, our_max) = SUPPORTED
            .iter()
            .find(|(k, _, _)| *k == key)
            .copied()
            .ok_or_else(|| anyhow!("{key:?} is not implemented by this client"))?;
        let Some(&(their_min, their_max)) = self.versions.get(&(key as i16)) else {
            bail!("broker {} does not support {key:?}", self.addr);
        };
        let v = our_max.min(their_max);
        if v < our_min.max(their_min) {
            bail!(
                "broker {} supports {key:?} v{their_min} to v{their_max}, this client v{our_min} to v{our_max}",
                self.addr
            );
        }
        Ok(v)
    }

    /// Sends `request` at the negotiated version and returns (version, response).
    pub async fn send<R: Request>(&mut self, request: &R) -> anyhow::Result<(i16, R::Response)> {
        let timeout = self.cfg.request_timeout;
        self.send_with_timeout(request, timeout).await
    }

    /// [`Connection::send`] with its own timeout (a long poll or a group join may wait long).
    pub async fn send_with_timeout<R: Request>(
        &mut self,
        request: &R,
        timeout: Duration,
    ) -> anyhow::Result<(i16, R::Response)> {
        let key = api_key::<R>()?;
        let version = self.version(key)?;
        let mut body = self.round_trip(request, version, timeout).await?;
        let response = decode(&mut body, version)
            .with_context(|| format!("cannot decode the {key:?} v{version} response"))?;
        Ok((version, response))
    }

    /// Writes one request frame and reads its response; returns the body after the header.
    async fn round_trip<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> anyhow::Result<Bytes> {
        if self.broken {
            bail!(
                "the connection to {} was abandoned after an earlier failure",
                self.addr
            );
        }
        let key = api_key::<R>()?;
        self.next_correlation = self.next_correlation.wrapping_add(1);
        let correlation = self.next_correlation;
        let mut frame = BytesMut::with_capacity(256);
        frame.put_i32(0);
        RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation)
            .with_client_id(Some(StrBytes::from_string(self.cfg.client_id.clone())))
            .encode(&mut frame, R::header_version(version))?;
        request.encode(&mut frame, version)?;
        let size = i32::try_from(frame.len() - 4).context("request too large")?;
        frame[..4].copy_from_slice(&size.to_be_bytes());
        // Either the whole exchange happens or the connection is not used again.
        self.broken = true;
        let max = self.cfg.max_response_bytes;
        let exchange = async {
            self.writer.write_all(&frame).await?;
            self.writer.flush().await?;
            read_frame(&mut self.reader, max).await
        };
        let mut body = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| anyhow!("{key:?} to {} timed out after {timeout:?}", self.addr))?
            .with_context(|| format!("{key:?} to {} failed", self.addr))?;
        let header: ResponseHeader = decode(&mut body, R::Response::header_version(version))?;
        if header.correlation_id != correlation {
            bail!(
                "{} answered correlation id {} to request {correlation}",
                self.addr,
                header.correlation_id
            );
        }
        self.broken = false;
        Ok(body)
    }
}

/// The ApiVersions version to ask next after `asked` was refused: the broker's maximum from
/// its answer in the v0 layout (Kafka's fallback), or v0 when the answer is not in that
/// layout (librdkafka's mock cluster writes a one-byte array count there). The array count
/// is checked against the bytes left first: the codec reserves room for as many entries as
/// the count claims.
fn retry_version(body: &Bytes, asked: i16) -> i16 {
    let count = body
        .get(2..6)
        .map_or(-1, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let fits = usize::try_from(count).is_ok_and(|n| n.saturating_mul(6) <= body.len() - 6);
    let theirs = fits
        .then(|| decode::<ApiVersionsResponse>(&mut body.clone(), 0).ok())
        .flatten()
        .and_then(|r| {
            r.api_keys
                .iter()
                .find(|k| k.api_key == ApiKey::ApiVersions as i16)
                .map(|k| k.max_version)
        });
    theirs.map_or(0, |v| v.clamp(0, (asked - 1).max(0)))
}

fn api_key<R: Request>() -> anyhow::Result<ApiKey> {
    ApiKey::try_from(R::KEY).map_err(|_| anyhow!("unknown API key {}", R::KEY))
}

/// Reads one size-prefixed frame, checking the size before allocating for it.
async fn read_frame(r: &mut BufReader<OwnedReadHalf>, max: usize) -> Result<Bytes, std::io::Error> {
    use std::io::{Error, ErrorKind};
    let size = r.read_i32().await?;
    let size = usize::try_from(size).map_err(|_| {
        Error::new(
            ErrorKind::InvalidData,
            format!("negative frame size {size}"),
        )
    })?;
    if size > max {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("response of {size} bytes is over the {max}-byte limit"),
        ));
    }
    let mut buf = BytesMut::zeroed(size);
    r.read_exact(&mut buf).await?;
    Ok(buf.freeze())
}

/// Decodes `T`; the generated codec may panic on malformed input, which becomes an error.
fn decode<T: Decodable>(buf: &mut Bytes, version: i16) -> anyhow::Result<T> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| T::decode(buf, version))) {
        Ok(r) => r,
        Err(_) => bail!("malformed response"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_api_versions_retries_with_the_range_the_broker_names() {
        // Kafka: error 35, then v0's i32 array count and (key, min, max) entries.
        let kafka = Bytes::from_static(&[0, 35, 0, 0, 0, 1, 0, 18, 0, 0, 0, 2]);
        assert_eq!(retry_version(&kafka, 3), 2);
        // A broker naming a version at or above the refused one still gets a lower one.
        let odd = Bytes::from_static(&[0, 35, 0, 0, 0, 1, 0, 18, 0, 0, 0, 4]);
        assert_eq!(retry_version(&odd, 3), 2);
        // librdkafka's mock cluster: a one-byte count in the v0 layout, then the throttle.
        let mock = Bytes::from_static(&[0, 35, 1, 0, 18, 0, 0, 0, 2, 0, 0, 0, 0]);
        assert_eq!(retry_version(&mock, 3), 0);
        assert_eq!(retry_version(&Bytes::from_static(&[0, 35]), 3), 0);
    }
}
