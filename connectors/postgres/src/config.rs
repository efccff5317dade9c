//! The connector's config: Debezium's Postgres keys and defaults (COMPAT.md 3.1), parsed once
//! into [`PostgresConfig`], plus the include/exclude filters with Debezium's regex rules.

use std::time::Duration;

use regex::{Regex, RegexBuilder};
use weir_connect_api::config::{ConfigError, ParsedConfig, Validator};
use weir_connect_api::{ConfigDef, ConfigMap, ConfigType, ConnectorError, Importance};

use crate::wire::{ConnectConfig, SslMode};

/// `snapshot.mode`: when the connector reads the captured tables in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotMode {
    /// Snapshot when no offset exists, then stream.
    Initial,
    /// Snapshot when no offset exists, then stop (no streaming).
    InitialOnly,
    /// Never snapshot data (`no_data`, formerly `never`): stream from the slot.
    NoData,
    /// Snapshot at every start, then stream.
    Always,
    /// Snapshot when no offset exists or the stored LSN is no longer in the slot.
    WhenNeeded,
}

impl SnapshotMode {
    fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "initial" => SnapshotMode::Initial,
            "initial_only" => SnapshotMode::InitialOnly,
            "no_data" | "never" => SnapshotMode::NoData,
            "always" => SnapshotMode::Always,
            "when_needed" => SnapshotMode::WhenNeeded,
            _ => return None,
        })
    }
}

/// `publication.autocreate.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicationMode {
    AllTables,
    Disabled,
    Filtered,
    NoTables,
}

/// Include/exclude lists of anchored, case-insensitive regexes, as Debezium's selectors.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    include: Vec<Regex>,
    exclude: Vec<Regex>,
}

impl Filter {
    fn new(key: &str, include: &[String], exclude: &[String]) -> Result<Self, ConfigError> {
        let compile = |list: &[String], which: &str| -> Result<Vec<Regex>, ConfigError> {
            list.iter()
                .filter(|p| !p.trim().is_empty())
                .map(|p| {
                    RegexBuilder::new(&format!("^(?:{})$", p.trim()))
                        .case_insensitive(true)
                        .build()
                        .map_err(|e| {
                            ConfigError::new(
                                format!("{key}.{which}.list"),
                                format!(
                                    "{key}.{which}.list entry \"{p}\" is not a valid regular \
                                     expression: {e}"
                                ),
                            )
                        })
                })
                .collect()
        };
        Ok(Self {
            include: compile(include, "include")?,
            exclude: compile(exclude, "exclude")?,
        })
    }

    /// Whether `name` is captured: in the include list (when one is set) and not excluded.
    pub fn matches(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|r| r.is_match(name)))
            && !self.exclude.iter().any(|r| r.is_match(name))
    }

    /// Whether an include list is set.
    pub fn has_include(&self) -> bool {
        !self.include.is_empty()
    }

    /// The include patterns as written (for error messages).
    pub fn include_patterns(&self) -> Vec<String> {
        self.include
            .iter()
            .map(|r| {
                let s = r.as_str();
                s.strip_prefix("^(?:")
                    .and_then(|s| s.strip_suffix(")$"))
                    .unwrap_or(s)
                    .to_string()
            })
            .collect()
    }
}

/// Everything the task needs, parsed and checked.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    pub topic_prefix: String,
    pub connect: ConnectConfig,
    pub initial_statements: Vec<String>,
    pub slot_name: String,
    pub slot_drop_on_stop: bool,
    pub slot_max_retries: u32,
    pub slot_retry_delay: Duration,
    pub slot_stream_params: Vec<(String, String)>,
    pub publication_name: String,
    pub publication_mode: PublicationMode,
    pub schemas: Filter,
    pub tables: Filter,
    pub columns: Filter,
    pub snapshot_mode: SnapshotMode,
    pub snapshot_tables: Filter,
    pub snapshot_fetch_size: usize,
    pub snapshot_max_threads: usize,
    pub skipped_operations: Vec<char>,
    pub tombstones_on_delete: bool,
    pub max_batch_size: usize,
    pub max_queue_size: usize,
    pub poll_interval: Duration,
    pub status_update_interval: Duration,
    pub heartbeat_interval: Option<Duration>,
    pub heartbeat_action_query: Option<String>,
    pub heartbeat_topic: String,
    pub heartbeat_prefix: String,
    pub transaction_topic: String,
    pub transaction_suffix: String,
    pub provide_transaction_metadata: bool,
    pub messages: Filter,
    pub signal_data_collection: Option<String>,
    pub incremental_chunk_size: usize,
    pub stream_memory_limit: usize,
    pub errors_max_retries: i64,
    pub retry_delay: Duration,
}

/// Every key the connector accepts, with Debezium's defaults.
pub fn config_def() -> ConfigDef {
    use ConfigType::*;
    use Importance::*;
    let one_of = |v: &[&str]| Validator::OneOf(v.iter().map(|s| s.to_string()).collect());
    ConfigDef::new()
        .define("topic.prefix", String, None, High, "Topic prefix: the logical name of the database server; namespaces every topic and schema.")
        .with_validator(Validator::NonEmptyString)
        .define("database.hostname", String, None, High, "Resolvable hostname or IP address of the Postgres server.")
        .define("database.port", Int, Some("5432"), High, "Port of the Postgres server.")
        .with_validator(Validator::Range { min: Some(1.0), max: Some(65535.0) })
        .define("database.user", String, None, High, "Name of the Postgres user (needs REPLICATION and SELECT on the captured tables).")
        .define("database.password", Password, Some(""), High, "Password of the Postgres user.")
        .define("database.dbname", String, None, High, "The database to capture.")
        .define("database.sslmode", String, Some("prefer"), Medium, "disable, allow, prefer, require, verify-ca or verify-full.")
        .with_validator(one_of(&["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]))
        .define("database.sslrootcert", String, Some(""), Low, "PEM file of the root certificate(s) that verify the server (verify-ca, verify-full).")
        .define("database.tcpKeepAlive", Boolean, Some("true"), Low, "TCP keep-alive on the connections.")
        .define("database.initial.statements", String, Some(""), Low, "Semicolon-separated SQL run when a (non-replication) connection opens.")
        .define("connect.timeout.ms", Long, Some("30000"), Low, "Time to wait for a connection to the database.")
        .define("database.query.timeout.ms", Long, Some("600000"), Low, "Time to wait for a query result.")
        .define("plugin.name", String, Some("pgoutput"), Medium, "The logical decoding plugin; weir supports pgoutput (built into Postgres 10+).")
        .with_validator(one_of(&["pgoutput", "decoderbufs"]))
        .define("slot.name", String, Some("debezium"), Medium, "The logical replication slot (one per connector).")
        .define("slot.drop.on.stop", Boolean, Some("false"), Low, "Drop the slot when the connector stops gracefully (development only: WAL needed later is released).")
        .define("slot.stream.params", String, Some(""), Low, "Semicolon-separated name=value options passed to the output plugin.")
        .define("slot.max.retries", Int, Some("6"), Low, "Attempts to acquire a slot held by another connection.")
        .define("slot.retry.delay.ms", Long, Some("10000"), Low, "Delay between slot acquisition attempts.")
        .define("publication.name", String, Some("dbz_publication"), Medium, "The pgoutput publication.")
        .define("publication.autocreate.mode", String, Some("all_tables"), Medium, "all_tables, disabled, filtered or no_tables.")
        .with_validator(one_of(&["all_tables", "disabled", "filtered", "no_tables"]))
        .define("schema.include.list", List, Some(""), Medium, "Regexes of schemas to capture.")
        .define("schema.exclude.list", List, Some(""), Medium, "Regexes of schemas not to capture.")
        .define("table.include.list", List, Some(""), Medium, "Regexes of schema.table names to capture.")
        .define("table.exclude.list", List, Some(""), Medium, "Regexes of schema.table names not to capture.")
        .define("column.include.list", List, Some(""), Medium, "Regexes of schema.table.column names to include in events.")
        .define("column.exclude.list", List, Some(""), Medium, "Regexes of schema.table.column names to leave out of events (key columns are always kept).")
        .define("skipped.operations", List, Some("t"), Low, "Operations not emitted: c, u, d, t, or none.")
        .define("tombstones.on.delete", Boolean, Some("true"), Medium, "Emit a tombstone (null value) after each delete event.")
        .define("snapshot.mode", String, Some("initial"), Medium, "initial, initial_only, no_data (never), always or when_needed.")
        .with_validator(one_of(&["initial", "initial_only", "no_data", "never", "always", "when_needed"]))
        .define("snapshot.include.collection.list", List, Some(""), Low, "Regexes of the captured tables to snapshot (default: all captured tables).")
        .define("snapshot.fetch.size", Int, Some("10240"), Low, "Rows per snapshot chunk.")
        .with_validator(Validator::Range { min: Some(1.0), max: None })
        .define("snapshot.max.threads", Int, Some("1"), Low, "Connections reading snapshot chunks in parallel.")
        .with_validator(Validator::Range { min: Some(1.0), max: Some(64.0) })
        .define("decimal.handling.mode", String, Some("precise"), Medium, "precise, double or string.")
        .with_validator(one_of(&["precise", "double", "string"]))
        .define("time.precision.mode", String, Some("adaptive"), Medium, "adaptive, adaptive_time_microseconds, connect, isostring, microseconds or nanoseconds.")
        .with_validator(one_of(&["adaptive", "adaptive_time_microseconds", "connect", "isostring", "microseconds", "nanoseconds"]))
        .define("binary.handling.mode", String, Some("bytes"), Low, "bytes, base64, base64-url-safe or hex.")
        .with_validator(one_of(&["bytes", "base64", "base64-url-safe", "hex"]))
        .define("hstore.handling.mode", String, Some("json"), Low, "json or map.")
        .with_validator(one_of(&["json", "map"]))
        .define("interval.handling.mode", String, Some("numeric"), Low, "numeric or string.")
        .with_validator(one_of(&["numeric", "string"]))
        .define("money.fraction.digits", Short, Some("2"), Low, "Scale of MONEY values.")
        .define("include.unknown.datatypes", Boolean, Some("false"), Low, "Emit columns of unknown types as bytes instead of dropping them.")
        .define("unavailable.value.placeholder", String, Some("__debezium_unavailable_value"), Low, "Value of unchanged TOASTed columns.")
        .define("max.batch.size", Int, Some("2048"), Low, "Events per poll.")
        .with_validator(Validator::Range { min: Some(1.0), max: None })
        .define("max.queue.size", Int, Some("8192"), Low, "Events buffered between the database and the log.")
        .with_validator(Validator::Range { min: Some(1.0), max: None })
        .define("poll.interval.ms", Long, Some("500"), Low, "Time to wait for new events.")
        .define("status.update.interval.ms", Long, Some("10000"), Low, "Replication feedback interval.")
        .define("heartbeat.interval.ms", Long, Some("0"), Medium, "Emit a heartbeat record this often (0: off) so the slot advances on quiet or filtered databases.")
        .define("heartbeat.action.query", String, Some(""), Low, "SQL run at each heartbeat, e.g. an insert into a captured heartbeat table.")
        .define("topic.heartbeat.prefix", String, Some("__debezium-heartbeat"), Low, "Prefix of the heartbeat topic.")
        .define("topic.transaction", String, Some("transaction"), Low, "Suffix of the transaction metadata topic.")
        .define("provide.transaction.metadata", Boolean, Some("false"), Low, "Emit BEGIN/END records and the transaction block.")
        .define("message.prefix.include.list", List, Some(""), Low, "Regexes of logical decoding message prefixes to emit.")
        .define("message.prefix.exclude.list", List, Some(""), Low, "Regexes of logical decoding message prefixes not to emit.")
        .define("signal.data.collection", String, Some(""), Low, "schema.table of the signal table (incremental snapshots).")
        .define("incremental.snapshot.chunk.size", Int, Some("1024"), Low, "Rows per incremental snapshot chunk.")
        .define("streaming.memory.limit.bytes", Long, Some("67108864"), Low, "weir: bytes of streamed in-progress transactions kept in memory before spilling to disk.")
        .define("errors.max.retries", Int, Some("-1"), Low, "Retries of retriable errors (-1: unlimited).")
        .define("retriable.restart.connector.wait.ms", Long, Some("10000"), Low, "Delay before reconnecting after a retriable error.")
}

/// Parses and checks the config; every problem is reported at once.
pub fn parse(config: &ConfigMap) -> Result<PostgresConfig, ConnectorError> {
    let p = config_def().parse(config).map_err(ConnectorError::Config)?;
    let mut errors = Vec::new();
    let s = |k: &str| p.string(k).unwrap_or_default().to_string();
    let list = |k: &str| p.list(k).map(<[String]>::to_vec).unwrap_or_default();
    let ms = |k: &str| Duration::from_millis(p.int(k).unwrap_or(0).max(0) as u64);
    let mut filter = |key: &str| {
        Filter::new(
            key,
            &list(&format!("{key}.include.list")),
            &list(&format!("{key}.exclude.list")),
        )
        .unwrap_or_else(|e| {
            errors.push(e);
            Filter::default()
        })
    };
    let schemas = filter("schema");
    let tables = filter("table");
    let columns = filter("column");
    let messages = filter("message.prefix");
    let snapshot_tables = Filter::new("snapshot", &list("snapshot.include.collection.list"), &[])
        .unwrap_or_else(|e| {
            errors.push(e);
            Filter::default()
        });
    if s("plugin.name") != "pgoutput" {
        errors.push(ConfigError::new(
            "plugin.name",
            "weir decodes only pgoutput (built into Postgres 10+): set plugin.name=pgoutput",
        ));
    }
    let prefix = s("topic.prefix");
    if !prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        errors.push(ConfigError::new(
            "topic.prefix",
            format!("topic.prefix \"{prefix}\" may hold only letters, digits, '_', '.' and '-'"),
        ));
    }
    let skipped = skipped_operations(&p, &mut errors);
    let sslmode = s("database.sslmode").parse::<SslMode>().unwrap_or_default();
    let slot_stream_params = stream_params(&s("slot.stream.params"), &mut errors);
    if !errors.is_empty() {
        return Err(ConnectorError::Config(errors));
    }
    let non_empty = |v: String| (!v.trim().is_empty()).then_some(v);
    let heartbeat = ms("heartbeat.interval.ms");
    Ok(PostgresConfig {
        connect: ConnectConfig {
            host: s("database.hostname"),
            port: p.int("database.port").unwrap_or(5432) as u16,
            user: s("database.user"),
            password: p
                .password("database.password")
                .map(|s| s.expose().to_string())
                .filter(|s| !s.is_empty()),
            dbname: s("database.dbname"),
            sslmode,
            ssl_root_cert: non_empty(s("database.sslrootcert")).map(Into::into),
            connect_timeout: ms("connect.timeout.ms"),
            query_timeout: ms("database.query.timeout.ms"),
            application_name: format!("weir-{prefix}"),
            replication: false,
            tcp_keepalive: p.boolean("database.tcpKeepAlive").unwrap_or(true),
        },
        initial_statements: s("database.initial.statements")
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        topic_prefix: prefix,
        slot_name: s("slot.name"),
        slot_drop_on_stop: p.boolean("slot.drop.on.stop").unwrap_or(false),
        slot_max_retries: p.int("slot.max.retries").unwrap_or(6).max(0) as u32,
        slot_retry_delay: ms("slot.retry.delay.ms"),
        slot_stream_params,
        publication_name: s("publication.name"),
        publication_mode: match s("publication.autocreate.mode")
            .to_ascii_lowercase()
            .as_str()
        {
            "disabled" => PublicationMode::Disabled,
            "filtered" => PublicationMode::Filtered,
            "no_tables" => PublicationMode::NoTables,
            _ => PublicationMode::AllTables,
        },
        schemas,
        tables,
        columns,
        snapshot_mode: SnapshotMode::parse(&s("snapshot.mode")).unwrap_or(SnapshotMode::Initial),
        snapshot_tables,
        snapshot_fetch_size: p.int("snapshot.fetch.size").unwrap_or(10240).max(1) as usize,
        snapshot_max_threads: p.int("snapshot.max.threads").unwrap_or(1).max(1) as usize,
        skipped_operations: skipped,
        tombstones_on_delete: p.boolean("tombstones.on.delete").unwrap_or(true),
        max_batch_size: p.int("max.batch.size").unwrap_or(2048).max(1) as usize,
        max_queue_size: p.int("max.queue.size").unwrap_or(8192).max(1) as usize,
        poll_interval: ms("poll.interval.ms"),
        status_update_interval: ms("status.update.interval.ms").max(Duration::from_millis(100)),
        heartbeat_interval: (!heartbeat.is_zero()).then_some(heartbeat),
        heartbeat_action_query: non_empty(s("heartbeat.action.query")),
        heartbeat_topic: format!("{}.{}", s("topic.heartbeat.prefix"), s("topic.prefix")),
        heartbeat_prefix: s("topic.heartbeat.prefix"),
        transaction_topic: format!("{}.{}", s("topic.prefix"), s("topic.transaction")),
        transaction_suffix: s("topic.transaction"),
        provide_transaction_metadata: p.boolean("provide.transaction.metadata").unwrap_or(false),
        messages,
        signal_data_collection: non_empty(s("signal.data.collection")),
        incremental_chunk_size: p
            .int("incremental.snapshot.chunk.size")
            .unwrap_or(1024)
            .max(1) as usize,
        stream_memory_limit: p
            .int("streaming.memory.limit.bytes")
            .unwrap_or(64 << 20)
            .max(0) as usize,
        errors_max_retries: p.int("errors.max.retries").unwrap_or(-1),
        retry_delay: ms("retriable.restart.connector.wait.ms"),
    })
}

fn skipped_operations(p: &ParsedConfig, errors: &mut Vec<ConfigError>) -> Vec<char> {
    let mut out = Vec::new();
    for op in p.list("skipped.operations").unwrap_or_default() {
        match op.trim().to_ascii_lowercase().as_str() {
            "none" | "" => {}
            o @ ("c" | "u" | "d" | "t") => out.extend(o.chars()),
            other => errors.push(ConfigError::new(
                "skipped.operations",
                format!(
                    "skipped.operations entry \"{other}\" is not an operation: use c, u, d, t \
                     or none"
                ),
            )),
        }
    }
    out
}

fn stream_params(raw: &str, errors: &mut Vec<ConfigError>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for part in raw.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        match part.split_once('=') {
            Some((k, v)) => out.push((k.trim().to_string(), v.trim().to_string())),
            None => errors.push(ConfigError::new(
                "slot.stream.params",
                format!("slot.stream.params entry \"{part}\" is not of the form name=value"),
            )),
        }
    }
    out
}

impl PostgresConfig {
    /// Whether a table (`schema.table`) is captured.
    pub fn captures(&self, schema: &str, table: &str) -> bool {
        self.schemas.matches(schema) && self.tables.matches(&format!("{schema}.{table}"))
    }

    /// Whether operation `op` (c, u, d, t) is emitted.
    pub fn emits(&self, op: char) -> bool {
        !self.skipped_operations.contains(&op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ConfigMap {
        [
            ("topic.prefix", "shop"),
            ("database.hostname", "127.0.0.1"),
            ("database.user", "weir"),
            ("database.dbname", "shop"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn defaults_are_debeziums() {
        let c = parse(&base()).expect("config");
        assert_eq!(c.slot_name, "debezium");
        assert_eq!(c.publication_name, "dbz_publication");
        assert_eq!(c.publication_mode, PublicationMode::AllTables);
        assert_eq!(c.snapshot_mode, SnapshotMode::Initial);
        assert_eq!(c.skipped_operations, vec!['t']);
        assert!(c.tombstones_on_delete);
        assert_eq!(c.heartbeat_topic, "__debezium-heartbeat.shop");
        assert_eq!(c.transaction_topic, "shop.transaction");
        assert_eq!(c.connect.port, 5432);
        assert!(c.heartbeat_interval.is_none());
    }

    #[test]
    fn filters_are_anchored_and_case_insensitive() {
        let mut m = base();
        m.insert("table.include.list".into(), "public.orders,inv\\..*".into());
        m.insert("table.exclude.list".into(), "inv.secret".into());
        let c = parse(&m).expect("config");
        assert!(c.captures("public", "ORDERS"));
        assert!(!c.captures("public", "orders_archive"));
        assert!(c.captures("inv", "stock"));
        assert!(!c.captures("inv", "secret"));
    }

    #[test]
    fn bad_values_are_named() {
        let mut m = base();
        m.insert("table.include.list".into(), "public.(".into());
        m.insert("skipped.operations".into(), "x".into());
        m.insert("plugin.name".into(), "decoderbufs".into());
        let err = parse(&m).expect_err("invalid").to_string();
        assert!(err.contains("table.include.list"), "{err}");
        assert!(err.contains("skipped.operations"), "{err}");
        assert!(err.contains("pgoutput"), "{err}");
    }
}
