//! ListGroups: every group the coordinator knows and every group with committed offsets.

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::str_bytes;
use crate::server::api::{Answer, Request};
use crate::server::{Context, errors};

pub async fn handle(ctx: &Context, req: Request) -> Answer {
    let request: ListGroupsRequest = req.decode()?;
    // v4+ may ask for some states only (matched case-insensitively, as Kafka).
    let wanted = |state: &str| {
        request.states_filter.is_empty()
            || request
                .states_filter
                .iter()
                .any(|s| s.eq_ignore_ascii_case(state))
    };
    let groups = ctx
        .groups
        .list_groups()
        .into_iter()
        .filter(|g| wanted(g.state.name()))
        .map(|g| {
            let listed = ListedGroup::default()
                .with_group_id(GroupId(str_bytes(g.group_id)))
                .with_protocol_type(str_bytes(g.protocol_type));
            if req.version >= 4 {
                listed.with_group_state(str_bytes(g.state.name()))
            } else {
                listed
            }
        })
        .collect();
    req.respond(
        &ListGroupsResponse::default()
            .with_error_code(errors::NONE)
            .with_groups(groups),
    )
}
