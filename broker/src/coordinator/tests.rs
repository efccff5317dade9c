//! Unit tests of the group state machine's pure parts, and of the timer task's lifecycle.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::group::Group;
use super::member::Member;
use super::types::{GroupState, JoinRequest, LeavingMember, Protocol};
use super::{CoordinatorConfig, GroupCoordinator};
use crate::broker::{Broker, BrokerOptions};
use crate::server::errors;

fn join_request(member: &str, protocols: &[&str]) -> JoinRequest {
    JoinRequest {
        group_id: "g".to_string(),
        member_id: member.to_string(),
        group_instance_id: None,
        client_id: member.to_string(),
        client_host: String::new(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        protocol_type: "consumer".to_string(),
        protocols: protocols
            .iter()
            .map(|p| Protocol {
                name: p.to_string(),
                metadata: Bytes::from(format!("{member}:{p}")),
            })
            .collect(),
        require_known_member_id: false,
    }
}

/// A group whose members (the first is the leader) prefer the given protocols, in order.
fn group_of(members: &[(&str, &[&str])]) -> Group {
    let mut group = Group::new("g");
    for (id, protocols) in members {
        let (tx, _rx) = oneshot::channel();
        let member = Member::new(
            id.to_string(),
            &join_request(id, protocols),
            Instant::now(),
            tx,
        );
        group.members.insert(id.to_string(), member);
    }
    group.leader = members.first().map(|(id, _)| id.to_string());
    group.state = GroupState::Stable;
    group.protocol_type = Some("consumer".to_string());
    group
}

#[test]
fn the_protocol_is_chosen_by_vote_among_those_everybody_supports() {
    let g = group_of(&[
        ("a", &["rr", "range"]),
        ("b", &["rr", "range"]),
        ("c", &["range", "rr"]),
    ]);
    assert_eq!(g.select_protocol().as_deref(), Some("rr"));
    // c cannot do rr, so range is the only candidate whatever the votes.
    let g = group_of(&[
        ("a", &["rr", "range"]),
        ("b", &["rr", "range"]),
        ("c", &["range"]),
    ]);
    assert_eq!(g.select_protocol().as_deref(), Some("range"));
    // A tie goes to the leader's preference.
    let g = group_of(&[("b", &["range", "rr"]), ("a", &["rr", "range"])]);
    assert_eq!(g.select_protocol().as_deref(), Some("range"));
}

#[test]
fn a_joining_member_needs_the_group_type_and_a_protocol_everybody_supports() {
    let g = group_of(&[("a", &["rr", "range"]), ("b", &["range"])]);
    let ok = join_request("c", &["sticky", "range"]).protocols;
    let none_common = join_request("c", &["rr"]).protocols;
    assert!(g.supports_protocols("consumer", &ok));
    assert!(!g.supports_protocols("consumer", &none_common));
    assert!(!g.supports_protocols("connect", &ok));
    let empty = Group::new("g");
    assert!(empty.supports_protocols("anything", &none_common));
    assert!(!empty.supports_protocols("", &ok));
    assert!(!empty.supports_protocols("consumer", &[]));
}

#[test]
fn member_lists_carry_the_chosen_protocols_metadata() {
    let mut g = group_of(&[("a", &["rr", "range"]), ("b", &["range", "rr"])]);
    g.protocol_name = Some("range".to_string());
    let list = g.member_list();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].metadata, Bytes::from("a:range"));
    assert_eq!(list[1].metadata, Bytes::from("b:range"));
}

fn coordinator(dir: &std::path::Path, max_groups: usize) -> GroupCoordinator {
    let mut options = BrokerOptions::new(dir);
    options.offsets_partitions = 1;
    let broker = Arc::new(Broker::open(options).expect("open broker"));
    GroupCoordinator::new(
        broker,
        CoordinatorConfig {
            min_session_timeout_ms: 1_000,
            initial_rebalance_delay_ms: 0,
            max_groups,
            ..CoordinatorConfig::default()
        },
    )
}

#[tokio::test(start_paused = true)]
async fn the_timer_task_runs_only_while_the_group_has_members() {
    let dir = tempfile::tempdir().expect("temp dir");
    let c = coordinator(dir.path(), 10);
    // With no initial delay a lone member's join completes at once.
    let joined = c.join(join_request("", &["range"])).await;
    assert_eq!((joined.error, joined.generation_id), (errors::NONE, 1));
    let cell = c.get("g").expect("group exists");
    assert!(cell.lock().timer.running);

    let left = c.leave(
        "g",
        &[LeavingMember {
            member_id: joined.member_id,
            group_instance_id: None,
        }],
    );
    assert_eq!(left.members, vec![errors::NONE]);
    // The timer wakes at its armed deadline, finds nothing to time, and exits.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!cell.lock().timer.running);
    assert_eq!(cell.lock().state, GroupState::Empty);
    c.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn idle_groups_are_forgotten_when_max_groups_is_reached() {
    let dir = tempfile::tempdir().expect("temp dir");
    let c = coordinator(dir.path(), 1);
    let mut first = join_request("", &["range"]);
    first.group_id = "first".to_string();
    first.require_known_member_id = true;
    assert_eq!(
        c.join(first.clone()).await.error,
        errors::MEMBER_ID_REQUIRED
    );
    // "first" has a pending member: not idle, so a second group cannot be made.
    let mut second = first.clone();
    second.group_id = "second".to_string();
    assert_eq!(
        c.join(second.clone()).await.error,
        errors::COORDINATOR_NOT_AVAILABLE
    );
    // Once the pending member has expired, "first" is idle and gives way.
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(c.join(second).await.error, errors::MEMBER_ID_REQUIRED);
    assert_eq!(c.describe_group("first").state, GroupState::Dead);
}

#[test]
fn a_member_whose_session_was_renewed_by_a_completing_rebalance_is_kept() {
    // Both sessions run out at the same instant: removing the silent member completes the
    // rebalance, which answers the parked one and renews its session. It must stay.
    // Members are visited in id order: the silent one first.
    let mut g = group_of(&[("z-parked", &["range"]), ("a-silent", &["range"])]);
    let now = Instant::now() + Duration::from_secs(60);
    for m in g.members.values_mut() {
        m.is_new = false;
        m.deadline = now;
    }
    if let Some(silent) = g.members.get_mut("a-silent") {
        silent.awaiting_join = None;
    }
    g.state = GroupState::PreparingRebalance;
    g.join_deadline = Some(now + Duration::from_secs(30));
    g.expire(now, &CoordinatorConfig::default());
    assert_eq!(g.state, GroupState::CompletingRebalance);
    assert_eq!(g.members.keys().collect::<Vec<_>>(), vec!["z-parked"]);
    assert_eq!(g.leader.as_deref(), Some("z-parked"));
}
