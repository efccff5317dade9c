//! `/connector-plugins/...`: the plugin listing, each plugin's keys, and config validation,
//! all from [`crate::worker::validate`].

use axum::Json;
use axum::extract::{Path, RawQuery};
use axum::response::{IntoResponse, Response};

use super::connectors::{NULL_VALUE, config_map};
use super::error::{ApiError, ApiResult, RawBody, query_flag, query_pairs};
use crate::worker::validate::{self, ConfigInfo, ConfigValueInfo};

/// `GET /connector-plugins[?connectorsOnly=false]`.
pub async fn list(RawQuery(q): RawQuery) -> Response {
    let pairs = query_pairs(q.as_deref());
    Json(validate::connector_plugins(query_flag(
        &pairs,
        "connectorsOnly",
        true,
    )))
    .into_response()
}

/// `GET /connector-plugins/{plugin}/config`: 404 `Unknown plugin x.`.
pub async fn config(Path(plugin): Path<String>) -> ApiResult<Response> {
    match validate::plugin_config(&plugin) {
        Some(keys) => Ok(Json(keys).into_response()),
        None => Err(ApiError::not_found(format!("Unknown plugin {plugin}."))),
    }
}

/// Kafka's alias rule for the class check: a trailing `Connector` is ignored.
fn normalized(name: &str) -> &str {
    match name.strip_suffix("Connector") {
        Some(stripped) if !stripped.is_empty() => stripped,
        _ => name,
    }
}

/// `PUT /connector-plugins/{plugin}/config/validate`: 200 with the result even when the
/// config is invalid; 400 when the body's class is not `{plugin}` or there is none.
pub async fn validate(Path(plugin): Path<String>, body: RawBody) -> ApiResult<Response> {
    let doc = match body.json::<serde_json::Value>()? {
        serde_json::Value::Object(m) => m,
        _ => {
            return Err(ApiError::bad_request(
                "Unexpected JSON in the request body: expected a flat object of config values",
            ));
        }
    };
    let (config, nulls) = config_map(doc)?;
    let Some(class) = config.get(validate::CONNECTOR_CLASS) else {
        // Kafka prints the whole map here; the keys are enough and never leak a secret.
        let keys: Vec<&str> = config.keys().map(String::as_str).collect();
        return Err(ApiError::bad_request(format!(
            "Connector config {{{}}} contains no connector type",
            keys.join(", ")
        )));
    };
    if !normalized(class).ends_with(normalized(&plugin)) {
        return Err(ApiError::bad_request(format!(
            "Included connector type {class} does not match request type {plugin}"
        )));
    }
    let mut infos = validate::validate(&config);
    for key in nulls {
        infos.configs.insert(
            0,
            ConfigInfo {
                definition: None,
                value: ConfigValueInfo {
                    name: key,
                    value: None,
                    recommended_values: Vec::new(),
                    errors: vec![NULL_VALUE.to_string()],
                    visible: true,
                },
            },
        );
        infos.error_count += 1;
    }
    Ok(Json(infos).into_response())
}

#[cfg(test)]
mod tests {
    use super::normalized;

    #[test]
    fn class_check_ignores_the_connector_suffix() {
        let matches = |class: &str, plugin: &str| normalized(class).ends_with(normalized(plugin));
        let full = "org.apache.kafka.connect.file.FileStreamSourceConnector";
        assert!(matches(full, "FileStreamSourceConnector"));
        assert!(matches(full, "FileStreamSource"));
        assert!(matches(full, full));
        assert!(matches("FileStreamSource", "FileStreamSourceConnector"));
        assert!(!matches(full, "FileStreamSink"));
        assert_eq!(normalized("Connector"), "Connector");
    }
}
