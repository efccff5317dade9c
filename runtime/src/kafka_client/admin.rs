//! The cluster view (Metadata, one connection per broker) and the topic admin calls:
//! CreateTopics with configs, DeleteTopics, DescribeConfigs.

use std::collections::BTreeMap;

use anyhow::{Context, anyhow, bail};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::error::{self, KafkaError, UNKNOWN_TOPIC_OR_PARTITION};
use super::{ClientConfig, Connection};

const RESOURCE_TOPIC: i8 = 2;
const SOURCE_TOPIC_OVERRIDE: i8 = 1;

/// A topic as Metadata describes it.
#[derive(Debug, Clone)]
pub struct TopicMeta {
    pub name: String,
    pub topic_id: String,
    pub internal: bool,
    /// (partition, leader node) in partition order.
    pub partitions: Vec<(i32, i32)>,
}

/// A client of one cluster: the bootstrap connection for metadata and admin requests, and a
/// connection per broker for the partitions it leads.
pub struct Client {
    pub cfg: ClientConfig,
    bootstrap: Connection,
    /// node id -> `host:port`, from the last Metadata answer.
    brokers: BTreeMap<i32, String>,
    conns: BTreeMap<i32, Connection>,
}

pub(crate) fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

impl Client {
    /// Connects to the first bootstrap broker that answers; the error names the addresses.
    pub async fn connect(cfg: ClientConfig) -> anyhow::Result<Self> {
        let mut last = None;
        for addr in cfg.bootstrap_addrs() {
            match Connection::connect(addr, &cfg).await {
                Ok(conn) => {
                    last = Some(Ok(conn));
                    break;
                }
                Err(e) => last = Some(Err(e)),
            }
        }
        let bootstrap = last
            .unwrap_or_else(|| Err(anyhow!("no address given")))
            .with_context(|| {
                format!(
                    "cannot reach the broker at --bootstrap {} (is `weir serve` running there?)",
                    cfg.bootstrap
                )
            })?;
        Ok(Self {
            cfg,
            bootstrap,
            brokers: BTreeMap::new(),
            conns: BTreeMap::new(),
        })
    }

    /// Connects (or reconnects) to `addr` with this client's settings.
    pub async fn connect_to(&self, addr: &str) -> anyhow::Result<Connection> {
        Connection::connect(addr, &self.cfg).await
    }

    /// The connection to broker `node`, opened on first use or after a failure.
    pub async fn conn(&mut self, node: i32) -> anyhow::Result<&mut Connection> {
        if self.conns.get(&node).is_none_or(Connection::is_broken) {
            let addr = self
                .brokers
                .get(&node)
                .ok_or_else(|| anyhow!("broker {node} is not in the cluster metadata"))?;
            let conn = Connection::connect(addr, &self.cfg).await?;
            self.conns.insert(node, conn);
        }
        self.conns
            .get_mut(&node)
            .ok_or_else(|| anyhow!("no connection to broker {node}"))
    }

    /// Metadata for `topics` (every topic when `None`); remembers the brokers.
    pub async fn metadata(
        &mut self,
        topics: Option<&[String]>,
        auto_create: bool,
    ) -> anyhow::Result<Vec<Result<TopicMeta, KafkaError>>> {
        let request = MetadataRequest::default()
            .with_topics(topics.map(|ts| {
                ts.iter()
                    .map(|t| MetadataRequestTopic::default().with_name(Some(topic_name(t))))
                    .collect()
            }))
            .with_allow_auto_topic_creation(auto_create);
        let (_, response) = self.bootstrap.send(&request).await?;
        for b in &response.brokers {
            self.brokers
                .insert(b.node_id.0, format!("{}:{}", b.host, b.port));
        }
        let mut out = Vec::new();
        for t in response.topics {
            let name = t.name.map(|n| n.0.to_string()).unwrap_or_default();
            let what = format!("Metadata for topic {name}");
            let leaderless = t.partitions.iter().find(|p| p.error_code != 0);
            let result = error::check(t.error_code, None, &what)
                .and_then(|()| {
                    leaderless.map_or(Ok(()), |p| error::check(p.error_code, None, &what))
                })
                .map(|()| TopicMeta {
                    topic_id: t.topic_id.to_string(),
                    internal: t.is_internal,
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| (p.partition_index, p.leader_id.0))
                        .collect(),
                    name,
                });
            out.push(result);
        }
        Ok(out)
    }

    /// One topic's metadata, waiting out LEADER_NOT_AVAILABLE (and, when the broker may
    /// auto-create it, UNKNOWN_TOPIC_OR_PARTITION) right after creation.
    pub async fn topic(&mut self, name: &str, auto_create: bool) -> anyhow::Result<TopicMeta> {
        let names = [name.to_string()];
        let policy = self.cfg.retry;
        let found = policy
            .run(async || {
                let mut all = self.metadata(Some(&names), auto_create).await?;
                match all.pop() {
                    Some(Ok(t)) if !t.partitions.is_empty() => Ok(t),
                    Some(Ok(_)) => Err(KafkaError::new(5, format!("Metadata for {name}")).into()),
                    Some(Err(e)) if e.code == UNKNOWN_TOPIC_OR_PARTITION && !auto_create => {
                        bail!("unknown topic {name}")
                    }
                    Some(Err(e)) => Err(e.into()),
                    None => bail!("the broker did not describe topic {name}"),
                }
            })
            .await;
        match found {
            Err(e)
                if error::kafka_error(&e).is_some_and(|k| k.code == UNKNOWN_TOPIC_OR_PARTITION) =>
            {
                bail!(
                    "unknown topic {name} (the broker did not create it): create it with `weir topics create {name} --bootstrap {}`",
                    self.cfg.bootstrap
                )
            }
            other => other,
        }
    }

    /// CreateTopics for one topic; `Ok(false)` when it exists and `if_not_exists` is set.
    pub async fn create_topic(
        &mut self,
        name: &str,
        partitions: i32,
        configs: &BTreeMap<String, String>,
        if_not_exists: bool,
    ) -> anyhow::Result<bool> {
        let topic = CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(partitions)
            .with_replication_factor(-1)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(StrBytes::from_string(k.clone()))
                            .with_value(Some(StrBytes::from_string(v.clone())))
                    })
                    .collect(),
            );
        let request = CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(30_000);
        let (_, response) = self.bootstrap.send(&request).await?;
        let result = response
            .topics
            .first()
            .ok_or_else(|| anyhow!("CreateTopics answered without a result for {name}"))?;
        if result.error_code == error::TOPIC_ALREADY_EXISTS && if_not_exists {
            return Ok(false);
        }
        error::check(
            result.error_code,
            result.error_message.as_deref(),
            &format!("topic {name} not created"),
        )?;
        Ok(true)
    }

    /// DeleteTopics for one topic.
    pub async fn delete_topic(&mut self, name: &str) -> anyhow::Result<()> {
        let request = DeleteTopicsRequest::default()
            .with_topic_names(vec![topic_name(name)])
            .with_timeout_ms(30_000);
        let (_, response) = self.bootstrap.send(&request).await?;
        let result = response
            .responses
            .first()
            .ok_or_else(|| anyhow!("DeleteTopics answered without a result for {name}"))?;
        error::check(
            result.error_code,
            result.error_message.as_deref(),
            &format!("cannot delete topic {name}"),
        )?;
        Ok(())
    }

    /// The topic-level overrides of `name` (DescribeConfigs, source TOPIC_CONFIG).
    pub async fn topic_overrides(&mut self, name: &str) -> anyhow::Result<Vec<(String, String)>> {
        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_resource_name(StrBytes::from_string(name.to_string()))
                // null: every key (the codec's default is an empty list: none).
                .with_configuration_keys(None),
        ]);
        let (_, response) = self.bootstrap.send(&request).await?;
        let result = response
            .results
            .first()
            .ok_or_else(|| anyhow!("DescribeConfigs answered without a result for {name}"))?;
        error::check(
            result.error_code,
            result.error_message.as_deref(),
            &format!("cannot describe the configs of topic {name}"),
        )?;
        Ok(result
            .configs
            .iter()
            .filter(|c| c.config_source == SOURCE_TOPIC_OVERRIDE)
            .map(|c| {
                let value = c
                    .value
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                (c.name.to_string(), value)
            })
            .collect())
    }
}
