//! DescribeConfigs: every effective topic config, marked as a topic override or a default.

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::str_bytes;
use crate::server::api::{Answer, Request};
use crate::server::{Context, errors};

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const SOURCE_TOPIC_OVERRIDE: i8 = 1;
const SOURCE_DEFAULT: i8 = 5;

pub async fn handle(ctx: &Context, req: Request) -> Answer {
    let request: DescribeConfigsRequest = req.decode()?;
    let results = request
        .resources
        .iter()
        .map(|r| {
            let out = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            let wanted = |k: &str| {
                r.configuration_keys
                    .as_ref()
                    .is_none_or(|keys| keys.iter().any(|w| w.as_str() == k))
            };
            match r.resource_type {
                RESOURCE_TOPIC => match ctx.broker.describe_topic(r.resource_name.as_str()) {
                    Ok(d) => {
                        let configs = d
                            .config
                            .entries()
                            .into_iter()
                            .filter(|(k, _)| wanted(k))
                            .map(|(k, v)| {
                                let source = if d.overrides.contains_key(k) {
                                    SOURCE_TOPIC_OVERRIDE
                                } else {
                                    SOURCE_DEFAULT
                                };
                                DescribeConfigsResourceResult::default()
                                    .with_name(str_bytes(k))
                                    .with_value(Some(str_bytes(v)))
                                    .with_config_source(source)
                            })
                            .collect();
                        out.with_configs(configs)
                    }
                    Err(e) => out
                        .with_error_code(errors::code(&e))
                        .with_error_message(Some(str_bytes(e.to_string()))),
                },
                // The broker's own settings are read-only and not exposed one by one yet.
                RESOURCE_BROKER => out,
                other => out
                    .with_error_code(errors::INVALID_REQUEST)
                    .with_error_message(Some(str_bytes(format!(
                        "resource type {other} is not supported"
                    )))),
            }
        })
        .collect();
    req.respond(&DescribeConfigsResponse::default().with_results(results))
}
