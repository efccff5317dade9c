//! The registry of connector classes: one greppable table from `connector.class` (the Java
//! class name, its simple name, or the simple name without `Connector`, as Kafka Connect
//! accepts) to a constructor. Third-party code comes in as WASM plugins (`plugin.path`),
//! which [`connector`] finds after the native classes.

use std::sync::Arc;

use weir_connect_api::{Connector, ConnectorType, SinkTask, SourceTask};

use crate::wasm;

/// A connector class built into weir.
pub struct NativeConnector {
    pub class: &'static str,
    pub kind: ConnectorType,
    pub new: fn() -> Box<dyn Connector>,
    /// Kafka's `Connector.taskClass()`: what runs each task config.
    pub task: NativeTaskFactory,
}

/// Makes a native connector's tasks.
#[derive(Clone, Copy)]
pub enum NativeTaskFactory {
    Source(fn() -> Box<dyn SourceTask>),
    Sink(fn() -> Box<dyn SinkTask>),
}

/// Makes a connector's tasks.
#[derive(Clone)]
pub enum TaskFactory {
    Source(Arc<dyn Fn() -> Box<dyn SourceTask> + Send + Sync>),
    Sink(Arc<dyn Fn() -> Box<dyn SinkTask> + Send + Sync>),
}

/// A connector class weir can run: native, or a WASM source/sink plugin.
#[derive(Clone)]
pub struct ConnectorPlugin {
    pub class: String,
    pub kind: ConnectorType,
    new: Arc<dyn Fn() -> Box<dyn Connector> + Send + Sync>,
    pub task: TaskFactory,
}

impl ConnectorPlugin {
    /// A new, unstarted connector object.
    pub fn new_connector(&self) -> Box<dyn Connector> {
        (self.new)()
    }

    fn native(p: &'static NativeConnector) -> Self {
        ConnectorPlugin {
            class: p.class.to_string(),
            kind: p.kind,
            new: Arc::new(p.new),
            task: match p.task {
                NativeTaskFactory::Source(f) => TaskFactory::Source(Arc::new(f)),
                NativeTaskFactory::Sink(f) => TaskFactory::Sink(Arc::new(f)),
            },
        }
    }

    fn wasm(name: &str, kind: ConnectorType) -> Self {
        let (n1, n2) = (name.to_string(), name.to_string());
        ConnectorPlugin {
            class: name.to_string(),
            kind,
            new: Arc::new(move || Box::new(wasm::WasmConnector::new(&n1, kind))),
            task: match kind {
                ConnectorType::Source => {
                    TaskFactory::Source(Arc::new(move || Box::new(wasm::WasmSourceTask::new(&n2))))
                }
                ConnectorType::Sink => {
                    TaskFactory::Sink(Arc::new(move || Box::new(wasm::WasmSinkTask::new(&n2))))
                }
            },
        }
    }
}

pub static CONNECTORS: &[NativeConnector] = &[
    NativeConnector {
        class: weir_connector_file::SOURCE_CLASS,
        kind: ConnectorType::Source,
        new: || Box::<weir_connector_file::FileStreamSourceConnector>::default(),
        task: NativeTaskFactory::Source(|| {
            Box::<weir_connector_file::FileStreamSourceTask>::default()
        }),
    },
    NativeConnector {
        class: weir_connector_file::SINK_CLASS,
        kind: ConnectorType::Sink,
        new: || Box::<weir_connector_file::FileStreamSinkConnector>::default(),
        task: NativeTaskFactory::Sink(|| Box::<weir_connector_file::FileStreamSinkTask>::default()),
    },
    NativeConnector {
        class: weir_connector_postgres::CONNECTOR_CLASS,
        kind: ConnectorType::Source,
        new: || Box::<weir_connector_postgres::task::PostgresConnector>::default(),
        task: NativeTaskFactory::Source(|| {
            Box::<weir_connector_postgres::task::PostgresTask>::default()
        }),
    },
    NativeConnector {
        class: weir_connector_s3::CONNECTOR_CLASS,
        kind: ConnectorType::Sink,
        new: || Box::new(weir_connector_s3::connector()),
        task: NativeTaskFactory::Sink(|| Box::<weir_connector_s3::S3SinkTask>::default()),
    },
    NativeConnector {
        class: weir_connector_elasticsearch::CONNECTOR_CLASS,
        kind: ConnectorType::Sink,
        new: || Box::new(weir_connector_elasticsearch::connector()),
        task: NativeTaskFactory::Sink(|| {
            Box::<weir_connector_elasticsearch::ElasticsearchSinkTask>::default()
        }),
    },
    NativeConnector {
        class: weir_connector_jdbc::CONFLUENT_CLASS,
        kind: ConnectorType::Sink,
        new: || Box::new(weir_connector_jdbc::confluent_connector()),
        task: NativeTaskFactory::Sink(|| Box::new(weir_connector_jdbc::JdbcSinkTask::confluent())),
    },
    NativeConnector {
        class: weir_connector_jdbc::DEBEZIUM_CLASS,
        kind: ConnectorType::Sink,
        new: || Box::new(weir_connector_jdbc::debezium_connector()),
        task: NativeTaskFactory::Sink(|| Box::new(weir_connector_jdbc::JdbcSinkTask::debezium())),
    },
];

/// The plugin for `connector.class`, by full name or alias (`FileStreamSource`,
/// `FileStreamSourceConnector`), or the name of a WASM source or sink plugin.
pub fn connector(class: &str) -> Option<ConnectorPlugin> {
    let class = class.trim();
    let native = CONNECTORS.iter().find(|p| {
        let simple = p.class.rsplit('.').next().unwrap_or(p.class);
        p.class == class || simple == class || simple.strip_suffix("Connector") == Some(class)
    });
    if let Some(p) = native {
        return Some(ConnectorPlugin::native(p));
    }
    let kind = wasm::connector_kind(class)?;
    Some(ConnectorPlugin::wasm(class, kind))
}

/// Every known class name, for "unknown class" messages.
pub fn known_classes() -> Vec<String> {
    let mut out: Vec<String> = CONNECTORS.iter().map(|p| p.class.to_string()).collect();
    out.extend(wasm::connector_names());
    out
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
        assert!(known_classes().len() >= CONNECTORS.len());
    }
}
