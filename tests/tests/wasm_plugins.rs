//! WASM plugins end to end through the real binary and its REST API: the example plugins
//! (built from source by `plugins-wasm/build-examples.sh`) as source, transforms, predicate
//! and sink of real pipelines, the hostile fixtures each failing only their own task, and a
//! plugin file replaced under a running connector (hot reload) without losing records.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use weir_e2e::wasm::{Collector, has_plugin, install, plugin_dir};
use weir_e2e::{RestApi, Served, Workdir, kcat, wait_for};

const WAIT: Duration = Duration::from_secs(90);
const STRING: &str = "org.apache.kafka.connect.storage.StringConverter";
const JSON: &str = "org.apache.kafka.connect.json.JsonConverter";

fn serve(w: &Workdir, plugins: &Path) -> (Served, RestApi) {
    let config = w.dir.path().join("worker.json");
    let body = json!({
        "offset.flush.interval.ms": "300",
        "plugin.path": plugins.display().to_string(),
        "plugin.reload.interval.ms": "200",
    });
    std::fs::write(&config, body.to_string()).expect("worker config");
    let served = w.serve(&["--worker-config", &config.display().to_string()]);
    let api = RestApi::new(served.rest());
    (served, api)
}

fn append(path: &Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open input");
    for l in lines {
        writeln!(f, "{l}").expect("append");
    }
}

/// A FileStreamSource of `file` into `topic`, values as strings, running.
fn file_source(api: &RestApi, name: &str, file: &Path, topic: &str) {
    api.put_running(
        WAIT,
        name,
        &json!({"connector.class": "FileStreamSource", "file": file.display().to_string(),
                "topic": topic, "value.converter": STRING}),
    );
}

fn person(i: usize) -> String {
    let note = if i.is_multiple_of(5) {
        "drop-me"
    } else {
        "keep"
    };
    json!({"id": i, "email": format!("user{i}@example.com"), "note": note}).to_string()
}

/// The task's status document.
fn task_status(api: &RestApi, name: &str) -> Value {
    api.get(&format!("/connectors/{name}/status")).json()["tasks"][0].clone()
}

fn wait_task_state(api: &RestApi, name: &str, state: &str) -> Value {
    wait_for(
        &format!("task 0 of {name} to be {state}"),
        WAIT,
        || task_status(api, name)["state"] == state,
        || api.get(&format!("/connectors/{name}/status")).body,
    );
    task_status(api, name)
}

#[test]
fn example_plugins_run_pipelines_through_the_rest_api() {
    let w = Workdir::new();
    let root = w.dir.path();
    let mut names = vec![
        "counter-source",
        "route-by-key",
        "mask-json",
        "drop-by-header",
        "http-post-sink",
    ];
    // Optional toolchains (Rust guest, AssemblyScript): used when they built here.
    let tag = has_plugin("tag-header");
    let contains = has_plugin("value-contains");
    if tag {
        names.push("tag-header");
    } else {
        eprintln!("SKIPPED: the tag-header (Rust guest) part: the module did not build");
    }
    if contains {
        names.push("value-contains");
    } else {
        eprintln!("SKIPPED: the value-contains (AssemblyScript) part: the module did not build");
    }
    let plugins = plugin_dir(root, &names);
    let (served, api) = serve(&w, &plugins);

    // Listed as Kafka Connect lists plugins: connectors by default, all with the flag.
    let all = api.get("/connector-plugins?connectorsOnly=false").json();
    let kind_of = |class: &str| {
        all.as_array()
            .expect("list")
            .iter()
            .find(|p| p["class"] == class)
            .map(|p| {
                assert!(
                    p["version"]
                        .as_str()
                        .is_some_and(|v| v.starts_with("wasm-")),
                    "{p}"
                );
                p["type"].as_str().unwrap_or_default().to_string()
            })
    };
    assert_eq!(kind_of("counter-source").as_deref(), Some("source"));
    assert_eq!(kind_of("http-post-sink").as_deref(), Some("sink"));
    assert_eq!(kind_of("mask-json").as_deref(), Some("transformation"));
    if contains {
        assert_eq!(kind_of("value-contains").as_deref(), Some("predicate"));
    }
    let connectors = api.get("/connector-plugins").body;
    assert!(connectors.contains("counter-source") && !connectors.contains("mask-json"));

    // counter-source (C) -> route-by-key (C, type=wasm + module) [-> tag-header (Rust)].
    let mut source = json!({
        "connector.class": "counter-source",
        "topic": "numbers",
        "count": "1000",
        "batch.size": "50",
        "key.converter": STRING,
        "value.converter": JSON,
        "value.converter.schemas.enable": "false",
        "transforms": "route",
        "transforms.route.type": "wasm",
        "transforms.route.module": "route-by-key",
        "transforms.route.config.routes": "1:ones",
    });
    if tag {
        source["transforms"] = json!("route,tag");
        source["transforms.tag.type"] = json!("tag-header");
        source["transforms.tag.config.value"] = json!("e2e");
    }
    api.put_running(WAIT, "counter", &source);

    // JSON lines from a file, as strings.
    let input = root.join("people.txt");
    let people: Vec<String> = (0..200).map(person).collect();
    append(&input, &people);
    file_source(&api, "people", &input, "people");

    // Everything -> InsertHeader(drop) on "ones" -> drop-by-header (WAT) -> mask-json (C)
    // [-> Filter with value-contains (AssemblyScript)] -> http-post-sink (C), whose server
    // refuses the first two requests (the plugin asks for a retry, the batch comes again).
    let collector = Collector::start(2);
    let mut sink = json!({
        "connector.class": "http-post-sink",
        "topics": "numbers,ones,people",
        "url": format!("http://127.0.0.1:{}/in", collector.port),
        "wasm.http.allowed.hosts": format!("127.0.0.1:{}", collector.port),
        "key.converter": STRING,
        "value.converter": JSON,
        "value.converter.schemas.enable": "false",
        "transforms": "mark,dropper,mask",
        "transforms.mark.type": "org.apache.kafka.connect.transforms.InsertHeader",
        "transforms.mark.header": "drop",
        "transforms.mark.value.literal": "yes",
        "transforms.mark.predicate": "isOnes",
        "transforms.dropper.type": "drop-by-header",
        "transforms.mask.type": "mask-json",
        "transforms.mask.config.fields": "email",
        "predicates": "isOnes",
        "predicates.isOnes.type": "TopicNameMatches",
        "predicates.isOnes.pattern": "ones",
    });
    if contains {
        sink["transforms"] = json!("mark,dropper,mask,filter");
        sink["transforms.filter.type"] = json!("org.apache.kafka.connect.transforms.Filter");
        sink["transforms.filter.predicate"] = json!("isDrop");
        sink["predicates"] = json!("isOnes,isDrop");
        sink["predicates.isDrop.type"] = json!("value-contains");
        sink["predicates.isDrop.config.needle"] = json!("drop-me");
    }
    api.put_running(WAIT, "post", &sink);

    // The source's records, routed by key: 111 keys of 0..999 start with "1".
    let ones = kcat::wait_records(&served.bootstrap(), "ones", 111);
    let numbers = kcat::wait_records(&served.bootstrap(), "numbers", 889);
    for r in ones.iter().chain(&numbers) {
        let key = r.key.clone().expect("key");
        assert_eq!(
            r.json(),
            json!({"n": key.parse::<u64>().expect("numeric key")})
        );
        if tag {
            assert_eq!(r.header("processed-by"), Some("e2e"), "{r:?}");
        }
    }
    assert!(
        ones.iter()
            .all(|r| r.key.as_deref().is_some_and(|k| k.starts_with('1')))
    );
    assert!(
        numbers
            .iter()
            .all(|r| !r.key.as_deref().is_some_and(|k| k.starts_with('1')))
    );

    let kept_people = if contains { 160 } else { 200 };
    wait_for(
        "every record at the HTTP server",
        WAIT,
        || collector.lines().len() >= 889 + kept_people,
        || format!("{} lines so far", collector.lines().len()),
    );
    let lines = collector.lines();
    let ns: BTreeSet<u64> = lines.iter().filter_map(|l| l["n"].as_u64()).collect();
    let expected: BTreeSet<u64> = (0..1000u64)
        .filter(|n| !n.to_string().starts_with('1'))
        .collect();
    assert_eq!(
        ns, expected,
        "the sink got exactly the records not routed to ones"
    );
    let ids: BTreeSet<u64> = lines
        .iter()
        .filter(|l| l.get("id").is_some())
        .map(|l| {
            assert_eq!(l["email"], "****", "{l}");
            l["id"].as_u64().expect("id")
        })
        .collect();
    let expected_ids: BTreeSet<u64> = (0..200u64)
        .filter(|i| !contains || !i.is_multiple_of(5))
        .collect();
    assert_eq!(ids, expected_ids);
    assert!(
        collector.requests() >= 3,
        "the refused requests were retried"
    );
    assert_eq!(task_status(&api, "post")["state"], "RUNNING");
    served.stop();
}

#[test]
fn hostile_plugins_fail_only_their_own_task() {
    let w = Workdir::new();
    let root = w.dir.path();
    let plugins = plugin_dir(
        root,
        &[
            "identity",
            "fx-infinite-loop",
            "fx-grow-forever",
            "fx-oob-pointer",
            "fx-stack-overflow",
            "fx-wasi-import",
        ],
    );
    let (served, api) = serve(&w, &plugins);
    let input = root.join("in.txt");
    let lines: Vec<String> = (0..20).map(|i| format!("line {i}")).collect();
    append(&input, &lines);
    api.put_running(
        WAIT,
        "source",
        &json!({"connector.class": "FileStreamSource", "file": input.display().to_string(),
                "topic": "in"}),
    );
    let sink = |name: &str, transform: &str, extra: Value| {
        let mut c = json!({
            "connector.class": "FileStreamSink",
            "file": root.join(format!("{name}.txt")).display().to_string(),
            "topics": "in",
            "transforms": "t",
            "transforms.t.type": transform,
        });
        for (k, v) in extra.as_object().expect("object") {
            c[k] = v.clone();
        }
        c
    };

    // A module importing WASI is refused when the config is posted, naming the key.
    let r = api.send(
        "PUT",
        "/connectors/wasi/config",
        &sink("wasi", "fx-wasi-import", json!({})),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("transforms.t.type") && r.body.contains("wasi_snapshot_preview1"),
        "{}",
        r.body
    );

    let cases = [
        (
            "loop",
            "fx-infinite-loop",
            json!({"transforms.t.call.timeout.ms": "200"}),
            "ran past its deadline of 200 ms",
        ),
        (
            "grow",
            "fx-grow-forever",
            json!({"transforms.t.memory.max.bytes": "4194304"}),
            "the memory cap is 4194304 bytes",
        ),
        ("oob", "fx-oob-pointer", json!({}), "outside its memory"),
        ("deep", "fx-stack-overflow", json!({}), "stack overflow"),
    ];
    for (name, fixture, extra, _) in &cases {
        let r = api.send(
            "PUT",
            &format!("/connectors/{name}/config"),
            &sink(name, fixture, extra.clone()),
        );
        assert_eq!(r.status, 201, "{name}: {}", r.body);
    }
    // The same hostile transform with errors.tolerance=all: every record to the DLQ.
    api.put_running(
        WAIT,
        "tolerant",
        &sink(
            "tolerant",
            "fx-oob-pointer",
            json!({"errors.tolerance": "all", "errors.deadletterqueue.topic.name": "dlq",
                   "errors.deadletterqueue.context.headers.enable": "true"}),
        ),
    );
    api.put_running(WAIT, "healthy", &sink("healthy", "identity", json!({})));
    // On the source side too (the poll's batch fails, then each record alone).
    api.put_running(
        WAIT,
        "tolerant-source",
        &json!({"connector.class": "FileStreamSource", "file": input.display().to_string(),
                "topic": "never", "transforms": "t", "transforms.t.type": "fx-oob-pointer",
                "errors.tolerance": "all", "errors.deadletterqueue.topic.name": "dlq-source",
                "errors.deadletterqueue.context.headers.enable": "true"}),
    );

    for (name, fixture, _, expected) in &cases {
        let status = wait_task_state(&api, name, "FAILED");
        let trace = status["trace"].as_str().unwrap_or_default();
        assert!(
            trace.contains(&format!("WASM plugin {fixture}, weir_transform"))
                && trace.contains(expected),
            "{name}: {trace}"
        );
    }
    let healthy = root.join("healthy.txt");
    wait_for(
        "the healthy sink's output",
        WAIT,
        || std::fs::read_to_string(&healthy).is_ok_and(|t| t.lines().count() == lines.len()),
        || std::fs::read_to_string(&healthy).unwrap_or_default(),
    );
    assert_eq!(
        std::fs::read_to_string(&healthy).expect("output"),
        lines.join("\n") + "\n"
    );
    let dlq = kcat::wait_records(&served.bootstrap(), "dlq", lines.len());
    assert!(
        dlq.iter()
            .all(|r| r.dlq_reason().contains("outside its memory")),
        "{:?}",
        dlq.first()
    );
    assert_eq!(task_status(&api, "tolerant")["state"], "RUNNING");
    let dlq = kcat::wait_records(&served.bootstrap(), "dlq-source", lines.len());
    assert!(
        dlq.iter()
            .all(|r| r.dlq_reason().contains("outside its memory")),
        "{:?}",
        dlq.first()
    );
    assert!(kcat::consume(&served.bootstrap(), "never").is_empty());
    assert_eq!(task_status(&api, "tolerant-source")["state"], "RUNNING");
    assert_eq!(task_status(&api, "source")["state"], "RUNNING");
    // A failed task restarts with a new instance (and fails again, the same way).
    let r = api.call("POST", "/connectors/oob/tasks/0/restart", None);
    assert_eq!(r.status, 204, "{}", r.body);
    let status = wait_task_state(&api, "oob", "FAILED");
    assert!(
        status["trace"]
            .as_str()
            .is_some_and(|t| t.contains("outside its memory"))
    );
    served.stop();
}

#[test]
fn hot_reload_swaps_a_transform_without_losing_records() {
    let w = Workdir::new();
    let root = w.dir.path();
    let plugins = plugin_dir(root, &["identity:stage", "http-post-sink"]);
    let (served, api) = serve(&w, &plugins);
    let input = root.join("in.txt");
    let row = |i: usize| json!({"i": i, "secret": format!("s{i}")}).to_string();
    append(&input, &(0..300).map(row).collect::<Vec<_>>());
    file_source(&api, "source", &input, "rows");
    let collector = Collector::start(0);
    api.put_running(
        WAIT,
        "post",
        &json!({
            "connector.class": "http-post-sink",
            "topics": "rows",
            "url": format!("http://127.0.0.1:{}/in", collector.port),
            "wasm.http.allowed.hosts": format!("127.0.0.1:{}", collector.port),
            "value.converter": JSON,
            "value.converter.schemas.enable": "false",
            "transforms": "stage",
            "transforms.stage.type": "stage",
            "transforms.stage.config.fields": "secret",
        }),
    );
    let indexes = |lines: &[Value]| -> BTreeSet<u64> {
        lines.iter().filter_map(|l| l["i"].as_u64()).collect()
    };
    wait_for(
        "the first rows, unchanged",
        WAIT,
        || indexes(&collector.lines()).len() == 300,
        || format!("{} rows so far", collector.lines().len()),
    );
    let before = collector.lines().len();

    // The identity module is replaced by the masker under the same name.
    install(&plugins, "mask-json", "stage");
    wait_for(
        "the connector to restart with the new module",
        WAIT,
        || {
            served
                .log_so_far()
                .iter()
                .any(|l| l.contains("a WASM plugin it uses changed"))
        },
        || served.log_so_far().join("\n"),
    );
    api.wait_state(WAIT, "post", "RUNNING");
    append(&input, &(300..600).map(row).collect::<Vec<_>>());
    wait_for(
        "every row",
        WAIT,
        || indexes(&collector.lines()).len() == 600,
        || format!("{} rows so far", indexes(&collector.lines()).len()),
    );
    let lines = collector.lines();
    for (n, l) in lines.iter().enumerate() {
        let i = l["i"].as_u64().expect("i");
        if n < before {
            assert_eq!(l["secret"], format!("s{i}"), "before the swap: {l}");
        } else if i >= 300 {
            assert_eq!(l["secret"], "****", "after the swap: {l}");
        }
    }
    let listed = api.get("/connector-plugins?connectorsOnly=false").json();
    let stage = listed
        .as_array()
        .expect("list")
        .iter()
        .find(|p| p["class"] == "stage")
        .cloned()
        .expect("stage listed");
    assert_eq!(stage["type"], "transformation");
    served.stop();
}
