//! Property-based fuzzing of the request path: random frames, random bodies behind valid
//! headers, and mutated valid requests go through the same `api::handle` as the TCP server.
//! Every one must be answered or refused, never panic or hang. (Run longer with
//! `PROPTEST_CASES=100000 cargo test -p weir-broker --test protocol_fuzz`.)

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, MetadataRequest, ProduceRequest, RequestHeader, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::records::Compression;
use proptest::prelude::*;
use weir_broker::batch::{NewRecord, encode_batch};
use weir_broker::coordinator::{CoordinatorConfig, GroupCoordinator};
use weir_broker::producer_ids::ProducerIds;
use weir_broker::server::api::{self, APIS};
use weir_broker::server::{Context, ServerConfig};
use weir_broker::{Broker, BrokerOptions};

/// As in the `weir` binary: a hostile length prefix must not abort the test process.
#[global_allocator]
static ALLOC: weir_broker::alloc_guard::GuardedAlloc = weir_broker::alloc_guard::GuardedAlloc;

struct Fixture {
    rt: tokio::runtime::Runtime,
    ctx: Arc<Context>,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut options = BrokerOptions::new(dir.path());
    options.offsets_partitions = 1;
    let broker = Arc::new(Broker::open(options).expect("broker"));
    broker.create_topic("t", 2, BTreeMap::new()).expect("topic");
    // A mutated Fetch may legitimately wait for data; cap that far below the hang limit.
    let config = ServerConfig {
        auto_create_topics: false,
        fetch_max_wait: Duration::from_millis(100),
        ..ServerConfig::default()
    };
    let ctx = Arc::new(Context {
        groups: GroupCoordinator::new(Arc::clone(&broker), CoordinatorConfig::default()),
        producer_ids: Arc::new(ProducerIds::open(dir.path()).expect("ids")),
        broker,
        config,
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    Fixture { rt, ctx, _dir: dir }
}

impl Fixture {
    fn run(&self, frame: Bytes) {
        let ctx = Arc::clone(&self.ctx);
        let answered = self.rt.block_on(async move {
            tokio::time::timeout(Duration::from_secs(30), api::handle(&ctx, frame)).await
        });
        assert!(answered.is_ok(), "a request hung");
    }
}

fn with_header(key: i16, version: i16, body: &[u8]) -> Bytes {
    let mut buf = BytesMut::new();
    if let Ok(api) = ApiKey::try_from(key) {
        RequestHeader::default()
            .with_request_api_key(key)
            .with_request_api_version(version)
            .with_correlation_id(1)
            .encode(&mut buf, api.request_header_version(version))
            .expect("header");
    } else {
        buf.put_i16(key);
        buf.put_i16(version);
        buf.put_i32(1);
    }
    buf.put_slice(body);
    buf.freeze()
}

fn valid_requests() -> Vec<Bytes> {
    let name = TopicName(StrBytes::from_static_str("t"));
    let records = encode_batch(
        &[NewRecord {
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from_static(b"v")),
            headers: vec![("h".to_string(), Some(Bytes::from_static(b"x")))],
            timestamp: 1,
        }],
        Compression::Gzip,
    )
    .expect("batch");
    let produce = ProduceRequest::default().with_acks(1).with_topic_data(vec![
        TopicProduceData::default()
            .with_name(name.clone())
            .with_partition_data(vec![
                PartitionProduceData::default()
                    .with_index(1)
                    .with_records(Some(records)),
            ]),
    ]);
    let fetch = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_topics(vec![
            FetchTopic::default().with_topic(name).with_partitions(vec![
                FetchPartition::default()
                    .with_partition(0)
                    .with_partition_max_bytes(1 << 16),
            ]),
        ]);
    let encoded = |key: ApiKey, version: i16, body: &dyn Fn(&mut BytesMut)| {
        let mut b = BytesMut::new();
        body(&mut b);
        with_header(key as i16, version, &b)
    };
    vec![
        encoded(ApiKey::Produce, 9, &|b| {
            produce.encode(b, 9).expect("produce")
        }),
        encoded(ApiKey::Fetch, 12, &|b| fetch.encode(b, 12).expect("fetch")),
        encoded(ApiKey::Metadata, 12, &|b| {
            MetadataRequest::default().encode(b, 12).expect("metadata")
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        thread_local!(static FIX: Fixture = fixture());
        FIX.with(|f| f.run(Bytes::from(bytes)));
    }

    #[test]
    fn random_bodies_behind_valid_headers_never_panic(
        api in 0..APIS.len(),
        version in -1i16..16,
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        thread_local!(static FIX: Fixture = fixture());
        let key = APIS[api].key as i16;
        FIX.with(|f| f.run(with_header(key, version, &body)));
    }

    #[test]
    fn mutated_valid_requests_never_panic(
        which in 0..3usize,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        thread_local!(static FIX: Fixture = fixture());
        let mut frame = valid_requests()[which].to_vec();
        for (at, x) in flips {
            let i = at % frame.len();
            // Keep the API key so the mutation reaches the body decoders.
            if i >= 2 {
                frame[i] ^= x;
            }
        }
        frame.truncate(8 + cut % frame.len().max(1));
        FIX.with(|f| f.run(Bytes::from(frame)));
    }
}
