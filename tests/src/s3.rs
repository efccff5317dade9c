//! A real S3-compatible server for the S3 sink tests: s3s-fs (an S3 server over a directory,
//! path-style, SigV4 with static keys; `./scripts/test` installs it) on a free loopback
//! port in a temp dir, plus a blocking S3 client (aws-sdk-s3) to create buckets and read
//! objects back, and a producer of records with chosen partitions and timestamps.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use tempfile::TempDir;

use crate::{cache_dir, installed};

pub const ACCESS_KEY: &str = "weir-test-key";
pub const SECRET_KEY: &str = "weir-test-secret";
pub const REGION: &str = "us-east-1";

/// The s3s-fs binary (`WEIR_S3S_FS`, else the cache where `./scripts/test` installs it).
pub fn s3s_fs_bin() -> PathBuf {
    installed(
        "WEIR_S3S_FS",
        cache_dir().join("tools/s3s-fs-0.14.1/bin/s3s-fs"),
        "s3s-fs (cargo install s3s-fs@0.14.1 --features binary)",
    )
}

/// A running s3s-fs; stopped on drop. [`S3Server::stop`] and [`S3Server::start_again`]
/// simulate an outage on the same port and data.
pub struct S3Server {
    child: Option<Child>,
    pub port: u16,
    dir: TempDir,
}

impl S3Server {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = S3Server {
            child: None,
            port: 0,
            dir,
        };
        // A free port can be taken again between the probe and s3s-fs's bind: try others.
        let mut failures = Vec::new();
        for _ in 0..3 {
            server.port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("a free port");
            match server.try_start() {
                Ok(()) => return server,
                Err(e) => failures.push(e),
            }
        }
        panic!("s3s-fs did not start: {}", failures.join("; "));
    }

    /// `http://127.0.0.1:<port>`, the connector's `store.url`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts the server again on its port and data (after [`S3Server::stop`]).
    pub fn start_again(&mut self) {
        if let Err(e) = self.try_start() {
            panic!("s3s-fs did not start again: {e}");
        }
    }

    /// Starts the server and waits until it accepts connections.
    fn try_start(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "s3s-fs is running already");
        let data = self.dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        let log_path = self.dir.path().join("s3s-fs.log");
        let log = std::fs::File::create(&log_path).ok();
        let mut child = Command::new(s3s_fs_bin())
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.map_or_else(Stdio::null, Stdio::from))
            .spawn()
            .expect("start s3s-fs");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            let exited = child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!("port {}: {exited:?}: {log}", self.port));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child = Some(child);
        Ok(())
    }

    /// Kills the server (the data stays).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn client(&self) -> S3Client {
        S3Client::new(&self.endpoint())
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A blocking S3 client for checks.
pub struct S3Client {
    rt: tokio::runtime::Runtime,
    client: aws_sdk_s3::Client,
}

impl S3Client {
    pub fn new(endpoint: &str) -> Self {
        let conf = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(endpoint)
            .force_path_style(true)
            .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        S3Client {
            rt,
            client: aws_sdk_s3::Client::from_conf(conf),
        }
    }

    pub fn create_bucket(&self, bucket: &str) {
        self.rt
            .block_on(self.client.create_bucket().bucket(bucket).send())
            .unwrap_or_else(|e| panic!("create bucket {bucket}: {e:?}"));
    }

    /// Every key in the bucket under `prefix`, sorted.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .rt
                .block_on(
                    self.client
                        .list_objects_v2()
                        .bucket(bucket)
                        .prefix(prefix)
                        .set_continuation_token(token.clone())
                        .send(),
                )
                .unwrap_or_else(|e| panic!("list {bucket}: {e:?}"));
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        keys.sort();
        keys
    }

    pub fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        self.rt.block_on(async {
            let out = self
                .client
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .unwrap_or_else(|e| panic!("get {bucket}/{key}: {e:?}"));
            out.body
                .collect()
                .await
                .unwrap_or_else(|e| panic!("read {bucket}/{key}: {e:?}"))
                .to_vec()
        })
    }

    /// The object's ETag (a multipart upload's ends in `-<parts>`).
    pub fn etag(&self, bucket: &str, key: &str) -> String {
        self.rt
            .block_on(self.client.head_object().bucket(bucket).key(key).send())
            .unwrap_or_else(|e| panic!("head {bucket}/{key}: {e:?}"))
            .e_tag()
            .unwrap_or_default()
            .to_string()
    }

    pub fn put(&self, bucket: &str, key: &str, body: Vec<u8>) {
        self.rt
            .block_on(
                self.client
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(body.into())
                    .send(),
            )
            .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"));
    }
}

/// A record to produce.
#[derive(Debug, Clone)]
pub struct Produce {
    pub topic: String,
    pub partition: i32,
    pub key: Option<String>,
    pub value: Option<String>,
    pub ts: Option<i64>,
}

/// Produces `records` to weir's Kafka port with confluent-kafka (librdkafka), waiting for
/// every acknowledgement.
pub fn produce(bootstrap: &str, records: &[Produce]) {
    let python = installed(
        "WEIR_PY_CONFLUENT",
        cache_dir().join("venvs/confluent/bin/python"),
        "confluent-kafka (Python venv confluent)",
    );
    let mut input = String::new();
    for r in records {
        input.push_str(
            &serde_json::json!({"topic": r.topic, "partition": r.partition, "key": r.key,
                                "value": r.value, "ts": r.ts})
            .to_string(),
        );
        input.push('\n');
    }
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), input).expect("write records");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/produce_records.py");
    let out = Command::new(python)
        .arg(script)
        .args(["--bootstrap", bootstrap])
        .stdin(std::fs::File::open(file.path()).expect("records file"))
        .output()
        .expect("run produce_records.py");
    assert!(
        out.status.success(),
        "producing {} records failed: {}",
        records.len(),
        String::from_utf8_lossy(&out.stderr)
    );
}
