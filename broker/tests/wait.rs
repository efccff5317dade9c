//! `Broker::wait_for`: a reader waiting past the log end is woken by the append itself, and
//! gives up with `false` when nothing arrives before its timeout.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::records::Compression;
use weir_broker::{Broker, BrokerOptions, Error};

use common::{rec, wall_now};

fn broker(dir: &std::path::Path) -> Arc<Broker> {
    let mut options = BrokerOptions::new(dir);
    options.offsets_partitions = 1;
    let broker = Broker::open(options).expect("open broker");
    broker
        .create_topic("t", 2, BTreeMap::new())
        .expect("create topic");
    Arc::new(broker)
}

fn append(broker: &Broker, partition: i32) -> i64 {
    broker
        .append_records(
            "t",
            partition,
            &[rec(Some("k"), Some("v"), wall_now())],
            Compression::None,
        )
        .expect("append")
        .base_offset
}

#[tokio::test]
async fn waiter_is_woken_by_an_append() {
    let dir = common::tempdir();
    let broker = broker(dir.path());
    let waiter = {
        let broker = Arc::clone(&broker);
        tokio::spawn(async move { broker.wait_for("t", 0, 0, Duration::from_secs(5)).await })
    };
    // Let the waiter subscribe first (either order must work: the watch keeps the value).
    tokio::task::yield_now().await;
    let writer = {
        let broker = Arc::clone(&broker);
        tokio::task::spawn_blocking(move || append(&broker, 0))
    };
    assert_eq!(writer.await.expect("writer task"), 0);
    let woke = waiter.await.expect("waiter task").expect("wait_for");
    assert!(
        woke,
        "the append at offset 0 must satisfy a wait for offset 0"
    );
}

#[tokio::test]
async fn waiting_for_data_already_there_returns_at_once() {
    let dir = common::tempdir();
    let broker = broker(dir.path());
    append(&broker, 1);
    append(&broker, 1);
    assert!(
        broker
            .wait_for("t", 1, 1, Duration::from_secs(5))
            .await
            .expect("wait_for")
    );
}

#[tokio::test]
async fn wait_times_out_without_data() {
    let dir = common::tempdir();
    let broker = broker(dir.path());
    append(&broker, 0);
    // Offset 1 is not there yet; an append to another partition does not count.
    let waiter = {
        let broker = Arc::clone(&broker);
        tokio::spawn(async move { broker.wait_for("t", 0, 1, Duration::from_millis(50)).await })
    };
    append(&broker, 1);
    let woke = waiter.await.expect("waiter task").expect("wait_for");
    assert!(!woke, "nothing was appended at offset 1 of partition 0");
}

#[tokio::test]
async fn wait_on_unknown_partition_is_an_error() {
    let dir = common::tempdir();
    let broker = broker(dir.path());
    assert!(matches!(
        broker
            .wait_for("nope", 0, 0, Duration::from_millis(1))
            .await,
        Err(Error::UnknownTopic(_))
    ));
    assert!(matches!(
        broker.wait_for("t", 9, 0, Duration::from_millis(1)).await,
        Err(Error::UnknownPartition(_))
    ));
}
