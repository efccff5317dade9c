//! The registry of connector classes: one greppable table from `connector.class` (the Java
//! class name, its simple name, or the simple name without `Connector`, as Kafka Connect
//! accepts) to a constructor. Third-party code comes in as WASM plugins, not here.

use weir_connect_api::{Connector, ConnectorType, SinkTask, SourceTask};

/// A connector class weir can run.
pub struct ConnectorPlugin {
    pub class: &'static str,
    pub kind: ConnectorType,
    pub new: fn() -> Box<dyn Connector>,
    /// Kafka's `Connector.taskClass()`: what runs each task config.
    pub task: TaskFactory,
}

/// Makes a connector's tasks.
#[derive(Clone, Copy)]
pub enum TaskFactory {
    Source(fn() -> Box<dyn SourceTask>),
    Sink(fn() -> Box<dyn SinkTask>),
}

pub static CONNECTORS: &[ConnectorPlugin] = &[
    ConnectorPlugin {
        class: weir_connector_file::SOURCE_CLASS,
        kind: ConnectorType::Source,
        new: || Box::<weir_connector_file::FileStreamSourceConnector>::default(),
        task: TaskFactory::Source(|| Box::<weir_connector_file::FileStreamSourceTask>::default()),
    },
    ConnectorPlugin {
        class: weir_connector_file::SINK_CLASS,
        kind: ConnectorType::Sink,
        new: || Box::<weir_connector_file::FileStreamSinkConnector>::default(),
        task: TaskFactory::Sink(|| Box::<weir_connector_file::FileStreamSinkTask>::default()),
    },
    ConnectorPlugin {
        class: weir_connector_postgres::CONNECTOR_CLASS,
        kind: ConnectorType::Source,
        new: || Box::<weir_connector_postgres::task::PostgresConnector>::default(),
        task: TaskFactory::Source(|| Box::<weir_connector_postgres::task::PostgresTask>::default()),
    },
    ConnectorPlugin {
        class: weir_connector_s3::CONNECTOR_CLASS,
        kind: ConnectorType::Sink,
        new: || Box::new(weir_connector_s3::connector()),
        task: TaskFactory::Sink(|| Box::<weir_connector_s3::S3SinkTask>::default()),
    },
    ConnectorPlugin {
        class: weir_connector_elasticsearch::CONNECTOR_CLASS,
        kind: ConnectorType::Sink,
        new: || Box::new(weir_connector_elasticsearch::connector()),
        task: TaskFactory::Sink(|| {
            Box::<weir_connector_elasticsearch::ElasticsearchSinkTask>::default()
        }),
    },
    ConnectorPlugin {
        class: weir_connector_jdbc::CONFLUENT_CLASS,
        kind: ConnectorType::Sink,
        new: || Box::new(weir_connector_jdbc::confluent_connector()),
        task: TaskFactory::Sink(|| Box::new(weir_connector_jdbc::JdbcSinkTask::confluent())),
    },
    ConnectorPlugin {
        class: weir_connector_jdbc::DEBEZIUM_CLASS,
        kind: ConnectorType::Sink,
        new: || Box::new(weir_connector_jdbc::debezium_connector()),
        task: TaskFactory::Sink(|| Box::new(weir_connector_jdbc::JdbcSinkTask::debezium())),
    },
];

/// The plugin for `connector.class`, by full name or alias (`FileStreamSource`,
/// `FileStreamSourceConnector`).
pub fn connector(class: &str) -> Option<&'static ConnectorPlugin> {
    let class = class.trim();
    CONNECTORS.iter().find(|p| {
        let simple = p.class.rsplit('.').next().unwrap_or(p.class);
        p.class == class || simple == class || simple.strip_suffix("Connector") == Some(class)
    })
}

/// Every known class name, for "unknown class" messages.
pub fn known_classes() -> Vec<&'static str> {
    CONNECTORS.iter().map(|p| p.class).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_resolve_by_full_name_and_aliases() {
        for name in [
            "org.apache.kafka.connect.file.FileStreamSourceConnector",
            "FileStreamSourceConnector",
            "FileStreamSource",
        ] {
            let p = connector(name).expect(name);
            assert_eq!(p.kind, ConnectorType::Source);
        }
        assert!(connector("FileStream").is_none());
        assert_eq!(known_classes().len(), CONNECTORS.len());
    }
}
