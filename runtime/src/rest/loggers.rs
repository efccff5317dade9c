//! `/admin/loggers`: log levels by logger name, changed at runtime (Kafka Connect's
//! `LoggingResource` over log4j, here over `tracing` targets such as `weir_runtime::worker`).
//!
//! A logger's level applies to every target under it, as a `tracing` directive
//! `target=level` does. Changes take effect through a `tracing_subscriber::reload` handle
//! when the process installed its subscriber with [`init_tracing`]; otherwise only the
//! registry changes (and says so in the log once).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, OnceLock};

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use super::RestState;
use super::error::{ApiError, ApiResult, RawBody, empty, query_pairs, query_value};

/// Kafka's name for the root logger.
pub const ROOT: &str = "root";

/// Targets listed before anything sets their level: weir's crates and main components.
const KNOWN_TARGETS: &[&str] = &[
    "weir_broker",
    "weir_broker::server",
    "weir_broker::coordinator",
    "weir_connect_api",
    "weir_connector_elasticsearch",
    "weir_connector_file",
    "weir_connector_jdbc",
    "weir_connector_outbox",
    "weir_connector_postgres",
    "weir_connector_s3",
    "weir_runtime",
    "weir_runtime::rest",
    "weir_runtime::worker",
    "weir_wasm",
];

type Reload = dyn Fn(&str) -> Result<(), String> + Send + Sync;

/// The running subscriber's filter directives and how to replace them.
static INSTALLED: OnceLock<(String, Box<Reload>)> = OnceLock::new();

/// Installs the process's `tracing` subscriber (stderr, `RUST_LOG` or `default_level`)
/// with a reloadable filter, so `PUT /admin/loggers/...` changes what is logged. `false`
/// when a subscriber was installed already (that one stays).
pub fn init_tracing(default_level: &str) -> bool {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, fmt, reload};
    let directives = std::env::var("RUST_LOG")
        .ok()
        .filter(|d| !d.trim().is_empty() && EnvFilter::try_new(d).is_ok())
        .unwrap_or_else(|| default_level.to_string());
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(fmt::layer().with_writer(std::io::stderr).with_ansi(ansi))
        .try_init();
    if installed.is_err() {
        return false;
    }
    let reload = move |d: &str| -> Result<(), String> {
        let f = EnvFilter::try_new(d).map_err(|e| e.to_string())?;
        handle.reload(f).map_err(|e| e.to_string())
    };
    INSTALLED.set((directives, Box::new(reload))).is_ok()
}

/// A log4j level name, as Kafka Connect accepts and reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Off,
    Fatal,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl Level {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "OFF" => Level::Off,
            "FATAL" => Level::Fatal,
            "ERROR" => Level::Error,
            "WARN" | "WARNING" => Level::Warn,
            "INFO" => Level::Info,
            "DEBUG" => Level::Debug,
            "TRACE" | "ALL" => Level::Trace,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Level::Off => "OFF",
            Level::Fatal => "FATAL",
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        }
    }

    /// The `tracing` directive level (FATAL has none: it logs errors).
    fn directive(self) -> &'static str {
        match self {
            Level::Off => "off",
            Level::Fatal | Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }
}

/// `{"level": "INFO", "last_modified": <ms or null>}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoggerLevel {
    pub level: String,
    pub last_modified: Option<i64>,
}

#[derive(Debug, Default)]
struct Registry {
    /// Levels set explicitly, by logger name (the root logger as [`ROOT`]).
    levels: BTreeMap<String, Level>,
    /// Loggers that exist without their own level.
    known: BTreeSet<String>,
    last_modified: BTreeMap<String, i64>,
    /// Directives of the starting filter kept as they are (span and field filters).
    kept: Vec<String>,
}

impl Registry {
    fn from_directives(directives: &str) -> Self {
        let mut r = Registry {
            known: KNOWN_TARGETS.iter().map(|t| t.to_string()).collect(),
            ..Registry::default()
        };
        for d in directives
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
        {
            match d.split_once('=') {
                None => match Level::parse(d) {
                    Some(l) => {
                        r.levels.insert(ROOT.to_string(), l);
                    }
                    None => r.kept.push(d.to_string()),
                },
                Some((target, level)) if valid_name(target) => match Level::parse(level) {
                    Some(l) => {
                        r.levels.insert(target.to_string(), l);
                    }
                    None => r.kept.push(d.to_string()),
                },
                Some(_) => r.kept.push(d.to_string()),
            }
        }
        // `tracing`'s filter shows only errors where no directive matches.
        r.levels.entry(ROOT.to_string()).or_insert(Level::Error);
        r
    }

    fn effective(&self, name: &str) -> Level {
        let ancestor = self
            .levels
            .iter()
            .filter(|(k, _)| {
                name.strip_prefix(k.as_str()).is_some_and(|rest| {
                    rest.is_empty() || rest.starts_with("::") || rest.starts_with('.')
                })
            })
            .max_by_key(|(k, _)| k.len());
        ancestor.map_or_else(
            || self.levels.get(ROOT).copied().unwrap_or(Level::Error),
            |(_, l)| *l,
        )
    }

    fn level_of(&self, name: &str) -> LoggerLevel {
        LoggerLevel {
            level: self.effective(name).name().to_string(),
            last_modified: self.last_modified.get(name).copied(),
        }
    }

    fn exists(&self, name: &str) -> bool {
        self.levels.contains_key(name) || self.known.contains(name)
    }

    /// Sets `namespace` and every logger under it (every logger for root); returns the
    /// affected names, sorted.
    fn set(&mut self, namespace: &str, level: Level, now_ms: i64) -> Vec<String> {
        let root = namespace.eq_ignore_ascii_case(ROOT);
        let mut affected: BTreeSet<String> = self
            .known
            .iter()
            .chain(self.levels.keys())
            .filter(|n| root || n.starts_with(namespace))
            .cloned()
            .collect();
        affected.insert(if root {
            ROOT.to_string()
        } else {
            namespace.to_string()
        });
        for name in &affected {
            if self.effective(name) != level || !self.levels.contains_key(name) {
                self.last_modified.insert(name.clone(), now_ms);
            }
            self.levels.insert(name.clone(), level);
        }
        affected.into_iter().collect()
    }

    fn directives(&self) -> String {
        let mut out = self.kept.clone();
        let root = self.levels.get(ROOT).copied().unwrap_or(Level::Error);
        out.push(root.directive().to_string());
        for (name, level) in &self.levels {
            if name != ROOT {
                out.push(format!("{name}={}", level.directive()));
            }
        }
        out.join(",")
    }
}

/// Logger names usable as `tracing` directive targets.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || ",=[]{}\"".contains(c))
}

/// The REST API's logger registry. Cheap to clone.
#[derive(Clone)]
pub struct Loggers {
    registry: Arc<Mutex<Registry>>,
    reload: Option<Arc<Reload>>,
}

impl Default for Loggers {
    fn default() -> Self {
        Self::new()
    }
}

impl Loggers {
    /// The registry of the running process: the filter [`init_tracing`] installed, or
    /// `RUST_LOG` / `info` when something else installed the subscriber.
    pub fn new() -> Self {
        match INSTALLED.get() {
            Some((directives, reload)) => {
                let reload: Arc<Reload> = Arc::new(move |d: &str| reload(d));
                Self::with_reload(directives, Some(reload))
            }
            None => {
                let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_string());
                Self::with_reload(&directives, None)
            }
        }
    }

    /// A registry starting from `directives`, applying changes with `reload`.
    pub fn with_reload(directives: &str, reload: Option<Arc<Reload>>) -> Self {
        Self {
            registry: Arc::new(Mutex::new(Registry::from_directives(directives))),
            reload,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every logger with a level of its own.
    pub fn all(&self) -> BTreeMap<String, LoggerLevel> {
        let r = self.lock();
        r.levels
            .keys()
            .map(|n| (n.clone(), r.level_of(n)))
            .collect()
    }

    /// One logger's level (its ancestors' when it has none); `None` if unknown.
    pub fn get(&self, name: &str) -> Option<LoggerLevel> {
        let r = self.lock();
        if name.eq_ignore_ascii_case(ROOT) {
            return Some(r.level_of(ROOT));
        }
        r.exists(name).then(|| r.level_of(name))
    }

    /// Sets the level of `namespace` and its children; returns the affected loggers.
    pub fn set(&self, namespace: &str, level: Level) -> Result<Vec<String>, String> {
        if !namespace.eq_ignore_ascii_case(ROOT) && !valid_name(namespace) {
            return Err(format!(
                "Logger name '{namespace}' is not a valid target: it may not be empty or \
                 contain whitespace or any of , = [ ] {{ }} \""
            ));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut r = self.lock();
        let before = (r.levels.clone(), r.last_modified.clone(), r.known.clone());
        let affected = r.set(namespace, level, now);
        if let Some(reload) = &self.reload
            && let Err(e) = reload(&r.directives())
        {
            (r.levels, r.last_modified, r.known) = before;
            return Err(format!("the log filter could not be changed: {e}"));
        }
        if self.reload.is_none() {
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| {
                tracing::warn!(
                    "log levels are recorded but not applied: the log subscriber was not \
                     installed with a reloadable filter"
                );
            });
        }
        tracing::info!(namespace, level = level.name(), "logger level changed");
        Ok(affected)
    }
}

pub async fn list(State(s): State<RestState>) -> Response {
    Json(s.loggers().all()).into_response()
}

pub async fn get(State(s): State<RestState>, Path(name): Path<String>) -> ApiResult<Response> {
    match s.loggers().get(&name) {
        Some(level) => Ok(Json(level).into_response()),
        None => Err(ApiError::not_found(format!("Logger {name} not found."))),
    }
}

/// `PUT /admin/loggers/{logger}[?scope=worker|cluster]` with `{"level": "DEBUG"}`.
pub async fn set(
    State(s): State<RestState>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
    body: RawBody,
) -> ApiResult<Response> {
    let doc: Value = if body.is_blank() {
        Value::Object(Default::default())
    } else {
        body.json()?
    };
    let Some(given) = doc.get("level").filter(|l| !l.is_null()) else {
        return Err(ApiError::bad_request(
            "Desired 'level' parameter was not specified in request.",
        ));
    };
    let given = given
        .as_str()
        .map_or_else(|| given.to_string(), str::to_string);
    let Some(level) = Level::parse(&given) else {
        return Err(ApiError::not_found(format!("invalid log level '{given}'.")));
    };
    let scope = query_value(&query_pairs(q.as_deref()), "scope").unwrap_or_default();
    let affected = s
        .loggers()
        .set(&name, level)
        .map_err(ApiError::bad_request)?;
    // One worker is the whole cluster: a cluster-wide change is this worker's.
    if scope.eq_ignore_ascii_case("cluster") {
        return Ok(empty(StatusCode::NO_CONTENT));
    }
    Ok(Json(affected).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_apply_to_children_and_reload_the_filter() {
        let applied = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = Arc::clone(&applied);
        let reload: Arc<Reload> = Arc::new(move |d: &str| {
            sink.lock().expect("lock").push(d.to_string());
            Ok(())
        });
        let loggers = Loggers::with_reload("info,weir_broker=warn", Some(reload));
        let all = loggers.all();
        assert_eq!(all["root"].level, "INFO");
        assert_eq!(all["weir_broker"].level, "WARN");
        assert_eq!(all["root"].last_modified, None);
        assert_eq!(
            loggers.get("weir_broker::server").expect("known").level,
            "WARN"
        );
        assert_eq!(loggers.get("weir_runtime").expect("known").level, "INFO");
        assert!(loggers.get("com.example").is_none());

        let affected = loggers.set("weir_runtime", Level::Debug).expect("set");
        assert_eq!(
            affected,
            ["weir_runtime", "weir_runtime::rest", "weir_runtime::worker"]
        );
        assert_eq!(
            loggers.get("weir_runtime::worker").expect("known").level,
            "DEBUG"
        );
        assert!(
            loggers
                .get("weir_runtime")
                .expect("set")
                .last_modified
                .is_some()
        );
        let last = applied
            .lock()
            .expect("lock")
            .last()
            .cloned()
            .expect("reloaded");
        assert!(last.starts_with("info,"), "{last}");
        assert!(last.contains("weir_runtime=debug"), "{last}");
        assert!(last.contains("weir_broker=warn"), "{last}");

        let affected = loggers.set("org.example.Thing", Level::Fatal).expect("new");
        assert_eq!(affected, ["org.example.Thing"]);
        assert_eq!(
            loggers.get("org.example.Thing").expect("now known").level,
            "FATAL"
        );

        let everything = loggers.set("ROOT", Level::Warn).expect("root");
        assert!(everything.contains(&"root".to_string()));
        assert!(everything.contains(&"weir_wasm".to_string()));
        assert_eq!(loggers.get("weir_runtime").expect("known").level, "WARN");
        assert!(loggers.set("a b", Level::Info).is_err());
    }

    /// The only test in this binary that installs a global subscriber.
    #[test]
    fn the_installed_filter_follows_level_changes() {
        assert!(init_tracing("warn"), "no other test installs a subscriber");
        let loggers = Loggers::new();
        let enabled = |level| match level {
            Level::Debug => tracing::enabled!(target: "weir_wasm::x", tracing::Level::DEBUG),
            _ => tracing::enabled!(target: "weir_wasm::x", tracing::Level::WARN),
        };
        loggers.set("weir_wasm", Level::Error).expect("applied");
        assert!(!enabled(Level::Warn));
        loggers.set("weir_wasm", Level::Debug).expect("applied");
        assert!(enabled(Level::Debug) && enabled(Level::Warn));
        loggers.set("weir_wasm", Level::Off).expect("applied");
        assert!(!enabled(Level::Warn));
    }

    #[test]
    fn a_failed_reload_leaves_the_levels_unchanged() {
        let reload: Arc<Reload> = Arc::new(|_: &str| Err("no".to_string()));
        let loggers = Loggers::with_reload("info", Some(reload));
        assert!(loggers.set("weir_broker", Level::Trace).is_err());
        assert_eq!(loggers.get("weir_broker").expect("known").level, "INFO");
    }

    #[test]
    fn level_names_follow_log4j() {
        assert_eq!(Level::parse("debug"), Some(Level::Debug));
        assert_eq!(Level::parse("ALL"), Some(Level::Trace));
        assert_eq!(Level::parse("verbose"), None);
        assert_eq!(Level::Fatal.directive(), "error");
    }
}
