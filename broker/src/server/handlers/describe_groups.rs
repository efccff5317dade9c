//! DescribeGroups: state, protocol and members of each group (unknown ones are "Dead").

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse, GroupId};

use super::str_bytes;
use crate::server::Context;
use crate::server::api::{Answer, Request};

/// Kafka's ACL operations bitfield for a group without authorization: READ (3), DELETE (6)
/// and DESCRIBE (8) are allowed.
const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

pub async fn handle(ctx: &Context, req: Request) -> Answer {
    let request: DescribeGroupsRequest = req.decode()?;
    let operations = req.version >= 3 && request.include_authorized_operations;
    let groups = request
        .groups
        .iter()
        .map(|id| {
            let d = ctx.groups.describe_group(id.as_str());
            let members = d
                .members
                .into_iter()
                .map(|m| {
                    DescribedGroupMember::default()
                        .with_member_id(str_bytes(m.member_id))
                        .with_group_instance_id(m.group_instance_id.map(str_bytes))
                        .with_client_id(str_bytes(m.client_id))
                        .with_client_host(str_bytes(m.client_host))
                        .with_member_metadata(m.metadata)
                        .with_member_assignment(m.assignment)
                })
                .collect();
            let group = DescribedGroup::default()
                .with_error_code(d.error)
                .with_group_id(GroupId(str_bytes(d.group_id)))
                .with_group_state(str_bytes(d.state.name()))
                .with_protocol_type(str_bytes(d.protocol_type))
                .with_protocol_data(str_bytes(d.protocol_data))
                .with_members(members);
            if operations {
                group.with_authorized_operations(GROUP_OPERATIONS)
            } else {
                group
            }
        })
        .collect();
    req.respond(&DescribeGroupsResponse::default().with_groups(groups))
}
