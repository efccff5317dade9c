//! FileStreamSource: one task tailing one file.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncSeekExt, BufReader};
use weir_connect_api::connector::{BoxFuture, SourceTaskContext};
use weir_connect_api::record::{SourceMap, SourcePosition};
use weir_connect_api::schema::SchemaBuilder;
use weir_connect_api::{
    ConfigDef, ConfigMap, ConnectRecord, Connector, ConnectorError, ConnectorType, Result,
    SourceTask, Value,
};

use crate::config;

/// How long `poll` waits at the end of the file before returning an empty batch.
const IDLE_WAIT: Duration = Duration::from_millis(200);

#[derive(Debug, Default)]
pub struct FileStreamSourceConnector {
    config: ConfigMap,
}

impl Connector for FileStreamSourceConnector {
    fn version(&self) -> &str {
        crate::API_VERSION
    }
    fn kind(&self) -> ConnectorType {
        ConnectorType::Source
    }
    fn config_def(&self) -> ConfigDef {
        config::source_def()
    }
    fn start(&mut self, config: &ConfigMap) -> Result<()> {
        config::source_def()
            .parse(config)
            .map_err(ConnectorError::Config)?;
        if config.get(config::TOPIC).is_some_and(|t| t.contains(',')) {
            return Err(ConnectorError::Config(vec![
                weir_connect_api::config::ConfigError::new(
                    config::TOPIC,
                    "'topic' in FileStreamSourceConnector configuration requires definition of a single topic",
                ),
            ]));
        }
        self.config = config.clone();
        Ok(())
    }
    /// A file is read by exactly one task, whatever `tasks.max` says.
    fn task_configs(&self, _max_tasks: usize) -> Result<Vec<ConfigMap>> {
        Ok(vec![self.config.clone()])
    }
    fn stop(&mut self) -> Result<()> {
        Ok(())
    }
}

pub struct FileStreamSourceTask {
    path: PathBuf,
    topic: String,
    batch_size: usize,
    reader: Option<BufReader<tokio::fs::File>>,
    position: u64,
    context: Option<Box<dyn SourceTaskContext>>,
}

impl Default for FileStreamSourceTask {
    fn default() -> Self {
        Self {
            path: PathBuf::new(),
            topic: String::new(),
            batch_size: 2000,
            reader: None,
            position: 0,
            context: None,
        }
    }
}

fn source_partition(path: &std::path::Path) -> SourceMap {
    let mut m = SourceMap::new();
    m.insert(
        "filename".to_string(),
        serde_json::Value::String(path.display().to_string()),
    );
    m
}

impl FileStreamSourceTask {
    /// Opens the file at the committed position (or the start) on first use.
    async fn open(&mut self) -> Result<()> {
        if self.reader.is_some() {
            return Ok(());
        }
        let mut file = match tokio::fs::File::open(&self.path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Kafka's task waits for the file to appear.
                return Ok(());
            }
            Err(e) => {
                return Err(ConnectorError::retriable(format!(
                    "cannot open {}",
                    self.path.display()
                ))
                .caused_by(e));
            }
        };
        let start = self
            .context
            .as_ref()
            .and_then(|c| c.committed_offset(&source_partition(&self.path)))
            .and_then(|o| o.get("position").and_then(serde_json::Value::as_u64))
            .unwrap_or(0);
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(|e| {
                ConnectorError::retriable(format!("cannot seek {}", self.path.display()))
                    .caused_by(e)
            })?;
        self.position = start;
        self.reader = Some(BufReader::new(file));
        Ok(())
    }

    async fn read_lines(&mut self) -> Result<Vec<ConnectRecord>> {
        let mut records = Vec::new();
        let Some(reader) = self.reader.as_mut() else {
            return Ok(records);
        };
        let mut line = Vec::new();
        while records.len() < self.batch_size {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).await.map_err(|e| {
                ConnectorError::retriable(format!("cannot read {}", self.path.display()))
                    .caused_by(e)
            })?;
            if n == 0 || line.last() != Some(&b'\n') {
                // End of file, or a line still being written: read it again next time.
                if n > 0 {
                    reader
                        .seek(std::io::SeekFrom::Start(self.position))
                        .await
                        .map_err(|e| ConnectorError::retriable("cannot seek back").caused_by(e))?;
                }
                break;
            }
            self.position += n as u64;
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let text = String::from_utf8_lossy(&line).into_owned();
            let mut offset = SourceMap::new();
            offset.insert("position".to_string(), self.position.into());
            let mut record = ConnectRecord::new(
                self.topic.clone(),
                None,
                Value::Null,
                Some(SchemaBuilder::string().build()),
                Value::String(text),
            );
            record.source = Some(SourcePosition {
                partition: source_partition(&self.path),
                offset,
            });
            records.push(record);
        }
        Ok(records)
    }
}

impl SourceTask for FileStreamSourceTask {
    fn start(&mut self, config: &ConfigMap, context: Box<dyn SourceTaskContext>) -> Result<()> {
        let parsed = config::source_def()
            .parse(config)
            .map_err(ConnectorError::Config)?;
        let file = parsed.string(config::FILE).unwrap_or_default();
        if file.is_empty() {
            return Err(ConnectorError::fatal(
                "reading standard input is not supported by weir's FileStreamSource; set 'file'",
            ));
        }
        self.path = PathBuf::from(file);
        self.topic = parsed.string(config::TOPIC).unwrap_or_default().to_string();
        self.batch_size = parsed.int(config::BATCH_SIZE).unwrap_or(2000).max(1) as usize;
        self.context = Some(context);
        Ok(())
    }

    fn poll(&mut self) -> BoxFuture<'_, Result<Vec<ConnectRecord>>> {
        Box::pin(async move {
            self.open().await?;
            let records = self.read_lines().await?;
            if records.is_empty() {
                tokio::time::sleep(IDLE_WAIT).await;
            }
            Ok(records)
        })
    }

    fn stop(&mut self) -> Result<()> {
        self.reader = None;
        Ok(())
    }
}
