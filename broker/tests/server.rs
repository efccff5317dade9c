//! The Kafka protocol server over real TCP: framing limits, malformed input, error codes,
//! acks=0, idempotent producers and the fetch long poll. (Real Kafka clients are exercised
//! end to end in `tests/tests/kafka_clients/`.)

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, FetchRequest, FetchResponse,
    InitProducerIdRequest, InitProducerIdResponse, MetadataRequest, MetadataResponse,
    ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader, TopicName,
    metadata_request::MetadataRequestTopic,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::Compression;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use weir_broker::batch::{NewRecord, encode_batch};
use weir_broker::coordinator::{CoordinatorConfig, GroupCoordinator};
use weir_broker::producer_ids::ProducerIds;
use weir_broker::server::{self, Context, ServerConfig};
use weir_broker::{Broker, BrokerOptions};

/// As in the `weir` binary: a hostile length prefix must not abort the test process.
#[global_allocator]
static ALLOC: weir_broker::alloc_guard::GuardedAlloc = weir_broker::alloc_guard::GuardedAlloc;

struct TestServer {
    addr: String,
    broker: Arc<Broker>,
    stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

async fn start(config: ServerConfig) -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut options = BrokerOptions::new(dir.path());
    options.offsets_partitions = 1;
    let broker = Arc::new(Broker::open(options).expect("open broker"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let ctx = Arc::new(Context {
        broker: Arc::clone(&broker),
        groups: GroupCoordinator::new(Arc::clone(&broker), CoordinatorConfig::default()),
        producer_ids: Arc::new(ProducerIds::open(dir.path()).expect("producer ids")),
        config,
    });
    let (stop, rx) = watch::channel(false);
    tokio::spawn(server::serve(listener, ctx, rx));
    TestServer {
        addr,
        broker,
        stop,
        _dir: dir,
    }
}

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn frame<R: Encodable>(key: ApiKey, version: i16, correlation_id: i32, body: &R) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("test")))
        .encode(&mut buf, key.request_header_version(version))
        .expect("encode header");
    body.encode(&mut buf, version).expect("encode body");
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    buf.freeze()
}

/// A frame with a correct size prefix around `body`.
fn sized(body: &[u8]) -> Vec<u8> {
    [&(body.len() as i32).to_be_bytes()[..], body].concat()
}

/// Reads one response frame; `None` if the server closed the connection.
async fn read_response(s: &mut TcpStream) -> Option<Bytes> {
    let mut size = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut size))
        .await
        .expect("response within 10 s")
        .ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut body).await.ok()?;
    Some(Bytes::from(body))
}

async fn call<Req: Encodable, Resp: Decodable>(
    s: &mut TcpStream,
    key: ApiKey,
    version: i16,
    req: &Req,
) -> Resp {
    s.write_all(&frame(key, version, 7, req))
        .await
        .expect("send");
    let mut body = read_response(s).await.expect("a response");
    let header = ResponseHeader::decode(&mut body, key.response_header_version(version))
        .expect("response header");
    assert_eq!(header.correlation_id, 7);
    Resp::decode(&mut body, version).expect("response body")
}

async fn connect(server: &TestServer) -> TcpStream {
    TcpStream::connect(&server.addr).await.expect("connect")
}

fn batch(values: &[&str]) -> Bytes {
    let records: Vec<NewRecord> = values
        .iter()
        .map(|v| NewRecord {
            key: Some(Bytes::from(format!("k-{v}"))),
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
            headers: vec![],
            timestamp: 1_700_000_000_000,
        })
        .collect();
    encode_batch(&records, Compression::None).expect("encode batch")
}

fn produce(topic: &str, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records)),
                ]),
        ])
}

fn produce_code(r: &ProduceResponse) -> (i16, i64) {
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

async fn api_versions_work(server: &TestServer) {
    let mut s = connect(server).await;
    let r: ApiVersionsResponse = call(
        &mut s,
        ApiKey::ApiVersions,
        3,
        &ApiVersionsRequest::default(),
    )
    .await;
    assert_eq!(r.error_code, 0);
    assert!(
        r.api_keys
            .iter()
            .any(|k| k.api_key == ApiKey::Produce as i16)
    );
}

#[tokio::test]
async fn unsupported_api_versions_version_gets_kafkas_v0_answer() {
    let server = start(ServerConfig::default()).await;
    let mut s = connect(&server).await;
    s.write_all(&frame(
        ApiKey::ApiVersions,
        4,
        7,
        &ApiVersionsRequest::default(),
    ))
    .await
    .expect("send");
    // Version 99 of ApiVersions: the header is v2 for the client, but the answer is v0.
    let mut raw = BytesMut::new();
    raw.put_i32(0);
    raw.put_i16(ApiKey::ApiVersions as i16);
    raw.put_i16(99);
    raw.put_i32(8);
    raw.put_i16(-1);
    let len = (raw.len() - 4) as i32;
    raw[..4].copy_from_slice(&len.to_be_bytes());
    let _ = read_response(&mut s).await.expect("v4 answer");
    s.write_all(&raw).await.expect("send");
    let mut body = read_response(&mut s).await.expect("fallback answer");
    assert_eq!(body.get_i32(), 8, "correlation id");
    let r = ApiVersionsResponse::decode(&mut body, 0).expect("v0 body");
    assert_eq!(r.error_code, 35, "UNSUPPORTED_VERSION");
    let versions = r
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::ApiVersions as i16)
        .expect("ApiVersions listed");
    assert_eq!((versions.min_version, versions.max_version), (0, 4));
}

#[tokio::test]
async fn bad_frames_close_only_their_connection() {
    let config = ServerConfig {
        max_request_bytes: 1 << 20,
        ..ServerConfig::default()
    };
    let server = start(config).await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        // Claims 200 MiB: refused before anything is allocated for it.
        ("oversized", (200i32 << 20).to_be_bytes().to_vec()),
        ("negative size", (-5i32).to_be_bytes().to_vec()),
        (
            "too short for a header",
            [&3i32.to_be_bytes()[..], &[0, 1, 2]].concat(),
        ),
        (
            "unknown api key",
            [&8i32.to_be_bytes()[..], &[0x27, 0x0f, 0, 0, 0, 0, 0, 1]].concat(),
        ),
        (
            // Metadata v0 claiming two billion topics (150 GB) in 5 bytes (kafka-protocol-rs #152).
            "huge array length",
            sized(&[
                0, 3, 0, 0, 0, 0, 0, 1, 0xff, 0xff, // Metadata v0, correlation 1, null client
                0x7f, 0xff, 0xff, 0x00, 0xb6, // topics: 2^31 - 256 entries, then one byte
            ]),
        ),
        (
            "garbage body",
            [
                &frame(ApiKey::Metadata, 9, 1, &MetadataRequest::default())[..8],
                &[0xff; 64][..],
            ]
            .concat(),
        ),
    ];
    for (what, bytes) in cases {
        let mut s = connect(&server).await;
        s.write_all(&bytes).await.expect("send");
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "{what}: the server must close the connection"
        );
        api_versions_work(&server).await;
    }
    // A frame cut short by the client.
    let mut s = connect(&server).await;
    s.write_all(&100i32.to_be_bytes()).await.expect("send");
    s.write_all(&[1, 2, 3]).await.expect("send");
    drop(s);
    api_versions_work(&server).await;
    let _ = server.stop.send(true);
}

#[tokio::test]
async fn corrupt_batches_and_unknown_topics_get_their_error_codes() {
    let config = ServerConfig {
        auto_create_topics: false,
        ..ServerConfig::default()
    };
    let server = start(config).await;
    server
        .broker
        .create_topic("t", 1, BTreeMap::new())
        .expect("create");
    let mut s = connect(&server).await;

    let mut bad = batch(&["a", "b"]).to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let r: ProduceResponse = call(&mut s, ApiKey::Produce, 9, &produce("t", bad.into(), -1)).await;
    assert_eq!(produce_code(&r).0, 2, "CORRUPT_MESSAGE");
    let mut wrong_magic = batch(&["a"]).to_vec();
    wrong_magic[16] = 1;
    let r: ProduceResponse = call(
        &mut s,
        ApiKey::Produce,
        9,
        &produce("t", wrong_magic.into(), 1),
    )
    .await;
    assert_eq!(produce_code(&r).0, 2, "CORRUPT_MESSAGE for magic 1");
    assert_eq!(
        server.broker.watermarks("t", 0).expect("t-0").1,
        0,
        "nothing appended"
    );

    let r: ProduceResponse = call(
        &mut s,
        ApiKey::Produce,
        9,
        &produce("nope", batch(&["a"]), 1),
    )
    .await;
    assert_eq!(produce_code(&r).0, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    let md = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name("nope"))),
        ]))
        .with_allow_auto_topic_creation(true);
    let r: MetadataResponse = call(&mut s, ApiKey::Metadata, 9, &md).await;
    assert_eq!(r.topics[0].error_code, 3, "no auto-creation when disabled");
    assert!(server.broker.partition_count("nope").is_none());
    let _ = server.stop.send(true);
}

#[tokio::test]
async fn acks_zero_gets_no_response() {
    let server = start(ServerConfig::default()).await;
    server
        .broker
        .create_topic("t", 1, BTreeMap::new())
        .expect("create");
    let mut s = connect(&server).await;
    s.write_all(&frame(
        ApiKey::Produce,
        9,
        1,
        &produce("t", batch(&["x"]), 0),
    ))
    .await
    .expect("send");
    s.write_all(&frame(
        ApiKey::ApiVersions,
        3,
        2,
        &ApiVersionsRequest::default(),
    ))
    .await
    .expect("send");
    let mut body = read_response(&mut s).await.expect("response");
    assert_eq!(body.get_i32(), 2, "the first answer is the ApiVersions one");
    assert_eq!(server.broker.watermarks("t", 0).expect("t-0").1, 1);
    let _ = server.stop.send(true);
}

#[tokio::test]
async fn idempotent_retries_are_deduplicated() {
    let server = start(ServerConfig::default()).await;
    server
        .broker
        .create_topic("t", 1, BTreeMap::new())
        .expect("create");
    let mut s = connect(&server).await;
    let init: InitProducerIdResponse = call(
        &mut s,
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(kafka_protocol::messages::ProducerId(-1))
            .with_producer_epoch(-1),
    )
    .await;
    assert_eq!(init.error_code, 0);
    let pid = init.producer_id.0;
    let idempotent = |seq: i32, values: &[&str]| {
        let mut b = batch(values).to_vec();
        b[43..51].copy_from_slice(&pid.to_be_bytes());
        b[51..53].copy_from_slice(&init.producer_epoch.to_be_bytes());
        b[53..57].copy_from_slice(&seq.to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        Bytes::from(b)
    };
    let first = idempotent(0, &["a", "b"]);
    let r: ProduceResponse =
        call(&mut s, ApiKey::Produce, 9, &produce("t", first.clone(), -1)).await;
    assert_eq!(produce_code(&r), (0, 0));
    let r: ProduceResponse = call(&mut s, ApiKey::Produce, 9, &produce("t", first, -1)).await;
    assert_eq!(produce_code(&r), (0, 0), "a retry gets the original offset");
    assert_eq!(
        server.broker.watermarks("t", 0).expect("t-0").1,
        2,
        "stored once"
    );
    let gap = idempotent(5, &["c"]);
    let r: ProduceResponse = call(&mut s, ApiKey::Produce, 9, &produce("t", gap, -1)).await;
    assert_eq!(produce_code(&r).0, 45, "OUT_OF_ORDER_SEQUENCE_NUMBER");
    let next = idempotent(2, &["c"]);
    let r: ProduceResponse = call(&mut s, ApiKey::Produce, 9, &produce("t", next, -1)).await;
    assert_eq!(produce_code(&r), (0, 2));
    let _ = server.stop.send(true);
}

#[tokio::test]
async fn fetch_long_poll_is_woken_by_a_produce() {
    let server = start(ServerConfig::default()).await;
    server
        .broker
        .create_topic("t", 1, BTreeMap::new())
        .expect("create");
    let mut consumer = connect(&server).await;
    let fetch = FetchRequest::default()
        .with_max_wait_ms(20_000)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(name("t"))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let waiting = tokio::spawn(async move {
        let r: FetchResponse = call(&mut consumer, ApiKey::Fetch, 11, &fetch).await;
        r
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !waiting.is_finished(),
        "nothing to read yet: the fetch waits"
    );
    let mut producer = connect(&server).await;
    let stored = batch(&["wake"]);
    let _: ProduceResponse = call(
        &mut producer,
        ApiKey::Produce,
        9,
        &produce("t", stored.clone(), 1),
    )
    .await;
    let r = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the produce wakes the fetch long before its 20 s wait")
        .expect("fetch task");
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.high_watermark, 1);
    assert_eq!(p.records.as_ref().expect("records").len(), stored.len());
    let _ = server.stop.send(true);
}

#[tokio::test]
async fn connection_limit_refuses_extra_connections_only() {
    let config = ServerConfig {
        max_connections: 2,
        ..ServerConfig::default()
    };
    let server = start(config).await;
    let mut first = connect(&server).await;
    let second = connect(&server).await;
    let _: ApiVersionsResponse = call(
        &mut first,
        ApiKey::ApiVersions,
        3,
        &ApiVersionsRequest::default(),
    )
    .await;
    // The third connection is accepted by the kernel, then closed by the broker.
    let mut third = connect(&server).await;
    let _ = third
        .write_all(&frame(
            ApiKey::ApiVersions,
            3,
            7,
            &ApiVersionsRequest::default(),
        ))
        .await;
    assert!(
        read_response(&mut third).await.is_none(),
        "over max.connections"
    );
    // Existing connections keep working, and a freed slot is reusable.
    let _: ApiVersionsResponse = call(
        &mut first,
        ApiKey::ApiVersions,
        3,
        &ApiVersionsRequest::default(),
    )
    .await;
    drop(second);
    let mut again = None;
    for _ in 0..100 {
        let mut s = connect(&server).await;
        let sent = s
            .write_all(&frame(
                ApiKey::ApiVersions,
                3,
                7,
                &ApiVersionsRequest::default(),
            ))
            .await;
        if sent.is_ok() && read_response(&mut s).await.is_some() {
            again = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "a slot frees up when a connection closes");
    let _ = server.stop.send(true);
}
