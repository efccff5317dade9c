//! Indices, bulk actions, versions, mappings.

use super::*;

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
