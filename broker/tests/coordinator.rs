//! The classic group coordinator driven directly, on tokio's paused clock: timeouts fire
//! in virtual time, so these run in milliseconds and never race the wall clock.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::task::JoinHandle;
use tokio::time::sleep;
use weir_broker::coordinator::{
    CoordinatorConfig, GroupCoordinator, GroupState, JoinRequest, JoinResponse, LeavingMember,
    Protocol, SyncRequest, SyncResponse,
};
use weir_broker::server::errors;
use weir_broker::{Broker, BrokerOptions};

const SESSION_MS: i32 = 10_000;
const REBALANCE_MS: i32 = 30_000;
const INITIAL_DELAY_MS: i32 = 3_000;

struct Env {
    _dir: tempfile::TempDir,
    broker: Arc<Broker>,
    c: Arc<GroupCoordinator>,
}

fn env_with(config: CoordinatorConfig) -> Env {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut options = BrokerOptions::new(dir.path());
    options.offsets_partitions = 1;
    let broker = Arc::new(Broker::open(options).expect("open broker"));
    let c = Arc::new(GroupCoordinator::new(Arc::clone(&broker), config));
    Env {
        _dir: dir,
        broker,
        c,
    }
}

fn env() -> Env {
    env_with(CoordinatorConfig {
        min_session_timeout_ms: 1_000,
        initial_rebalance_delay_ms: INITIAL_DELAY_MS,
        ..CoordinatorConfig::default()
    })
}

fn request(group: &str, member_id: &str, client: &str) -> JoinRequest {
    JoinRequest {
        group_id: group.to_string(),
        member_id: member_id.to_string(),
        group_instance_id: None,
        client_id: client.to_string(),
        client_host: "/127.0.0.1".to_string(),
        session_timeout_ms: SESSION_MS,
        rebalance_timeout_ms: REBALANCE_MS,
        protocol_type: "consumer".to_string(),
        protocols: vec![
            protocol("range", &format!("{client}-range")),
            protocol("roundrobin", &format!("{client}-rr")),
        ],
        require_known_member_id: true,
    }
}

fn protocol(name: &str, metadata: &str) -> Protocol {
    Protocol {
        name: name.to_string(),
        metadata: Bytes::from(metadata.to_string()),
    }
}

/// The KIP-394 round trip: a join without member id is answered MEMBER_ID_REQUIRED.
async fn member_id(c: &GroupCoordinator, group: &str, client: &str) -> String {
    let r = c.join(request(group, "", client)).await;
    assert_eq!(r.error, errors::MEMBER_ID_REQUIRED, "{r:?}");
    assert!(r.member_id.starts_with(&format!("{client}-")), "{r:?}");
    r.member_id
}

/// Starts a join in its own task and lets it reach the coordinator (and park).
async fn spawn_join(c: &Arc<GroupCoordinator>, req: JoinRequest) -> JoinHandle<JoinResponse> {
    let c = Arc::clone(c);
    let task = tokio::spawn(async move { c.join(req).await });
    settle().await;
    task
}

async fn spawn_sync(
    c: &Arc<GroupCoordinator>,
    group: &str,
    member: &str,
    generation: i32,
    assignments: &[(&str, &str)],
) -> JoinHandle<SyncResponse> {
    let c = Arc::clone(c);
    let req = sync_request(group, member, generation, assignments);
    let task = tokio::spawn(async move { c.sync(req).await });
    settle().await;
    task
}

fn sync_request(
    group: &str,
    member: &str,
    generation: i32,
    assignments: &[(&str, &str)],
) -> SyncRequest {
    SyncRequest {
        group_id: group.to_string(),
        member_id: member.to_string(),
        group_instance_id: None,
        generation_id: generation,
        protocol_type: Some("consumer".to_string()),
        protocol_name: None,
        assignments: assignments
            .iter()
            .map(|(m, a)| (m.to_string(), Bytes::from(a.to_string())))
            .collect(),
    }
}

/// Lets every ready task run; advances the paused clock by a negligible millisecond.
async fn settle() {
    sleep(Duration::from_millis(1)).await;
}

async fn done<T>(task: JoinHandle<T>) -> T {
    task.await.expect("request task panicked")
}

/// A stable group of the given clients (the first is the leader), generation 1.
async fn stable_group(c: &Arc<GroupCoordinator>, group: &str, clients: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    let mut joins = Vec::new();
    for client in clients {
        let id = member_id(c, group, client).await;
        joins.push(spawn_join(c, request(group, &id, client)).await);
        ids.push(id);
    }
    for join in joins {
        let r = done(join).await;
        assert_eq!((r.error, r.generation_id), (errors::NONE, 1), "{r:?}");
        assert_eq!(r.leader, ids[0]);
    }
    let assignments: Vec<(String, String)> = ids
        .iter()
        .map(|id| (id.clone(), format!("for {id}")))
        .collect();
    let refs: Vec<(&str, &str)> = assignments
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let mut syncs = Vec::new();
    for id in ids.iter().rev() {
        let given: &[(&str, &str)] = if *id == ids[0] { &refs } else { &[] };
        syncs.push(spawn_sync(c, group, id, 1, given).await);
    }
    for sync in syncs {
        assert_eq!(done(sync).await.error, errors::NONE);
    }
    assert_eq!(c.describe_group(group).state, GroupState::Stable);
    ids
}

#[tokio::test(start_paused = true)]
async fn a_single_member_joins_syncs_and_heartbeats() {
    let Env { c, .. } = env();
    let id = member_id(&c, "g", "client-a").await;
    let r = done(spawn_join(&c, request("g", &id, "client-a")).await).await;
    assert_eq!(r.error, errors::NONE);
    assert_eq!(r.generation_id, 1);
    assert_eq!(r.leader, id);
    assert_eq!(r.member_id, id);
    assert_eq!(r.protocol_type.as_deref(), Some("consumer"));
    assert_eq!(r.protocol_name.as_deref(), Some("range"));
    assert_eq!(r.members.len(), 1);
    assert_eq!(r.members[0].metadata, Bytes::from("client-a-range"));
    assert_eq!(c.describe_group("g").state, GroupState::CompletingRebalance);

    let s = done(spawn_sync(&c, "g", &id, 1, &[(&id, "mine")]).await).await;
    assert_eq!(s.error, errors::NONE);
    assert_eq!(s.assignment, Bytes::from("mine"));
    assert_eq!(s.protocol_name.as_deref(), Some("range"));

    let d = c.describe_group("g");
    assert_eq!(
        (d.state, d.protocol_type.as_str(), d.protocol_data.as_str()),
        (GroupState::Stable, "consumer", "range")
    );
    assert_eq!(d.members[0].client_id, "client-a");
    assert_eq!(d.members[0].metadata, Bytes::from("client-a-range"));
    assert_eq!(d.members[0].assignment, Bytes::from("mine"));

    assert_eq!(c.heartbeat("g", &id, None, 1), errors::NONE);
    assert_eq!(c.heartbeat("g", &id, None, 0), errors::ILLEGAL_GENERATION);
    assert_eq!(
        c.heartbeat("g", "stranger", None, 1),
        errors::UNKNOWN_MEMBER_ID
    );
    assert_eq!(c.heartbeat("nope", &id, None, 1), errors::UNKNOWN_MEMBER_ID);
    assert_eq!(c.heartbeat("", &id, None, 1), errors::INVALID_GROUP_ID);

    // Offset commits: members of the current generation only; simple commits only to
    // groups without members.
    assert_eq!(c.validate_commit("g", &id, 1), errors::NONE);
    assert_eq!(c.validate_commit("g", &id, 0), errors::ILLEGAL_GENERATION);
    assert_eq!(
        c.validate_commit("g", "stranger", 1),
        errors::UNKNOWN_MEMBER_ID
    );
    assert_eq!(c.validate_commit("g", "", -1), errors::UNKNOWN_MEMBER_ID);
    assert_eq!(c.validate_commit("other", "", -1), errors::NONE);
    assert_eq!(
        c.validate_commit("other", "m", 3),
        errors::ILLEGAL_GENERATION
    );
}

#[tokio::test(start_paused = true)]
async fn two_members_share_a_generation_and_followers_wait_for_the_leaders_sync() {
    let Env { c, .. } = env();
    let a = member_id(&c, "g", "a").await;
    let ja = spawn_join(&c, request("g", &a, "a")).await;
    let b = member_id(&c, "g", "b").await;
    let jb = spawn_join(&c, request("g", &b, "b")).await;
    let (ra, rb) = (done(ja).await, done(jb).await);
    assert_eq!((ra.generation_id, rb.generation_id), (1, 1));
    assert_eq!(
        (ra.leader.as_str(), rb.leader.as_str()),
        (a.as_str(), a.as_str())
    );
    let mut listed: Vec<&str> = ra.members.iter().map(|m| m.member_id.as_str()).collect();
    listed.sort();
    let mut expected = vec![a.as_str(), b.as_str()];
    expected.sort();
    assert_eq!(listed, expected, "the leader sees every member");
    assert!(rb.members.is_empty(), "followers get no member list");

    let follower = spawn_sync(&c, "g", &b, 1, &[]).await;
    sleep(Duration::from_secs(1)).await;
    assert!(
        !follower.is_finished(),
        "a follower's SyncGroup waits for the leader"
    );
    let leader = spawn_sync(&c, "g", &a, 1, &[(&a, "p0-p2"), (&b, "p3-p5")]).await;
    assert_eq!(done(leader).await.assignment, Bytes::from("p0-p2"));
    assert_eq!(done(follower).await.assignment, Bytes::from("p3-p5"));
    assert_eq!(c.describe_group("g").state, GroupState::Stable);
}

#[tokio::test(start_paused = true)]
async fn the_initial_rebalance_waits_while_members_keep_arriving() {
    let Env { c, .. } = env();
    let a = member_id(&c, "g", "a").await;
    let ja = spawn_join(&c, request("g", &a, "a")).await;
    sleep(Duration::from_millis(2_500)).await;
    let b = member_id(&c, "g", "b").await;
    let jb = spawn_join(&c, request("g", &b, "b")).await;
    // The first delay ends at 3 s, but b arrived meanwhile: one more delay follows.
    sleep(Duration::from_millis(1_000)).await;
    assert!(
        !ja.is_finished(),
        "the delay is extended for a member that arrived late"
    );
    sleep(Duration::from_millis(2_600)).await;
    assert!(ja.is_finished() && jb.is_finished());
    assert_eq!(done(ja).await.generation_id, 1);
    assert_eq!(done(jb).await.generation_id, 1);
}

#[tokio::test(start_paused = true)]
async fn a_new_member_makes_the_group_rebalance() {
    let Env { c, .. } = env();
    let ids = stable_group(&c, "g", &["a"]).await;
    let a = &ids[0];
    let b = member_id(&c, "g", "b").await;
    let jb = spawn_join(&c, request("g", &b, "b")).await;
    assert_eq!(c.describe_group("g").state, GroupState::PreparingRebalance);
    assert_eq!(c.heartbeat("g", a, None, 1), errors::REBALANCE_IN_PROGRESS);
    // Commits of the old generation are still taken while members rejoin.
    assert_eq!(c.validate_commit("g", a, 1), errors::NONE);

    // Once a has rejoined, everybody has: the rebalance completes at once.
    let ja = spawn_join(&c, request("g", a, "a")).await;
    let (ra, rb) = (done(ja).await, done(jb).await);
    assert_eq!((ra.error, ra.generation_id), (errors::NONE, 2));
    assert_eq!((rb.error, rb.generation_id), (errors::NONE, 2));
    assert_eq!(ra.leader, *a, "the leader stays the leader");
    assert_eq!(ra.members.len(), 2);
    assert_eq!(c.validate_commit("g", a, 2), errors::REBALANCE_IN_PROGRESS);
    assert_eq!(c.validate_commit("g", a, 1), errors::ILLEGAL_GENERATION);
}

#[tokio::test(start_paused = true)]
async fn a_member_that_stops_heartbeating_is_removed_and_the_other_takes_over() {
    let Env { c, .. } = env();
    let ids = stable_group(&c, "g", &["a", "b"]).await;
    let (a, b) = (&ids[0], &ids[1]);
    // a heartbeats every 3 s; b has gone silent.
    let mut rounds = 0;
    while c.heartbeat("g", a, None, 1) == errors::NONE {
        rounds += 1;
        assert!(rounds < 10, "b was never expired");
        sleep(Duration::from_secs(3)).await;
    }
    assert_eq!(c.heartbeat("g", a, None, 1), errors::REBALANCE_IN_PROGRESS);
    assert_eq!(c.heartbeat("g", b, None, 1), errors::UNKNOWN_MEMBER_ID);
    let r = done(spawn_join(&c, request("g", a, "a")).await).await;
    assert_eq!((r.error, r.generation_id), (errors::NONE, 2));
    assert_eq!(r.members.len(), 1);
    let s = done(spawn_sync(&c, "g", a, 2, &[(a, "everything")]).await).await;
    assert_eq!(s.assignment, Bytes::from("everything"));
}

#[tokio::test(start_paused = true)]
async fn a_member_that_does_not_rejoin_is_removed_at_the_rebalance_timeout() {
    let Env { c, .. } = env();
    let ids = stable_group(&c, "g", &["a", "b"]).await;
    let (a, b) = (&ids[0], &ids[1]);
    // b keeps heartbeating but never rejoins; the leader's rejoin starts a rebalance.
    let ja = spawn_join(&c, request("g", a, "a")).await;
    for _ in 0..9 {
        assert_eq!(c.heartbeat("g", b, None, 1), errors::REBALANCE_IN_PROGRESS);
        sleep(Duration::from_secs(3)).await;
    }
    assert!(
        !ja.is_finished(),
        "the rebalance waits up to its timeout (30 s)"
    );
    sleep(Duration::from_secs(4)).await;
    let r = done(ja).await;
    assert_eq!(
        (r.error, r.generation_id, r.members.len()),
        (errors::NONE, 2, 1)
    );
    assert_eq!(c.heartbeat("g", b, None, 1), errors::UNKNOWN_MEMBER_ID);
}

#[tokio::test(start_paused = true)]
async fn a_member_that_never_syncs_is_removed() {
    let Env { c, .. } = env();
    let a = member_id(&c, "g", "a").await;
    let ja = spawn_join(&c, request("g", &a, "a")).await;
    let b = member_id(&c, "g", "b").await;
    let jb = spawn_join(&c, request("g", &b, "b")).await;
    done(ja).await;
    done(jb).await;
    let sa = spawn_sync(&c, "g", &a, 1, &[(&a, "x"), (&b, "y")]).await;
    assert_eq!(done(sa).await.error, errors::NONE);
    // b heartbeats but never fetches its assignment: gone after the rebalance timeout.
    let mut rounds = 0;
    while c.heartbeat("g", &a, None, 1) == errors::NONE {
        assert_eq!(c.heartbeat("g", &b, None, 1), errors::NONE);
        rounds += 1;
        assert!(rounds < 12, "b was never removed");
        sleep(Duration::from_secs(3)).await;
    }
    assert!(
        rounds >= 9,
        "b is removed only at the rebalance timeout (30 s)"
    );
    assert_eq!(c.heartbeat("g", &a, None, 1), errors::REBALANCE_IN_PROGRESS);
    assert_eq!(c.heartbeat("g", &b, None, 1), errors::UNKNOWN_MEMBER_ID);
}

#[tokio::test(start_paused = true)]
async fn a_sync_parked_when_a_rebalance_starts_is_told_to_rejoin() {
    let Env { c, .. } = env();
    let a = member_id(&c, "g", "a").await;
    let ja = spawn_join(&c, request("g", &a, "a")).await;
    let b = member_id(&c, "g", "b").await;
    let jb = spawn_join(&c, request("g", &b, "b")).await;
    done(ja).await;
    done(jb).await;
    let sb = spawn_sync(&c, "g", &b, 1, &[]).await;
    let newcomer = member_id(&c, "g", "c").await;
    let _jc = spawn_join(&c, request("g", &newcomer, "c")).await;
    assert_eq!(done(sb).await.error, errors::REBALANCE_IN_PROGRESS);
    let late = done(spawn_sync(&c, "g", &a, 1, &[]).await).await;
    assert_eq!(late.error, errors::REBALANCE_IN_PROGRESS);
}

#[tokio::test(start_paused = true)]
async fn leaving_rebalances_and_the_last_leave_empties_the_group() {
    let Env { c, .. } = env();
    let ids = stable_group(&c, "g", &["a", "b"]).await;
    let (a, b) = (&ids[0], &ids[1]);
    let leave = |member: &str| LeavingMember {
        member_id: member.to_string(),
        group_instance_id: None,
    };
    let out = c.leave("g", &[leave(b), leave("stranger")]);
    assert_eq!(out.error, errors::NONE);
    assert_eq!(out.members, vec![errors::NONE, errors::UNKNOWN_MEMBER_ID]);
    assert_eq!(c.heartbeat("g", a, None, 1), errors::REBALANCE_IN_PROGRESS);
    let r = done(spawn_join(&c, request("g", a, "a")).await).await;
    assert_eq!((r.generation_id, r.members.len()), (2, 1));

    assert_eq!(c.leave("g", &[leave(a)]).members, vec![errors::NONE]);
    let d = c.describe_group("g");
    assert_eq!((d.state, d.members.len()), (GroupState::Empty, 0));
    let listed = c.list_groups();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].protocol_type.as_str(), listed[0].state),
        ("consumer", GroupState::Empty)
    );
    let unknown = c.leave("nope", &[leave(a)]);
    assert_eq!(
        (unknown.error, unknown.members),
        (errors::NONE, vec![errors::UNKNOWN_MEMBER_ID])
    );
}

#[tokio::test(start_paused = true)]
async fn joins_are_validated() {
    let Env { c, .. } = env();
    let mut r = request("", "", "a");
    assert_eq!(c.join(r).await.error, errors::INVALID_GROUP_ID);
    r = request("g", "", "a");
    r.session_timeout_ms = 10;
    assert_eq!(c.join(r).await.error, errors::INVALID_SESSION_TIMEOUT);
    assert_eq!(
        c.join(request("g", "ghost", "a")).await.error,
        errors::UNKNOWN_MEMBER_ID
    );

    // JoinGroup before v4 joins at once, without the member id round trip.
    let mut old = request("g", "", "a");
    old.require_known_member_id = false;
    let first = done(spawn_join(&c, old).await).await;
    assert_eq!((first.error, first.generation_id), (errors::NONE, 1));

    let mut other_type = request("g", "", "b");
    other_type.protocol_type = "connect".to_string();
    assert_eq!(
        c.join(other_type).await.error,
        errors::INCONSISTENT_GROUP_PROTOCOL
    );
    let mut other_protocol = request("g", "", "b");
    other_protocol.protocols = vec![protocol("sticky", "")];
    assert_eq!(
        c.join(other_protocol).await.error,
        errors::INCONSISTENT_GROUP_PROTOCOL
    );
}

#[tokio::test(start_paused = true)]
async fn group_max_size_is_enforced() {
    let Env { c, .. } = env_with(CoordinatorConfig {
        min_session_timeout_ms: 1_000,
        initial_rebalance_delay_ms: INITIAL_DELAY_MS,
        max_group_size: 2,
        ..CoordinatorConfig::default()
    });
    stable_group(&c, "g", &["a", "b"]).await;
    let r = c.join(request("g", "", "c")).await;
    assert_eq!(r.error, errors::GROUP_MAX_SIZE_REACHED);
}

#[tokio::test(start_paused = true)]
async fn a_restarted_static_member_fences_its_old_incarnation() {
    let Env { c, .. } = env();
    let mut first = request("g", "", "a");
    first.group_instance_id = Some("instance-1".to_string());
    let r1 = done(spawn_join(&c, first.clone()).await).await;
    assert_eq!(
        r1.error,
        errors::NONE,
        "static members skip MEMBER_ID_REQUIRED"
    );
    assert!(r1.member_id.starts_with("instance-1-"));
    assert_eq!(
        r1.members[0].group_instance_id.as_deref(),
        Some("instance-1")
    );

    let r2 = done(spawn_join(&c, first).await).await;
    assert_eq!(r2.error, errors::NONE);
    assert_ne!(r2.member_id, r1.member_id);
    let old = c.heartbeat("g", &r1.member_id, Some("instance-1"), r2.generation_id);
    assert_eq!(old, errors::FENCED_INSTANCE_ID);

    // Removal by instance id alone (an administrator's LeaveGroup).
    let out = c.leave(
        "g",
        &[LeavingMember {
            member_id: String::new(),
            group_instance_id: Some("instance-1".to_string()),
        }],
    );
    assert_eq!(out.members, vec![errors::NONE]);
    assert_eq!(c.describe_group("g").state, GroupState::Empty);
}

#[tokio::test(start_paused = true)]
async fn groups_are_listed_described_and_deleted() {
    let Env { c, broker, .. } = env();
    broker
        .commit_offsets("offsets-only", &[("t".to_string(), 0, 5, String::new())])
        .expect("commit");
    stable_group(&c, "live", &["a"]).await;

    let listed: Vec<(String, String, GroupState)> = c
        .list_groups()
        .into_iter()
        .map(|g| (g.group_id, g.protocol_type, g.state))
        .collect();
    assert_eq!(
        listed,
        vec![
            (
                "live".to_string(),
                "consumer".to_string(),
                GroupState::Stable
            ),
            ("offsets-only".to_string(), String::new(), GroupState::Empty),
        ]
    );
    assert_eq!(c.describe_group("offsets-only").state, GroupState::Empty);
    let unknown = c.describe_group("unknown");
    assert_eq!(
        (unknown.error, unknown.state),
        (errors::NONE, GroupState::Dead)
    );

    let ids = ["live", "offsets-only", "unknown"].map(String::from);
    assert_eq!(
        c.delete_groups(&ids).await,
        vec![
            errors::NON_EMPTY_GROUP,
            errors::NONE,
            errors::GROUP_ID_NOT_FOUND,
        ]
    );
    assert!(broker.group_offsets("offsets-only").is_empty());
    assert_eq!(c.describe_group("offsets-only").state, GroupState::Dead);
}

#[tokio::test(start_paused = true)]
async fn an_emptied_group_can_be_deleted_and_joined_again() {
    let Env { c, .. } = env();
    let ids = stable_group(&c, "g", &["a"]).await;
    c.leave(
        "g",
        &[LeavingMember {
            member_id: ids[0].clone(),
            group_instance_id: None,
        }],
    );
    assert_eq!(
        c.delete_groups(&["g".to_string()]).await,
        vec![errors::NONE]
    );
    assert_eq!(c.describe_group("g").state, GroupState::Dead);
    assert_eq!(
        c.heartbeat("g", &ids[0], None, 1),
        errors::UNKNOWN_MEMBER_ID
    );
    let again = stable_group(&c, "g", &["b"]).await;
    assert_eq!(again.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn shutdown_answers_parked_requests() {
    let Env { c, .. } = env();
    let a = member_id(&c, "g", "a").await;
    let ja = spawn_join(&c, request("g", &a, "a")).await;
    c.shutdown().await;
    assert_eq!(done(ja).await.error, errors::NOT_COORDINATOR);
    assert_eq!(
        c.join(request("g", "", "b")).await.error,
        errors::NOT_COORDINATOR
    );
}
