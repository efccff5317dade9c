//! An Elasticsearch-compatible HTTP server for the Elasticsearch sink tests: Elasticsearch
//! 8's REST formats for cluster info, indices, mappings, `_bulk`, refresh, get, search and
//! count, with the semantics a sink depends on (dynamic mapping and its type conflicts,
//! internal and external versioning with tombstones, `create` conflicts, partial updates
//! and upserts, data streams for `logs-*-*` / `metrics-*-*`, search visibility only after a
//! refresh, basic and API-key authentication, gzip bodies). It runs in a background thread
//! with its own tokio runtime on a free loopback port and keeps everything in memory.
//!
//! Switches inject the failures a sink must survive: whole `_bulk` requests rejected with
//! 429 ([`EsServer::reject_bulks`]), single items rejected with 429
//! ([`EsServer::reject_items`]), any request failing with 503
//! ([`EsServer::fail_requests`]) and slow answers ([`EsServer::set_delay`]).

mod api;
mod bulk;
mod http;
mod mapping;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::IntoFuture;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use self::http::Params;

/// A running Elasticsearch-compatible server; stopped on drop.
pub struct EsServer {
    shared: Arc<Shared>,
    port: u16,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EsServer {
    /// Starts a server that needs no credentials.
    pub fn start() -> EsServer {
        Self::launch(None)
    }

    /// Starts a server that accepts only `Authorization: Basic` with these credentials.
    pub fn start_with_auth(user: &str, password: &str) -> EsServer {
        Self::launch(Some(Auth::Basic {
            user: user.to_string(),
            password: password.to_string(),
        }))
    }

    /// Starts a server that accepts only `Authorization: ApiKey <base64(id:key)>`.
    pub fn start_with_api_key(id: &str, key: &str) -> EsServer {
        Self::launch(Some(Auth::ApiKey {
            credentials: format!("{id}:{key}"),
        }))
    }

    fn launch(auth: Option<Auth>) -> EsServer {
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::default()),
            auth,
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("es-test-server")
            .enable_all()
            .build()
            .expect("tokio runtime for the Elasticsearch test server");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("listener address").port();
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let listener = {
            let _context = runtime.enter();
            tokio::net::TcpListener::from_std(listener).expect("tokio listener")
        };
        let app = http::router(shared.clone());
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("es-test-server".into())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        result = axum::serve(listener, app).into_future() => {
                            if let Err(e) = result {
                                eprintln!("Elasticsearch test server stopped: {e}");
                            }
                        }
                        _ = stop => {}
                    }
                });
                // Connections still open (a delayed answer) are dropped with the runtime.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .expect("spawn the Elasticsearch test server thread");
        EsServer {
            shared,
            port,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The next `n` requests to any `_bulk` endpoint are answered whole with HTTP 429
    /// (`es_rejected_execution_exception`).
    pub fn reject_bulks(&self, n: usize) {
        self.shared.lock().reject_bulks = n;
    }

    /// The next `n` bulk items (across requests) fail with item status 429
    /// (`es_rejected_execution_exception`); the other items succeed.
    pub fn reject_items(&self, n: usize) {
        self.shared.lock().reject_items = n;
    }

    /// The next `n` requests of any kind answer 503 (`unavailable_shards_exception`).
    pub fn fail_requests(&self, n: usize) {
        self.shared.lock().fail_requests = n;
    }

    /// Delays every response by `d` (the request is carried out first).
    pub fn set_delay(&self, d: Duration) {
        self.shared.lock().delay = d;
    }

    /// The `_source` and `_version` of a document, realtime (no refresh needed). `index`
    /// may name an index, a data stream or a data stream's backing index.
    pub fn doc(&self, index: &str, id: &str) -> Option<(Value, i64)> {
        let store = self.shared.lock();
        let doc = store.index(index)?.docs.get(id)?;
        Some((doc.source.as_ref().clone(), doc.version))
    }

    /// All documents of an index (realtime), sorted by id: (id, source).
    pub fn docs(&self, index: &str) -> Vec<(String, Value)> {
        let store = self.shared.lock();
        store.index(index).map_or_else(Vec::new, |i| {
            i.docs
                .iter()
                .map(|(id, d)| (id.clone(), d.source.as_ref().clone()))
                .collect()
        })
    }

    /// The sorted names of the indices and data streams.
    pub fn indices(&self) -> Vec<String> {
        self.shared.lock().indices.keys().cloned().collect()
    }

    /// The mapping's `properties` object of an index or data stream.
    pub fn mapping(&self, index: &str) -> Option<Value> {
        let store = self.shared.lock();
        let mappings = &store.index(index)?.mappings;
        Some(mappings.get("properties").cloned().unwrap_or(json!({})))
    }

    /// How many `_bulk` requests arrived (rejected ones included).
    pub fn bulk_requests(&self) -> usize {
        self.shared.lock().bulk_requests
    }

    /// Whether `name` is a data stream.
    pub fn is_data_stream(&self, name: &str) -> bool {
        self.shared
            .lock()
            .indices
            .get(name)
            .is_some_and(|i| i.data_stream)
    }
}

impl Drop for EsServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the server requires of every request.
enum Auth {
    Basic { user: String, password: String },
    ApiKey { credentials: String },
}

/// The state shared by the request handlers and [`EsServer`].
struct Shared {
    store: Mutex<Store>,
    auth: Option<Auth>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Everything the server holds: indices, data streams and the injection switches.
#[derive(Default)]
struct Store {
    /// Indices and data streams by name.
    indices: BTreeMap<String, Index>,
    reject_bulks: usize,
    reject_items: usize,
    fail_requests: usize,
    delay: Duration,
    bulk_requests: usize,
}

impl Store {
    /// The stored name an index, data stream or backing index name refers to.
    fn resolve(&self, name: &str) -> Option<String> {
        if self.indices.contains_key(name) {
            return Some(name.to_string());
        }
        self.indices
            .iter()
            .find(|(n, i)| i.data_stream && i.concrete(n) == name)
            .map(|(n, _)| n.clone())
    }

    fn index(&self, name: &str) -> Option<&Index> {
        self.indices.get(&self.resolve(name)?)
    }

    /// The stored names an index expression targets: a comma-separated list of names,
    /// `*` patterns (matching nothing is fine) and `_all`. A missing name is an error.
    fn targets(&self, expr: &str) -> Result<Vec<String>, EsError> {
        let mut out = BTreeSet::new();
        for part in expr.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "_all" || part.contains('*') {
                let pattern = if part == "_all" { "*" } else { part };
                out.extend(
                    self.indices
                        .keys()
                        .filter(|n| {
                            glob(pattern, n) && (!n.starts_with('.') || part.starts_with('.'))
                        })
                        .cloned(),
                );
            } else {
                out.insert(
                    self.resolve(part)
                        .ok_or_else(|| EsError::index_not_found(part))?,
                );
            }
        }
        Ok(out.into_iter().collect())
    }
}

/// One index (or data stream with its single backing index).
struct Index {
    uuid: String,
    created_ms: u128,
    data_stream: bool,
    /// The mapping: `properties` and optionally `dynamic` and other root parameters.
    mappings: Map<String, Value>,
    /// The realtime documents.
    docs: BTreeMap<String, Doc>,
    /// The versions of deleted documents (external versioning compares against them).
    tombstones: HashMap<String, i64>,
    /// The documents search sees: the state at the last refresh.
    visible: BTreeMap<String, Arc<Value>>,
    /// Ids changed since the last refresh.
    dirty: BTreeSet<String>,
    next_seq_no: i64,
}

/// A stored document.
#[derive(Clone)]
struct Doc {
    source: Arc<Value>,
    version: i64,
    seq_no: i64,
}

impl Index {
    fn new(data_stream: bool) -> Index {
        let mut mappings = Map::new();
        if data_stream {
            mappings.insert("properties".into(), json!({"@timestamp": {"type": "date"}}));
        }
        Index {
            uuid: new_id(22),
            created_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis(),
            data_stream,
            mappings,
            docs: BTreeMap::new(),
            tombstones: HashMap::new(),
            visible: BTreeMap::new(),
            dirty: BTreeSet::new(),
            next_seq_no: 0,
        }
    }

    /// The name of the index that holds the documents: a data stream's backing index.
    fn concrete(&self, name: &str) -> String {
        if self.data_stream {
            format!(".ds-{name}-2024.01.01-000001")
        } else {
            name.to_string()
        }
    }

    /// The version a new write compares against: the document's, else its tombstone's.
    fn current_version(&self, id: &str) -> Option<i64> {
        self.docs
            .get(id)
            .map(|d| d.version)
            .or_else(|| self.tombstones.get(id).copied())
    }

    fn next_seq_no(&mut self) -> i64 {
        self.next_seq_no += 1;
        self.next_seq_no - 1
    }

    /// Stores a document; returns its sequence number.
    fn put(&mut self, id: &str, source: Value, version: i64) -> i64 {
        let seq_no = self.next_seq_no();
        let doc = Doc {
            source: Arc::new(source),
            version,
            seq_no,
        };
        self.docs.insert(id.to_string(), doc);
        self.tombstones.remove(id);
        self.dirty.insert(id.to_string());
        seq_no
    }

    /// Deletes a document (present or not), leaving a tombstone; returns the sequence number.
    fn delete(&mut self, id: &str, version: i64) -> i64 {
        let seq_no = self.next_seq_no();
        if self.docs.remove(id).is_some() {
            self.dirty.insert(id.to_string());
        }
        self.tombstones.insert(id.to_string(), version);
        seq_no
    }

    /// Makes the changes since the last refresh visible to search.
    fn refresh(&mut self) {
        for id in std::mem::take(&mut self.dirty) {
            match self.docs.get(&id) {
                Some(doc) => self.visible.insert(id, doc.source.clone()),
                None => self.visible.remove(&id),
            };
        }
    }

    /// Checks a document against the mapping and adds mappings for its new fields.
    fn map(&mut self, source: &Map<String, Value>, id: &str) -> Result<(), EsError> {
        if let Some(mappings) = mapping::map_document(&self.mappings, source, id)? {
            self.mappings = mappings;
        }
        Ok(())
    }
}

/// The index template that makes `name` a data stream, if any.
fn data_stream_template(name: &str) -> Option<&'static str> {
    if glob("logs-*-*", name) {
        Some("logs")
    } else if glob("metrics-*-*", name) {
        Some("metrics")
    } else {
        None
    }
}

/// An Elasticsearch error: an HTTP status and the error object (`type`, `reason`, ...).
#[derive(Debug, Clone)]
struct EsError {
    status: u16,
    body: Map<String, Value>,
}

impl EsError {
    fn new(status: u16, kind: &str, reason: impl Into<String>) -> EsError {
        let mut body = Map::new();
        body.insert("type".into(), kind.into());
        body.insert("reason".into(), reason.into().into());
        EsError { status, body }
    }

    fn illegal_argument(reason: impl Into<String>) -> EsError {
        EsError::new(400, "illegal_argument_exception", reason)
    }

    fn mapper_parsing(reason: impl Into<String>) -> EsError {
        EsError::new(400, "mapper_parsing_exception", reason)
    }

    fn index_not_found(name: &str) -> EsError {
        EsError::new(
            404,
            "index_not_found_exception",
            format!("no such index [{name}]"),
        )
        .with("resource.type", "index_or_alias")
        .with("resource.id", name)
        .with("index_uuid", "_na_")
        .with("index", name)
    }

    /// `action_request_validation_exception` listing the problems.
    fn validation(problems: &[String]) -> EsError {
        let mut reason = "Validation Failed: ".to_string();
        for (i, p) in problems.iter().enumerate() {
            reason.push_str(&format!("{}: {p};", i + 1));
        }
        EsError::new(400, "action_request_validation_exception", reason)
    }

    /// A JSON parse error (`x_content_parse_exception`) at `line` of the body.
    fn parse(line: usize, e: &serde_json::Error) -> EsError {
        let message = e.to_string();
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(m, _)| m);
        EsError::new(
            400,
            "x_content_parse_exception",
            format!("[{line}:{}] {message}", e.column()),
        )
    }

    fn with(mut self, key: &str, value: impl Into<Value>) -> EsError {
        self.body.insert(key.to_string(), value.into());
        self
    }

    fn caused_by(self, kind: &str, reason: impl Into<String>) -> EsError {
        let reason: String = reason.into();
        self.with("caused_by", json!({"type": kind, "reason": reason}))
    }

    /// The error object of a bulk item.
    fn item(&self) -> Value {
        Value::Object(self.body.clone())
    }

    /// The whole-request error answer.
    fn response(&self) -> Response {
        let mut root = self.body.clone();
        root.remove("caused_by");
        let mut error = Map::new();
        error.insert("root_cause".into(), json!([root]));
        error.extend(self.body.clone());
        json_response(self.status, &json!({"error": error, "status": self.status}))
    }
}

/// A JSON answer.
fn json_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Checks an index name as Elasticsearch does when it creates an index.
fn validate_index_name(name: &str) -> Result<(), EsError> {
    let problem = if name.chars().any(|c| "\\/*?\"<>| ,".contains(c)) {
        Some(
            "must not contain the following characters [' ','\"','*',',','/','<','>','?','\\','|']"
                .to_string(),
        )
    } else if name.contains('#') {
        Some("must not contain '#'".to_string())
    } else if name.contains(':') {
        Some("must not contain ':'".to_string())
    } else if name.starts_with(['_', '-', '+']) {
        Some("must not start with '_', '-', or '+'".to_string())
    } else if name.len() > 255 {
        Some(format!("index name is too long, ({} > 255)", name.len()))
    } else if name == "." || name == ".." {
        Some("must not be '.' or '..'".to_string())
    } else if name.is_empty() {
        Some("must not be empty".to_string())
    } else if name.to_lowercase() != name {
        Some("must be lowercase".to_string())
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(p) => Err(EsError::new(
            400,
            "invalid_index_name_exception",
            format!("Invalid index name [{name}], {p}"),
        )
        .with("index_uuid", "_na_")
        .with("index", name)),
    }
}

/// A new unique id of `len` characters (base64url of a timestamp and a counter), like
/// Elasticsearch's auto-generated document ids (20 characters).
fn new_id(len: usize) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u64;
    let mut bytes = Vec::with_capacity(18);
    bytes.extend_from_slice(&micros.to_be_bytes()[1..]);
    bytes.extend_from_slice(&n.to_be_bytes());
    bytes.extend_from_slice(&(std::process::id() as u16).to_be_bytes());
    let mut id = http::base64_encode(&bytes, http::URL_SAFE);
    id.truncate(len);
    id
}

/// `refresh` of a write request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refresh {
    No,
    /// `refresh=true`: refreshed, items say `forced_refresh`.
    Forced,
    /// `refresh=wait_for`.
    WaitFor,
}

impl Refresh {
    fn parse(params: &Params) -> Result<Refresh, EsError> {
        match params.get("refresh") {
            None | Some("false") => Ok(Refresh::No),
            Some("") | Some("true") => Ok(Refresh::Forced),
            Some("wait_for") => Ok(Refresh::WaitFor),
            Some(other) => Err(EsError::illegal_argument(format!(
                "Unknown value for refresh: [{other}]."
            ))),
        }
    }
}
