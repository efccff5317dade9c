//! The keys of both JDBC sinks, parsed once into [`Settings`] with every problem reported at
//! once: Confluent's `JdbcSinkConfig` (`connection.user`, `pk.mode`, `auto.create`, ...)
//! and Debezium's `JdbcSinkConnectorConfig` (`connection.username`, `primary.key.mode`,
//! `schema.evolution`, ...). Each connector class accepts its own names, with its own
//! defaults, into the same settings.

use std::time::Duration;

use weir_connect_api::config::{ConfigError, ParsedConfig, Validator};
use weir_connect_api::{ConfigDef, ConfigMap, ConfigType, Importance, Secret};

use crate::url::JdbcUrl;

/// Which connector's key names and defaults a config uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `io.confluent.connect.jdbc.JdbcSinkConnector`.
    Confluent,
    /// `io.debezium.connector.jdbc.JdbcSinkConnector`.
    Debezium,
}

/// `insert.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertMode {
    Insert,
    Upsert,
    Update,
}

/// `pk.mode` / `primary.key.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkMode {
    None,
    Kafka,
    RecordKey,
    RecordValue,
}

/// Which value fields become columns (`fields.whitelist`, `field.include.list`,
/// `field.exclude.list`). Debezium's entries may be `topic:field`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldFilter {
    include: Vec<String>,
    exclude: Vec<String>,
}

impl FieldFilter {
    /// Whether `field` of a record on `topic` is written.
    pub fn allows(&self, topic: &str, field: &str) -> bool {
        let matches = |entry: &String| match entry.split_once(':') {
            Some((t, f)) => t == topic && f == field,
            None => entry == field,
        };
        (self.include.is_empty() || self.include.iter().any(matches))
            && !self.exclude.iter().any(matches)
    }
}

/// Every setting of a task, parsed.
#[derive(Debug, Clone)]
pub struct Settings {
    pub flavor: Flavor,
    pub url: JdbcUrl,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub connection_attempts: u32,
    pub connection_backoff: Duration,
    pub insert_mode: InsertMode,
    pub pk_mode: PkMode,
    pub pk_fields: Vec<String>,
    pub fields: FieldFilter,
    /// `table.name.format` / `collection.name.format`.
    pub table_format: String,
    pub auto_create: bool,
    pub auto_evolve: bool,
    pub delete_enabled: bool,
    pub truncate_enabled: bool,
    pub quote_identifiers: bool,
    pub batch_size: usize,
    pub max_retries: u32,
    pub retry_backoff: Duration,
    pub time_zone: jiff::tz::TimeZone,
    /// The TOAST placeholder of the source (`unavailable.value.placeholder`) as bytes.
    pub placeholder: Vec<u8>,
}

pub const CONNECTION_URL: &str = "connection.url";
pub const CONFLUENT_USER: &str = "connection.user";
pub const DEBEZIUM_USER: &str = "connection.username";
pub const PASSWORD: &str = "connection.password";
pub const CONNECTION_ATTEMPTS: &str = "connection.attempts";
pub const CONNECTION_BACKOFF_MS: &str = "connection.backoff.ms";
pub const DIALECT_NAME: &str = "dialect.name";
pub const INSERT_MODE: &str = "insert.mode";
pub const PK_MODE: &str = "pk.mode";
pub const PK_FIELDS: &str = "pk.fields";
pub const PRIMARY_KEY_MODE: &str = "primary.key.mode";
pub const PRIMARY_KEY_FIELDS: &str = "primary.key.fields";
pub const FIELDS_WHITELIST: &str = "fields.whitelist";
pub const FIELD_INCLUDE_LIST: &str = "field.include.list";
pub const FIELD_EXCLUDE_LIST: &str = "field.exclude.list";
pub const TABLE_NAME_FORMAT: &str = "table.name.format";
pub const COLLECTION_NAME_FORMAT: &str = "collection.name.format";
pub const AUTO_CREATE: &str = "auto.create";
pub const AUTO_EVOLVE: &str = "auto.evolve";
pub const SCHEMA_EVOLUTION: &str = "schema.evolution";
pub const DELETE_ENABLED: &str = "delete.enabled";
pub const TRUNCATE_ENABLED: &str = "truncate.enabled";
pub const QUOTE_SQL_IDENTIFIERS: &str = "quote.sql.identifiers";
pub const QUOTE_IDENTIFIERS: &str = "quote.identifiers";
pub const BATCH_SIZE: &str = "batch.size";
pub const MAX_RETRIES: &str = "max.retries";
pub const RETRY_BACKOFF_MS: &str = "retry.backoff.ms";
pub const FLUSH_MAX_RETRIES: &str = "flush.max.retries";
pub const FLUSH_RETRY_DELAY_MS: &str = "flush.retry.delay.ms";
pub const DB_TIMEZONE: &str = "db.timezone";
pub const USE_TIME_ZONE: &str = "use.time.zone";
pub const DATABASE_TIME_ZONE: &str = "database.time_zone";
pub const TABLE_TYPES: &str = "table.types";
pub const PLACEHOLDER: &str = "unavailable.value.placeholder";

const PK_MODES: &[&str] = &["none", "kafka", "record_key", "record_value"];
const INSERT_MODES: &[&str] = &["insert", "upsert", "update"];

/// The keys both sinks share, with the defaults they share.
fn common(def: ConfigDef) -> ConfigDef {
    use ConfigType::*;
    use Importance::*;
    def.define(CONNECTION_URL, String, None, High, "JDBC connection URL: jdbc:postgresql://host:port/db, jdbc:mysql://host:port/db or jdbc:mariadb://host:port/db. The URL selects the dialect; user and password may also be URL parameters.")
        .define(PASSWORD, Password, Some(""), High, "JDBC connection password.")
        .define(INSERT_MODE, String, Some("insert"), High, "The insertion mode to use. insert: standard SQL INSERT statements. upsert: the database's upsert semantics (INSERT .. ON CONFLICT .. DO UPDATE on PostgreSQL, INSERT .. ON DUPLICATE KEY UPDATE on MySQL and MariaDB). update: UPDATE statements.")
        .with_validator(Validator::one_of(INSERT_MODES))
        .define(DELETE_ENABLED, Boolean, Some("false"), Medium, "Whether to treat null record values (and Debezium delete events) as deletes. Requires the primary key to come from the record key.")
        .define(TRUNCATE_ENABLED, Boolean, Some("false"), Medium, "Whether Debezium truncate events (op 't') truncate the table.")
        .define(PLACEHOLDER, String, Some("__debezium_unavailable_value"), Low, "weir: the placeholder the source writes for unchanged TOASTed columns (as Debezium's key of the same name; a 'hex:' prefix means hex bytes). A column holding it is left as it is in the table.")
        .define(DIALECT_NAME, String, Some(""), Low, "The database dialect; empty derives it from the URL. PostgreSqlDatabaseDialect, MySqlDatabaseDialect (also MariaDB).")
        .with_validator(Validator::one_of(&["", "PostgreSqlDatabaseDialect", "MySqlDatabaseDialect"]))
}

/// Confluent's `JdbcSinkConfig` keys and defaults.
pub fn confluent_def() -> ConfigDef {
    use ConfigType::*;
    use Importance::*;
    common(ConfigDef::new())
        .define(CONFLUENT_USER, String, Some(""), High, "JDBC connection user.")
        .define(CONNECTION_ATTEMPTS, Int, Some("3"), Low, "Maximum number of attempts to retrieve a valid JDBC connection. Must be a positive integer.")
        .with_validator(Validator::at_least(1.0))
        .define(CONNECTION_BACKOFF_MS, Long, Some("10000"), Low, "Backoff time in milliseconds between connection attempts.")
        .with_validator(Validator::at_least(0.0))
        .define(PK_MODE, String, Some("none"), High, "The primary key mode: none, kafka (__connect_topic, __connect_partition, __connect_offset), record_key or record_value.")
        .with_validator(Validator::one_of(PK_MODES))
        .define(PK_FIELDS, List, Some(""), Medium, "List of comma-separated primary key field names. The runtime interpretation depends on pk.mode.")
        .define(FIELDS_WHITELIST, List, Some(""), Medium, "List of comma-separated record value field names. If empty, all fields from the record value are utilized, otherwise used to filter to the desired fields.")
        .define(TABLE_NAME_FORMAT, String, Some("${topic}"), Medium, "A format string for the destination table name, which may contain '${topic}' as a placeholder for the originating topic name. Dots separate catalog, schema and table.")
        .define(AUTO_CREATE, Boolean, Some("false"), Medium, "Whether to automatically create the destination table based on record schema if it is found to be missing by issuing CREATE.")
        .define(AUTO_EVOLVE, Boolean, Some("false"), Medium, "Whether to automatically add columns in the table schema when found to be missing relative to the record schema by issuing ALTER.")
        .define(BATCH_SIZE, Int, Some("3000"), Medium, "Specifies how many records to attempt to batch together for insertion into the destination table, when possible.")
        .with_validator(Validator::at_least(1.0))
        .define(MAX_RETRIES, Int, Some("10"), Medium, "The maximum number of times to retry on errors before failing the task.")
        .with_validator(Validator::at_least(0.0))
        .define(RETRY_BACKOFF_MS, Int, Some("3000"), Medium, "The time in milliseconds to wait following an error before a retry attempt is made.")
        .with_validator(Validator::at_least(0.0))
        .define(QUOTE_SQL_IDENTIFIERS, String, Some("always"), Medium, "When to quote table names, column names, and other identifiers in SQL statements: always or never.")
        .with_validator(Validator::one_of(&["always", "never"]))
        .define(DB_TIMEZONE, String, Some("UTC"), Medium, "Name of the JDBC timezone used in the connector when inserting time-based values.")
        .define(TABLE_TYPES, List, Some("TABLE"), Low, "The comma-separated types of database tables to which the sink connector can write: TABLE, VIEW, PARTITIONED TABLE.")
}

/// Debezium's `JdbcSinkConnectorConfig` keys and defaults.
pub fn debezium_def() -> ConfigDef {
    use ConfigType::*;
    use Importance::*;
    common(ConfigDef::new())
        .define(DEBEZIUM_USER, String, Some(""), High, "The name of the database user account.")
        .define(PRIMARY_KEY_MODE, String, Some("none"), High, "The primary key mode: none, kafka, record_key or record_value.")
        .with_validator(Validator::one_of(PK_MODES))
        .define(PRIMARY_KEY_FIELDS, List, Some(""), Medium, "Comma-separated primary key fields; empty uses every field of the key (record_key) or the value (record_value).")
        .define(FIELD_INCLUDE_LIST, List, Some(""), Medium, "Fields to include, as field or topic:field.")
        .define(FIELD_EXCLUDE_LIST, List, Some(""), Medium, "Fields to exclude, as field or topic:field.")
        .define(COLLECTION_NAME_FORMAT, String, Some("${topic}"), Medium, "The destination table name format: '${topic}' is the topic with dots replaced by underscores, '${source.<field>}' a field of a Debezium event's source block. Dots separate schema and table.")
        .define(TABLE_NAME_FORMAT, String, Some(""), Low, "Debezium 2.x name of collection.name.format.")
        .define(SCHEMA_EVOLUTION, String, Some("none"), Medium, "none, or basic: create missing tables and add missing columns.")
        .with_validator(Validator::one_of(&["none", "basic"]))
        .define(QUOTE_IDENTIFIERS, Boolean, Some("false"), Medium, "Whether table and column names are quoted in SQL statements.")
        .define(BATCH_SIZE, Int, Some("500"), Medium, "How many records are written in one statement batch.")
        .with_validator(Validator::at_least(1.0))
        .define(FLUSH_MAX_RETRIES, Int, Some("5"), Medium, "How many times a failed write is retried before the task fails.")
        .with_validator(Validator::at_least(0.0))
        .define(FLUSH_RETRY_DELAY_MS, Long, Some("1000"), Medium, "Milliseconds between retries of a failed write.")
        .with_validator(Validator::at_least(0.0))
        .define(USE_TIME_ZONE, String, Some("UTC"), Medium, "The time zone used for temporal values.")
        .define(DATABASE_TIME_ZONE, String, Some(""), Low, "Debezium 2.x name of use.time.zone.")
        .define("use.reduction.buffer", Boolean, Some("false"), Low, "Collapse changes to the same key within a batch; weir always does.")
        .define("connection.provider", String, Some("org.hibernate.c3p0.internal.C3P0ConnectionProvider"), Low, "Accepted for compatibility; weir holds one connection per task.")
        .define("connection.pool.min_size", Int, Some("5"), Low, "Accepted for compatibility; weir holds one connection per task.")
        .define("connection.pool.max_size", Int, Some("32"), Low, "Accepted for compatibility; weir holds one connection per task.")
        .define("connection.pool.acquire_increment", Int, Some("32"), Low, "Accepted for compatibility.")
        .define("connection.pool.timeout", Int, Some("1800"), Low, "Accepted for compatibility.")
}

fn string_of(p: &ParsedConfig, key: &str) -> String {
    p.string(key).unwrap_or_default().trim().to_string()
}

fn millis(p: &ParsedConfig, key: &str) -> Duration {
    Duration::from_millis(u64::try_from(p.int(key).unwrap_or_default()).unwrap_or(0))
}

fn count(p: &ParsedConfig, key: &str, default: u32) -> u32 {
    p.int(key)
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(default)
}

fn time_zone(key: &str, name: &str, errors: &mut Vec<ConfigError>) -> jiff::tz::TimeZone {
    match jiff::tz::TimeZone::get(name) {
        Ok(tz) => tz,
        Err(_) => {
            errors.push(ConfigError::new(
                key,
                format!("Invalid value {name} for configuration {key}: not a time zone id (e.g. UTC, Europe/Paris)"),
            ));
            jiff::tz::TimeZone::UTC
        }
    }
}

impl Settings {
    /// Parses and checks a config under `flavor`'s key names; every problem at once.
    pub fn parse(flavor: Flavor, config: &ConfigMap) -> Result<Self, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let def = match flavor {
            Flavor::Confluent => confluent_def(),
            Flavor::Debezium => debezium_def(),
        };
        let Some(p) = def.parse_into(config, &mut errors) else {
            return Err(errors);
        };
        let list = |key: &str| -> Vec<String> {
            p.list(key)
                .unwrap_or_default()
                .iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let url = match JdbcUrl::parse(&string_of(&p, CONNECTION_URL)) {
            Ok(url) => Some(url),
            Err(message) => {
                errors.push(ConfigError::new(CONNECTION_URL, message));
                None
            }
        };
        if let Some(url) = &url
            && let Some(tls) = url.tls_required()
        {
            errors.push(ConfigError::new(
                CONNECTION_URL,
                format!("{tls} asks for TLS to the database, which weir's JDBC sink does not support yet (use a connection on a trusted network or a TLS tunnel)"),
            ));
        }
        if let Some(url) = &url {
            let dialect = string_of(&p, DIALECT_NAME);
            if !dialect.is_empty() && dialect != url.dialect.confluent_name() {
                errors.push(ConfigError::new(
                    DIALECT_NAME,
                    format!(
                        "{DIALECT_NAME}={dialect} does not match the URL, which selects {}",
                        url.dialect.confluent_name()
                    ),
                ));
            }
        }
        let user_key = match flavor {
            Flavor::Confluent => CONFLUENT_USER,
            Flavor::Debezium => DEBEZIUM_USER,
        };
        let user = Some(string_of(&p, user_key))
            .filter(|u| !u.is_empty())
            .or_else(|| {
                url.as_ref()
                    .and_then(|u| u.param("user").map(str::to_string))
            });
        let password = p
            .password(PASSWORD)
            .filter(|s| !s.expose().is_empty())
            .cloned()
            .or_else(|| {
                url.as_ref()
                    .and_then(|u| u.param("password").map(Secret::new))
            });
        let (mode_key, fields_key) = match flavor {
            Flavor::Confluent => (PK_MODE, PK_FIELDS),
            Flavor::Debezium => (PRIMARY_KEY_MODE, PRIMARY_KEY_FIELDS),
        };
        let pk_mode = match string_of(&p, mode_key).to_ascii_lowercase().as_str() {
            "kafka" => PkMode::Kafka,
            "record_key" => PkMode::RecordKey,
            "record_value" => PkMode::RecordValue,
            _ => PkMode::None,
        };
        let mut pk_fields = list(fields_key);
        if pk_mode == PkMode::Kafka {
            if pk_fields.is_empty() {
                pk_fields = ["__connect_topic", "__connect_partition", "__connect_offset"]
                    .map(String::from)
                    .to_vec();
            } else if pk_fields.len() != 3 {
                errors.push(ConfigError::new(
                    fields_key,
                    format!("{mode_key}=kafka needs exactly 3 field names (topic, partition, offset) in {fields_key}, got {}", pk_fields.len()),
                ));
            }
        }
        let insert_mode = match string_of(&p, INSERT_MODE).to_ascii_lowercase().as_str() {
            "upsert" => InsertMode::Upsert,
            "update" => InsertMode::Update,
            _ => InsertMode::Insert,
        };
        if insert_mode != InsertMode::Insert && pk_mode == PkMode::None {
            errors.push(ConfigError::new(
                mode_key,
                format!("{INSERT_MODE}={} needs a primary key: set {mode_key} to kafka, record_key or record_value", string_of(&p, INSERT_MODE).to_ascii_lowercase()),
            ));
        }
        let delete_enabled = p.boolean(DELETE_ENABLED).unwrap_or(false);
        let deletes_ok = match flavor {
            Flavor::Confluent => pk_mode == PkMode::RecordKey,
            Flavor::Debezium => matches!(pk_mode, PkMode::RecordKey | PkMode::RecordValue),
        };
        if delete_enabled && !deletes_ok {
            errors.push(ConfigError::new(
                DELETE_ENABLED,
                format!(
                    "Deletes are only supported for {mode_key}=record_key{}",
                    match flavor {
                        Flavor::Confluent => "",
                        Flavor::Debezium => " or record_value",
                    }
                ),
            ));
        }
        let fields = match flavor {
            Flavor::Confluent => FieldFilter {
                include: list(FIELDS_WHITELIST),
                exclude: Vec::new(),
            },
            Flavor::Debezium => FieldFilter {
                include: list(FIELD_INCLUDE_LIST),
                exclude: list(FIELD_EXCLUDE_LIST),
            },
        };
        if !fields.include.is_empty() && !fields.exclude.is_empty() {
            errors.push(ConfigError::new(
                FIELD_EXCLUDE_LIST,
                format!("{FIELD_INCLUDE_LIST} and {FIELD_EXCLUDE_LIST} cannot both be set"),
            ));
        }
        let table_format = match flavor {
            Flavor::Confluent => string_of(&p, TABLE_NAME_FORMAT),
            Flavor::Debezium => {
                let legacy = string_of(&p, TABLE_NAME_FORMAT);
                let current = string_of(&p, COLLECTION_NAME_FORMAT);
                if current == "${topic}" && !legacy.is_empty() {
                    legacy
                } else {
                    current
                }
            }
        };
        if table_format.is_empty() {
            errors.push(ConfigError::new(
                TABLE_NAME_FORMAT,
                "the table name format cannot be empty",
            ));
        }
        let (auto_create, auto_evolve) = match flavor {
            Flavor::Confluent => (
                p.boolean(AUTO_CREATE).unwrap_or(false),
                p.boolean(AUTO_EVOLVE).unwrap_or(false),
            ),
            Flavor::Debezium => {
                let basic = string_of(&p, SCHEMA_EVOLUTION).eq_ignore_ascii_case("basic");
                (basic, basic)
            }
        };
        let (quote_identifiers, batch_size, max_retries, retry_backoff, zone_key) = match flavor {
            Flavor::Confluent => (
                string_of(&p, QUOTE_SQL_IDENTIFIERS).eq_ignore_ascii_case("always"),
                p.int(BATCH_SIZE).unwrap_or(3000),
                count(&p, MAX_RETRIES, 10),
                millis(&p, RETRY_BACKOFF_MS),
                DB_TIMEZONE,
            ),
            Flavor::Debezium => (
                p.boolean(QUOTE_IDENTIFIERS).unwrap_or(false),
                p.int(BATCH_SIZE).unwrap_or(500),
                count(&p, FLUSH_MAX_RETRIES, 5),
                millis(&p, FLUSH_RETRY_DELAY_MS),
                if string_of(&p, DATABASE_TIME_ZONE).is_empty() {
                    USE_TIME_ZONE
                } else {
                    DATABASE_TIME_ZONE
                },
            ),
        };
        let time_zone = time_zone(zone_key, &string_of(&p, zone_key), &mut errors);
        if flavor == Flavor::Confluent {
            for t in list(TABLE_TYPES) {
                if !["TABLE", "VIEW", "PARTITIONED TABLE"]
                    .contains(&t.to_ascii_uppercase().as_str())
                {
                    errors.push(ConfigError::new(
                        TABLE_TYPES,
                        format!("Invalid value {t} for configuration {TABLE_TYPES}: TABLE, VIEW or PARTITIONED TABLE"),
                    ));
                }
            }
        }
        let placeholder = placeholder_bytes(&string_of(&p, PLACEHOLDER));
        let Some(url) = url else {
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let (connection_attempts, connection_backoff) = match flavor {
            Flavor::Confluent => (
                count(&p, CONNECTION_ATTEMPTS, 3),
                millis(&p, CONNECTION_BACKOFF_MS),
            ),
            Flavor::Debezium => (max_retries.saturating_add(1), retry_backoff),
        };
        Ok(Settings {
            flavor,
            url,
            user,
            password,
            connection_attempts,
            connection_backoff,
            insert_mode,
            pk_mode,
            pk_fields,
            fields,
            table_format,
            auto_create,
            auto_evolve,
            delete_enabled,
            truncate_enabled: p.boolean(TRUNCATE_ENABLED).unwrap_or(false),
            quote_identifiers,
            batch_size: usize::try_from(batch_size).unwrap_or(1).max(1),
            max_retries,
            retry_backoff,
            time_zone,
            placeholder,
        })
    }

    /// The key that names the primary-key mode in this flavor (for messages).
    pub fn pk_mode_key(&self) -> &'static str {
        match self.flavor {
            Flavor::Confluent => PK_MODE,
            Flavor::Debezium => PRIMARY_KEY_MODE,
        }
    }

    /// The key that turns on table creation and evolution in this flavor (for messages).
    pub fn evolution_key(&self, create: bool) -> &'static str {
        match (self.flavor, create) {
            (Flavor::Confluent, true) => AUTO_CREATE,
            (Flavor::Confluent, false) => AUTO_EVOLVE,
            (Flavor::Debezium, _) => SCHEMA_EVOLUTION,
        }
    }
}

/// Debezium's placeholder rule: a `hex:` prefix means the rest is hex.
fn placeholder_bytes(text: &str) -> Vec<u8> {
    if let Some(hex) = text.strip_prefix("hex:") {
        let digits: Option<Vec<u8>> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
            .collect();
        if let Some(bytes) = digits.filter(|_| hex.len() % 2 == 0) {
            return bytes;
        }
    }
    text.as_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::url::Dialect;

    fn parse(flavor: Flavor, pairs: &[(&str, &str)]) -> Result<Settings, Vec<(String, String)>> {
        let config: ConfigMap = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        Settings::parse(flavor, &config)
            .map_err(|errors| errors.into_iter().map(|e| (e.key, e.message)).collect())
    }

    const PG: (&str, &str) = ("connection.url", "jdbc:postgresql://db:5433/shop");

    #[test]
    fn confluent_defaults() {
        let s = parse(Flavor::Confluent, &[PG]).expect("valid");
        assert_eq!(s.url.dialect, Dialect::Postgres);
        assert_eq!(
            (s.insert_mode, s.pk_mode),
            (InsertMode::Insert, PkMode::None)
        );
        assert_eq!((s.batch_size, s.max_retries), (3000, 10));
        assert_eq!(s.retry_backoff, Duration::from_millis(3000));
        assert!(s.quote_identifiers && !s.auto_create && !s.auto_evolve && !s.delete_enabled);
        assert_eq!(s.table_format, "${topic}");
        assert_eq!(s.placeholder, b"__debezium_unavailable_value");
        assert_eq!(s.connection_attempts, 3);
    }

    #[test]
    fn debezium_defaults_and_names() {
        let s = parse(
            Flavor::Debezium,
            &[
                PG,
                ("connection.username", "app"),
                ("primary.key.mode", "record_key"),
                ("insert.mode", "upsert"),
                ("delete.enabled", "true"),
                ("schema.evolution", "basic"),
                ("table.name.format", "t_${topic}"),
            ],
        )
        .expect("valid");
        assert_eq!(s.user.as_deref(), Some("app"));
        assert_eq!((s.batch_size, s.max_retries), (500, 5));
        assert!(!s.quote_identifiers && s.auto_create && s.auto_evolve && s.delete_enabled);
        assert_eq!(s.table_format, "t_${topic}", "the 2.x key still works");
        assert_eq!(s.pk_mode, PkMode::RecordKey);
    }

    #[test]
    fn errors_name_their_keys() {
        let keys = |flavor, pairs: &[(&str, &str)]| -> Vec<String> {
            parse(flavor, pairs)
                .err()
                .unwrap_or_default()
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        assert_eq!(keys(Flavor::Confluent, &[]), [CONNECTION_URL]);
        assert_eq!(
            keys(
                Flavor::Confluent,
                &[("connection.url", "jdbc:oracle:thin:@x")]
            ),
            [CONNECTION_URL]
        );
        assert_eq!(
            keys(Flavor::Confluent, &[PG, ("insert.mode", "upsert")]),
            [PK_MODE]
        );
        assert_eq!(
            keys(
                Flavor::Confluent,
                &[PG, ("pk.mode", "record_value"), ("delete.enabled", "true")]
            ),
            [DELETE_ENABLED]
        );
        assert!(
            parse(
                Flavor::Debezium,
                &[
                    PG,
                    ("primary.key.mode", "record_value"),
                    ("delete.enabled", "true")
                ]
            )
            .is_ok()
        );
        assert_eq!(
            keys(Flavor::Confluent, &[PG, ("db.timezone", "Mars/Base")]),
            [DB_TIMEZONE]
        );
        assert_eq!(
            keys(
                Flavor::Confluent,
                &[PG, ("pk.mode", "kafka"), ("pk.fields", "a,b")]
            ),
            [PK_FIELDS]
        );
        assert_eq!(
            keys(
                Flavor::Confluent,
                &[PG, ("dialect.name", "MySqlDatabaseDialect")]
            ),
            [DIALECT_NAME]
        );
        assert_eq!(
            keys(Flavor::Debezium, &[PG, ("schema.evolution", "advanced")]),
            [SCHEMA_EVOLUTION]
        );
        assert_eq!(
            keys(
                Flavor::Confluent,
                &[(
                    "connection.url",
                    "jdbc:postgresql://h/db?sslmode=verify-full"
                )]
            ),
            [CONNECTION_URL]
        );
        assert_eq!(
            keys(
                Flavor::Confluent,
                &[("connection.url", "jdbc:mysql://h/db?useSSL=true")]
            ),
            [CONNECTION_URL]
        );
        assert!(
            parse(
                Flavor::Confluent,
                &[("connection.url", "jdbc:postgresql://h/db?sslmode=disable")]
            )
            .is_ok()
        );
    }

    #[test]
    fn credentials_from_url_parameters() {
        let s = parse(
            Flavor::Confluent,
            &[(
                "connection.url",
                "jdbc:mysql://h/db?user=root&password=s3cret",
            )],
        )
        .expect("valid");
        assert_eq!(s.user.as_deref(), Some("root"));
        assert_eq!(s.password.as_ref().map(Secret::expose), Some("s3cret"));
        assert!(
            !format!("{s:?}").contains("s3cret"),
            "Debug never shows the password"
        );
    }

    #[test]
    fn field_filters_take_topic_prefixes() {
        let f = FieldFilter {
            include: vec!["a".into(), "orders:b".into()],
            exclude: vec![],
        };
        assert!(f.allows("orders", "a") && f.allows("orders", "b") && !f.allows("items", "b"));
        let f = FieldFilter {
            include: vec![],
            exclude: vec!["items:secret".into()],
        };
        assert!(f.allows("orders", "secret") && !f.allows("items", "secret"));
        assert_eq!(placeholder_bytes("hex:5f5f"), b"__");
    }
}
