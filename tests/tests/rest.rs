//! Kafka Connect REST conformance over real HTTP against the real `weir serve`: every
//! endpoint of COMPAT.md 1.2 with its status codes, bodies and error messages, using the
//! FileStreamSource / FileStreamSink connectors on files in the test's directory.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use weir_e2e::{RestApi as Api, Served, Workdir, wait_for};

const SOURCE_CLASS: &str = "org.apache.kafka.connect.file.FileStreamSourceConnector";
const SINK_CLASS: &str = "org.apache.kafka.connect.file.FileStreamSinkConnector";
const WAIT: Duration = Duration::from_secs(20);

fn source_config(dir: &Path, topic: &str) -> Value {
    json!({
        "connector.class": "FileStreamSource",
        "file": dir.join("in.txt").display().to_string(),
        "topic": topic,
    })
}

fn sink_config(dir: &Path, topic: &str) -> Value {
    json!({
        "connector.class": "FileStreamSink",
        "file": dir.join("out.txt").display().to_string(),
        "topics": topic,
    })
}

fn start(w: &Workdir) -> (Served, Api) {
    std::fs::write(w.dir.path().join("in.txt"), "one\ntwo\nthree\n").expect("write input");
    let served = w.serve(&[]);
    let api = Api::new(served.rest());
    (served, api)
}

fn create_source(api: &Api, dir: &Path, name: &str) {
    let r = api.send(
        "POST",
        "/connectors",
        &json!({"name": name, "config": source_config(dir, "lines")}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
}

/// A worker config file with `pairs`, for `--worker-config`.
fn worker_config(w: &Workdir, pairs: Value) -> String {
    let path = w.dir.path().join("worker.json");
    std::fs::write(&path, pairs.to_string()).expect("write worker config");
    path.display().to_string()
}

#[test]
fn root_health_openapi_and_unknown_routes() {
    let w = Workdir::new();
    let (_served, api) = start(&w);
    let root = api.get("/");
    assert_eq!(root.status, 200);
    assert!(
        root.body
            .starts_with("{\"version\":\"3.9.0\",\"commit\":\"weir-"),
        "{}",
        root.body
    );
    assert!(root.json()["kafka_cluster_id"].is_string());
    assert!(
        root.header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
    );
    let health = api.get("/health").json();
    assert_eq!(health["status"], "healthy");
    let openapi = api.get("/openapi.json");
    assert_eq!(openapi.status, 200);
    let doc = openapi.json();
    assert!(doc["paths"]["/connectors/{name}/restart"]["post"]["responses"]["202"].is_object());
    api.get("/nope").assert_error(404, "HTTP 404 Not Found");
    api.call("DELETE", "/connectors", None)
        .assert_error(405, "HTTP 405 Method Not Allowed");
    api.call("POST", "/", None)
        .assert_error(405, "Method Not Allowed");
}

#[test]
fn create_inspect_list_and_delete_a_source() {
    let w = Workdir::new();
    let (served, api) = start(&w);
    let dir = w.dir.path();
    let r = api.send(
        "POST",
        "/connectors",
        &json!({"name": "  src  ", "config": source_config(dir, "lines")}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("location"), Some("/connectors/src"));
    let info = r.json();
    assert_eq!(info["name"], "src");
    assert_eq!(info["type"], "source");
    assert_eq!(
        info["config"]["name"], "src",
        "the name is injected into the config"
    );
    api.wait_state(WAIT, "src", "RUNNING");

    assert_eq!(api.get("/connectors").json(), json!(["src"]));
    let info = api.get("/connectors/src").json();
    assert_eq!(info["tasks"], json!([{"connector": "src", "task": 0}]));
    let config = api.get("/connectors/src/config").json();
    assert_eq!(config["topic"], "lines");
    assert_eq!(
        config["connector.class"], "FileStreamSource",
        "stored as written"
    );
    let status = api.get("/connectors/src/status").json();
    assert_eq!(status["name"], "src");
    assert_eq!(status["type"], "source");
    assert_eq!(status["connector"]["worker_id"], served.rest());
    let tasks = api.get("/connectors/src/tasks").json();
    assert_eq!(tasks[0]["id"], json!({"connector": "src", "task": 0}));
    assert_eq!(tasks[0]["config"]["topic"], "lines");
    let by_id = api.get("/connectors/src/tasks-config").json();
    assert_eq!(by_id["src-0"]["topic"], "lines");
    let task = api.get("/connectors/src/tasks/0/status").json();
    assert_eq!(task["id"], 0);
    assert_eq!(task["state"], "RUNNING");
    assert_eq!(task["worker_id"], served.rest());
    api.get("/connectors/src/tasks/7/status")
        .assert_error(404, "No status found for task src-7");
    api.get("/connectors/src/tasks/x/status")
        .assert_error(404, "Not Found");

    let both = api.get("/connectors?expand=status&expand=info").json();
    assert_eq!(both["src"]["status"]["connector"]["state"], "RUNNING");
    assert_eq!(both["src"]["info"]["type"], "source");
    let status_only = api.get("/connectors?expand=status").json();
    assert!(status_only["src"]["info"].is_null());
    assert_eq!(
        api.get("/connectors?expand=bogus").json(),
        json!({"src": {}})
    );

    let r = api.call("DELETE", "/connectors/src", None);
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(r.body.is_empty());
    api.get("/connectors/src")
        .assert_error(404, "Connector src not found");
    assert_eq!(api.get("/connectors").json(), json!([]));
}

#[test]
fn create_errors_name_the_problem() {
    let w = Workdir::new();
    let (_served, api) = start(&w);
    let dir = w.dir.path();
    let bad = api.call(
        "POST",
        "/connectors",
        Some("{\"name\": \"x\", \"config\": {"),
    );
    bad.assert_error(400, "Malformed JSON in the request body");
    bad.assert_error(400, "line 1 column");
    api.send("POST", "/connectors", &json!({"name": "x"}))
        .assert_error(400, "\"config\"");
    let mut mismatched = source_config(dir, "lines");
    mismatched["name"] = json!("other");
    api.send(
        "POST",
        "/connectors",
        &json!({"name": "src", "config": mismatched}),
    )
    .assert_error(
        400,
        "Connector name configuration (other) doesn't match connector name in the URL (src)",
    );
    let mut unknown = source_config(dir, "lines");
    unknown["connector.class"] = json!("com.example.NopeConnector");
    let r = api.send(
        "POST",
        "/connectors",
        &json!({"name": "u", "config": unknown}),
    );
    r.assert_error(
        400,
        "Connector configuration is invalid and contains the following 1 error(s):",
    );
    r.assert_error(400, "Known connector classes: ");
    r.assert_error(400, SOURCE_CLASS);
    r.assert_error(400, SINK_CLASS);
    r.assert_error(400, "/connector-plugins/{connectorType}/config/validate");
    let mut missing = source_config(dir, "lines");
    missing.as_object_mut().expect("object").remove("topic");
    api.send(
        "POST",
        "/connectors",
        &json!({"name": "m", "config": missing}),
    )
    .assert_error(
        400,
        "Missing required configuration \"topic\" which has no default value.",
    );
    api.send(
        "POST",
        "/connectors",
        &json!({"name": " ", "config": source_config(dir, "t")}),
    )
    .assert_error(400, "");
    api.send(
        "POST",
        "/connectors",
        &json!({"name": "s", "config": source_config(dir, "t"), "initial_state": "SLEEPING"}),
    )
    .assert_error(400, "initial_state");
    assert_eq!(
        api.get("/connectors").json(),
        json!([]),
        "nothing was created"
    );

    create_source(&api, dir, "src");
    api.send(
        "POST",
        "/connectors",
        &json!({"name": "src", "config": source_config(dir, "t")}),
    )
    .assert_error(409, "Connector src already exists");
    let paused = api.send(
        "POST",
        "/connectors",
        &json!({"name": "later", "config": source_config(dir, "t2"), "initial_state": "PAUSED"}),
    );
    assert_eq!(paused.status, 201, "{}", paused.body);
    api.wait_state(WAIT, "later", "PAUSED");
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(11 * 1024 * 1024));
    let r = api.call("POST", "/connectors", Some(&huge));
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(r.json()["error_code"], 413);
    assert_eq!(
        r.json()["message"],
        "Request body is larger than the limit of 10485760 bytes"
    );
}

#[test]
fn unknown_connectors_get_404_everywhere() {
    let w = Workdir::new();
    let (_served, api) = start(&w);
    let not_found = "Connector nope not found";
    let offsets = json!({"offsets": [{"partition": {"filename": "f"}, "offset": {"position": 0}}]});
    for (method, path, body) in [
        ("GET", "/connectors/nope", None),
        ("GET", "/connectors/nope/config", None),
        ("DELETE", "/connectors/nope", None),
        ("GET", "/connectors/nope/tasks", None),
        ("GET", "/connectors/nope/tasks-config", None),
        ("PUT", "/connectors/nope/pause", None),
        ("PUT", "/connectors/nope/resume", None),
        ("PUT", "/connectors/nope/stop", None),
        ("POST", "/connectors/nope/restart", None),
        ("POST", "/connectors/nope/restart?includeTasks=true", None),
        ("POST", "/connectors/nope/tasks/0/restart", None),
        ("GET", "/connectors/nope/offsets", None),
        ("DELETE", "/connectors/nope/offsets", None),
        (
            "PATCH",
            "/connectors/nope/offsets",
            Some(offsets.to_string()),
        ),
        (
            "PATCH",
            "/connectors/nope/config",
            Some("{\"file\": \"x\"}".to_string()),
        ),
        ("GET", "/connectors/nope/topics", None),
        ("PUT", "/connectors/nope/topics/reset", None),
    ] {
        let r = api.call(method, path, body.as_deref());
        assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
        r.assert_error(404, not_found);
    }
    api.get("/connectors/nope/status")
        .assert_error(404, "No status found for connector nope");
    api.get("/connectors/nope/tasks/0/status")
        .assert_error(404, "No status found for task nope-0");
}

#[test]
fn put_creates_then_updates_and_patch_changes_keys() {
    let w = Workdir::new();
    let (_served, api) = start(&w);
    let dir = w.dir.path();
    let created = api.send("PUT", "/connectors/sink/config", &sink_config(dir, "lines"));
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.header("location"), Some("/connectors/sink"));
    assert_eq!(created.json()["type"], "sink");
    api.wait_state(WAIT, "sink", "RUNNING");
    let mut changed = sink_config(dir, "lines");
    changed["topics"] = json!("lines,more");
    let updated = api.send("PUT", "/connectors/sink/config", &changed);
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(
        api.get("/connectors/sink/config").json()["topics"],
        "lines,more"
    );
    changed["name"] = json!("other");
    api.send("PUT", "/connectors/sink/config", &changed)
        .assert_error(
            400,
            "Connector name configuration (other) doesn't match connector name in the URL (sink)",
        );
    let mut both = sink_config(dir, "lines");
    both["topics.regex"] = json!("l.*");
    api.send("PUT", "/connectors/sink/config", &both)
        .assert_error(
            400,
            "topics and topics.regex are mutually exclusive options, but both are set.",
        );
    api.call("PUT", "/connectors/sink/config", Some("{\"file\": [1]}"))
        .assert_error(400, "\"file\"");

    let patched = api.send(
        "PATCH",
        "/connectors/sink/config",
        &json!({"tasks.max": "2"}),
    );
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.json()["config"]["tasks.max"], "2");
    assert_eq!(
        patched.json()["config"]["topics"],
        "lines,more",
        "other keys kept"
    );
    api.send("PATCH", "/connectors/sink/config", &json!({"topics": null}))
        .assert_error(400, "Must configure one of topics or topics.regex");
    let removed = api.send(
        "PATCH",
        "/connectors/sink/config",
        &json!({"tasks.max": null}),
    );
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert!(
        removed.json()["config"]["tasks.max"].is_null(),
        "{}",
        removed.body
    );
}

#[test]
fn lifecycle_restarts_and_offsets() {
    let w = Workdir::new();
    let (_served, api) = start(&w);
    let dir = w.dir.path();
    create_source(&api, dir, "src");
    api.wait_state(WAIT, "src", "RUNNING");

    let r = api.call("PUT", "/connectors/src/pause", None);
    assert_eq!((r.status, r.body.as_str()), (202, ""));
    api.wait_state(WAIT, "src", "PAUSED");
    assert_eq!(
        api.call("PUT", "/connectors/src/pause", None).status,
        202,
        "idempotent"
    );
    assert_eq!(api.call("PUT", "/connectors/src/resume", None).status, 202);
    api.wait_state(WAIT, "src", "RUNNING");

    let legacy = api.call("POST", "/connectors/src/restart", None);
    assert_eq!((legacy.status, legacy.body.as_str()), (204, ""));
    let full = api.call(
        "POST",
        "/connectors/src/restart?includeTasks=true&onlyFailed=false",
        None,
    );
    assert_eq!(full.status, 202, "{}", full.body);
    let doc = full.json();
    assert_eq!(doc["name"], "src");
    assert!(
        doc["connector"]["state"].is_string() && doc["tasks"].is_array(),
        "{doc}"
    );
    let only_failed = api.call(
        "POST",
        "/connectors/src/restart?includeTasks=true&onlyFailed=true",
        None,
    );
    assert_eq!(only_failed.status, 202, "{}", only_failed.body);
    assert_eq!(
        only_failed.json()["tasks"][0]["state"],
        "RUNNING",
        "nothing failed"
    );
    assert_eq!(
        api.call("POST", "/connectors/src/tasks/0/restart", None)
            .status,
        204
    );
    api.wait_state(WAIT, "src", "RUNNING");

    let input = dir.join("in.txt").display().to_string();
    let offsets_path = "/connectors/src/offsets";
    wait_for(
        "the source's offset to be committed",
        WAIT,
        || api.get(offsets_path).json()["offsets"][0]["offset"]["position"] == 14,
        || api.get(offsets_path).body,
    );
    assert_eq!(
        api.get(offsets_path).json()["offsets"][0]["partition"]["filename"],
        input
    );
    let change =
        json!({"offsets": [{"partition": {"filename": input}, "offset": {"position": 4}}]});
    let running = "Connectors must be in the STOPPED state before their offsets can be modified";
    api.send("PATCH", offsets_path, &change)
        .assert_error(400, running);
    api.call("DELETE", offsets_path, None)
        .assert_error(400, running);

    let stopped = api.call("PUT", "/connectors/src/stop", None);
    assert_eq!((stopped.status, stopped.body.as_str()), (204, ""));
    wait_for(
        "src to be STOPPED without tasks",
        WAIT,
        || {
            let s = api.get("/connectors/src/status").json();
            s["connector"]["state"] == "STOPPED" && s["tasks"] == json!([])
        },
        || api.get("/connectors/src/status").body,
    );
    let empty = "Partitions / offsets need to be provided for an alter offsets request";
    api.call("PATCH", offsets_path, None)
        .assert_error(400, empty);
    api.call("PATCH", offsets_path, Some("{}"))
        .assert_error(400, empty);
    api.call("PATCH", offsets_path, Some("{\"offsets\": []}"))
        .assert_error(400, empty);
    let altered = api.send("PATCH", offsets_path, &change);
    assert_eq!(altered.status, 200, "{}", altered.body);
    assert!(
        altered.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("altered successfully"))
    );
    assert_eq!(
        api.get(offsets_path).json()["offsets"][0]["offset"]["position"],
        4
    );
    let reset = api.call("DELETE", offsets_path, None);
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert!(
        reset.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("reset successfully"))
    );
    assert_eq!(api.get(offsets_path).json()["offsets"], json!([]));
    assert_eq!(api.call("PUT", "/connectors/src/resume", None).status, 202);
    api.wait_state(WAIT, "src", "RUNNING");
}

#[test]
fn topic_tracking_and_its_switches() {
    let w = Workdir::new();
    let (_served, api) = start(&w);
    create_source(&api, w.dir.path(), "src");
    wait_for(
        "src's active topics",
        WAIT,
        || api.get("/connectors/src/topics").json() == json!({"src": {"topics": ["lines"]}}),
        || api.get("/connectors/src/topics").body,
    );
    let r = api.call("PUT", "/connectors/src/topics/reset", None);
    assert_eq!((r.status, r.body.as_str()), (202, ""));
    assert_eq!(
        api.get("/connectors/src/topics").json(),
        json!({"src": {"topics": []}})
    );

    for (config, get_status, reset_message) in [
        (
            json!({"topic.tracking.enable": "false"}),
            403,
            "Topic tracking is disabled.",
        ),
        (
            json!({"topic.tracking.allow.reset": "false"}),
            200,
            "Topic tracking reset is disabled.",
        ),
    ] {
        let w = Workdir::new();
        let path = worker_config(&w, config);
        let served = w.serve(&["--worker-config", &path]);
        let api = Api::new(served.rest());
        create_source(&api, w.dir.path(), "src");
        let r = api.get("/connectors/src/topics");
        assert_eq!(r.status, get_status, "{}", r.body);
        if get_status == 403 {
            r.assert_error(403, "Topic tracking is disabled.");
        }
        api.call("PUT", "/connectors/src/topics/reset", None)
            .assert_error(403, reset_message);
    }
}

#[test]
fn plugins_plugin_config_and_validate() {
    let w = Workdir::new();
    let (_served, api) = start(&w);
    let connectors = api.get("/connector-plugins").json();
    let listed: Vec<&Value> = connectors.as_array().expect("array").iter().collect();
    assert!(
        listed
            .iter()
            .all(|p| p["type"] == "source" || p["type"] == "sink")
    );
    for class in [SOURCE_CLASS, SINK_CLASS] {
        let p = listed
            .iter()
            .find(|p| p["class"] == class)
            .expect("file connectors listed");
        assert!(p["version"].is_string(), "{p}");
    }
    let all = api.get("/connector-plugins?connectorsOnly=false").json();
    let has = |kind: &str, class: &str| {
        all.as_array()
            .expect("array")
            .iter()
            .any(|p| p["type"] == kind && p["class"] == class)
    };
    assert!(has(
        "transformation",
        "org.apache.kafka.connect.transforms.RegexRouter"
    ));
    assert!(has(
        "predicate",
        "org.apache.kafka.connect.transforms.predicates.TopicNameMatches"
    ));
    assert!(has(
        "converter",
        "org.apache.kafka.connect.json.JsonConverter"
    ));
    assert!(has(
        "header_converter",
        "org.apache.kafka.connect.storage.SimpleHeaderConverter"
    ));

    let keys = api.get("/connector-plugins/FileStreamSource/config").json();
    let topic = keys
        .as_array()
        .expect("array")
        .iter()
        .find(|k| k["name"] == "topic");
    let topic = topic.expect("topic key");
    assert_eq!(
        (&topic["type"], &topic["required"]),
        (&json!("STRING"), &json!(true))
    );
    assert!(
        keys.as_array()
            .expect("array")
            .iter()
            .any(|k| k["name"] == "tasks.max")
    );
    assert_eq!(api.get("/connector-plugins/RegexRouter/config").status, 200);
    api.get("/connector-plugins/Nope/config")
        .assert_error(404, "Unknown plugin Nope.");

    let dir = w.dir.path();
    let mut config = source_config(dir, "lines");
    config["name"] = json!("v");
    let path = "/connector-plugins/FileStreamSourceConnector/config/validate";
    let ok = api.send("PUT", path, &config);
    assert_eq!(ok.status, 200, "{}", ok.body);
    let ok = ok.json();
    assert_eq!(
        (&ok["name"], &ok["error_count"]),
        (&json!("FileStreamSource"), &json!(0))
    );
    assert!(
        ok["groups"]
            .as_array()
            .is_some_and(|g| g.contains(&json!("Common")))
    );
    let tasks_max = ok["configs"]
        .as_array()
        .expect("configs")
        .iter()
        .find(|c| c["value"]["name"] == "tasks.max");
    let tasks_max = tasks_max.expect("tasks.max");
    assert_eq!(tasks_max["definition"]["default_value"], "1");
    assert_eq!(tasks_max["value"]["value"], "1");
    config.as_object_mut().expect("object").remove("topic");
    config["tasks.max"] = json!("0");
    let invalid = api.send("PUT", path, &config);
    assert_eq!(
        invalid.status, 200,
        "invalid configs still answer 200: {}",
        invalid.body
    );
    let invalid = invalid.json();
    assert_eq!(invalid["error_count"], 2, "{invalid}");
    let errors: Vec<&Value> = invalid["configs"]
        .as_array()
        .expect("configs")
        .iter()
        .flat_map(|c| c["value"]["errors"].as_array().expect("errors"))
        .collect();
    assert!(errors.contains(&&json!(
        "Missing required configuration \"topic\" which has no default value."
    )));
    assert!(errors.contains(&&json!(
        "Invalid value 0 for configuration tasks.max: Value must be at least 1"
    )));
    api.send(
        "PUT",
        "/connector-plugins/FileStreamSink/config/validate",
        &config,
    )
    .assert_error(
        400,
        "Included connector type FileStreamSource does not match request type FileStreamSink",
    );
    api.send("PUT", path, &json!({"name": "v", "topic": "t"}))
        .assert_error(400, "contains no connector type");
}

#[test]
fn loggers_can_be_listed_read_and_changed() {
    let w = Workdir::new();
    let (_served, api) = start(&w);
    let all = api.get("/admin/loggers").json();
    assert_eq!(all["root"]["level"], "INFO", "{all}");
    assert!(all["root"]["last_modified"].is_null());
    assert_eq!(api.get("/admin/loggers/root").json()["level"], "INFO");
    let set = api.send(
        "PUT",
        "/admin/loggers/weir_runtime",
        &json!({"level": "DEBUG"}),
    );
    assert_eq!(set.status, 200, "{}", set.body);
    let affected = set.json();
    assert!(
        affected
            .as_array()
            .is_some_and(|a| a.contains(&json!("weir_runtime"))),
        "{affected}"
    );
    let one = api.get("/admin/loggers/weir_runtime").json();
    assert_eq!(one["level"], "DEBUG");
    assert!(one["last_modified"].is_i64(), "{one}");
    assert_eq!(
        api.get("/admin/loggers/weir_runtime::worker").json()["level"],
        "DEBUG"
    );
    assert_eq!(
        api.get("/admin/loggers").json()["weir_runtime"]["level"],
        "DEBUG"
    );
    api.get("/admin/loggers/com.nope")
        .assert_error(404, "Logger com.nope not found.");
    api.send(
        "PUT",
        "/admin/loggers/weir_runtime",
        &json!({"lvl": "DEBUG"}),
    )
    .assert_error(
        400,
        "Desired 'level' parameter was not specified in request.",
    );
    api.send(
        "PUT",
        "/admin/loggers/weir_runtime",
        &json!({"level": "LOUD"}),
    )
    .assert_error(404, "invalid log level 'LOUD'.");
    let cluster = api.send(
        "PUT",
        "/admin/loggers/weir_broker?scope=cluster",
        &json!({"level": "WARN"}),
    );
    assert_eq!((cluster.status, cluster.body.as_str()), (204, ""));
    assert_eq!(
        api.get("/admin/loggers/weir_broker").json()["level"],
        "WARN"
    );
}

#[test]
fn authentication_guards_every_request() {
    for (config, good, bad, scheme) in [
        (
            json!({"rest.auth.basic.username": "admin", "rest.auth.basic.password": "s3cret-pw"}),
            "Basic YWRtaW46czNjcmV0LXB3", // admin:s3cret-pw
            "Basic YWRtaW46d3Jvbmc=",     // admin:wrong
            "Basic",
        ),
        (
            json!({"rest.auth.bearer.token": "s3cret-pw"}),
            "Bearer s3cret-pw",
            "Bearer s3cret",
            "Bearer",
        ),
    ] {
        let w = Workdir::new();
        let path = worker_config(&w, config);
        let served = w.serve(&["--worker-config", &path]);
        let mut api = Api::new(served.rest());
        for uri in ["/", "/connectors", "/metrics", "/nope"] {
            let r = api.get(uri);
            r.assert_error(401, "Authentication required");
            assert!(
                r.header("www-authenticate")
                    .is_some_and(|c| c.starts_with(scheme)),
                "{r:?}"
            );
        }
        api.headers = vec![("Authorization".into(), bad.into())];
        api.get("/connectors")
            .assert_error(401, "Invalid credentials");
        api.headers = vec![("Authorization".into(), good.into())];
        assert_eq!(api.get("/connectors").status, 200);
        assert_eq!(api.get("/").status, 200);
        let (_, log) = served.stop();
        assert!(
            !log.join("\n").contains("s3cret-pw"),
            "a secret reached the log"
        );
    }
}

#[test]
fn metrics_have_series_for_a_running_connector() {
    let w = Workdir::new();
    let (_served, api) = start(&w);
    create_source(&api, w.dir.path(), "src");
    let series =
        "weir_connector_task_records_out_total{connector=\"src\",task=\"0\",type=\"source\"} 3";
    wait_for(
        "src's records in /metrics",
        WAIT,
        || api.get("/metrics").body.lines().any(|l| l == series),
        || api.get("/metrics").body,
    );
    let r = api.get("/metrics");
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain")),
        "{r:?}"
    );
    for expected in [
        "weir_up 1",
        "weir_connectors 1",
        "# TYPE weir_connector_task_batch_duration_seconds histogram",
        "weir_connector_task_records_in_total{connector=\"src\",task=\"0\",type=\"source\"}",
        "weir_connector_task_batch_duration_seconds_bucket{connector=\"src\",task=\"0\",type=\"source\",le=\"+Inf\"}",
        "weir_connector_task_offset_lag{connector=\"src\",task=\"0\",type=\"source\"}",
    ] {
        assert!(
            r.body.contains(expected),
            "{expected} missing from:\n{}",
            r.body
        );
    }
}
