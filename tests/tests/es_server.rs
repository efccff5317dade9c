//! The Elasticsearch-compatible test server against Elasticsearch 8's REST formats: every
//! endpoint and injection switch, over real HTTP.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use weir_e2e::es::EsServer;
use weir_e2e::{HttpResponse, http};

/// `elastic:changeme` in base64.
const BASIC_OK: &str = "Basic ZWxhc3RpYzpjaGFuZ2VtZQ==";
/// `elastic:wrong` in base64.
const BASIC_WRONG: &str = "Basic ZWxhc3RpYzp3cm9uZw==";
/// `key-id:key-secret` in base64.
const API_KEY: &str = "ApiKey a2V5LWlkOmtleS1zZWNyZXQ=";

fn get(es: &EsServer, path: &str) -> HttpResponse {
    http("GET", &es.addr(), path, None, &[])
}

fn send(es: &EsServer, method: &str, path: &str, body: &Value) -> HttpResponse {
    http(method, &es.addr(), path, Some(&body.to_string()), &[])
}

/// NDJSON of the given lines, newline-terminated.
fn ndjson(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// POSTs a bulk body to `path`; returns the answer.
fn bulk(es: &EsServer, path: &str, lines: &[Value]) -> HttpResponse {
    http("POST", &es.addr(), path, Some(&ndjson(lines)), &[])
}

/// A bulk that must succeed as a request; returns its items (the inner objects).
fn bulk_items(es: &EsServer, path: &str, lines: &[Value]) -> (bool, Vec<Value>) {
    let r = bulk(es, path, lines);
    assert_eq!(r.status, 200, "{}", r.body);
    let doc = r.json();
    let items = doc["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            i.as_object()
                .expect("item")
                .values()
                .next()
                .expect("action")
                .clone()
        })
        .collect();
    (doc["errors"].as_bool().expect("errors"), items)
}

/// Asserts Elasticsearch's whole-request error answer.
fn assert_error(r: &HttpResponse, status: u16, kind: &str, reason: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    let doc = r.json();
    assert_eq!(doc["status"], status, "{}", r.body);
    assert_eq!(doc["error"]["type"], kind, "{}", r.body);
    assert_eq!(doc["error"]["root_cause"][0]["type"], kind, "{}", r.body);
    let got = doc["error"]["reason"].as_str().expect("reason");
    assert!(got.contains(reason), "expected {reason:?} in {got:?}");
}

/// Sends raw bytes as a request body with the given extra headers; returns status and body.
fn raw(es: &EsServer, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(es.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        es.addr()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(body).expect("send body");
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().expect("content-length"));
            if answer.len() >= end + 4 + length {
                let status = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .expect("status");
                let body = String::from_utf8_lossy(&answer[end + 4..end + 4 + length]);
                return (status, body.into_owned());
            }
        }
        let n = stream.read(&mut buf).expect("read answer");
        assert!(
            n > 0,
            "connection closed: {:?}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buf[..n]);
    }
}

fn count(es: &EsServer, index: &str) -> u64 {
    let r = get(es, &format!("/{index}/_count"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["count"].as_u64().expect("count")
}

#[test]
fn cluster_info_headers_and_unknown_endpoints() {
    let es = EsServer::start();
    assert_eq!(es.url(), format!("http://{}", es.addr()));
    let r = get(&es, "/");
    assert_eq!(r.status, 200, "{}", r.body);
    let doc = r.json();
    assert_eq!(doc["name"], "weir-test");
    assert_eq!(doc["cluster_name"], "weir-test");
    assert_eq!(doc["version"]["number"], "8.15.0");
    assert_eq!(doc["version"]["build_flavor"], "default");
    assert_eq!(doc["tagline"], "You Know, for Search");
    assert_eq!(r.header("x-elastic-product"), Some("Elasticsearch"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let compat = http(
        "GET",
        &es.addr(),
        "/",
        None,
        &[(
            "Accept",
            "application/vnd.elasticsearch+json; compatible-with=8",
        )],
    );
    assert_eq!(
        compat.header("content-type"),
        Some("application/vnd.elasticsearch+json;compatible-with=8")
    );
    let health = get(&es, "/_cluster/health");
    assert_eq!(health.json()["status"], "green");

    let r = get(&es, "/x/_nothing_here");
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.json()["error"],
        "no handler found for uri [/x/_nothing_here] and method [GET]"
    );
    let r = http("DELETE", &es.addr(), "/", None, &[]);
    assert_eq!(r.status, 405, "{}", r.body);
    assert_eq!(r.header("x-elastic-product"), Some("Elasticsearch"));
}

#[test]
fn index_creation_mappings_and_errors() {
    let es = EsServer::start();
    let mappings = json!({"mappings": {"properties": {"price": {"type": "long"}}}});
    let r = send(&es, "PUT", "/books", &mappings);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"acknowledged": true, "shards_acknowledged": true, "index": "books"})
    );
    let again = send(&es, "PUT", "/books", &mappings);
    assert_error(
        &again,
        400,
        "resource_already_exists_exception",
        "index [books/",
    );
    assert!(
        again.json()["error"]["reason"]
            .as_str()
            .expect("reason")
            .ends_with("] already exists")
    );
    assert_eq!(again.json()["error"]["index"], "books");

    let r = http("PUT", &es.addr(), "/empty", None, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = http("PUT", &es.addr(), "/Books", None, &[]);
    assert_error(
        &r,
        400,
        "invalid_index_name_exception",
        "Invalid index name [Books], must be lowercase",
    );
    let r = http("PUT", &es.addr(), "/_books", None, &[]);
    assert_error(
        &r,
        400,
        "invalid_index_name_exception",
        "must not start with '_', '-', or '+'",
    );
    let bad = json!({"mappings": {"properties": {"x": {"type": "nonsense"}}}});
    let r = send(&es, "PUT", "/bad", &bad);
    assert_error(
        &r,
        400,
        "mapper_parsing_exception",
        "No handler for type [nonsense]",
    );

    let r = http("HEAD", &es.addr(), "/books", None, &[]);
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    let r = http("HEAD", &es.addr(), "/missing", None, &[]);
    assert_eq!((r.status, r.body.as_str()), (404, ""));

    let r = get(&es, "/books");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["books"]["mappings"]["properties"]["price"]["type"],
        "long"
    );
    assert!(r.json()["books"]["settings"].is_object());
    let r = get(&es, "/missing");
    assert_error(
        &r,
        404,
        "index_not_found_exception",
        "no such index [missing]",
    );
    assert_eq!(r.json()["error"]["index"], "missing");
    assert_eq!(r.json()["error"]["root_cause"][0]["index"], "missing");

    let update = json!({"properties": {"title": {"type": "keyword"}, "author": {"properties": {"name": {"type": "text"}}}}});
    let r = send(&es, "PUT", "/books/_mapping", &update);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!({"acknowledged": true}));
    assert_eq!(
        es.mapping("books").expect("mapping"),
        json!({
            "price": {"type": "long"},
            "title": {"type": "keyword"},
            "author": {"properties": {"name": {"type": "text"}}}
        })
    );
    let r = get(&es, "/books/_mapping");
    assert_eq!(
        r.json()["books"]["mappings"]["properties"]["title"]["type"],
        "keyword"
    );
    let change = json!({"properties": {"price": {"type": "text"}}});
    let r = send(&es, "PUT", "/books/_mapping", &change);
    assert_error(
        &r,
        400,
        "illegal_argument_exception",
        "mapper [price] cannot be changed from type [long] to [text]",
    );
    let r = send(&es, "PUT", "/missing/_mapping", &change);
    assert_eq!(r.status, 404, "{}", r.body);

    assert_eq!(es.indices(), vec!["books".to_string(), "empty".to_string()]);
    let r = http("DELETE", &es.addr(), "/empty", None, &[]);
    assert_eq!(r.json(), json!({"acknowledged": true}));
    assert_eq!(es.indices(), vec!["books".to_string()]);
    assert!(es.mapping("empty").is_none());
}

#[test]
fn bulk_actions_versions_and_conflicts() {
    let es = EsServer::start();
    let ext = |action: &str, id: &str, version: i64| json!({action: {"_index": "t", "_id": id, "version": version, "version_type": "external"}});
    let (errors, items) = bulk_items(
        &es,
        "/_bulk",
        &[
            ext("index", "1", 5),
            json!({"n": 1}),
            ext("index", "1", 3),
            json!({"n": 2}),
            ext("index", "1", 5),
            json!({"n": 3}),
            json!({"create": {"_index": "t", "_id": "2"}}),
            json!({"n": 2}),
            json!({"create": {"_index": "t", "_id": "2"}}),
            json!({"n": 3}),
            json!({"create": {"_index": "t"}}),
            json!({"n": 4}),
            json!({"update": {"_index": "t", "_id": "2", "retry_on_conflict": 3}}),
            json!({"doc": {"m": {"k": true}}}),
            json!({"update": {"_index": "t", "_id": "2"}}),
            json!({"doc": {"m": {"k": true}}}),
            json!({"update": {"_index": "t", "_id": "9"}}),
            json!({"doc": {"a": 1}}),
            json!({"update": {"_index": "t", "_id": "10"}}),
            json!({"doc": {"a": 1}, "doc_as_upsert": true}),
            json!({"update": {"_index": "t", "_id": "11"}}),
            json!({"doc": {"a": 1}, "upsert": {"a": 0}}),
            ext("delete", "1", 4),
            ext("delete", "1", 6),
            ext("index", "1", 6),
            json!({"n": 4}),
            json!({"delete": {"_index": "t", "_id": "nope"}}),
            json!({"index": {"_index": "t", "_id": "x", "op_type": "create"}}),
            json!({"n": 5}),
        ],
    );
    assert!(errors);
    assert_eq!(items.len(), 16);
    let summary: Vec<(u64, &str)> = items
        .iter()
        .map(|i| {
            let status = i["status"].as_u64().expect("status");
            let result = i["result"]
                .as_str()
                .or(i["error"]["type"].as_str())
                .expect("result");
            (status, result)
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (201, "created"),
            (409, "version_conflict_engine_exception"),
            (409, "version_conflict_engine_exception"),
            (201, "created"),
            (409, "version_conflict_engine_exception"),
            (201, "created"),
            (200, "updated"),
            (200, "noop"),
            (404, "document_missing_exception"),
            (201, "created"),
            (201, "created"),
            (409, "version_conflict_engine_exception"),
            (200, "deleted"),
            (409, "version_conflict_engine_exception"),
            (404, "not_found"),
            (201, "created"),
        ]
    );
    assert_eq!(items[0]["_version"], 5);
    assert_eq!(items[0]["_index"], "t");
    assert_eq!(
        items[0]["_shards"],
        json!({"total": 2, "successful": 1, "failed": 0})
    );
    assert_eq!(items[0]["_primary_term"], 1);
    assert_eq!(
        items[1]["error"]["reason"],
        "[1]: version conflict, current version [5] is higher or equal to the one provided [3]"
    );
    assert_eq!(items[1]["error"]["index"], "t");
    assert_eq!(items[1]["_id"], "1");
    assert_eq!(
        items[4]["error"]["reason"],
        "[2]: version conflict, document already exists (current version [1])"
    );
    let auto_id = items[5]["_id"].as_str().expect("auto id");
    assert_eq!(auto_id.len(), 20, "{auto_id}");
    assert_eq!(es.doc("t", auto_id), Some((json!({"n": 4}), 1)));
    assert_eq!(items[6]["_version"], 2);
    assert_eq!(items[7]["_version"], 2);
    assert_eq!(items[8]["error"]["reason"], "[9]: document missing");
    assert_eq!(
        items[11]["error"]["reason"],
        "[1]: version conflict, current version [5] is higher or equal to the one provided [4]"
    );
    assert_eq!(items[12]["_version"], 6);
    // The tombstone of the delete keeps version 6.
    assert_eq!(
        items[13]["error"]["reason"],
        "[1]: version conflict, current version [6] is higher or equal to the one provided [6]"
    );
    assert_eq!(items[14]["_index"], "t");
    assert!(items[14].get("error").is_none());
    // `index` with op_type create answers as `create`.
    let r = bulk(
        &es,
        "/_bulk",
        &[
            json!({"index": {"_index": "t", "_id": "y", "op_type": "create"}}),
            json!({"n": 6}),
        ],
    );
    assert!(r.json()["items"][0]["create"].is_object(), "{}", r.body);

    assert_eq!(es.doc("t", "1"), None);
    assert_eq!(
        es.doc("t", "2"),
        Some((json!({"n": 2, "m": {"k": true}}), 2))
    );
    assert_eq!(es.doc("t", "10"), Some((json!({"a": 1}), 1)));
    assert_eq!(es.doc("t", "11"), Some((json!({"a": 0}), 1)));
    let ids: Vec<String> = es.docs("t").into_iter().map(|(id, _)| id).collect();
    let mut expected = vec!["10", "11", "2", "x", "y", auto_id];
    expected.sort_unstable();
    assert_eq!(ids, expected);

    // Internal versions count up; a delete of a missing document is no error.
    let (errors, items) = bulk_items(
        &es,
        "/t/_bulk",
        &[
            json!({"index": {"_id": "i"}}),
            json!({"v": 1}),
            json!({"index": {"_id": "i"}}),
            json!({"v": 2}),
            json!({"delete": {"_id": "never"}}),
        ],
    );
    assert!(!errors);
    assert_eq!(
        (&items[0]["result"], &items[0]["_version"]),
        (&json!("created"), &json!(1))
    );
    assert_eq!(
        (&items[1]["result"], &items[1]["_version"]),
        (&json!("updated"), &json!(2))
    );
    assert_eq!(items[1]["status"], 200);
    assert!(items[1]["_seq_no"].as_i64() > items[0]["_seq_no"].as_i64());
    assert_eq!(
        (&items[2]["result"], &items[2]["status"]),
        (&json!("not_found"), &json!(404))
    );

    // Realtime get.
    let r = get(&es, "/t/_doc/i");
    assert_eq!(r.status, 200, "{}", r.body);
    let doc = r.json();
    assert_eq!(
        (&doc["found"], &doc["_version"], &doc["_source"]),
        (&json!(true), &json!(2), &json!({"v": 2}))
    );
    assert_eq!(doc["_primary_term"], 1);
    let r = get(&es, "/t/_doc/1");
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), json!({"_index": "t", "_id": "1", "found": false}));
    let r = get(&es, "/nope/_doc/1");
    assert_error(&r, 404, "index_not_found_exception", "no such index [nope]");

    // Delete on a missing index; bad versioning is a request error.
    let (_, items) = bulk_items(
        &es,
        "/_bulk",
        &[json!({"delete": {"_index": "gone", "_id": "1"}})],
    );
    assert_eq!(items[0]["error"]["type"], "index_not_found_exception");
    let r = bulk(
        &es,
        "/_bulk",
        &[
            json!({"create": {"_index": "t", "_id": "z", "version": 2, "version_type": "external"}}),
            json!({}),
        ],
    );
    assert_error(
        &r,
        400,
        "action_request_validation_exception",
        "create operations only support internal versioning",
    );
}

#[test]
fn dynamic_mapping_and_type_mismatches() {
    let es = EsServer::start();
    let (errors, _) = bulk_items(
        &es,
        "/_bulk",
        &[
            json!({"index": {"_index": "shop", "_id": "1"}}),
            json!({
                "price": 10, "ratio": 0.5, "title": "Hello", "flag": true,
                "ts": "2024-05-01T10:00:00Z", "tags": ["a", "b"], "user": {"name": "ann", "age": 3},
                "nothing": null
            }),
        ],
    );
    assert!(!errors);
    let text =
        json!({"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}});
    assert_eq!(
        es.mapping("shop").expect("mapping"),
        json!({
            "price": {"type": "long"},
            "ratio": {"type": "float"},
            "title": text,
            "flag": {"type": "boolean"},
            "ts": {"type": "date"},
            "tags": text,
            "user": {"properties": {"name": text, "age": {"type": "long"}}},
        })
    );
    let (errors, items) = bulk_items(
        &es,
        "/shop/_bulk",
        &[
            json!({"index": {"_id": "7"}}),
            json!({"price": "abc"}),
            json!({"index": {"_id": "8"}}),
            json!({"price": "12", "ratio": "1.5"}),
            json!({"index": {"_id": "9"}}),
            json!({"price": {"a": 1}}),
            json!({"index": {"_id": "10"}}),
            json!({"user": "bob"}),
            json!({"index": {"_id": "11"}}),
            json!({"flag": "maybe", "new_field": 1}),
            json!({"index": {"_id": "12"}}),
            json!({"ts": "yesterday"}),
            json!({"index": {"_id": "13"}}),
            json!({"title": {"x": 1}}),
            json!({"index": {"_id": "14"}}),
            json!("not an object"),
        ],
    );
    assert!(errors);
    let statuses: Vec<u64> = items
        .iter()
        .map(|i| i["status"].as_u64().expect("status"))
        .collect();
    assert_eq!(statuses, vec![400, 201, 400, 400, 400, 400, 400, 400]);
    for i in [0, 2, 3, 4, 5, 6, 7] {
        assert_eq!(
            items[i]["error"]["type"], "mapper_parsing_exception",
            "{}",
            items[i]
        );
    }
    assert_eq!(
        items[0]["error"]["reason"],
        "failed to parse field [price] of type [long] in document with id '7'. Preview of field's value: 'abc'"
    );
    assert_eq!(
        items[0]["error"]["caused_by"]["type"],
        "number_format_exception"
    );
    assert_eq!(
        items[3]["error"]["reason"],
        "object mapping for [user] tried to parse field [user] as object, but found a concrete value"
    );
    let ids: Vec<String> = es.docs("shop").into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, vec!["1", "8"]);
    // A rejected document adds no mapping.
    assert!(
        es.mapping("shop")
            .expect("mapping")
            .get("new_field")
            .is_none()
    );

    // `dynamic: strict` refuses new fields.
    let strict = json!({"mappings": {"dynamic": "strict", "properties": {"a": {"type": "long"}}}});
    assert_eq!(send(&es, "PUT", "/strict", &strict).status, 200);
    let (_, items) = bulk_items(
        &es,
        "/strict/_bulk",
        &[json!({"index": {"_id": "1"}}), json!({"a": 1, "b": 2})],
    );
    assert_eq!(
        items[0]["error"]["type"],
        "strict_dynamic_mapping_exception"
    );
}

#[test]
fn whole_bulk_rejections_then_success() {
    let es = EsServer::start();
    es.reject_bulks(2);
    let lines = [
        json!({"index": {"_index": "r", "_id": "1"}}),
        json!({"a": 1}),
    ];
    for _ in 0..2 {
        let r = bulk(&es, "/_bulk", &lines);
        assert_error(
            &r,
            429,
            "es_rejected_execution_exception",
            "rejected execution",
        );
        assert_eq!(r.header("x-elastic-product"), Some("Elasticsearch"));
    }
    assert!(es.docs("r").is_empty());
    // Other endpoints are not affected.
    assert_eq!(get(&es, "/").status, 200);
    let (errors, _) = bulk_items(&es, "/_bulk", &lines);
    assert!(!errors);
    assert_eq!(es.bulk_requests(), 3);
    assert_eq!(es.docs("r").len(), 1);
}

#[test]
fn item_rejections() {
    let es = EsServer::start();
    es.reject_items(2);
    let lines: Vec<Value> = (0..3)
        .flat_map(|i| {
            [
                json!({"index": {"_index": "r", "_id": i.to_string()}}),
                json!({"i": i}),
            ]
        })
        .collect();
    let (errors, items) = bulk_items(&es, "/_bulk", &lines[..2]);
    assert!(errors);
    assert_eq!(items[0]["status"], 429);
    assert_eq!(items[0]["error"]["type"], "es_rejected_execution_exception");
    let (errors, items) = bulk_items(&es, "/_bulk", &lines);
    assert!(errors);
    let statuses: Vec<&Value> = items.iter().map(|i| &i["status"]).collect();
    assert_eq!(statuses, vec![&json!(429), &json!(201), &json!(201)]);
    let (errors, _) = bulk_items(&es, "/_bulk", &lines);
    assert!(!errors);
    assert_eq!(es.docs("r").len(), 3);
}

#[test]
fn failing_requests_and_delay() {
    let es = EsServer::start();
    es.fail_requests(2);
    let r = get(&es, "/");
    assert_error(
        &r,
        503,
        "unavailable_shards_exception",
        "primary shard is not active",
    );
    let r = bulk(
        &es,
        "/_bulk",
        &[json!({"index": {"_index": "f"}}), json!({})],
    );
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(es.bulk_requests(), 1);
    assert!(es.indices().is_empty());
    assert_eq!(get(&es, "/").status, 200);

    es.set_delay(Duration::from_millis(400));
    let started = Instant::now();
    assert_eq!(get(&es, "/").status, 200);
    assert!(started.elapsed() >= Duration::from_millis(400));
    es.set_delay(Duration::ZERO);
    let started = Instant::now();
    assert_eq!(get(&es, "/").status, 200);
    assert!(started.elapsed() < Duration::from_millis(400));
}

#[test]
fn search_and_count_see_refreshed_documents() {
    let es = EsServer::start();
    let lines: Vec<Value> = (0..3)
        .flat_map(|i| {
            [
                json!({"index": {"_index": "v", "_id": format!("d{i}")}}),
                json!({"i": i, "name": format!("Item {i}")}),
            ]
        })
        .collect();
    bulk_items(&es, "/_bulk", &lines);
    assert_eq!(count(&es, "v"), 0);
    let r = get(&es, "/v/_search");
    assert_eq!(
        r.json()["hits"]["total"],
        json!({"value": 0, "relation": "eq"})
    );
    assert_eq!(es.docs("v").len(), 3);
    assert_eq!(get(&es, "/v/_doc/d1").status, 200);

    let r = http("POST", &es.addr(), "/v/_refresh", None, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["_shards"]["failed"], 0);
    assert_eq!(count(&es, "v"), 3);

    let more: Vec<Value> = (3..5)
        .flat_map(|i| {
            [
                json!({"index": {"_index": "v", "_id": format!("d{i}")}}),
                json!({"i": i}),
            ]
        })
        .collect();
    let (_, items) = bulk_items(&es, "/_bulk?refresh=true", &more);
    assert_eq!(items[0]["forced_refresh"], true);
    assert_eq!(count(&es, "v"), 5);
    bulk_items(
        &es,
        "/_bulk?refresh=wait_for",
        &[json!({"delete": {"_index": "v", "_id": "d4"}})],
    );
    assert_eq!(count(&es, "v"), 4);
    bulk_items(
        &es,
        "/_bulk",
        &[json!({"delete": {"_index": "v", "_id": "d3"}})],
    );
    assert_eq!(count(&es, "v"), 4);
    assert_eq!(http("POST", &es.addr(), "/_refresh", None, &[]).status, 200);
    assert_eq!(count(&es, "v"), 3);

    let r = send(
        &es,
        "POST",
        "/v/_search",
        &json!({"size": 2, "query": {"match_all": {}}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let doc = r.json();
    assert_eq!(doc["hits"]["total"], json!({"value": 3, "relation": "eq"}));
    assert_eq!(doc["timed_out"], false);
    let hits = doc["hits"]["hits"].as_array().expect("hits");
    let ids: Vec<&Value> = hits.iter().map(|h| &h["_id"]).collect();
    assert_eq!(ids, vec![&json!("d0"), &json!("d1")]);
    assert_eq!(hits[0]["_index"], "v");
    assert_eq!(hits[0]["_source"], json!({"i": 0, "name": "Item 0"}));
    let r = send(
        &es,
        "POST",
        "/v/_search",
        &json!({"query": {"term": {"i": 2}}}),
    );
    assert_eq!(r.json()["hits"]["hits"][0]["_id"], "d2");
    let r = send(
        &es,
        "POST",
        "/v/_count",
        &json!({"query": {"term": {"name.keyword": "Item 1"}}}),
    );
    assert_eq!(r.json()["count"], 1);
    let r = send(
        &es,
        "POST",
        "/v/_count",
        &json!({"query": {"term": {"name": "item"}}}),
    );
    assert_eq!(r.json()["count"], 3);
    let r = get(&es, "/missing/_count");
    assert_error(
        &r,
        404,
        "index_not_found_exception",
        "no such index [missing]",
    );
    let r = get(&es, "/missing/_search");
    assert_eq!(r.status, 404);
    assert_eq!(get(&es, "/miss*/_count").json()["count"], 0);
}

#[test]
fn data_streams_take_only_create() {
    let es = EsServer::start();
    let ds = "logs-app-default";
    let (errors, items) = bulk_items(
        &es,
        "/_bulk",
        &[
            json!({"create": {"_index": ds}}),
            json!({"@timestamp": "2024-05-01T10:00:00Z", "message": "hello"}),
            json!({"index": {"_index": ds}}),
            json!({"@timestamp": "2024-05-01T10:00:01Z"}),
            json!({"create": {"_index": ds}}),
            json!({"message": "no timestamp"}),
            json!({"index": {"_index": ds, "op_type": "create"}}),
            json!({"@timestamp": 1714557600000_i64}),
        ],
    );
    assert!(errors);
    assert!(es.is_data_stream(ds));
    assert!(!es.is_data_stream("t"));
    assert_eq!(items[0]["status"], 201);
    let backing = items[0]["_index"].as_str().expect("backing index");
    assert!(backing.starts_with(".ds-logs-app-default-"), "{backing}");
    assert_eq!(items[1]["status"], 400);
    assert_eq!(items[1]["error"]["type"], "illegal_argument_exception");
    assert_eq!(
        items[1]["error"]["reason"],
        "only write ops with an op_type of create are allowed in data streams"
    );
    assert_eq!(items[2]["status"], 400);
    assert_eq!(items[2]["error"]["type"], "mapper_parsing_exception");
    assert_eq!(
        items[2]["error"]["reason"],
        "data stream timestamp field [@timestamp] is missing"
    );
    assert_eq!(items[3]["status"], 201);
    assert_eq!(es.docs(ds).len(), 2);
    assert_eq!(es.indices(), vec![ds.to_string()]);
    assert_eq!(
        es.mapping(ds).expect("mapping")["@timestamp"]["type"],
        "date"
    );
    let r = get(&es, "/_data_stream/logs-app-default");
    assert_eq!(
        r.json()["data_streams"][0]["indices"][0]["index_name"],
        backing
    );
    let r = http("PUT", &es.addr(), "/metrics-a-b", None, &[]);
    assert_error(
        &r,
        400,
        "illegal_argument_exception",
        "creates data streams only",
    );
    let r = http("PUT", &es.addr(), "/_data_stream/metrics-a-b", None, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(es.is_data_stream("metrics-a-b"));
    http("POST", &es.addr(), "/_refresh", None, &[]);
    let r = get(&es, "/logs-*/_search");
    assert_eq!(r.json()["hits"]["hits"][0]["_index"], backing);
}

#[test]
fn basic_authentication() {
    let es = EsServer::start_with_auth("elastic", "changeme");
    let r = get(&es, "/");
    assert_error(
        &r,
        401,
        "security_exception",
        "missing authentication credentials for REST request [/]",
    );
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"security\" charset=\"UTF-8\"")
    );
    let r = http(
        "GET",
        &es.addr(),
        "/",
        None,
        &[("Authorization", BASIC_WRONG)],
    );
    assert_error(
        &r,
        401,
        "security_exception",
        "unable to authenticate user [elastic]",
    );
    let r = http("GET", &es.addr(), "/", None, &[("Authorization", API_KEY)]);
    assert_eq!(r.status, 401);
    let r = http("GET", &es.addr(), "/", None, &[("Authorization", BASIC_OK)]);
    assert_eq!(r.status, 200, "{}", r.body);
    let body = ndjson(&[
        json!({"index": {"_index": "a", "_id": "1"}}),
        json!({"x": 1}),
    ]);
    let r = http(
        "POST",
        &es.addr(),
        "/_bulk",
        Some(&body),
        &[("Authorization", BASIC_OK)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(es.docs("a").len(), 1);
}

#[test]
fn api_key_authentication() {
    let es = EsServer::start_with_api_key("key-id", "key-secret");
    let r = get(&es, "/");
    assert_error(
        &r,
        401,
        "security_exception",
        "missing authentication credentials",
    );
    let r = http("GET", &es.addr(), "/", None, &[("Authorization", BASIC_OK)]);
    assert_eq!(r.status, 401);
    let r = http(
        "GET",
        &es.addr(),
        "/",
        None,
        &[("Authorization", "ApiKey bm9wZTpub3Bl")],
    );
    assert_eq!(r.status, 401);
    let r = http("GET", &es.addr(), "/", None, &[("Authorization", API_KEY)]);
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn compressed_and_ndjson_bodies() {
    let es = EsServer::start();
    let body = ndjson(&[
        json!({"index": {"_index": "z", "_id": "1"}}),
        json!({"a": 1}),
        json!({"index": {"_index": "z", "_id": "2"}}),
        json!({"a": 2}),
    ]);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(body.as_bytes()).expect("gzip");
    let gz = encoder.finish().expect("gzip finish");
    let headers = [
        ("Content-Type", "application/x-ndjson"),
        ("Content-Encoding", "gzip"),
    ];
    let (status, answer) = raw(&es, "/_bulk", &headers, &gz);
    assert_eq!(status, 200, "{answer}");
    let doc: Value = serde_json::from_str(&answer).expect("JSON answer");
    assert_eq!(doc["errors"], false);
    assert_eq!(es.docs("z").len(), 2);

    let headers = [(
        "Content-Type",
        "application/vnd.elasticsearch+x-ndjson; compatible-with=8",
    )];
    let (status, answer) = raw(&es, "/z/_bulk", &headers, b"{\"delete\":{\"_id\":\"1\"}}\n");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(es.docs("z").len(), 1);
    let (status, answer) = raw(&es, "/z/_bulk", &[("Content-Type", "text/plain")], b"{}\n");
    assert_eq!(status, 406, "{answer}");

    let too_big = (100 * 1024 * 1024 + 1).to_string();
    let headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", too_big.as_str()),
    ];
    let (status, _) = raw(&es, "/_bulk", &headers, b"");
    assert_eq!(status, 413);
}

#[test]
fn malformed_bulk_requests() {
    let es = EsServer::start();
    let addr = es.addr();
    let r = http(
        "POST",
        &addr,
        "/_bulk",
        Some("{\"index\":{\"_index\":\"m\"}}\n{\"a\":1}"),
        &[],
    );
    assert_error(
        &r,
        400,
        "illegal_argument_exception",
        "The bulk request must be terminated by a newline [\\n]",
    );
    let r = http("POST", &addr, "/_bulk", Some("not json\n"), &[]);
    assert_error(&r, 400, "x_content_parse_exception", "[1:");
    let r = bulk(
        &es,
        "/_bulk",
        &[json!({"upsert": {"_index": "m"}}), json!({})],
    );
    assert_error(
        &r,
        400,
        "illegal_argument_exception",
        "Malformed action/metadata line [1], expected field [create], [delete], [index] or [update] but found [upsert]",
    );
    let r = bulk(
        &es,
        "/_bulk",
        &[json!({"index": {"_index": "m", "_type": "doc"}}), json!({})],
    );
    assert_error(
        &r,
        400,
        "illegal_argument_exception",
        "Action/metadata line [1] contains an unknown parameter [_type]",
    );
    let r = bulk(
        &es,
        "/_bulk",
        &[
            json!({"index": {"_index": "m"}}),
            json!({}),
            json!({"update": {"_index": "m"}}),
            json!({"doc": {}}),
        ],
    );
    assert_error(
        &r,
        400,
        "action_request_validation_exception",
        "Validation Failed: 1: id is missing;",
    );
    let r = bulk(&es, "/_bulk", &[json!({"index": {}}), json!({})]);
    assert_error(
        &r,
        400,
        "action_request_validation_exception",
        "index is missing",
    );
    let r = http("POST", &addr, "/_bulk", Some(""), &[]);
    assert_error(
        &r,
        400,
        "action_request_validation_exception",
        "no requests added",
    );
    let r = http(
        "POST",
        &addr,
        "/_bulk",
        Some("{\"index\":{\"_index\":\"m\"}}\n\n{}\n"),
        &[],
    );
    assert_error(
        &r,
        400,
        "illegal_argument_exception",
        "Malformed action/metadata line [3]",
    );
    let r = bulk(
        &es,
        "/_bulk?refresh=sometimes",
        &[json!({"index": {"_index": "m"}}), json!({})],
    );
    assert_error(
        &r,
        400,
        "illegal_argument_exception",
        "Unknown value for refresh: [sometimes].",
    );
    assert!(es.indices().is_empty());

    // A source line that is not JSON fails its item only.
    let r = http(
        "POST",
        &addr,
        "/_bulk",
        Some(
            "{\"index\":{\"_index\":\"m\",\"_id\":\"1\"}}\n{nope\n{\"index\":{\"_index\":\"m\",\"_id\":\"2\"}}\n{}\n",
        ),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["items"][0]["index"]["status"], 400);
    assert_eq!(r.json()["items"][1]["index"]["status"], 201);
    let (_, items) = bulk_items(
        &es,
        "/_bulk",
        &[json!({"index": {"_index": "Upper"}}), json!({})],
    );
    assert_eq!(items[0]["error"]["type"], "invalid_index_name_exception");

    let r = bulk(
        &es,
        "/_bulk?filter_path=errors,items.*.status",
        &[json!({"index": {"_index": "m"}}), json!({})],
    );
    assert_eq!(
        r.json(),
        json!({"errors": false, "items": [{"index": {"status": 201}}]})
    );
}
