//! Config keys of the file connectors, with Kafka's names and defaults.

use weir_connect_api::config::Validator;
use weir_connect_api::{ConfigDef, ConfigType, Importance};

pub const FILE: &str = "file";
pub const TOPIC: &str = "topic";
pub const BATCH_SIZE: &str = "batch.size";

pub fn source_def() -> ConfigDef {
    ConfigDef::new()
        .define(
            FILE,
            ConfigType::String,
            Some(""),
            Importance::High,
            "Source filename. If not specified, the standard input will be used",
        )
        .define(
            TOPIC,
            ConfigType::String,
            None,
            Importance::High,
            "The topic to publish data to",
        )
        .with_validator(Validator::NonEmptyString)
        .define(
            BATCH_SIZE,
            ConfigType::Int,
            Some("2000"),
            Importance::Low,
            "The maximum number of records the source task can read from the file each time it is polled",
        )
        .with_validator(Validator::Range {
            min: Some(1.0),
            max: None,
        })
}

pub fn sink_def() -> ConfigDef {
    ConfigDef::new().define(
        FILE,
        ConfigType::String,
        Some(""),
        Importance::High,
        "Destination filename. If not specified, the standard output will be used",
    )
}
