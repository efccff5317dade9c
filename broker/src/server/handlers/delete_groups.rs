//! DeleteGroups: removes empty groups and their committed offsets.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use crate::server::Context;
use crate::server::api::{Answer, Request};

pub async fn handle(ctx: &Context, req: Request) -> Answer {
    let request: DeleteGroupsRequest = req.decode()?;
    let ids: Vec<String> = request.groups_names.iter().map(|g| g.to_string()).collect();
    let codes = ctx.groups.delete_groups(&ids).await;
    let results = request
        .groups_names
        .into_iter()
        .zip(codes)
        .map(|(group_id, error)| {
            DeletableGroupResult::default()
                .with_group_id(group_id)
                .with_error_code(error)
        })
        .collect();
    req.respond(&DeleteGroupsResponse::default().with_results(results))
}
