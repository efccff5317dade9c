//! DeleteTopics (by name).

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};

use super::str_bytes;
use crate::groups::OFFSETS_TOPIC;
use crate::server::api::{Answer, Request};
use crate::server::{Context, errors};

const TOPIC_AUTHORIZATION_FAILED: i16 = 29;

pub async fn handle(ctx: &Context, req: Request) -> Answer {
    let request: DeleteTopicsRequest = req.decode()?;
    let responses = request
        .topic_names
        .iter()
        .map(|name| {
            let out = DeletableTopicResult::default().with_name(Some(name.clone()));
            if name.as_str() == OFFSETS_TOPIC {
                return out
                    .with_error_code(TOPIC_AUTHORIZATION_FAILED)
                    .with_error_message(Some(str_bytes(
                        "the internal offsets topic cannot be deleted",
                    )));
            }
            match ctx.broker.delete_topic(name.as_str()) {
                Ok(()) => out,
                Err(e) => out
                    .with_error_code(errors::code(&e))
                    .with_error_message(Some(str_bytes(e.to_string()))),
            }
        })
        .collect();
    req.respond(&DeleteTopicsResponse::default().with_responses(responses))
}
