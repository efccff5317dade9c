//! The endpoints other than `_bulk`: cluster info and health, indices, mappings, refresh,
//! realtime get, search and count (over what the last refresh made visible), data streams.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::mapping;
use super::{
    EsError, Index, Params, Shared, data_stream_template, glob, json_response, validate_index_name,
};

type Answer = Result<Value, EsError>;

/// The JSON answer (200) or the error answer.
fn answer(result: Answer) -> Response {
    match result {
        Ok(body) => json_response(200, &body),
        Err(e) => e.response(),
    }
}

/// A request body as JSON; `None` when there is none.
fn body_json(body: &[u8]) -> Result<Option<Value>, EsError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| EsError::parse(e.line(), &e))
}

fn acknowledged() -> Value {
    json!({"acknowledged": true})
}

/// `GET /`.
pub(super) async fn root() -> Response {
    json_response(
        200,
        &json!({
            "name": "weir-test",
            "cluster_name": "weir-test",
            "cluster_uuid": "d2VpcnRlc3RjbHVzdGVy",
            "version": {
                "number": "8.15.0",
                "build_flavor": "default",
                "build_type": "docker",
                "build_hash": "1a77947f34deddb41af25e6f0ddb8e830159c179",
                "build_date": "2024-08-05T10:05:34.233336849Z",
                "build_snapshot": false,
                "lucene_version": "9.11.1",
                "minimum_wire_compatibility_version": "7.17.0",
                "minimum_index_compatibility_version": "7.0.0"
            },
            "tagline": "You Know, for Search"
        }),
    )
}

/// `GET /_cluster/health`: one node, so replicas stay unassigned (yellow) as on a real
/// single-node cluster.
pub(super) async fn health(State(shared): State<Arc<Shared>>) -> Response {
    let indices = shared.lock().indices.len();
    json_response(
        200,
        &json!({
            "cluster_name": "weir-test",
            "status": if indices == 0 { "green" } else { "yellow" },
            "timed_out": false,
            "number_of_nodes": 1,
            "number_of_data_nodes": 1,
            "active_primary_shards": indices,
            "active_shards": indices,
            "relocating_shards": 0,
            "initializing_shards": 0,
            "unassigned_shards": indices,
            "delayed_unassigned_shards": 0,
            "number_of_pending_tasks": 0,
            "number_of_in_flight_fetch": 0,
            "task_max_waiting_in_queue_millis": 0,
            "active_shards_percent_as_number": if indices == 0 { 100.0 } else { 50.0 }
        }),
    )
}

/// Any path without an endpoint.
pub(super) async fn no_handler(method: Method, uri: Uri) -> Response {
    let error = format!(
        "no handler found for uri [{}] and method [{method}]",
        uri.path()
    );
    json_response(400, &json!({"error": error, "status": 400}))
}

/// A known path with a method it does not take.
pub(super) async fn wrong_method(method: Method, uri: Uri) -> Response {
    let error = format!(
        "Incorrect HTTP method for uri [{}] and method [{method}]",
        uri.path()
    );
    json_response(405, &json!({"error": error, "status": 405}))
}

/// `HEAD /{index}`.
pub(super) async fn index_exists(
    State(shared): State<Arc<Shared>>,
    Path(index): Path<String>,
) -> Response {
    match shared.lock().targets(&index) {
        Ok(t) if !t.is_empty() => StatusCode::OK.into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

fn index_info(name: &str, index: &Index) -> Value {
    let mut info = json!({
        "aliases": {},
        "mappings": index.mappings,
        "settings": {"index": {
            "creation_date": index.created_ms.to_string(),
            "number_of_shards": "1",
            "number_of_replicas": "1",
            "uuid": index.uuid,
            "version": {"created": "8512000"},
            "provided_name": index.concrete(name),
        }},
    });
    if index.data_stream {
        info["data_stream"] = json!(name);
    }
    info
}

/// `GET /{index}`.
pub(super) async fn get_index(
    State(shared): State<Arc<Shared>>,
    Path(expr): Path<String>,
) -> Response {
    let store = shared.lock();
    answer(store.targets(&expr).map(|targets| {
        let mut out = serde_json::Map::new();
        for name in targets {
            if let Some(index) = store.indices.get(&name) {
                out.insert(index.concrete(&name), index_info(&name, index));
            }
        }
        Value::Object(out)
    }))
}

/// `PUT /{index}` with optional `settings`, `mappings` and `aliases`.
pub(super) async fn create_index(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    answer((|| {
        validate_index_name(&name)?;
        if let Some(template) = data_stream_template(&name) {
            return Err(EsError::illegal_argument(format!(
                "cannot create index with name [{name}], because it matches with template \
                 [{template}] that creates data streams only, use create data stream api instead"
            )));
        }
        let mut store = shared.lock();
        if let Some(existing) = store.index(&name) {
            let uuid = existing.uuid.clone();
            return Err(EsError::new(
                400,
                "resource_already_exists_exception",
                format!("index [{name}/{uuid}] already exists"),
            )
            .with("index_uuid", uuid)
            .with("index", name.as_str()));
        }
        let mut index = Index::new(false);
        if let Some(body) = body_json(&body)? {
            let Some(fields) = body.as_object() else {
                return Err(EsError::new(
                    400,
                    "parse_exception",
                    "request body is required",
                ));
            };
            for (key, value) in fields {
                match key.as_str() {
                    "mappings" => mapping::merge(&mut index.mappings, value)?,
                    "settings" | "aliases" => {}
                    _ => {
                        return Err(EsError::new(
                            400,
                            "parse_exception",
                            format!("unknown key [{key}] for create index"),
                        ));
                    }
                }
            }
        }
        store.indices.insert(name.clone(), index);
        Ok(json!({"acknowledged": true, "shards_acknowledged": true, "index": name}))
    })())
}

/// `DELETE /{index}`: names only (no wildcards), not data streams.
pub(super) async fn delete_index(
    State(shared): State<Arc<Shared>>,
    Path(expr): Path<String>,
) -> Response {
    let mut store = shared.lock();
    answer((|| {
        let mut names = Vec::new();
        for part in expr.split(',') {
            if part.contains('*') || part == "_all" {
                return Err(EsError::illegal_argument(
                    "Wildcard expressions or all indices are not allowed",
                ));
            }
            let name = store
                .resolve(part)
                .ok_or_else(|| EsError::index_not_found(part))?;
            if store.indices.get(&name).is_some_and(|i| i.data_stream) {
                return Err(EsError::illegal_argument(format!(
                    "The provided expression [{part}] matches a data stream, specify the \
                     corresponding concrete indices instead."
                )));
            }
            names.push(name);
        }
        for name in names {
            store.indices.remove(&name);
        }
        Ok(acknowledged())
    })())
}

/// `GET /{index}/_mapping`.
pub(super) async fn get_mapping(
    State(shared): State<Arc<Shared>>,
    Path(expr): Path<String>,
) -> Response {
    let store = shared.lock();
    answer(store.targets(&expr).map(|targets| {
        let mut out = serde_json::Map::new();
        for name in targets {
            if let Some(index) = store.indices.get(&name) {
                out.insert(index.concrete(&name), json!({"mappings": index.mappings}));
            }
        }
        Value::Object(out)
    }))
}

/// `PUT /{index}/_mapping`: merges `{"properties": {...}}` into the mapping.
pub(super) async fn put_mapping(
    State(shared): State<Arc<Shared>>,
    Path(expr): Path<String>,
    body: Bytes,
) -> Response {
    answer((|| {
        let Some(update) = body_json(&body)? else {
            return Err(EsError::validation(&["mapping source is required".into()]));
        };
        let mut store = shared.lock();
        for name in store.targets(&expr)? {
            if let Some(index) = store.indices.get_mut(&name) {
                mapping::merge(&mut index.mappings, &update)?;
            }
        }
        Ok(acknowledged())
    })())
}

fn refresh_targets(shared: &Shared, expr: &str) -> Response {
    let mut store = shared.lock();
    answer(store.targets(expr).map(|targets| {
        for name in &targets {
            if let Some(index) = store.indices.get_mut(name) {
                index.refresh();
            }
        }
        let n = targets.len();
        json!({"_shards": {"total": 2 * n, "successful": n, "failed": 0}})
    }))
}

/// `POST /{index}/_refresh`.
pub(super) async fn refresh(
    State(shared): State<Arc<Shared>>,
    Path(expr): Path<String>,
) -> Response {
    refresh_targets(&shared, &expr)
}

/// `POST /_refresh`.
pub(super) async fn refresh_all(State(shared): State<Arc<Shared>>) -> Response {
    refresh_targets(&shared, "_all")
}

/// `GET /{index}/_doc/{id}`: realtime.
pub(super) async fn get_doc(
    State(shared): State<Arc<Shared>>,
    Path((name, id)): Path<(String, String)>,
) -> Response {
    let store = shared.lock();
    let Some(key) = store.resolve(&name) else {
        return EsError::index_not_found(&name).response();
    };
    let Some(index) = store.indices.get(&key) else {
        return EsError::index_not_found(&name).response();
    };
    if index.data_stream && key == name {
        return EsError::illegal_argument(format!(
            "The provided expression [{name}] matches a data stream, specify the corresponding \
             concrete indices instead."
        ))
        .response();
    }
    let concrete = index.concrete(&key);
    match index.docs.get(&id) {
        Some(doc) => json_response(
            200,
            &json!({
                "_index": concrete,
                "_id": id,
                "_version": doc.version,
                "_seq_no": doc.seq_no,
                "_primary_term": 1,
                "found": true,
                "_source": doc.source.as_ref(),
            }),
        ),
        None => json_response(404, &json!({"_index": concrete, "_id": id, "found": false})),
    }
}

/// `GET|POST /{index}/_search`.
pub(super) async fn search(
    State(shared): State<Arc<Shared>>,
    Path(expr): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Response {
    answer(query(&shared, &expr, &Params::parse(&uri), &body, false))
}

/// `GET|POST /_search`.
pub(super) async fn search_all(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    body: Bytes,
) -> Response {
    answer(query(&shared, "_all", &Params::parse(&uri), &body, false))
}

/// `GET|POST /{index}/_count`.
pub(super) async fn count(
    State(shared): State<Arc<Shared>>,
    Path(expr): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Response {
    answer(query(&shared, &expr, &Params::parse(&uri), &body, true))
}

/// `GET|POST /_count`.
pub(super) async fn count_all(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    body: Bytes,
) -> Response {
    answer(query(&shared, "_all", &Params::parse(&uri), &body, true))
}

/// A number from the query string, else the body, else `default`.
fn size_param(params: &Params, body: &Value, key: &str, default: usize) -> Result<usize, EsError> {
    match (params.get(key), body.get(key)) {
        (Some(text), _) => text.parse().map_err(|_| {
            EsError::illegal_argument(format!(
                "Failed to parse int parameter [{key}] with value [{text}]"
            ))
        }),
        (None, Some(v)) => v.as_u64().map(|n| n as usize).ok_or_else(|| {
            EsError::new(
                400,
                "parsing_exception",
                format!("[{key}] must be a number"),
            )
        }),
        (None, None) => Ok(default),
    }
}

/// Search or count over the documents the last refresh made visible, sorted by id.
fn query(shared: &Shared, expr: &str, params: &Params, body: &[u8], count: bool) -> Answer {
    let body = body_json(body)?.unwrap_or_else(|| json!({}));
    if params.get("q").is_some() {
        return Err(unsupported("the [q] parameter"));
    }
    let query = Query::parse(body.get("query"))?;
    let store = shared.lock();
    let targets = store.targets(expr)?;
    let mut hits = Vec::new();
    for name in &targets {
        let Some(index) = store.indices.get(name) else {
            continue;
        };
        let concrete = index.concrete(name);
        for (id, source) in &index.visible {
            if query.matches(index, id, source) {
                hits.push((id.clone(), concrete.clone(), source.clone()));
            }
        }
    }
    hits.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let n = targets.len();
    let shards = json!({"total": n, "successful": n, "skipped": 0, "failed": 0});
    if count {
        return Ok(json!({"count": hits.len(), "_shards": shards}));
    }
    let size = size_param(params, &body, "size", 10)?;
    let from = size_param(params, &body, "from", 0)?;
    let track = params
        .get("track_total_hits")
        .map(|t| Value::String(t.to_string()))
        .or_else(|| body.get("track_total_hits").cloned());
    let cap = match track {
        Some(Value::Bool(true)) => usize::MAX,
        Some(Value::String(t)) if t == "true" => usize::MAX,
        Some(Value::Number(n)) => n.as_u64().map_or(10_000, |n| n as usize),
        Some(Value::String(t)) => t.parse().unwrap_or(10_000),
        _ => 10_000,
    };
    let total = hits.len();
    let (value, relation) = if total > cap {
        (cap, "gte")
    } else {
        (total, "eq")
    };
    let page: Vec<Value> = hits
        .into_iter()
        .skip(from)
        .take(size)
        .map(|(id, index, source)| {
            json!({"_index": index, "_id": id, "_score": 1.0, "_source": source.as_ref()})
        })
        .collect();
    let max_score = if total == 0 { Value::Null } else { json!(1.0) };
    Ok(json!({
        "took": 1,
        "timed_out": false,
        "_shards": shards,
        "hits": {
            "total": {"value": value, "relation": relation},
            "max_score": max_score,
            "hits": page,
        },
    }))
}

fn unsupported(what: &str) -> EsError {
    EsError::illegal_argument(format!(
        "[weir test server] {what} is not supported: only the match_all, term, terms and ids \
         queries are"
    ))
}

/// The queries the server understands.
enum Query {
    All,
    /// `term` / `terms`: the field has one of the values.
    Term {
        field: String,
        values: Vec<Value>,
    },
    Ids(Vec<Value>),
}

impl Query {
    fn parse(query: Option<&Value>) -> Result<Query, EsError> {
        let Some(query) = query else {
            return Ok(Query::All);
        };
        let single = |v: &Value| {
            v.as_object()
                .filter(|o| o.len() == 1)
                .and_then(|o| o.iter().next())
                .map(|(k, v)| (k.clone(), v.clone()))
        };
        let malformed = || {
            EsError::new(
                400,
                "parsing_exception",
                "[_na] query malformed, must start with start_object",
            )
        };
        let (kind, body) = single(query).ok_or_else(malformed)?;
        match kind.as_str() {
            "match_all" => Ok(Query::All),
            "term" | "terms" => {
                let (field, value) = single(&body).ok_or_else(malformed)?;
                let values = match (kind.as_str(), value) {
                    ("term", Value::Object(o)) => vec![o.get("value").cloned().unwrap_or_default()],
                    ("term", v) => vec![v],
                    (_, Value::Array(values)) => values,
                    _ => return Err(malformed()),
                };
                Ok(Query::Term { field, values })
            }
            "ids" => match body.get("values") {
                Some(Value::Array(ids)) => Ok(Query::Ids(ids.clone())),
                _ => Err(malformed()),
            },
            other => Err(unsupported(&format!("the [{other}] query"))),
        }
    }

    fn matches(&self, index: &Index, id: &str, source: &Value) -> bool {
        match self {
            Query::All => true,
            Query::Ids(ids) => ids.iter().any(|i| i.as_str() == Some(id)),
            Query::Term { field, values } => {
                let Some((ty, path)) = mapping::field_type(&index.mappings, field) else {
                    return false;
                };
                let parts: Vec<&str> = path.split('.').collect();
                let mut found = Vec::new();
                field_values(source, &parts, &mut found);
                found
                    .iter()
                    .any(|v| values.iter().any(|q| term_matches(&ty, v, q)))
            }
        }
    }
}

/// The values at a dotted path of a source (through arrays and dotted keys).
fn field_values<'a>(value: &'a Value, parts: &[&str], out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => {
            for item in items {
                field_values(item, parts, out);
            }
        }
        _ if parts.is_empty() => out.push(value),
        Value::Object(map) => {
            for k in 1..=parts.len() {
                if let Some(child) = map.get(&parts[..k].join(".")) {
                    field_values(child, &parts[k..], out);
                }
            }
        }
        _ => {}
    }
}

/// Whether a source value matches a term of a field of type `ty` (a `text` field holds
/// its lower-cased words).
fn term_matches(ty: &str, value: &Value, term: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let number = |v: &Value| match v {
        Value::String(s) => s.trim().parse::<f64>().ok(),
        other => other.as_f64(),
    };
    match ty {
        "text" | "match_only_text" => {
            let term = text(term);
            text(value)
                .to_lowercase()
                .split(|c: char| !c.is_alphanumeric())
                .any(|word| word == term)
        }
        "long" | "integer" | "short" | "byte" | "unsigned_long" | "double" | "float"
        | "half_float" | "scaled_float" => number(value).is_some() && number(value) == number(term),
        _ => text(value) == text(term),
    }
}

/// `GET /_data_stream`.
pub(super) async fn get_data_streams(State(shared): State<Arc<Shared>>) -> Response {
    data_streams(&shared, "*")
}

/// `GET /_data_stream/{name}`.
pub(super) async fn get_data_stream(
    State(shared): State<Arc<Shared>>,
    Path(expr): Path<String>,
) -> Response {
    data_streams(&shared, &expr)
}

fn data_streams(shared: &Shared, expr: &str) -> Response {
    let store = shared.lock();
    let mut out = Vec::new();
    for part in expr.split(',') {
        let names: Vec<&String> = store
            .indices
            .iter()
            .filter(|(n, i)| i.data_stream && glob(part, n))
            .map(|(n, _)| n)
            .collect();
        if names.is_empty() && !part.contains('*') {
            return EsError::index_not_found(part).response();
        }
        for name in names {
            let Some(index) = store.indices.get(name) else {
                continue;
            };
            out.push(json!({
                "name": name,
                "timestamp_field": {"name": "@timestamp"},
                "indices": [{"index_name": index.concrete(name), "index_uuid": index.uuid}],
                "generation": 1,
                "status": "YELLOW",
                "template": data_stream_template(name).unwrap_or_default(),
                "hidden": false,
                "system": false,
                "allow_custom_routing": false,
                "replicated": false,
            }));
        }
    }
    json_response(200, &json!({"data_streams": out}))
}

/// `PUT /_data_stream/{name}`.
pub(super) async fn create_data_stream(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Response {
    answer((|| {
        validate_index_name(&name)?;
        if data_stream_template(&name).is_none() {
            return Err(EsError::illegal_argument(format!(
                "no matching index template found for data stream [{name}]"
            )));
        }
        let mut store = shared.lock();
        if store.indices.contains_key(&name) {
            return Err(EsError::new(
                400,
                "resource_already_exists_exception",
                format!("data_stream [{name}] already exists"),
            ));
        }
        store.indices.insert(name, Index::new(true));
        Ok(acknowledged())
    })())
}

/// `DELETE /_data_stream/{name}`.
pub(super) async fn delete_data_stream(
    State(shared): State<Arc<Shared>>,
    Path(expr): Path<String>,
) -> Response {
    let mut store = shared.lock();
    let mut names = Vec::new();
    for part in expr.split(',') {
        let matched: Vec<String> = store
            .indices
            .iter()
            .filter(|(n, i)| i.data_stream && glob(part, n))
            .map(|(n, _)| n.clone())
            .collect();
        if matched.is_empty() && !part.contains('*') {
            return EsError::index_not_found(part).response();
        }
        names.extend(matched);
    }
    for name in names {
        store.indices.remove(&name);
    }
    json_response(200, &acknowledged())
}
