//! Checks beyond a key's type: `name`, `connector.class` and converter classes, and a sink's
//! `topics` / `topics.regex`, with Kafka Connect's messages.

use std::collections::BTreeMap;

use weir_connect_api::ConfigMap;

use super::defs::invalid;
use super::{
    CONNECTOR_CLASS, HEADER_CONVERTER, HEADER_CONVERTER_CLASSES, KEY_CONVERTER, NAME, TOPICS,
    TOPICS_REGEX, VALUE_CONVERTER,
};
use crate::converters::{CONVERTER_CLASSES, converter_for};
use crate::plugins;
use crate::worker::errors::DLQ_TOPIC_NAME;

/// `Invalid value ... could not be found` for an unknown plugin class, naming the known ones.
fn unknown_class(key: &str, class: &str, what: &str, known: &[&str]) -> String {
    invalid(
        key,
        class,
        &format!(
            "Class {class} could not be found. Known {what}: {}",
            known.join(", ")
        ),
    )
}

/// Sink-only checks of `topics` / `topics.regex`, with Kafka's messages.
pub(super) fn sink_topic_errors(config: &ConfigMap, extra: &mut BTreeMap<String, Vec<String>>) {
    let topics = config.get(TOPICS).map_or("", String::as_str);
    let regex = config.get(TOPICS_REGEX).map_or("", String::as_str);
    let has_topics = !topics.trim().is_empty();
    let has_regex = !regex.trim().is_empty();
    let mut both = |message: String| {
        extra
            .entry(TOPICS.into())
            .or_default()
            .push(message.clone());
        extra.entry(TOPICS_REGEX.into()).or_default().push(message);
    };
    if has_topics && has_regex {
        both(format!(
            "{TOPICS} and {TOPICS_REGEX} are mutually exclusive options, but both are set."
        ));
    }
    if !has_topics && !has_regex {
        both(format!("Must configure one of {TOPICS} or {TOPICS_REGEX}"));
    }
    let compiled = if has_regex {
        match regex::Regex::new(&format!("^(?:{regex})$")) {
            Ok(r) => Some(r),
            Err(e) => {
                let why = e
                    .to_string()
                    .lines()
                    .map(str::trim)
                    .collect::<Vec<_>>()
                    .join(" ");
                extra.entry(TOPICS_REGEX.into()).or_default().push(invalid(
                    TOPICS_REGEX,
                    regex,
                    &why,
                ));
                None
            }
        }
    } else {
        None
    };
    let dlq = config.get(DLQ_TOPIC_NAME).map_or("", |d| d.trim());
    if dlq.is_empty() {
        return;
    }
    let list: Vec<&str> = topics
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if list.contains(&dlq) {
        extra.entry(TOPICS.into()).or_default().push(format!(
            "The DLQ topic '{dlq}' may not be included in the list of topics ('{TOPICS}=[{}]') \
             consumed by the connector",
            list.join(", ")
        ));
    }
    if compiled.is_some_and(|r| r.is_match(dlq)) {
        extra.entry(TOPICS_REGEX.into()).or_default().push(format!(
            "The DLQ topic '{dlq}' may not be matched by the regex for the topics \
             ('{TOPICS_REGEX}={regex}') consumed by the connector"
        ));
    }
}

/// Errors of `name`, `connector.class` and the converter classes beyond their types.
pub(super) fn framework_errors(config: &ConfigMap, extra: &mut BTreeMap<String, Vec<String>>) {
    if let Some(name) = config.get(NAME).map(|n| n.trim()) {
        let controls: Vec<String> = name
            .chars()
            .filter(|c| c.is_control())
            .map(|c| u32::from(c).to_string())
            .collect();
        if name.is_empty() {
            extra.entry(NAME.into()).or_default().push(invalid(
                NAME,
                name,
                "String may not be empty",
            ));
        } else if !controls.is_empty() {
            extra.entry(NAME.into()).or_default().push(invalid(NAME, name, &format!(
                "String may not contain control sequences but had the following ASCII chars: {}",
                controls.join(", ")
            )));
        }
    }
    if let Some(class) = config.get(CONNECTOR_CLASS).map(|c| c.trim())
        && plugins::connector(class).is_none()
    {
        extra
            .entry(CONNECTOR_CLASS.into())
            .or_default()
            .push(unknown_class(
                CONNECTOR_CLASS,
                class,
                "connector classes",
                &plugins::known_classes()
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
            ));
    }
    for key in [KEY_CONVERTER, VALUE_CONVERTER] {
        if let Some(class) = config.get(key).map(|c| c.trim())
            && converter_for(class).is_none()
        {
            extra.entry(key.into()).or_default().push(unknown_class(
                key,
                class,
                "converters",
                CONVERTER_CLASSES,
            ));
        }
    }
    if let Some(class) = config.get(HEADER_CONVERTER).map(|c| c.trim())
        && header_converter(class).is_none()
    {
        extra
            .entry(HEADER_CONVERTER.into())
            .or_default()
            .push(unknown_class(
                HEADER_CONVERTER,
                class,
                "header converters",
                HEADER_CONVERTER_CLASSES,
            ));
    }
}

pub(super) fn header_converter(class: &str) -> Option<&'static str> {
    HEADER_CONVERTER_CLASSES
        .iter()
        .find(|c| **c == class || c.rsplit('.').next() == Some(class))
        .copied()
}
