//! Placeholder until the group coordinator lands: the request is refused.

use crate::server::Context;
use crate::server::api::{Answer, ProtocolError, Request};

pub async fn handle(_ctx: &Context, req: Request) -> Answer {
    Err(ProtocolError::Unsupported {
        api: req.api_key,
        key: req.api_key as i16,
    })
}
