//! FileStreamSink: appends each record's value as a line.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tokio::io::AsyncWriteExt;
use weir_connect_api::connector::BoxFuture;
use weir_connect_api::{
    ConfigDef, ConfigMap, ConnectRecord, Connector, ConnectorError, ConnectorType, Result,
    SinkTask, TopicPartition, Value,
};

use crate::config;

#[derive(Debug, Default)]
pub struct FileStreamSinkConnector {
    config: ConfigMap,
}

impl Connector for FileStreamSinkConnector {
    fn version(&self) -> &str {
        crate::API_VERSION
    }
    fn kind(&self) -> ConnectorType {
        ConnectorType::Sink
    }
    fn config_def(&self) -> ConfigDef {
        config::sink_def()
    }
    fn start(&mut self, config: &ConfigMap) -> Result<()> {
        config::sink_def()
            .parse(config)
            .map_err(ConnectorError::Config)?;
        self.config = config.clone();
        Ok(())
    }
    fn task_configs(&self, max_tasks: usize) -> Result<Vec<ConfigMap>> {
        Ok(vec![self.config.clone(); max_tasks.max(1)])
    }
    fn stop(&mut self) -> Result<()> {
        Ok(())
    }
}

#[derive(Default)]
pub struct FileStreamSinkTask {
    path: PathBuf,
    file: Option<tokio::fs::File>,
    pending: Vec<u8>,
}

impl FileStreamSinkTask {
    /// Appends the buffered lines to the file, and fsyncs when `sync`. A failed write drops
    /// the handle; the records are put again after a restart from the last commit.
    async fn write(&mut self, sync: bool) -> Result<()> {
        if self.file.is_none() {
            let f = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .await
                .map_err(|e| {
                    ConnectorError::retriable(format!("cannot open {}", self.path.display()))
                        .caused_by(e)
                })?;
            self.file = Some(f);
        }
        let path = self.path.display().to_string();
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        let written = async {
            f.write_all(&self.pending).await?;
            // tokio's File finishes a write in the background: wait for it, so the bytes
            // are in the file (and a write error is seen) before put or flush returns.
            f.flush().await?;
            if sync {
                f.sync_data().await?;
            }
            Ok::<_, std::io::Error>(())
        }
        .await;
        if let Err(e) = written {
            self.file = None;
            return Err(ConnectorError::retriable(format!("cannot write {path}")).caused_by(e));
        }
        self.pending.clear();
        Ok(())
    }
}

/// The line Kafka's sink writes for a value (`String.valueOf(record.value())`).
fn line(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::String(s) => s.clone(),
        Value::Boolean(b) => b.to_string(),
        Value::Int8(n) => n.to_string(),
        Value::Int16(n) => n.to_string(),
        Value::Int32(n) => n.to_string(),
        Value::Int64(n) => n.to_string(),
        Value::Float32(n) => n.to_string(),
        Value::Float64(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

impl SinkTask for FileStreamSinkTask {
    fn start(&mut self, config: &ConfigMap) -> Result<()> {
        let parsed = config::sink_def()
            .parse(config)
            .map_err(ConnectorError::Config)?;
        let file = parsed.string(config::FILE).unwrap_or_default();
        if file.is_empty() {
            return Err(ConnectorError::fatal(
                "writing to standard output is not supported by weir's FileStreamSink; set 'file'",
            ));
        }
        self.path = PathBuf::from(file);
        Ok(())
    }

    fn put(&mut self, records: Vec<ConnectRecord>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let before = self.pending.len();
            for r in &records {
                self.pending.extend_from_slice(line(&r.value).as_bytes());
                self.pending.push(b'\n');
            }
            // Written (without fsync) at every put, as Kafka's sink prints each record: the
            // file follows the topic, and memory stays bounded between flushes.
            // A failed write leaves the buffer as before this batch: the worker puts the
            // same batch again.
            if let Err(e) = self.write(false).await {
                self.pending.truncate(before);
                return Err(e);
            }
            Ok(())
        })
    }

    fn flush(&mut self, _offsets: &BTreeMap<TopicPartition, i64>) -> BoxFuture<'_, Result<()>> {
        // Written and fsynced before the worker commits the offsets it covers.
        Box::pin(self.write(true))
    }

    fn stop(&mut self) -> Result<()> {
        self.file = None;
        Ok(())
    }
}
