//! The administrative side of the coordinator: ListGroups, DescribeGroups and DeleteGroups,
//! which also cover groups that only have committed offsets in the broker.

use std::collections::HashSet;
use std::sync::Arc;

use super::GroupCoordinator;
use super::types::{GroupDescription, GroupListing, GroupState};
use crate::server::errors;

impl GroupCoordinator {
    /// Every group: those with members (or known since the last restart) and those that only
    /// have committed offsets, sorted by id.
    pub fn list_groups(&self) -> Vec<GroupListing> {
        let mut out: Vec<GroupListing> = {
            let map = self.map();
            map.values()
                .map(|cell| {
                    let g = cell.lock();
                    GroupListing {
                        group_id: g.id.clone(),
                        protocol_type: g.protocol_type.clone().unwrap_or_default(),
                        state: g.state,
                    }
                })
                .collect()
        };
        let known: HashSet<String> = out.iter().map(|g| g.group_id.clone()).collect();
        out.extend(
            self.broker
                .groups()
                .into_iter()
                .filter(|g| !known.contains(g))
                .map(|group_id| GroupListing {
                    group_id,
                    protocol_type: String::new(),
                    state: GroupState::Empty,
                }),
        );
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// A group's state and members; an unknown group is `Dead` with no error (as Kafka).
    pub fn describe_group(&self, id: &str) -> GroupDescription {
        if let Some(cell) = self.get(id) {
            return cell.lock().describe();
        }
        let state = if self.broker.group_offsets(id).is_empty() {
            GroupState::Dead
        } else {
            GroupState::Empty
        };
        GroupDescription::without_members(id, state)
    }

    /// Deletes groups without members and their committed offsets; one error code per group
    /// (NON_EMPTY_GROUP for a group with members, GROUP_ID_NOT_FOUND for an unknown one).
    pub async fn delete_groups(&self, ids: &[String]) -> Vec<i16> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.delete_group(id).await);
        }
        out
    }

    async fn delete_group(&self, id: &str) -> i16 {
        let known = {
            let mut map = self.map();
            match map.get(id).cloned() {
                Some(cell) => {
                    let mut group = cell.lock();
                    if group.state != GroupState::Empty {
                        return errors::NON_EMPTY_GROUP;
                    }
                    // Pending members (MEMBER_ID_REQUIRED) of an empty group join again from
                    // scratch; a request holding this group sees Dead and starts over.
                    group.state = GroupState::Dead;
                    map.remove(id);
                    cell.wake.notify_one();
                    true
                }
                None => false,
            }
        };
        if self.broker.group_offsets(id).is_empty() {
            return if known {
                errors::NONE
            } else {
                errors::GROUP_ID_NOT_FOUND
            };
        }
        // Deleting writes tombstones and fsyncs: off the async workers.
        let broker = Arc::clone(&self.broker);
        let group = id.to_string();
        match tokio::task::spawn_blocking(move || broker.delete_group_offsets(&group)).await {
            Ok(Ok(())) => {
                tracing::info!(group = id, "group deleted");
                errors::NONE
            }
            Ok(Err(e)) => {
                tracing::warn!(group = id, error = %e, "cannot delete the group's offsets");
                errors::code(&e)
            }
            Err(e) => {
                tracing::warn!(group = id, error = %e, "group offset deletion task failed");
                errors::KAFKA_STORAGE_ERROR
            }
        }
    }
}
