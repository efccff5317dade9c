//! Which worker of a distributed group runs which connector and task: Kafka Connect's
//! incremental cooperative assignor (KIP-415) with `scheduled.rebalance.max.delay.ms=0`, as
//! a pure function of what each member reports it runs and what the config topic holds.
//!
//! Connectors and tasks are balanced separately, each the same way:
//! 1. What is no longer configured is revoked from whoever runs it.
//! 2. What two members run stays with the lowest member id and is revoked from the others.
//! 3. Each member gets a cap: with `T` items over `n` members, `T % n` members may hold
//!    `T / n + 1` (those holding the most keep the extra, so no one moves needlessly) and the
//!    others `T / n`. What a member holds above its cap is revoked, and is *not* handed out
//!    in the same round: the member must stop it first, and reports it gone when it rejoins
//!    right after (the follow-up rebalance).
//! 4. What nobody runs is handed to members below their cap, least loaded first, tasks of
//!    one connector spread across members.
//!
//! Nothing a member keeps is ever stopped. The caps add up to `T` and every member ends the
//! round at or below its cap, so the follow-up round revokes nothing and fills every member
//! to its cap: after two rounds everything configured runs exactly once and loads differ by
//! at most one; a third round (nothing changed) gives empty plans.

use std::collections::{BTreeMap, BTreeSet};

/// A task: its connector and task number.
pub type TaskId = (String, u32);

/// The connectors and tasks one member runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owned {
    pub connectors: BTreeSet<String>,
    pub tasks: BTreeSet<TaskId>,
}

impl Owned {
    pub fn is_empty(&self) -> bool {
        self.connectors.is_empty() && self.tasks.is_empty()
    }

    /// What the member runs once it has carried out `plan`.
    pub fn apply(&mut self, plan: &Plan) {
        self.connectors
            .retain(|c| !plan.revoked.connectors.contains(c));
        self.tasks.retain(|t| !plan.revoked.tasks.contains(t));
        self.connectors
            .extend(plan.assigned.connectors.iter().cloned());
        self.tasks.extend(plan.assigned.tasks.iter().cloned());
    }
}

/// One member's share of a rebalance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// To start: new to this member.
    pub assigned: Owned,
    /// To stop.
    pub revoked: Owned,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.assigned.is_empty() && self.revoked.is_empty()
    }
}

/// The plan of every member. `members`: member id -> what it reports it runs (its metadata
/// allocation); `configured`: connector -> task count, for every connector in the config
/// topic (a stopped connector has 0 tasks; the connector itself is still assigned).
pub fn assign(
    members: &BTreeMap<String, Owned>,
    configured: &BTreeMap<String, u32>,
) -> BTreeMap<String, Plan> {
    let connectors: BTreeSet<String> = configured.keys().cloned().collect();
    let tasks: BTreeSet<TaskId> = configured
        .iter()
        .flat_map(|(c, &n)| (0..n).map(move |t| (c.clone(), t)))
        .collect();
    let owned_connectors = members
        .iter()
        .map(|(m, o)| (m.as_str(), &o.connectors))
        .collect();
    let owned_tasks = members
        .iter()
        .map(|(m, o)| (m.as_str(), &o.tasks))
        .collect();
    let by_connector = balance(&owned_connectors, &connectors);
    let by_task = balance(&owned_tasks, &tasks);
    let mut plans: BTreeMap<String, Plan> = members
        .keys()
        .map(|m| (m.clone(), Plan::default()))
        .collect();
    for (m, share) in by_connector {
        if let Some(p) = plans.get_mut(m) {
            p.assigned.connectors = share.assigned;
            p.revoked.connectors = share.revoked;
        }
    }
    for (m, share) in by_task {
        if let Some(p) = plans.get_mut(m) {
            p.assigned.tasks = share.assigned;
            p.revoked.tasks = share.revoked;
        }
    }
    plans
}

/// A connector or a task; `connector()` groups the tasks of one connector so they spread.
trait Item: Ord + Clone {
    fn connector(&self) -> &str;
}

impl Item for String {
    fn connector(&self) -> &str {
        self
    }
}

impl Item for TaskId {
    fn connector(&self) -> &str {
        &self.0
    }
}

struct Share<T> {
    assigned: BTreeSet<T>,
    revoked: BTreeSet<T>,
}

/// One kind of item (connectors or tasks) over the members, steps 1-4 of the module doc.
fn balance<'m, T: Item>(
    owned: &BTreeMap<&'m str, &BTreeSet<T>>,
    configured: &BTreeSet<T>,
) -> BTreeMap<&'m str, Share<T>> {
    let mut kept: BTreeMap<&str, BTreeSet<T>> = BTreeMap::new();
    let mut shares: BTreeMap<&str, Share<T>> = BTreeMap::new();
    let mut running: BTreeSet<&T> = BTreeSet::new();
    // Steps 1 and 2: member ids in order, so a duplicate stays with the lowest.
    for (&m, items) in owned {
        let mut share = Share {
            assigned: BTreeSet::new(),
            revoked: BTreeSet::new(),
        };
        let mut keep = BTreeSet::new();
        for item in items.iter() {
            if configured.contains(item) && running.insert(item) {
                keep.insert(item.clone());
            } else {
                share.revoked.insert(item.clone());
            }
        }
        kept.insert(m, keep);
        shares.insert(m, share);
    }
    let unowned: Vec<T> = configured
        .iter()
        .filter(|i| !running.contains(i))
        .cloned()
        .collect();
    if owned.is_empty() {
        return shares;
    }

    // Step 3: the members holding the most keep the extra items.
    let total = configured.len();
    let (floor, extra) = (total / owned.len(), total % owned.len());
    let mut by_load: Vec<&str> = kept.keys().copied().collect();
    by_load.sort_by_key(|m| (std::cmp::Reverse(kept[m].len()), *m));
    let caps: BTreeMap<&str, usize> = by_load
        .iter()
        .enumerate()
        .map(|(i, &m)| (m, floor + usize::from(i < extra)))
        .collect();
    for (&m, keep) in &mut kept {
        let cap = caps[m];
        while keep.len() > cap {
            let Some(item) = most_concentrated(keep) else {
                break;
            };
            keep.remove(&item);
            if let Some(share) = shares.get_mut(m) {
                share.revoked.insert(item);
            }
        }
    }

    // Step 4: the room under the caps covers every unowned item (the caps add up to the
    // total), so everything not revoked in this round runs somewhere after it.
    for item in unowned {
        let target = kept
            .iter()
            .filter(|(m, keep)| keep.len() < caps[*m])
            .min_by_key(|(m, keep)| {
                let same = keep
                    .iter()
                    .filter(|i| i.connector() == item.connector())
                    .count();
                (keep.len(), same, **m)
            })
            .map(|(m, _)| *m);
        let Some(m) = target else {
            break;
        };
        if let (Some(keep), Some(share)) = (kept.get_mut(m), shares.get_mut(m)) {
            keep.insert(item.clone());
            share.assigned.insert(item);
        }
    }
    shares
}

/// The item to revoke first: the highest of the connector this member holds the most of,
/// so the tasks it keeps stay spread over connectors.
fn most_concentrated<T: Item>(items: &BTreeSet<T>) -> Option<T> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for i in items {
        *counts.entry(i.connector()).or_default() += 1;
    }
    let (connector, _) = counts
        .iter()
        .max_by_key(|(c, n)| (**n, std::cmp::Reverse(**c)))?;
    items
        .iter()
        .rev()
        .find(|i| i.connector() == *connector)
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(connectors: &[&str], tasks: &[(&str, u32)]) -> Owned {
        Owned {
            connectors: connectors.iter().map(|c| c.to_string()).collect(),
            tasks: tasks.iter().map(|(c, t)| (c.to_string(), *t)).collect(),
        }
    }

    fn config(entries: &[(&str, u32)]) -> BTreeMap<String, u32> {
        entries.iter().map(|(c, n)| (c.to_string(), *n)).collect()
    }

    fn six_by_two() -> BTreeMap<String, u32> {
        config(&[
            ("c1", 2),
            ("c2", 2),
            ("c3", 2),
            ("c4", 2),
            ("c5", 2),
            ("c6", 2),
        ])
    }

    fn apply(
        members: &BTreeMap<String, Owned>,
        plans: &BTreeMap<String, Plan>,
    ) -> BTreeMap<String, Owned> {
        members
            .iter()
            .map(|(m, o)| {
                let mut o = o.clone();
                if let Some(p) = plans.get(m) {
                    o.apply(p);
                }
                (m.clone(), o)
            })
            .collect()
    }

    /// Rebalances until the plans are empty (at most `rounds`); returns the final state.
    fn settle(
        mut members: BTreeMap<String, Owned>,
        configured: &BTreeMap<String, u32>,
        rounds: usize,
    ) -> BTreeMap<String, Owned> {
        for _ in 0..rounds {
            let plans = assign(&members, configured);
            members = apply(&members, &plans);
        }
        let last = assign(&members, configured);
        assert!(
            last.values().all(Plan::is_empty),
            "not settled after {rounds} rounds: {last:?}"
        );
        members
    }

    /// Everything configured runs exactly once, nothing else runs, loads within one.
    fn check_balanced(members: &BTreeMap<String, Owned>, configured: &BTreeMap<String, u32>) {
        let mut connectors = Vec::new();
        let mut tasks = Vec::new();
        for o in members.values() {
            connectors.extend(o.connectors.iter().cloned());
            tasks.extend(o.tasks.iter().cloned());
        }
        connectors.sort();
        tasks.sort();
        let want_connectors: Vec<String> = configured.keys().cloned().collect();
        let want_tasks: Vec<TaskId> = configured
            .iter()
            .flat_map(|(c, &n)| (0..n).map(move |t| (c.clone(), t)))
            .collect();
        assert_eq!(connectors, want_connectors, "connectors: {members:?}");
        assert_eq!(tasks, want_tasks, "tasks: {members:?}");
        let spread = |f: &dyn Fn(&Owned) -> usize| {
            let loads: Vec<usize> = members.values().map(f).collect();
            loads.iter().max().unwrap_or(&0) - loads.iter().min().unwrap_or(&0)
        };
        assert!(spread(&|o| o.connectors.len()) <= 1, "{members:?}");
        assert!(spread(&|o| o.tasks.len()) <= 1, "{members:?}");
    }

    fn empty_members(ids: &[&str]) -> BTreeMap<String, Owned> {
        ids.iter()
            .map(|m| (m.to_string(), Owned::default()))
            .collect()
    }

    #[test]
    fn first_assignment_spreads_six_connectors_by_two_tasks_over_three() {
        let configured = six_by_two();
        let members = empty_members(&["m1", "m2", "m3"]);
        let plans = assign(&members, &configured);
        for (m, p) in &plans {
            assert!(p.revoked.is_empty(), "{m}");
            assert_eq!(p.assigned.connectors.len(), 2, "{m}");
            assert_eq!(p.assigned.tasks.len(), 4, "{m}");
            let mut per_connector = BTreeMap::new();
            for (c, _) in &p.assigned.tasks {
                *per_connector.entry(c).or_insert(0) += 1;
            }
            assert!(
                per_connector.values().all(|n| *n == 1),
                "tasks of one connector spread: {m} {per_connector:?}"
            );
        }
        let after = apply(&members, &plans);
        check_balanced(&after, &configured);
        assert!(assign(&after, &configured).values().all(Plan::is_empty));
    }

    #[test]
    fn a_leaving_member_s_work_moves_and_nothing_else() {
        let configured = six_by_two();
        let before = settle(empty_members(&["m1", "m2", "m3"]), &configured, 1);
        let mut members = before.clone();
        let gone = members.remove("m2").expect("m2 was a member");
        let plans = assign(&members, &configured);
        let mut handed_out = Owned::default();
        for p in plans.values() {
            assert!(p.revoked.is_empty(), "nothing of the others stops");
            handed_out
                .connectors
                .extend(p.assigned.connectors.iter().cloned());
            handed_out.tasks.extend(p.assigned.tasks.iter().cloned());
        }
        assert_eq!(handed_out, gone);
        check_balanced(&apply(&members, &plans), &configured);
    }

    #[test]
    fn a_joining_member_gets_work_through_a_revocation_round() {
        let configured = six_by_two();
        let mut members = settle(empty_members(&["m1", "m2", "m3"]), &configured, 1);
        members.insert("m4".to_string(), Owned::default());
        let plans = assign(&members, &configured);
        assert!(
            plans["m4"].is_empty(),
            "revoked work is handed out next round"
        );
        let revoked_connectors: usize = plans.values().map(|p| p.revoked.connectors.len()).sum();
        let revoked_tasks: usize = plans.values().map(|p| p.revoked.tasks.len()).sum();
        // 6 connectors over 4: two members keep 2, two hold 1; 12 tasks: 3 each.
        assert_eq!((revoked_connectors, revoked_tasks), (1, 3));
        for p in plans.values() {
            assert!(p.assigned.is_empty());
        }
        let after_revocation = apply(&members, &plans);
        let follow_up = assign(&after_revocation, &configured);
        assert_eq!(follow_up["m4"].assigned.connectors.len(), 1);
        assert_eq!(follow_up["m4"].assigned.tasks.len(), 3);
        for (m, p) in &follow_up {
            assert!(p.revoked.is_empty(), "{m}");
            if m != "m4" {
                assert!(p.assigned.is_empty(), "{m}");
            }
        }
        let done = apply(&after_revocation, &follow_up);
        check_balanced(&done, &configured);
        assert!(assign(&done, &configured).values().all(Plan::is_empty));
    }

    #[test]
    fn a_deleted_connector_is_revoked() {
        let configured = six_by_two();
        let members = settle(empty_members(&["m1", "m2"]), &configured, 1);
        let holder = members
            .iter()
            .find(|(_, o)| o.connectors.contains("c3"))
            .map(|(m, _)| m.clone())
            .expect("c3 runs somewhere");
        let mut fewer = configured.clone();
        fewer.remove("c3");
        let plans = assign(&members, &fewer);
        let all_revoked: Vec<(&String, &Plan)> = plans
            .iter()
            .filter(|(_, p)| !p.revoked.is_empty())
            .collect();
        assert!(all_revoked.iter().all(|(_, p)| p.assigned.is_empty()));
        assert!(plans[&holder].revoked.connectors.contains("c3"));
        let revoked_tasks: BTreeSet<TaskId> = plans
            .values()
            .flat_map(|p| p.revoked.tasks.iter().cloned())
            .collect();
        let c3_tasks: BTreeSet<TaskId> = [("c3".to_string(), 0), ("c3".to_string(), 1)].into();
        assert!(c3_tasks.is_subset(&revoked_tasks));
        check_balanced(&settle(members, &fewer, 2), &fewer);
    }

    #[test]
    fn task_counts_shrink_and_grow() {
        let configured = config(&[("a", 4), ("b", 2)]);
        let members = settle(empty_members(&["m1", "m2"]), &configured, 1);
        let shrunk = config(&[("a", 1), ("b", 2)]);
        let plans = assign(&members, &shrunk);
        let revoked: BTreeSet<TaskId> = plans
            .values()
            .flat_map(|p| p.revoked.tasks.iter().cloned())
            .collect();
        assert!(revoked.contains(&("a".to_string(), 1)));
        assert!(revoked.contains(&("a".to_string(), 3)));
        assert!(!revoked.contains(&("a".to_string(), 0)));
        let members = settle(members, &shrunk, 2);
        check_balanced(&members, &shrunk);
        let grown = config(&[("a", 5), ("b", 2)]);
        let plans = assign(&members, &grown);
        let new: BTreeSet<TaskId> = plans
            .values()
            .flat_map(|p| p.assigned.tasks.iter().cloned())
            .collect();
        assert_eq!(new.len(), 4, "a-1 to a-4: {plans:?}");
        assert!(plans.values().all(|p| p.revoked.is_empty()));
        check_balanced(&apply(&members, &plans), &grown);
    }

    #[test]
    fn a_duplicate_stays_with_the_lowest_member_id() {
        let configured = config(&[("a", 2)]);
        let members: BTreeMap<String, Owned> = [
            ("m1".to_string(), owned(&["a"], &[("a", 0)])),
            ("m2".to_string(), owned(&["a"], &[("a", 0), ("a", 1)])),
        ]
        .into();
        let plans = assign(&members, &configured);
        assert!(plans["m1"].revoked.is_empty());
        assert_eq!(plans["m2"].revoked, owned(&["a"], &[("a", 0)]));
        check_balanced(&settle(members, &configured, 2), &configured);
    }

    #[test]
    fn a_stopped_connector_keeps_its_connector_and_no_tasks() {
        let configured = config(&[("paused", 0), ("running", 1)]);
        let members = settle(empty_members(&["m1", "m2"]), &configured, 1);
        check_balanced(&members, &configured);
        assert!(members.values().any(|o| o.connectors.contains("paused")));
    }

    #[test]
    fn the_same_input_twice_gives_empty_plans() {
        let configured = six_by_two();
        let members = settle(empty_members(&["a", "b", "c", "d", "e"]), &configured, 1);
        let again = assign(&members, &configured);
        assert!(again.values().all(Plan::is_empty), "{again:?}");
        assert!(assign(&BTreeMap::new(), &configured).is_empty());
    }

    /// A small deterministic generator, so the property check needs no extra crate.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n.max(1)
        }
    }

    #[test]
    fn random_states_settle_within_two_rounds() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for case in 0..2000 {
            let configured: BTreeMap<String, u32> = (0..rng.below(9))
                .map(|c| (format!("c{c}"), rng.below(6) as u32))
                .collect();
            let members: BTreeMap<String, Owned> = (0..1 + rng.below(6))
                .map(|m| {
                    let mut o = Owned::default();
                    // Owned at random among configured and since-deleted connectors, so
                    // duplicates, deleted work and empty members all occur.
                    for c in 0..rng.below(12) {
                        let name = format!("c{}", rng.below(11));
                        if c % 3 == 0 {
                            o.connectors.insert(name.clone());
                        }
                        o.tasks.insert((name, rng.below(7) as u32));
                    }
                    (format!("m{m}"), o)
                })
                .collect();
            let first = assign(&members, &configured);
            for (m, p) in &first {
                let had = &members[m];
                assert!(
                    p.revoked.connectors.is_subset(&had.connectors),
                    "case {case}"
                );
                assert!(p.revoked.tasks.is_subset(&had.tasks), "case {case}");
                assert!(
                    p.assigned.connectors.is_disjoint(&had.connectors),
                    "case {case}"
                );
                assert!(p.assigned.tasks.is_disjoint(&had.tasks), "case {case}");
            }
            let settled = settle(apply(&members, &first), &configured, 1);
            check_balanced(&settled, &configured);
        }
    }
}
