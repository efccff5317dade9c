//! `_bulk`: the NDJSON parser (whole-request errors as Elasticsearch raises them) and the
//! execution of the actions in order, each answered by an item.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::{
    EsError, Index, Params, Refresh, Shared, Store, data_stream_template, json_response, new_id,
    validate_index_name,
};

/// `POST /_bulk`.
pub(super) async fn all(State(shared): State<Arc<Shared>>, uri: Uri, body: Bytes) -> Response {
    run(&shared, None, &Params::parse(&uri), &body)
}

/// `POST /{index}/_bulk`: `index` is the default `_index`.
pub(super) async fn index(
    State(shared): State<Arc<Shared>>,
    Path(index): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Response {
    run(&shared, Some(&index), &Params::parse(&uri), &body)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Index,
    Create,
    Update,
    Delete,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Index => "index",
            Kind::Create => "create",
            Kind::Update => "update",
            Kind::Delete => "delete",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VersionType {
    Internal,
    External,
    ExternalGte,
}

/// One parsed action with its source line.
struct Action<'a> {
    kind: Kind,
    index: String,
    id: Option<String>,
    version: Option<i64>,
    version_type: VersionType,
    if_seq_no: Option<i64>,
    if_primary_term: Option<i64>,
    pipeline: Option<String>,
    require_alias: bool,
    /// `index` / `create`: the document, parsed only when executed (as on the shard).
    source: &'a [u8],
    update: Option<UpdateBody>,
}

/// The source line of an `update`.
#[derive(Default)]
struct UpdateBody {
    doc: Option<Map<String, Value>>,
    upsert: Option<Map<String, Value>>,
    doc_as_upsert: bool,
    detect_noop: bool,
    script: bool,
}

fn run(shared: &Shared, default_index: Option<&str>, params: &Params, body: &[u8]) -> Response {
    let started = Instant::now();
    {
        let mut store = shared.lock();
        if store.reject_bulks > 0 {
            store.reject_bulks -= 1;
            let reason = format!(
                "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, \
                 replica_bytes=0, all_bytes=0, coordinating_operation_bytes={}, \
                 max_coordinating_and_primary_bytes=0]",
                body.len()
            );
            return EsError::new(429, "es_rejected_execution_exception", reason).response();
        }
    }
    let parsed = Refresh::parse(params).and_then(|r| Ok((r, parse(body, default_index, params)?)));
    let (refresh, actions) = match parsed {
        Ok(p) => p,
        Err(e) => return e.response(),
    };
    let mut store = shared.lock();
    let mut touched = BTreeSet::new();
    let mut items: Vec<Value> = actions
        .iter()
        .map(|a| json!({ a.kind.name(): execute(&mut store, a, &mut touched) }))
        .collect();
    if refresh != Refresh::No {
        for name in &touched {
            if let Some(index) = store.indices.get_mut(name) {
                index.refresh();
            }
        }
    }
    if refresh == Refresh::Forced {
        for item in items
            .iter_mut()
            .filter_map(|i| i.as_object_mut()?.values_mut().next())
        {
            if let Some(item) = item.as_object_mut().filter(|i| !i.contains_key("error")) {
                item.insert("forced_refresh".into(), true.into());
            }
        }
    }
    let errors = items.iter().any(|i| {
        i.as_object()
            .and_then(|o| o.values().next())
            .is_some_and(|item| item.get("error").is_some())
    });
    let took = started.elapsed().as_millis() as u64;
    json_response(
        200,
        &json!({"errors": errors, "took": took, "items": items}),
    )
}

/// Parses the NDJSON body; `Err` is the whole request's error.
fn parse<'a>(
    body: &'a [u8],
    default_index: Option<&str>,
    params: &Params,
) -> Result<Vec<Action<'a>>, EsError> {
    if body.last().is_some_and(|b| *b != b'\n') {
        return Err(EsError::illegal_argument(
            "The bulk request must be terminated by a newline [\\n]",
        ));
    }
    let mut lines: Vec<&[u8]> = body.split(|b| *b == b'\n').collect();
    lines.pop();
    let mut actions = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let number = i + 1;
        let (kind, meta) = action_line(lines[i], number)?;
        i += 1;
        let mut action = Action {
            kind,
            index: default_index.unwrap_or_default().to_string(),
            id: None,
            version: None,
            version_type: VersionType::Internal,
            if_seq_no: None,
            if_primary_term: None,
            pipeline: params.get("pipeline").map(str::to_string),
            require_alias: params.get("require_alias") == Some("true"),
            source: &[],
            update: None,
        };
        metadata(&mut action, &meta, number)?;
        if kind != Kind::Delete {
            // An action without its source line is dropped, as Elasticsearch does.
            let Some(source) = lines.get(i) else {
                break;
            };
            i += 1;
            if kind == Kind::Update {
                action.update = Some(update_body(source, i)?);
            } else {
                action.source = source;
            }
        }
        actions.push(action);
    }
    let problems: Vec<String> = actions.iter().flat_map(validate).collect();
    if actions.is_empty() {
        return Err(EsError::validation(&["no requests added".to_string()]));
    }
    if !problems.is_empty() {
        return Err(EsError::validation(&problems));
    }
    Ok(actions)
}

/// The name of a JSON value's first token, for messages.
fn token(value: &Value) -> &'static str {
    match value {
        Value::Null => "VALUE_NULL",
        Value::Bool(_) => "VALUE_BOOLEAN",
        Value::Number(_) => "VALUE_NUMBER",
        Value::String(_) => "VALUE_STRING",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
    }
}

/// Parses an action line: `{"<action>": {<metadata>}}`.
fn action_line(line: &[u8], number: usize) -> Result<(Kind, Map<String, Value>), EsError> {
    let malformed = |expected: &str, found: &str| {
        EsError::illegal_argument(format!(
            "Malformed action/metadata line [{number}], expected {expected} but found [{found}]"
        ))
    };
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err(malformed("START_OBJECT or END_OBJECT", "null"));
    }
    let value: Value = serde_json::from_slice(line).map_err(|e| EsError::parse(number, &e))?;
    let Value::Object(action) = value else {
        return Err(malformed("START_OBJECT or END_OBJECT", token(&value)));
    };
    if action.len() > 1 {
        return Err(malformed("END_OBJECT", "FIELD_NAME"));
    }
    let Some((name, meta)) = action.into_iter().next() else {
        return Err(malformed("FIELD_NAME", "END_OBJECT"));
    };
    let kind = match name.as_str() {
        "index" => Kind::Index,
        "create" => Kind::Create,
        "update" => Kind::Update,
        "delete" => Kind::Delete,
        _ => {
            return Err(EsError::illegal_argument(format!(
                "Malformed action/metadata line [{number}], expected field [create], [delete], \
                 [index] or [update] but found [{name}]"
            )));
        }
    };
    match meta {
        Value::Object(meta) => Ok((kind, meta)),
        other => Err(malformed("START_OBJECT", token(&other))),
    }
}

/// Reads an action's metadata into `action`.
fn metadata(action: &mut Action, meta: &Map<String, Value>, line: usize) -> Result<(), EsError> {
    for (key, value) in meta {
        let text = match value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null => None,
            Value::Array(_) | Value::Object(_)
                if key == "dynamic_templates" || key == "_source" =>
            {
                None
            }
            other => {
                return Err(EsError::illegal_argument(format!(
                    "Malformed action/metadata line [{line}], expected a simple value for field \
                     [{key}] but found [{}]",
                    token(other)
                )));
            }
        };
        let number = || -> Result<Option<i64>, EsError> {
            match &text {
                None => Ok(None),
                Some(t) => t.parse().map(Some).map_err(|_| {
                    EsError::illegal_argument(format!("failed to parse [{key}] value [{t}]"))
                }),
            }
        };
        match key.as_str() {
            "_index" => action.index = text.unwrap_or_default(),
            "_id" => action.id = text,
            "version" => action.version = number()?,
            "if_seq_no" => action.if_seq_no = number()?,
            "if_primary_term" => action.if_primary_term = number()?,
            "retry_on_conflict" => {
                number()?;
            }
            "pipeline" => action.pipeline = text,
            "require_alias" => action.require_alias = text.as_deref() == Some("true"),
            "version_type" => {
                action.version_type = match text.as_deref().map(str::to_ascii_lowercase) {
                    None => VersionType::Internal,
                    Some(t) if t == "internal" => VersionType::Internal,
                    Some(t) if t == "external" || t == "external_gt" => VersionType::External,
                    Some(t) if t == "external_gte" => VersionType::ExternalGte,
                    Some(t) => {
                        return Err(EsError::illegal_argument(format!(
                            "No version type match [{t}]"
                        )));
                    }
                }
            }
            "op_type" => match text.as_deref() {
                Some("create") if action.kind == Kind::Index => action.kind = Kind::Create,
                Some("create") | Some("index") | None => {}
                Some(other) => {
                    return Err(EsError::illegal_argument(format!(
                        "opType must be 'create' or 'index', found: [{other}]"
                    )));
                }
            },
            "routing"
            | "require_data_stream"
            | "list_executed_pipelines"
            | "dynamic_templates"
            | "_source" => {}
            _ => {
                return Err(EsError::illegal_argument(format!(
                    "Action/metadata line [{line}] contains an unknown parameter [{key}]"
                )));
            }
        }
    }
    Ok(())
}

/// Parses an `update` source line (Elasticsearch parses it with the request).
fn update_body(line: &[u8], number: usize) -> Result<UpdateBody, EsError> {
    let value: Value = serde_json::from_slice(line).map_err(|e| EsError::parse(number, &e))?;
    let Value::Object(fields) = value else {
        return Err(EsError::new(
            400,
            "x_content_parse_exception",
            format!(
                "[{number}:1] [UpdateRequest] Expected START_OBJECT but was: {}",
                token(&value)
            ),
        ));
    };
    let mut body = UpdateBody {
        detect_noop: true,
        ..UpdateBody::default()
    };
    for (key, value) in fields {
        let wrong = |expected: &str| {
            EsError::new(
                400,
                "x_content_parse_exception",
                format!(
                    "[{number}:1] [UpdateRequest] failed to parse field [{key}]: expected {expected}"
                ),
            )
        };
        match (key.as_str(), value) {
            ("doc", Value::Object(doc)) => body.doc = Some(doc),
            ("upsert", Value::Object(upsert)) => body.upsert = Some(upsert),
            ("doc_as_upsert", Value::Bool(b)) => body.doc_as_upsert = b,
            ("detect_noop", Value::Bool(b)) => body.detect_noop = b,
            ("script" | "scripted_upsert", _) => body.script = true,
            ("_source" | "lang", _) => {}
            ("doc" | "upsert", _) => return Err(wrong("an object")),
            ("doc_as_upsert" | "detect_noop", _) => return Err(wrong("a boolean")),
            _ => {
                return Err(EsError::new(
                    400,
                    "x_content_parse_exception",
                    format!("[{number}:1] [UpdateRequest] unknown field [{key}]"),
                ));
            }
        }
    }
    Ok(body)
}

/// The request validation problems of an action.
fn validate(a: &Action) -> Vec<String> {
    let mut problems = Vec::new();
    let version_type = match a.version_type {
        VersionType::Internal => "INTERNAL",
        VersionType::External => "EXTERNAL",
        VersionType::ExternalGte => "EXTERNAL_GTE",
    };
    if a.index.is_empty() {
        problems.push("index is missing".to_string());
    }
    match (&a.id, a.kind) {
        (None, Kind::Update | Kind::Delete) => problems.push("id is missing".to_string()),
        (Some(id), _) if id.len() > 512 => problems.push(format!(
            "id [{id}] is too long, must be no longer than 512 bytes but was: {}",
            id.len()
        )),
        _ => {}
    }
    match a.kind {
        Kind::Create if a.version_type != VersionType::Internal => problems
            .push("create operations only support internal versioning. use index instead".into()),
        Kind::Create if a.version.is_some() => problems
            .push("create operations do not support explicit versions. use index instead".into()),
        Kind::Update if a.version_type != VersionType::Internal => problems.push(format!(
            "version type [{version_type}] is not supported by the update API"
        )),
        Kind::Update if a.version.is_some() => problems.push(
            "update requests do not support versioning. Please use `if_seq_no` and \
             `if_primary_term` instead"
                .into(),
        ),
        Kind::Index | Kind::Delete => match (a.version_type, a.version) {
            (VersionType::Internal, Some(_)) => problems.push(
                "internal versioning can not be used for optimistic concurrency control. Please \
                 use `if_seq_no` and `if_primary_term` instead"
                    .into(),
            ),
            (VersionType::External | VersionType::ExternalGte, v) if v.is_none_or(|v| v < 0) => {
                problems.push(format!(
                    "illegal version value [{}] for version type [{version_type}]",
                    v.unwrap_or(-3)
                ))
            }
            _ => {}
        },
        _ => {}
    }
    if a.if_seq_no.is_some() && a.version_type != VersionType::Internal {
        problems.push("compare and write operations can not use versioning".into());
    }
    if a.if_seq_no.is_some() && a.if_primary_term.is_none_or(|t| t <= 0) {
        problems.push("ifSeqNo is set, but primary term is [0]".into());
    }
    if let Some(u) = &a.update {
        if u.doc.is_none() && !u.script && u.upsert.is_none() {
            problems.push("script or doc is missing".into());
        }
    } else if a.kind != Kind::Delete && a.source.iter().all(u8::is_ascii_whitespace) {
        problems.push("source is missing".into());
    }
    problems
}

/// Where an item stands while it runs: the index and id its answer names.
struct Target {
    index: String,
    id: Option<String>,
}

/// Executes one action; returns its item.
fn execute(store: &mut Store, a: &Action, touched: &mut BTreeSet<String>) -> Value {
    let auto_id = matches!(a.kind, Kind::Index | Kind::Create);
    let mut target = Target {
        index: a.index.clone(),
        id: a.id.clone().or_else(|| auto_id.then(|| new_id(20))),
    };
    let result = if store.reject_items > 0 {
        store.reject_items -= 1;
        let reason = "rejected execution of primary operation [coordinating_and_primary_bytes=0, \
                      replica_bytes=0, all_bytes=0, primary_operation_bytes=1, \
                      max_coordinating_and_primary_bytes=0]";
        Err(EsError::new(429, "es_rejected_execution_exception", reason))
    } else {
        apply(store, a, &mut target, touched)
    };
    result.unwrap_or_else(|e| {
        json!({"_index": target.index, "_id": target.id, "status": e.status, "error": e.item()})
    })
}

fn apply(
    store: &mut Store,
    a: &Action,
    target: &mut Target,
    touched: &mut BTreeSet<String>,
) -> Result<Value, EsError> {
    let name = a.index.as_str();
    if let Some(p) = a.pipeline.as_deref().filter(|p| *p != "_none") {
        return Err(EsError::illegal_argument(format!(
            "pipeline with id [{p}] does not exist"
        )));
    }
    if a.require_alias {
        return Err(EsError::index_not_found(name).with(
            "reason",
            format!("no such index [{name}] and [require_alias] request flag is [true] and [{name}] is not an alias"),
        ));
    }
    let key = match store.resolve(name) {
        Some(key) => key,
        None if a.kind == Kind::Delete => return Err(EsError::index_not_found(name)),
        None => {
            validate_index_name(name)?;
            let data_stream = data_stream_template(name).is_some();
            store
                .indices
                .insert(name.to_string(), Index::new(data_stream));
            name.to_string()
        }
    };
    let Some(index) = store.indices.get_mut(&key) else {
        return Err(EsError::index_not_found(name));
    };
    target.index = index.concrete(&key);
    if index.data_stream && a.kind != Kind::Create && name == key {
        return Err(EsError::illegal_argument(
            "only write ops with an op_type of create are allowed in data streams",
        ));
    }
    touched.insert(key);
    let id = target.id.clone().unwrap_or_default();
    let ctx = Item {
        index: target.index.clone(),
        uuid: index.uuid.clone(),
        id,
    };
    match (a.kind, &a.update) {
        (Kind::Index | Kind::Create, _) => index_doc(index, a, &ctx),
        (Kind::Update, Some(update)) => update_doc(index, a, update, &ctx),
        _ => delete_doc(index, a, &ctx),
    }
}

/// The index and id of an item being written.
struct Item {
    index: String,
    uuid: String,
    id: String,
}

impl Item {
    fn success(&self, version: i64, result: &str, seq_no: i64, status: u16) -> Value {
        json!({
            "_index": self.index,
            "_id": self.id,
            "_version": version,
            "result": result,
            "_shards": {"total": 2, "successful": 1, "failed": 0},
            "_seq_no": seq_no,
            "_primary_term": 1,
            "status": status,
        })
    }

    fn conflict(&self, reason: String) -> EsError {
        EsError::new(409, "version_conflict_engine_exception", reason)
            .with("index_uuid", self.uuid.as_str())
            .with("shard", "0")
            .with("index", self.index.as_str())
    }

    /// The compare-and-set check (`if_seq_no` / `if_primary_term`).
    fn check_seq_no(&self, a: &Action, index: &Index) -> Result<(), EsError> {
        let Some(seq_no) = a.if_seq_no else {
            return Ok(());
        };
        let term = a.if_primary_term.unwrap_or(0);
        let id = &self.id;
        match index.docs.get(id) {
            None => Err(self.conflict(format!(
                "[{id}]: version conflict, required seqNo [{seq_no}], primary term [{term}]. but \
                 no document was found"
            ))),
            Some(doc) if doc.seq_no != seq_no || term != 1 => Err(self.conflict(format!(
                "[{id}]: version conflict, required seqNo [{seq_no}], primary term [{term}]. \
                 current document has seqNo [{}] and primary term [1]",
                doc.seq_no
            ))),
            Some(_) => Ok(()),
        }
    }

    /// The version the write gets, or the version conflict.
    fn next_version(&self, a: &Action, current: Option<i64>) -> Result<i64, EsError> {
        let given = a.version.unwrap_or(0);
        let id = &self.id;
        match (a.version_type, current) {
            (VersionType::Internal, current) => Ok(current.map_or(1, |c| c + 1)),
            (VersionType::External, Some(c)) if given <= c => Err(self.conflict(format!(
                "[{id}]: version conflict, current version [{c}] is higher or equal to the one \
                 provided [{given}]"
            ))),
            (VersionType::ExternalGte, Some(c)) if given < c => Err(self.conflict(format!(
                "[{id}]: version conflict, current version [{c}] is higher than the one provided \
                 [{given}]"
            ))),
            _ => Ok(given),
        }
    }
}

fn index_doc(index: &mut Index, a: &Action, item: &Item) -> Result<Value, EsError> {
    let source: Value = serde_json::from_slice(a.source).map_err(|e| {
        EsError::mapper_parsing("failed to parse").caused_by(
            "x_content_parse_exception",
            format!("[1:{}] {e}", e.column()),
        )
    })?;
    let Value::Object(source) = source else {
        return Err(EsError::mapper_parsing("failed to parse").caused_by(
            "not_x_content_exception",
            "Compressor detection can only be called on some xcontent bytes or compressed \
             xcontent bytes",
        ));
    };
    if index.data_stream && source.get("@timestamp").is_none_or(Value::is_null) {
        return Err(EsError::mapper_parsing(
            "data stream timestamp field [@timestamp] is missing",
        ));
    }
    index.map(&source, &item.id)?;
    let live = index.docs.get(&item.id);
    if let (Kind::Create, Some(doc)) = (a.kind, live) {
        return Err(item.conflict(format!(
            "[{}]: version conflict, document already exists (current version [{}])",
            item.id, doc.version
        )));
    }
    let created = live.is_none();
    item.check_seq_no(a, index)?;
    let version = item.next_version(a, index.current_version(&item.id))?;
    let seq_no = index.put(&item.id, Value::Object(source), version);
    Ok(if created {
        item.success(version, "created", seq_no, 201)
    } else {
        item.success(version, "updated", seq_no, 200)
    })
}

fn update_doc(
    index: &mut Index,
    a: &Action,
    u: &UpdateBody,
    item: &Item,
) -> Result<Value, EsError> {
    if u.script {
        return Err(EsError::illegal_argument(
            "[weir test server] scripted updates are not supported",
        ));
    }
    item.check_seq_no(a, index)?;
    let Some(doc) = index.docs.get(&item.id).cloned() else {
        let upsert = if u.doc_as_upsert { &u.doc } else { &u.upsert };
        let Some(source) = upsert else {
            return Err(EsError::new(
                404,
                "document_missing_exception",
                format!("[{}]: document missing", item.id),
            )
            .with("index_uuid", item.uuid.as_str())
            .with("shard", "0")
            .with("index", item.index.as_str()));
        };
        index.map(source, &item.id)?;
        let version = index.current_version(&item.id).map_or(1, |v| v + 1);
        let seq_no = index.put(&item.id, Value::Object(source.clone()), version);
        return Ok(item.success(version, "created", seq_no, 201));
    };
    let mut merged = doc.source.as_ref().clone();
    if let (Some(patch), Value::Object(target)) = (&u.doc, &mut merged) {
        merge(target, patch);
    }
    if u.detect_noop && merged == *doc.source {
        let mut noop = item.success(doc.version, "noop", doc.seq_no, 200);
        noop["_shards"] = json!({"total": 0, "successful": 0, "failed": 0});
        return Ok(noop);
    }
    if let Value::Object(source) = &merged {
        index.map(source, &item.id)?;
    }
    let version = doc.version + 1;
    let seq_no = index.put(&item.id, merged, version);
    Ok(item.success(version, "updated", seq_no, 200))
}

/// Merges a partial document into a source: objects recursively, other values replaced.
fn merge(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        match (target.get_mut(key), value) {
            (Some(Value::Object(t)), Value::Object(p)) => merge(t, p),
            _ => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}

fn delete_doc(index: &mut Index, a: &Action, item: &Item) -> Result<Value, EsError> {
    item.check_seq_no(a, index)?;
    let version = item.next_version(a, index.current_version(&item.id))?;
    let found = index.docs.contains_key(&item.id);
    let seq_no = index.delete(&item.id, version);
    Ok(if found {
        item.success(version, "deleted", seq_no, 200)
    } else {
        item.success(version, "not_found", seq_no, 404)
    })
}
