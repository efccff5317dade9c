//! LeaveGroup: members leave (v0-2: one member id; v3+: a list, possibly by instance id).

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::str_bytes;
use crate::coordinator::LeavingMember;
use crate::server::api::{Answer, Request};
use crate::server::{Context, errors};

pub async fn handle(ctx: &Context, req: Request) -> Answer {
    let request: LeaveGroupRequest = req.decode()?;
    let leaving: Vec<LeavingMember> = if req.version >= 3 {
        request
            .members
            .iter()
            .map(|m| LeavingMember {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(|i| i.to_string()),
            })
            .collect()
    } else {
        vec![LeavingMember {
            member_id: request.member_id.to_string(),
            group_instance_id: None,
        }]
    };
    let out = ctx.groups.leave(request.group_id.as_str(), &leaving);
    let response = if req.version >= 3 {
        let members = leaving
            .into_iter()
            .zip(out.members)
            .map(|(m, error)| {
                MemberResponse::default()
                    .with_member_id(str_bytes(m.member_id))
                    .with_group_instance_id(m.group_instance_id.map(str_bytes))
                    .with_error_code(error)
            })
            .collect();
        LeaveGroupResponse::default()
            .with_error_code(out.error)
            .with_members(members)
    } else {
        // One member, one code: the group's error, else the member's.
        let member = out.members.first().copied().unwrap_or(errors::NONE);
        let error = if out.error != errors::NONE {
            out.error
        } else {
            member
        };
        LeaveGroupResponse::default().with_error_code(error)
    };
    req.respond(&response)
}
