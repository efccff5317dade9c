//! Members of a group in-process against a real weir broker on a loopback port: joining over
//! a bootstrap list, a rebalance seen by the heartbeat, leaving, and a lost membership.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use weir_broker::coordinator::{CoordinatorConfig, GroupCoordinator};
use weir_broker::producer_ids::ProducerIds;
use weir_broker::server::{self, ServerConfig};
use weir_broker::{Broker, BrokerOptions};

use super::*;

struct Cluster {
    _dir: tempfile::TempDir,
    addr: String,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
}

async fn cluster() -> Cluster {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut options = BrokerOptions::new(dir.path().join("data"));
    options.offsets_partitions = 1;
    let broker = Arc::new(Broker::open(options).expect("broker opens"));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let port = listener.local_addr().expect("bound").port();
    let config = ServerConfig {
        advertised_host: "127.0.0.1".to_string(),
        advertised_port: i32::from(port),
        shutdown_grace: Duration::from_millis(100),
        ..ServerConfig::default()
    };
    let groups = CoordinatorConfig {
        min_session_timeout_ms: 100,
        initial_rebalance_delay_ms: 0,
        ..CoordinatorConfig::default()
    };
    let ctx = Arc::new(server::Context {
        groups: GroupCoordinator::new(Arc::clone(&broker), groups),
        producer_ids: Arc::new(ProducerIds::open(dir.path()).expect("producer ids")),
        broker,
        config,
    });
    let (stop, stopped) = watch::channel(false);
    let server = tokio::spawn(server::serve(listener, ctx, stopped));
    Cluster {
        _dir: dir,
        addr: format!("127.0.0.1:{port}"),
        stop,
        server,
    }
}

/// Offers two protocols named like Connect's; the leader hands each member
/// `protocol/metadata/member count`.
struct Echo {
    name: String,
}

impl GroupProtocol for Echo {
    fn protocol_type(&self) -> &str {
        "connect"
    }

    fn protocols(&mut self) -> anyhow::Result<Vec<(String, Bytes)>> {
        Ok(["sessioned", "compatible"]
            .into_iter()
            .map(|p| (p.to_string(), Bytes::from(self.name.clone())))
            .collect())
    }

    async fn assign(
        &mut self,
        protocol: &str,
        members: &[(String, Bytes)],
    ) -> anyhow::Result<BTreeMap<String, Bytes>> {
        Ok(members
            .iter()
            .map(|(id, meta)| {
                let name = String::from_utf8_lossy(meta);
                let assignment = format!("{protocol}/{name}/{}", members.len());
                (id.clone(), Bytes::from(assignment))
            })
            .collect())
    }
}

fn timings(session_ms: u64) -> GroupTimings {
    GroupTimings {
        session_timeout: Duration::from_millis(session_ms),
        rebalance_timeout: Duration::from_secs(5),
        heartbeat_interval: Duration::from_millis(50),
        join_timeout: Duration::from_secs(5),
    }
}

fn echo(name: &str) -> Echo {
    Echo {
        name: name.to_string(),
    }
}

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen in time"))
}

#[tokio::test]
async fn members_join_rebalance_and_leave() {
    let cluster = cluster().await;
    // The first bootstrap address refuses connections; the second is the broker.
    let cfg = ClientConfig::new(&format!("127.0.0.1:1, {}", cluster.addr));
    let (mut a, first) = within(
        "the first join",
        Member::join(&cfg, "workers", echo("a"), timings(2000)),
    )
    .await
    .expect("a joins");
    assert!(first.is_leader);
    assert_eq!(first.protocol_name, "sessioned");
    assert_eq!(first.assignment, Bytes::from("sessioned/a/1"));
    assert_eq!(a.state(), MemberState::Stable);

    let cfg_b = cfg.clone();
    let b = tokio::spawn(
        async move { Member::join(&cfg_b, "workers", echo("b"), timings(2000)).await },
    );
    within("a's heartbeat seeing the rebalance", a.rejoin_needed()).await;
    assert_eq!(a.state(), MemberState::RejoinNeeded);
    let again = within("a's rejoin", a.rejoin()).await.expect("a rejoins");
    let (mut b, joined_b) = within("b's join", b).await.expect("task").expect("b joins");
    assert_eq!(again.generation, joined_b.generation);
    assert!(again.generation > first.generation);
    assert_ne!(again.is_leader, joined_b.is_leader, "one leader");
    assert_eq!(again.leader_id, joined_b.leader_id);
    assert_eq!(again.assignment, Bytes::from("sessioned/a/2"));
    assert_eq!(joined_b.assignment, Bytes::from("sessioned/b/2"));
    assert!(!again.was_lost);
    assert_eq!(b.generation(), joined_b.generation);
    assert_eq!(b.member_id(), joined_b.member_id);

    // An explicit request wakes the waiter at once; new metadata makes the rejoin a
    // rebalance of the whole group (unchanged metadata from a follower would not).
    b.request_rejoin();
    within("b's requested rejoin", b.rejoin_needed()).await;
    b.protocol_mut().name = "b2".to_string();
    let a_rejoin = tokio::spawn(async move {
        a.rejoin_needed().await;
        let j = a.rejoin().await;
        (a, j)
    });
    let b_again = within("b's rejoin", b.rejoin()).await.expect("b rejoins");
    let (a, a_again) = within("a's second rejoin", a_rejoin).await.expect("task");
    assert_eq!(a_again.expect("a rejoins").generation, b_again.generation);
    assert_eq!(b_again.generation, joined_b.generation + 1);
    assert_eq!(b_again.assignment, Bytes::from("sessioned/b2/2"));

    b.leave().await.expect("b leaves");
    let mut a = a;
    within("a seeing b leave", a.rejoin_needed()).await;
    let alone = within("a's rejoin alone", a.rejoin())
        .await
        .expect("a rejoins");
    assert_eq!(alone.assignment, Bytes::from("sessioned/a/1"));
    a.leave().await.expect("a leaves");
    let _ = cluster.stop.send(true);
    let _ = cluster.server.await;
}

#[tokio::test]
async fn a_member_without_its_coordinator_knows_it_lost_the_group() {
    let cluster = cluster().await;
    let cfg = ClientConfig::new(&cluster.addr);
    let mut t = timings(400);
    t.join_timeout = Duration::from_millis(300);
    let (mut m, _) = within("the join", Member::join(&cfg, "lonely", echo("m"), t))
        .await
        .expect("joins");
    let mut states = m.subscribe();
    let _ = cluster.stop.send(true);
    let _ = cluster.server.await;
    within("the loss", states.wait_for(|s| *s == MemberState::Lost))
        .await
        .expect("the member still exists");
    assert!(m.is_lost());
    assert!(m.needs_rejoin());
    let e = within("the give-up", m.rejoin())
        .await
        .expect_err("no coordinator to join");
    let msg = format!("{e:#}");
    assert!(msg.contains("could not join group lonely within"), "{msg}");
    assert!(m.is_lost(), "still lost after a failed rejoin");
}

#[test]
fn bootstrap_lists_are_split_and_trimmed() {
    let cfg = ClientConfig::new(" a:1, b:2 ,,c:3");
    assert_eq!(
        cfg.bootstrap_addrs().collect::<Vec<_>>(),
        ["a:1", "b:2", "c:3"]
    );
}
