//! The log on an external Kafka cluster, through weir's own client on the `kafka-protocol`
//! codec ([`crate::kafka_client::Connection`]).
//!
//! - Connections: a small pool per broker; a call takes one, sends one request, and puts it
//!   back unless it broke (a broken connection is dropped and the next call reconnects).
//! - Metadata (brokers, partition leaders, cluster id) is cached and refreshed when a call
//!   finds it stale (NOT_LEADER_OR_FOLLOWER, unknown broker, connection failures).
//! - Produce is idempotent: one producer id (InitProducerId) for the worker, a sequence
//!   number per partition, acks=all, one batch in flight per partition. A retried batch
//!   carries its original sequence, so the cluster writes it once. When the cluster forgets
//!   the producer (OUT_OF_ORDER_SEQUENCE, UNKNOWN_PRODUCER_ID), a new producer id starts and
//!   the batch is sent again: at least once, never lost.
//! - Every call retries connection failures and Kafka's retriable errors with backoff until
//!   its deadline, then fails with a message naming the topic, partition or group.
//! - Group offsets go to the group's coordinator (FindCoordinator, cached per group), as a
//!   client outside the group's membership (generation -1), which is how Kafka Connect's sink
//!   task offsets look to Kafka tools.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, BrokerId, CreateTopicsRequest, FetchRequest, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::{Request, StrBytes};
use weir_broker::OffsetSpec;

use super::{Fetched, LogError, Result, TopicSpec, decode_fetched};

mod groups;
mod produce;
use crate::kafka_client::consumer::{list_offsets_request, whole_batches};
use crate::kafka_client::error::{self, KafkaError, kafka_error};
use crate::kafka_client::{ClientConfig, Connection};

/// One try of a retried call. Boxed: the futures are then `Send` for certain (an async
/// closure's future may not be provably `Send` for every lifetime, which spawned tasks need).
type Attempt<'a, T> = Pin<Box<dyn Future<Output = anyhow::Result<T>> + Send + 'a>>;

/// The pool key of "any broker" (bootstrap addresses first).
const ANY: i32 = -1;
/// Idle connections kept per broker.
const POOL_PER_BROKER: usize = 8;
/// How long an append keeps retrying before it fails (Kafka Connect's producer retries for
/// as long as `delivery.timeout.ms`; the source loop then reports the failure).
const APPEND_DEADLINE: Duration = Duration::from_secs(120);
/// How long a topic's description is trusted for its partition count (Kafka's
/// `metadata.max.age.ms` is 5 minutes; leaders move on errors anyway).
const METADATA_MAX_AGE: Duration = Duration::from_secs(30);
/// How long other calls keep retrying.
const CALL_DEADLINE: Duration = Duration::from_secs(30);

const OFFSET_OUT_OF_RANGE: i16 = 1;
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const DUPLICATE_SEQUENCE_NUMBER: i16 = 46;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
const UNKNOWN_PRODUCER_ID: i16 = 59;
const GROUP_ID_NOT_FOUND: i16 = 69;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn topic_name(v: &str) -> TopicName {
    TopicName(s(v))
}

/// What the cluster looks like, as last described.
#[derive(Default)]
struct Meta {
    brokers: BTreeMap<i32, String>,
    /// Topic -> leader node per partition.
    leaders: BTreeMap<String, Vec<i32>>,
    /// When each topic was last described (partition counts are looked up again after
    /// [`METADATA_MAX_AGE`], so new partitions are found).
    described: BTreeMap<String, Instant>,
    cluster_id: Option<String>,
    /// Group -> coordinator node.
    coordinators: BTreeMap<String, i32>,
}

/// A partition's producer state: the producer id it was numbered for and the next sequence.
#[derive(Default)]
struct Sequence {
    producer_id: i64,
    next: i32,
}

/// One partition's producer state, locked while its batch is in flight.
type SequenceSlot = Arc<tokio::sync::Mutex<Sequence>>;

/// The log on an external Kafka cluster.
pub struct KafkaLog {
    cfg: ClientConfig,
    bootstrap: Vec<String>,
    /// Idle connections per broker node ([`ANY`]: a bootstrap connection).
    pool: Mutex<BTreeMap<i32, Vec<Connection>>>,
    meta: Mutex<Meta>,
    producer: tokio::sync::Mutex<Option<(i64, i16)>>,
    sequences: Mutex<BTreeMap<(String, i32), SequenceSlot>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether trying again (on a fresh connection, with fresh metadata) may succeed: Kafka's
/// retriable errors and coordinator moves, and every failure that is not a Kafka error
/// (refused connections, timeouts, broken frames).
fn worth_retrying(e: &anyhow::Error) -> bool {
    if e.downcast_ref::<Unsupported>().is_some() {
        return false;
    }
    kafka_error(e).is_none_or(|k| k.retriable() || k.coordinator_moved())
}

/// The broker does not implement an API this client needs.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Unsupported(String);

impl KafkaLog {
    /// Connects to one of `bootstrap.servers` (comma-separated `host:port`s) and reads the
    /// cluster's metadata; fails with a message naming the addresses when none answers.
    pub async fn connect(bootstrap_servers: &str, client_id: &str) -> Result<Arc<Self>> {
        let bootstrap: Vec<String> = bootstrap_servers
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if bootstrap.is_empty() {
            return Err(LogError::Kafka(
                "bootstrap.servers is empty: give at least one host:port".to_string(),
            ));
        }
        let mut cfg = ClientConfig::new(&bootstrap.join(","));
        cfg.client_id = client_id.to_string();
        cfg.request_timeout = Duration::from_secs(30);
        let log = Arc::new(Self {
            cfg,
            bootstrap,
            pool: Mutex::new(BTreeMap::new()),
            meta: Mutex::new(Meta::default()),
            producer: tokio::sync::Mutex::new(None),
            sequences: Mutex::new(BTreeMap::new()),
        });
        log.refresh(Some(Vec::new())).await.map_err(|e| {
            LogError::Kafka(format!(
                "cannot reach the Kafka cluster at bootstrap.servers={bootstrap_servers}: {e:#}"
            ))
        })?;
        Ok(log)
    }

    pub fn bootstrap(&self) -> String {
        self.bootstrap.join(",")
    }

    /// The client settings (for the group membership of distributed mode).
    pub fn client_config(&self) -> &ClientConfig {
        &self.cfg
    }

    // ---- connections ----

    async fn checkout(&self, node: i32) -> anyhow::Result<Connection> {
        if let Some(c) = lock(&self.pool).get_mut(&node).and_then(Vec::pop) {
            return Ok(c);
        }
        if node == ANY {
            let mut last = None;
            let known: Vec<String> = lock(&self.meta).brokers.values().cloned().collect();
            for addr in self.bootstrap.iter().chain(known.iter()) {
                match Connection::connect(addr, &self.cfg).await {
                    Ok(c) => return Ok(c),
                    Err(e) => last = Some(e),
                }
            }
            return Err(last.unwrap_or_else(|| anyhow!("no broker address to connect to")));
        }
        let addr = lock(&self.meta).brokers.get(&node).cloned();
        let Some(addr) = addr else {
            // Metadata names every broker it hands out; look again before the next call.
            lock(&self.meta).leaders.clear();
            bail!("broker {node} is not in the cluster metadata");
        };
        Connection::connect(&addr, &self.cfg).await
    }

    fn checkin(&self, node: i32, conn: Connection) {
        if conn.is_broken() {
            return;
        }
        let mut pool = lock(&self.pool);
        let idle = pool.entry(node).or_default();
        if idle.len() < POOL_PER_BROKER {
            idle.push(conn);
        }
    }

    /// Sends the request `build` makes for the negotiated version to `node`.
    async fn call<R: Request>(
        &self,
        node: i32,
        timeout: Duration,
        build: impl FnOnce(i16) -> R,
    ) -> anyhow::Result<R::Response> {
        let mut conn = self.checkout(node).await?;
        let key = ApiKey::try_from(R::KEY).map_err(|_| anyhow!("unknown API key {}", R::KEY))?;
        let version = match conn.version(key) {
            Ok(v) => v,
            Err(e) => {
                self.checkin(node, conn);
                return Err(Unsupported(format!("{e:#}")).into());
            }
        };
        let request = build(version);
        let sent = conn.send_with_timeout(&request, timeout).await;
        if conn.is_broken() {
            // The broker may have gone: look at the cluster again before the next call.
            lock(&self.meta).leaders.clear();
        }
        self.checkin(node, conn);
        sent.map(|(_, r)| r)
    }

    /// Runs `attempt` until it succeeds, fails for good, or `deadline` passes.
    async fn retry<'a, T>(
        &self,
        what: &str,
        deadline: Duration,
        mut attempt: impl FnMut() -> Attempt<'a, T>,
    ) -> anyhow::Result<T> {
        let give_up = Instant::now() + deadline;
        let mut backoff = self.cfg.retry.initial_backoff;
        let mut failures = 0u32;
        loop {
            match attempt().await {
                Ok(v) => return Ok(v),
                Err(e) if worth_retrying(&e) && Instant::now() + backoff < give_up => {
                    failures += 1;
                    if failures == 3 {
                        tracing::warn!(error = %format!("{e:#}"), "{what}: still retrying");
                    } else {
                        tracing::debug!(error = %format!("{e:#}"), "{what}: retrying");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.cfg.retry.max_backoff);
                }
                Err(e) => return Err(e.context(what.to_string())),
            }
        }
    }

    // ---- metadata ----

    /// Describes `topics` (every topic when `None`); remembers brokers and leaders.
    /// Returns (topic, error code, partition count).
    async fn refresh(
        &self,
        topics: Option<Vec<String>>,
    ) -> anyhow::Result<Vec<(String, i16, usize)>> {
        let response = self
            .call(ANY, self.cfg.request_timeout, |_| {
                MetadataRequest::default()
                    .with_topics(topics.map(|ts| {
                        ts.iter()
                            .map(|t| MetadataRequestTopic::default().with_name(Some(topic_name(t))))
                            .collect()
                    }))
                    .with_allow_auto_topic_creation(false)
            })
            .await?;
        let mut meta = lock(&self.meta);
        for b in &response.brokers {
            meta.brokers
                .insert(b.node_id.0, format!("{}:{}", b.host, b.port));
        }
        if let Some(id) = &response.cluster_id {
            meta.cluster_id = Some(id.to_string());
        }
        let mut out = Vec::new();
        for t in response.topics {
            let name = t.name.map(|n| n.0.to_string()).unwrap_or_default();
            let mut partitions: Vec<(i32, i32, i16)> = t
                .partitions
                .iter()
                .map(|p| (p.partition_index, p.leader_id.0, p.error_code))
                .collect();
            partitions.sort_unstable();
            let leaderless = partitions
                .iter()
                .any(|(_, leader, code)| *leader < 0 || *code != error::NONE);
            let code = if t.error_code == error::NONE && leaderless {
                // LEADER_NOT_AVAILABLE: right after creation, or during an election.
                5
            } else {
                t.error_code
            };
            meta.described.insert(name.clone(), Instant::now());
            if code == error::NONE && !partitions.is_empty() {
                meta.leaders.insert(
                    name.clone(),
                    partitions.iter().map(|(_, leader, _)| *leader).collect(),
                );
            } else {
                meta.leaders.remove(&name);
            }
            out.push((name, code, partitions.len()));
        }
        Ok(out)
    }

    /// The cluster id as the cluster reports it (empty when it has none).
    pub async fn cluster_id(&self) -> String {
        if let Some(id) = lock(&self.meta).cluster_id.clone() {
            return id;
        }
        let _ = self.refresh(Some(Vec::new())).await;
        lock(&self.meta).cluster_id.clone().unwrap_or_default()
    }

    pub async fn topics(&self) -> Result<Vec<String>> {
        let all = self
            .retry("cannot list the cluster's topics", CALL_DEADLINE, || {
                Box::pin(async move { self.refresh(None).await })
            })
            .await
            .map_err(LogError::kafka)?;
        let mut names: Vec<String> = all.into_iter().map(|(n, _, _)| n).collect();
        names.sort();
        Ok(names)
    }

    /// The partition count, `None` when the topic does not exist.
    pub async fn partition_count(&self, topic: &str) -> Result<Option<i32>> {
        {
            let meta = lock(&self.meta);
            let fresh = meta
                .described
                .get(topic)
                .is_some_and(|at| at.elapsed() < METADATA_MAX_AGE);
            if let Some(l) = meta.leaders.get(topic)
                && fresh
            {
                return Ok(Some(l.len() as i32));
            }
        }
        let what = format!("cannot describe topic {topic}");
        self.retry(&what, CALL_DEADLINE, || {
            Box::pin(async move {
                let described = self.refresh(Some(vec![topic.to_string()])).await?;
                match described.into_iter().find(|(n, _, _)| n == topic) {
                    None => Ok(None),
                    Some((_, error::UNKNOWN_TOPIC_OR_PARTITION, _)) => Ok(None),
                    Some((_, error::NONE, n)) => Ok(Some(n as i32)),
                    Some((_, code, _)) => {
                        Err(KafkaError::new(code, format!("Metadata for {topic}")).into())
                    }
                }
            })
        })
        .await
        .map_err(LogError::kafka)
    }

    async fn leader(&self, topic: &str, partition: i32) -> anyhow::Result<i32> {
        let cached = lock(&self.meta)
            .leaders
            .get(topic)
            .and_then(|l| l.get(partition as usize).copied());
        if let Some(node) = cached {
            return Ok(node);
        }
        let described = self.refresh(Some(vec![topic.to_string()])).await?;
        match described.into_iter().find(|(n, _, _)| n == topic) {
            Some((_, error::NONE, n)) if (partition as usize) < n => lock(&self.meta)
                .leaders
                .get(topic)
                .and_then(|l| l.get(partition as usize).copied())
                .ok_or_else(|| anyhow!("{topic}-{partition} has no leader")),
            Some((_, error::NONE, n)) => bail!("{topic} has {n} partitions, not {}", partition + 1),
            Some((_, code, _)) => {
                Err(KafkaError::new(code, format!("Metadata for {topic}")).into())
            }
            None => Err(KafkaError::new(
                error::UNKNOWN_TOPIC_OR_PARTITION,
                format!("Metadata for {topic}"),
            )
            .into()),
        }
    }

    /// Creates the topic unless it exists (CreateTopics with its configs), then waits until
    /// every partition has a leader; returns the partition count.
    pub async fn ensure_topic(&self, spec: &TopicSpec) -> Result<i32> {
        if let Some(n) = self.partition_count(&spec.name).await? {
            return Ok(n);
        }
        let name = &spec.name;
        let what = format!("cannot create topic {name}");
        let created = self.retry(&what, CALL_DEADLINE, || Box::pin(async move {
            let topic = CreatableTopic::default()
                .with_name(topic_name(name))
                .with_num_partitions(spec.partitions)
                .with_replication_factor(spec.replication_factor)
                .with_configs(
                    spec.configs
                        .iter()
                        .map(|(k, v)| {
                            CreatableTopicConfig::default()
                                .with_name(s(k))
                                .with_value(Some(s(v)))
                        })
                        .collect(),
                );
            let response = self
                .call(ANY, self.cfg.request_timeout, |_| {
                    CreateTopicsRequest::default()
                        .with_topics(vec![topic])
                        .with_timeout_ms(30_000)
                })
                .await?;
            let r = response
                .topics
                .first()
                .ok_or_else(|| anyhow!("CreateTopics answered without a result"))?;
            if r.error_code == error::TOPIC_ALREADY_EXISTS {
                return Ok(());
            }
            error::check(r.error_code, r.error_message.as_deref(), "CreateTopics")?;
            tracing::info!(topic = %name, partitions = spec.partitions,
                replication_factor = spec.replication_factor, configs = ?spec.configs, "topic created");
            Ok(())
        }))
        .await;
        match created {
            Err(e) if e.downcast_ref::<Unsupported>().is_some() => {
                // A cluster without CreateTopics (librdkafka's mock cluster): let Metadata
                // create it with the cluster's defaults.
                tracing::warn!(topic = %name, error = %format!("{e:#}"),
                    "the cluster cannot create topics with CreateTopics; asking Metadata to auto-create it (its configs and partition count are the cluster's defaults)");
                self.call(ANY, self.cfg.request_timeout, |_| {
                    MetadataRequest::default()
                        .with_topics(Some(vec![
                            MetadataRequestTopic::default().with_name(Some(topic_name(name))),
                        ]))
                        .with_allow_auto_topic_creation(true)
                })
                .await
                .map_err(LogError::kafka)?;
            }
            other => other.map_err(LogError::kafka)?,
        }
        // Leaders are elected shortly after creation.
        self.retry(
            &format!("topic {name} has no leaders yet"),
            CALL_DEADLINE,
            || {
                Box::pin(async move {
                    match self.refresh(Some(vec![name.clone()])).await?.pop() {
                        Some((_, error::NONE, n)) if n > 0 => Ok(n as i32),
                        Some((_, code, _)) if code != error::NONE => {
                            Err(KafkaError::new(code, format!("Metadata for {name}")).into())
                        }
                        _ => Err(KafkaError::new(5, format!("Metadata for {name}")).into()),
                    }
                })
            },
        )
        .await
        .map_err(LogError::kafka)
    }

    // ---- fetch ----

    fn fetch_request(
        partitions: &[(String, i32, i64)],
        max_wait: Duration,
        partition_max_bytes: i32,
        max_bytes: i32,
    ) -> FetchRequest {
        let mut by_topic: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
        for (topic, partition, offset) in partitions {
            by_topic.entry(topic).or_default().push(
                FetchPartition::default()
                    .with_partition(*partition)
                    .with_current_leader_epoch(-1)
                    .with_fetch_offset(*offset)
                    .with_log_start_offset(-1)
                    .with_partition_max_bytes(partition_max_bytes),
            );
        }
        FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(max_wait.as_millis().min(i32::MAX as u128) as i32)
            .with_min_bytes(1)
            .with_max_bytes(max_bytes)
            .with_isolation_level(0)
            .with_session_epoch(-1)
            .with_topics(
                by_topic
                    .into_iter()
                    .map(|(t, ps)| {
                        FetchTopic::default()
                            .with_topic(topic_name(t))
                            .with_partitions(ps)
                    })
                    .collect(),
            )
    }

    /// Reads one partition from `offset` (no waiting).
    pub async fn fetch(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
    ) -> Result<Fetched> {
        let max = i32::try_from(max_bytes).unwrap_or(i32::MAX);
        let wanted = [(topic.to_string(), partition, offset)];
        let wanted = &wanted[..];
        let what = format!("cannot read {topic}-{partition} at offset {offset}");
        let answer = self
            .retry(&what, CALL_DEADLINE, || {
                Box::pin(async move {
                    let node = self.leader(topic, partition).await?;
                    let request = Self::fetch_request(wanted, Duration::ZERO, max, max);
                    let response = self
                        .call(node, self.cfg.request_timeout, |_| request)
                        .await?;
                    error::check(response.error_code, None, "Fetch")?;
                    let p = response
                        .responses
                        .iter()
                        .flat_map(|t| &t.partitions)
                        .find(|p| p.partition_index == partition)
                        .ok_or_else(|| anyhow!("the broker did not answer for the partition"))?;
                    if p.error_code == OFFSET_OUT_OF_RANGE {
                        return Ok(None);
                    }
                    if KafkaError::new(p.error_code, String::new()).retriable() {
                        lock(&self.meta).leaders.remove(topic);
                    }
                    error::check(p.error_code, None, "Fetch")?;
                    let records = p.records.clone().unwrap_or_default();
                    // A broker may end an answer inside a batch at its size limit; that tail is
                    // read again next time.
                    let whole = whole_batches(&records);
                    Ok(Some((records.slice(..whole), p.high_watermark)))
                })
            })
            .await
            .map_err(LogError::kafka)?;
        match answer {
            None => Err(LogError::OutOfRange {
                topic: topic.to_string(),
                partition,
                offset,
            }),
            Some((bytes, hw)) => decode_fetched(topic, partition, offset, bytes, hw),
        }
    }

    /// A long poll on the leaders of `positions` that returns as soon as one has data. What
    /// comes back is left for the next [`KafkaLog::fetch`] (at most one small batch read
    /// twice per wake-up).
    pub async fn wait_for_data(
        self: &Arc<Self>,
        positions: &[(String, i32, i64)],
        timeout: Duration,
    ) {
        let mut by_leader: BTreeMap<i32, Vec<(String, i32, i64)>> = BTreeMap::new();
        for p in positions {
            match self.leader(&p.0, p.1).await {
                Ok(node) => by_leader.entry(node).or_default().push(p.clone()),
                Err(_) => {
                    // Not known yet: read again soon.
                    tokio::time::sleep(timeout.min(Duration::from_millis(200))).await;
                    return;
                }
            }
        }
        if by_leader.is_empty() {
            tokio::time::sleep(timeout).await;
            return;
        }
        let mut polls = tokio::task::JoinSet::new();
        for (node, wanted) in by_leader {
            let log = Arc::clone(self);
            polls.spawn(async move {
                let request = Self::fetch_request(&wanted, timeout, 1, 1);
                let r = log
                    .call(node, log.cfg.request_timeout + timeout, |_| request)
                    .await;
                if let Err(e) = r {
                    tracing::debug!(error = %format!("{e:#}"), "long poll failed");
                    tokio::time::sleep(timeout.min(Duration::from_millis(200))).await;
                }
            });
        }
        // The first answer (data, or the wait ran out) ends the wait.
        let _ = polls.join_next().await;
        polls.abort_all();
    }

    // ---- offsets ----

    /// The offset `spec` names in the partition (ListOffsets at its leader).
    pub async fn list_offset(
        &self,
        topic: &str,
        partition: i32,
        spec: OffsetSpec,
    ) -> Result<Option<i64>> {
        let timestamp = match spec {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::Timestamp(t) => t,
        };
        let what = format!("cannot list offsets of {topic}-{partition}");
        self.retry(&what, CALL_DEADLINE, || {
            Box::pin(async move {
                let node = self.leader(topic, partition).await?;
                let response = self
                    .call(node, self.cfg.request_timeout, |_| {
                        list_offsets_request(topic, partition, timestamp)
                    })
                    .await?;
                let p = response
                    .topics
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .find(|p| p.partition_index == partition)
                    .ok_or_else(|| anyhow!("the broker did not answer for the partition"))?;
                if KafkaError::new(p.error_code, String::new()).retriable() {
                    lock(&self.meta).leaders.remove(topic);
                }
                error::check(p.error_code, None, "ListOffsets")?;
                Ok((p.offset >= 0).then_some(p.offset))
            })
        })
        .await
        .map_err(LogError::kafka)
    }
}
