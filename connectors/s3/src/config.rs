//! The keys of Confluent's S3 sink (names, defaults and documentation as its
//! `S3SinkConnectorConfig`, `StorageCommonConfig` and `PartitionerConfig`), parsed once into
//! [`Settings`] with every problem reported at once.

use std::time::Duration;

use weir_connect_api::config::{ConfigError, ParsedConfig, Validator};
use weir_connect_api::{ConfigDef, ConfigMap, ConfigType, Importance, Secret};

use crate::format::FormatKind;
use crate::partitioner::{PartitionerSettings, partitioner_def};

pub const BUCKET: &str = "s3.bucket.name";
pub const REGION: &str = "s3.region";
pub const STORE_URL: &str = "store.url";
pub const PATH_STYLE: &str = "s3.path.style.access.enabled";
pub const ACCESS_KEY_ID: &str = "aws.access.key.id";
pub const SECRET_ACCESS_KEY: &str = "aws.secret.access.key";
pub const CREDENTIALS_PROVIDER: &str = "s3.credentials.provider.class";
pub const STORAGE_CLASS: &str = "storage.class";
pub const TOPICS_DIR: &str = "topics.dir";
pub const DIRECTORY_DELIM: &str = "directory.delim";
pub const FILE_DELIM: &str = "file.delim";
pub const FORMAT_CLASS: &str = "format.class";
pub const FLUSH_SIZE: &str = "flush.size";
pub const ROTATE_INTERVAL_MS: &str = "rotate.interval.ms";
pub const ROTATE_SCHEDULE_INTERVAL_MS: &str = "rotate.schedule.interval.ms";
pub const ROTATE_ON_PARTITION_CHANGE: &str = "rotate.file.on.partition.change";
pub const ZERO_PAD_WIDTH: &str = "filename.offset.zero.pad.width";
pub const PART_SIZE: &str = "s3.part.size";
pub const COMPRESSION_TYPE: &str = "s3.compression.type";
pub const COMPRESSION_LEVEL: &str = "s3.compression.level";
pub const NULL_VALUES: &str = "behavior.on.null.values";
pub const STORE_KEYS: &str = "store.kafka.keys";
pub const STORE_HEADERS: &str = "store.kafka.headers";
pub const BYTEARRAY_EXTENSION: &str = "format.bytearray.extension";
pub const BYTEARRAY_SEPARATOR: &str = "format.bytearray.separator";
pub const PARQUET_CODEC: &str = "parquet.codec";
pub const JSON_DECIMAL_FORMAT: &str = "json.decimal.format";
pub const SCHEMA_COMPATIBILITY: &str = "schema.compatibility";
pub const PART_RETRIES: &str = "s3.part.retries";
pub const RETRY_BACKOFF_MS: &str = "s3.retry.backoff.ms";
/// weir's key: bytes of not-yet-uploaded files the task keeps in memory, all open files
/// together; past it, files spool to disk. Confluent keeps one `s3.part.size` buffer per
/// open file, a known cause of out-of-memory crashes with many partitions.
pub const SPOOL_MEMORY_BYTES: &str = "s3.spool.memory.bytes";

/// Confluent keys weir does not implement yet (server-side encryption, ACLs, tagging, proxy).
const UNSUPPORTED: &[&str] = &[
    "s3.ssea.name",
    "s3.sse.customer.key",
    "s3.sse.kms.key.id",
    "s3.acl.canned",
    "s3.object.tagging",
    "s3.proxy.url",
];

/// The only storage class (`storage.class`).
pub const S3_STORAGE: &str = "io.confluent.connect.s3.storage.S3Storage";
/// S3's minimum part size (every part of a multipart upload but the last).
pub const MIN_PART_SIZE: i64 = 5 * 1024 * 1024;

/// What a null value does (`behavior.on.null.values`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullValues {
    /// The record fails (errors.tolerance and the DLQ decide).
    Fail,
    /// The record is skipped.
    Ignore,
}

/// Compression of JSON and ByteArray files (`s3.compression.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip { level: u32 },
}

/// Every setting of a task, parsed.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bucket: String,
    pub region: String,
    pub endpoint: Option<String>,
    pub path_style: bool,
    pub credentials: Option<(String, Secret)>,
    pub topics_dir: String,
    pub directory_delim: String,
    pub file_delim: String,
    pub format: FormatKind,
    pub flush_size: u64,
    pub rotate_interval_ms: Option<i64>,
    pub rotate_schedule_interval_ms: Option<i64>,
    pub rotate_on_partition_change: bool,
    pub zero_pad_width: usize,
    pub part_size: usize,
    pub compression: Compression,
    pub null_values: NullValues,
    pub partitioner: PartitionerSettings,
    pub part_retries: u32,
    pub retry_backoff: Duration,
    pub spool_memory_bytes: usize,
    /// The converter config JsonFormat writes with (`schemas.enable=false`, decimals).
    pub json_converter: ConfigMap,
}

/// Every key the connector accepts.
pub fn config_def() -> ConfigDef {
    use ConfigType::*;
    use Importance::*;
    ConfigDef::new()
        .define(BUCKET, String, None, High, "The S3 Bucket.")
        .with_validator(Validator::NonEmptyString)
        .define(REGION, String, Some("us-west-2"), Medium, "The AWS region to be used the connector.")
        .define(STORE_URL, String, Some(""), High, "Store's connection URL, if applicable (a custom endpoint such as MinIO or another S3-compatible server).")
        .define(PATH_STYLE, Boolean, Some("true"), Low, "Specifies whether or not to enable path style access to the bucket used by the connector")
        .define(ACCESS_KEY_ID, String, Some(""), High, "The AWS access key ID used to authenticate personal AWS credentials such as IAM credentials. Use only if you do not wish to authenticate by using a credentials provider class via ``s3.credentials.provider.class``")
        .define(SECRET_ACCESS_KEY, Password, Some(""), High, "The secret access key used to authenticate personal AWS credentials such as IAM credentials. Use only if you do not wish to authenticate by using a credentials provider class via ``s3.credentials.provider.class``")
        .define(CREDENTIALS_PROVIDER, Class, Some("com.amazonaws.auth.DefaultAWSCredentialsProviderChain"), Low, "Credentials provider or provider chain to use for authentication to AWS. weir uses the default chain (environment, profile, web identity, container and instance metadata) unless static keys are set.")
        .with_validator(Validator::one_of(&["com.amazonaws.auth.DefaultAWSCredentialsProviderChain", "DefaultAWSCredentialsProviderChain"]))
        .define(STORAGE_CLASS, Class, None, High, "The underlying storage layer.")
        .with_validator(Validator::one_of(&[S3_STORAGE]))
        .define(TOPICS_DIR, String, Some("topics"), High, "Top level directory to store the data ingested from Kafka.")
        .define(DIRECTORY_DELIM, String, Some("/"), Medium, "Directory delimiter pattern")
        .define(FILE_DELIM, String, Some("+"), Medium, "File delimiter pattern")
        .define(FORMAT_CLASS, Class, None, High, "The format class to use when writing data to the store. Format classes implement the ``io.confluent.connect.storage.format.Format`` interface.")
        .define(FLUSH_SIZE, Int, None, High, "Number of records written to store before invoking file commits.")
        .with_validator(Validator::at_least(1.0))
        .define(ROTATE_INTERVAL_MS, Long, Some("-1"), High, "The time interval in milliseconds to invoke file commits. You can configure this parameter so that the time interval is determined by using a timestamp extractor (for example, Kafka Record Time, Record Field, or Wall Clock extractor). When the first record is processed, a timestamp is set as the base time. This is useful in cases where you use timestamp-based partitioning, or where you write records to the same file when using a specific file rotation strategy.")
        .define(ROTATE_SCHEDULE_INTERVAL_MS, Long, Some("-1"), Medium, "The time interval in milliseconds to periodically invoke file commits. This configuration ensures that file commits are invoked every configured interval. Time of commit will be adjusted to 00:00 of selected timezone. The commit will be performed at the scheduled time, regardless of the previous commit time or number of messages. This configuration is useful when you have to commit your data based on current server time, for example at the beginning of every hour. The default value -1 means that this feature is disabled.")
        .define(ROTATE_ON_PARTITION_CHANGE, Boolean, Some("true"), Low, "Rotate files when the encoded partition changes (with rotate.interval.ms and a time-based partitioner).")
        .define(ZERO_PAD_WIDTH, Int, Some("10"), Low, "Width to zero-pad offsets in store's filenames if offsets are too short in order to provide fixed-width filenames that can be ordered by simple lexicographic sorting.")
        .with_validator(Validator::at_least(0.0))
        .define(PART_SIZE, Int, Some("26214400"), High, "The Part Size in S3 Multi-part Uploads.")
        .with_validator(Validator::Range { min: Some(MIN_PART_SIZE as f64), max: Some(i32::MAX as f64) })
        .define(COMPRESSION_TYPE, String, Some("none"), Low, "Compression type for files written to S3. Applied when using JsonFormat or ByteArrayFormat. Available values: none, gzip.")
        .with_validator(Validator::one_of(&["none", "gzip"]))
        .define(COMPRESSION_LEVEL, Int, Some("-1"), Low, "Compression level for files written to S3. Applied when using JsonFormat or ByteArrayFormat. -1 is the default level; 0 to 9 trade speed for size.")
        .with_validator(Validator::Range { min: Some(-1.0), max: Some(9.0) })
        .define(NULL_VALUES, String, Some("fail"), Low, "How to handle records with a null value (i.e. Kafka tombstone records). Valid options are 'ignore', 'fail' and 'write'.")
        .with_validator(Validator::one_of(&["ignore", "fail", "write"]))
        .define(STORE_KEYS, Boolean, Some("false"), Low, "Enable or disable writing keys to storage (not supported by weir yet: only false).")
        .define(STORE_HEADERS, Boolean, Some("false"), Low, "Enable or disable writing headers to storage (not supported by weir yet: only false).")
        .define(BYTEARRAY_EXTENSION, String, Some(".bin"), Low, "Output file extension for ByteArrayFormat. Defaults to ``.bin``.")
        .define(BYTEARRAY_SEPARATOR, String, Some("\n"), Low, "String inserted between records for ByteArrayFormat. Defaults to ``System.lineSeparator()`` and may contain escape sequences like ``\\n``.")
        .define(PARQUET_CODEC, String, Some("snappy"), Low, "The Parquet compression codec to be used for output files. Available values: none, snappy, gzip, lz4, zstd.")
        .with_validator(Validator::one_of(&["none", "uncompressed", "snappy", "gzip", "lz4", "zstd"]))
        .define(JSON_DECIMAL_FORMAT, String, Some("BASE64"), Low, "Controls which format json converter will serialize decimals in. This value is case insensitive and can be either 'BASE64' (default) or 'NUMERIC'")
        .with_validator(Validator::one_of(&["BASE64", "NUMERIC", "base64", "numeric"]))
        .define(SCHEMA_COMPATIBILITY, String, Some("NONE"), High, "The schema compatibility rule to use when the connector is observing schema changes. weir supports NONE: any schema change closes the current file.")
        .with_validator(Validator::one_of(&["NONE"]))
        .define(PART_RETRIES, Int, Some("3"), Medium, "Maximum number of retry attempts for failed requests. Zero means no retries.")
        .with_validator(Validator::at_least(0.0))
        .define(RETRY_BACKOFF_MS, Long, Some("200"), Low, "How long to wait in milliseconds before attempting the first retry of a failed S3 request. Upon a failure, this connector may wait up to twice as long as the previous wait, up to the maximum number of retries.")
        .with_validator(Validator::at_least(0.0))
        .define(SPOOL_MEMORY_BYTES, Long, Some("134217728"), Medium, "weir: bytes of not-yet-uploaded files kept in memory for all open files of a task together; files past it spool to a temporary file on disk. Bounds memory whatever the number of partitions.")
        .with_validator(Validator::at_least(0.0))
        .merge(&partitioner_def())
}

impl Settings {
    /// Parses and checks a task's (or connector's) config; every problem at once.
    pub fn parse(config: &ConfigMap) -> Result<Self, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let parsed = config_def().parse_into(config, &mut errors);
        let Some(p) = parsed else {
            return Err(errors);
        };
        let format = FormatKind::parse(&p, config, &mut errors);
        let partitioner = PartitionerSettings::parse(&p, &mut errors);
        let text = |key: &str| string_of(&p, key);
        let long = |key: &str| p.int(key).unwrap_or_default();
        for key in [STORE_KEYS, STORE_HEADERS] {
            if p.boolean(key) == Some(true) {
                errors.push(ConfigError::new(
                    key,
                    format!("{key}=true is not supported by weir yet; set it to false"),
                ));
            }
        }
        // Keys of Confluent's that change what lands in the bucket or how it is reached:
        // refused rather than silently ignored.
        for key in UNSUPPORTED {
            let set = config.get(*key).map(|v| v.trim()).is_some_and(|v| {
                !v.is_empty() && v != "false" && !v.eq_ignore_ascii_case("private")
            });
            if set {
                errors.push(ConfigError::new(
                    *key,
                    format!("{key} is not supported by weir yet; remove it to write without it"),
                ));
            }
        }
        let key_id = text(ACCESS_KEY_ID);
        let secret = p.password(SECRET_ACCESS_KEY).cloned();
        let credentials = match (key_id.is_empty(), secret) {
            (true, Some(s)) if s.expose().is_empty() => None,
            (true, None) => None,
            (false, Some(s)) if !s.expose().is_empty() => Some((key_id, s)),
            _ => {
                errors.push(ConfigError::new(
                    ACCESS_KEY_ID,
                    format!("{ACCESS_KEY_ID} and {SECRET_ACCESS_KEY} must be set together"),
                ));
                None
            }
        };
        let rotate_schedule = positive(long(ROTATE_SCHEDULE_INTERVAL_MS));
        if rotate_schedule.is_some() && partitioner.as_ref().is_some_and(|p| p.timezone.is_none()) {
            errors.push(ConfigError::new(
                ROTATE_SCHEDULE_INTERVAL_MS,
                format!("{ROTATE_SCHEDULE_INTERVAL_MS} requires 'timezone' to be set"),
            ));
        }
        let compression = match text(COMPRESSION_TYPE).as_str() {
            "gzip" => {
                let level = u32::try_from(long(COMPRESSION_LEVEL)).unwrap_or(6);
                Compression::Gzip { level }
            }
            _ => Compression::None,
        };
        if compression != Compression::None && matches!(format, Some(FormatKind::Parquet { .. })) {
            errors.push(ConfigError::new(
                COMPRESSION_TYPE,
                format!(
                    "{COMPRESSION_TYPE} applies to JsonFormat and ByteArrayFormat; ParquetFormat compresses with {PARQUET_CODEC}"
                ),
            ));
        }
        let null_values = match text(NULL_VALUES).as_str() {
            "ignore" => NullValues::Ignore,
            "write" => {
                errors.push(ConfigError::new(
                    NULL_VALUES,
                    format!("Writing Kafka record keys to storage is mandatory when tombstone writing is enabled ({NULL_VALUES}=write needs {STORE_KEYS}=true, which weir does not support yet)"),
                ));
                NullValues::Fail
            }
            _ => NullValues::Fail,
        };
        let endpoint = Some(text(STORE_URL)).filter(|u| !u.trim().is_empty());
        if let Some(url) = &endpoint
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            errors.push(ConfigError::new(
                STORE_URL,
                format!("{STORE_URL}={url:?} must be an http:// or https:// URL"),
            ));
        }
        let mut json_converter = ConfigMap::new();
        json_converter.insert("schemas.enable".into(), "false".into());
        json_converter.insert(
            "decimal.format".into(),
            text(JSON_DECIMAL_FORMAT).to_uppercase(),
        );
        let (Some(format), Some(partitioner)) = (format, partitioner) else {
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Settings {
            bucket: text(BUCKET),
            region: text(REGION),
            endpoint,
            path_style: p.boolean(PATH_STYLE).unwrap_or(true),
            credentials,
            topics_dir: text(TOPICS_DIR),
            directory_delim: text(DIRECTORY_DELIM),
            file_delim: text(FILE_DELIM),
            format,
            flush_size: u64::try_from(long(FLUSH_SIZE)).unwrap_or(1),
            rotate_interval_ms: positive(long(ROTATE_INTERVAL_MS)),
            rotate_schedule_interval_ms: rotate_schedule,
            rotate_on_partition_change: p.boolean(ROTATE_ON_PARTITION_CHANGE).unwrap_or(true),
            zero_pad_width: usize::try_from(long(ZERO_PAD_WIDTH)).unwrap_or(10),
            part_size: usize::try_from(long(PART_SIZE)).unwrap_or(26_214_400),
            compression,
            null_values,
            partitioner,
            part_retries: u32::try_from(long(PART_RETRIES)).unwrap_or(3),
            retry_backoff: Duration::from_millis(
                u64::try_from(long(RETRY_BACKOFF_MS)).unwrap_or(200),
            ),
            spool_memory_bytes: usize::try_from(long(SPOOL_MEMORY_BYTES)).unwrap_or(usize::MAX),
            json_converter,
        })
    }

    /// `store.url`, or AWS's regional endpoint, for messages.
    pub fn endpoint_name(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", self.region))
    }
}

fn positive(v: i64) -> Option<i64> {
    (v > 0).then_some(v)
}

/// A string key of `p`, empty when unset.
pub(crate) fn string_of(p: &ParsedConfig, key: &str) -> String {
    p.string(key).unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> ConfigMap {
        let mut c: ConfigMap = [
            (BUCKET, "b"),
            (STORAGE_CLASS, S3_STORAGE),
            (
                FORMAT_CLASS,
                "io.confluent.connect.s3.format.json.JsonFormat",
            ),
            (FLUSH_SIZE, "10"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
        for (k, v) in pairs {
            c.insert((*k).to_string(), (*v).to_string());
        }
        c
    }

    fn problems(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        match Settings::parse(&config(pairs)) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| (e.key, e.message)).collect(),
        }
    }

    #[test]
    fn confluent_defaults() {
        let s = Settings::parse(&config(&[])).expect("valid");
        assert_eq!(
            (s.region.as_str(), s.topics_dir.as_str()),
            ("us-west-2", "topics")
        );
        assert_eq!(
            (s.directory_delim.as_str(), s.file_delim.as_str()),
            ("/", "+")
        );
        assert_eq!((s.zero_pad_width, s.part_size), (10, 26_214_400));
        assert_eq!(s.null_values, NullValues::Fail);
        assert!(s.path_style && s.credentials.is_none() && s.endpoint.is_none());
        assert_eq!(s.endpoint_name(), "https://s3.us-west-2.amazonaws.com");
        assert_eq!(s.format.extension(s.compression), ".json");
    }

    #[test]
    fn every_problem_names_its_key() {
        let mut c = config(&[]);
        c.remove(BUCKET);
        c.remove(FLUSH_SIZE);
        let errors = Settings::parse(&c).expect_err("missing keys");
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert!(
            keys.contains(&BUCKET) && keys.contains(&FLUSH_SIZE),
            "{errors:?}"
        );

        let p = problems(&[(
            FORMAT_CLASS,
            "io.confluent.connect.s3.format.avro.AvroFormat",
        )]);
        assert_eq!(p[0].0, FORMAT_CLASS);
        let p = problems(&[
            (
                FORMAT_CLASS,
                "io.confluent.connect.s3.format.parquet.ParquetFormat",
            ),
            (COMPRESSION_TYPE, "gzip"),
        ]);
        assert_eq!(p[0].0, COMPRESSION_TYPE);
        let p = problems(&[(ACCESS_KEY_ID, "AKIA")]);
        assert!(p[0].1.contains("must be set together"), "{p:?}");
        let p = problems(&[(STORE_KEYS, "true"), (NULL_VALUES, "write")]);
        let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, [STORE_KEYS, NULL_VALUES]);
        let p = problems(&[(ROTATE_SCHEDULE_INTERVAL_MS, "60000")]);
        assert!(p[0].1.contains("requires 'timezone'"), "{p:?}");
        let p = problems(&[(STORE_URL, "127.0.0.1:9000")]);
        assert!(p[0].1.contains("http://"), "{p:?}");
        let p = problems(&[("s3.ssea.name", "AES256"), ("s3.acl.canned", "private")]);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].1.contains("s3.ssea.name is not supported"), "{p:?}");
        let p = problems(&[(PART_SIZE, "1024")]);
        assert_eq!(p[0].0, PART_SIZE);
    }

    #[test]
    fn extensions_follow_format_and_compression() {
        let ext = |pairs: &[(&str, &str)]| {
            let s = Settings::parse(&config(pairs)).expect("valid");
            s.format.extension(s.compression)
        };
        assert_eq!(ext(&[(COMPRESSION_TYPE, "gzip")]), ".json.gz");
        let bytes = "io.confluent.connect.s3.format.bytearray.ByteArrayFormat";
        assert_eq!(ext(&[(FORMAT_CLASS, bytes)]), ".bin");
        assert_eq!(
            ext(&[(FORMAT_CLASS, bytes), (BYTEARRAY_EXTENSION, ".txt")]),
            ".txt"
        );
        let parquet = "io.confluent.connect.s3.format.parquet.ParquetFormat";
        assert_eq!(ext(&[(FORMAT_CLASS, parquet)]), ".snappy.parquet");
        assert_eq!(
            ext(&[(FORMAT_CLASS, parquet), (PARQUET_CODEC, "none")]),
            ".parquet"
        );
        assert_eq!(
            ext(&[(FORMAT_CLASS, parquet), (PARQUET_CODEC, "gzip")]),
            ".gz.parquet"
        );
    }
}
