//! Injected failures, refresh, data streams, authentication, bodies.

use super::*;

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
