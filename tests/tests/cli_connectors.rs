//! `weir connectors` and `weir plugins` against the REST API of a real `weir serve`: a
//! FileStreamSource through its whole life (create, list, status, pause, resume, stop,
//! offsets, restart, update, delete), `--json` answers, and the errors a user sees.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use weir_e2e::{Served, Workdir, wait_for};

const SOURCE: &str = "file-source";

/// `weir connectors|plugins ...` aimed at one REST API.
struct Rest<'a> {
    w: &'a Workdir,
    url: String,
    /// Environment for every command (credentials).
    env: Vec<(&'static str, String)>,
}

impl<'a> Rest<'a> {
    fn new(w: &'a Workdir, served: &Served) -> Self {
        Self {
            w,
            url: format!("http://{}", served.rest()),
            env: Vec::new(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--url", &self.url]);
        let mut cmd = self.w.weir(&all);
        for var in ["WEIR_REST_USER", "WEIR_REST_PASSWORD", "WEIR_REST_TOKEN"] {
            cmd.env_remove(var);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run weir")
    }

    /// Runs and asserts success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "weir {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("stdout is UTF-8")
    }

    /// Runs and asserts failure; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "weir {args:?} should fail, printed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).expect("stderr is UTF-8")
    }

    /// Runs with `--json` and parses stdout.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("weir {all:?}: {e}: {out}"))
    }

    fn state(&self, name: &str) -> String {
        let status = self.json(&["connectors", "status", name]);
        status["connector"]["state"]
            .as_str()
            .expect("status has connector.state")
            .to_owned()
    }

    fn wait_state(&self, name: &str, state: &str) {
        wait_for(
            &format!("{name} to be {state}"),
            Duration::from_secs(30),
            || self.state(name) == state,
            || self.ok(&["connectors", "status", name]),
        );
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// The source's committed file position, from `offsets --json` (`None` before any commit).
fn committed_position(rest: &Rest) -> Option<u64> {
    let offsets = rest.json(&["connectors", "offsets", SOURCE]);
    offsets["offsets"]
        .as_array()
        .expect("offsets is an array")
        .first()
        .and_then(|o| o["offset"]["position"].as_u64())
}

#[test]
fn a_file_source_through_its_whole_life() {
    let w = Workdir::new();
    let input = w.dir.path().join("input.txt");
    write(&input, "one\ntwo\nthree\n");
    // Offsets are committed every 300 ms instead of Kafka's 60 s.
    let worker = w.dir.path().join("worker.json");
    write(&worker, r#"{"offset.flush.interval.ms": "300"}"#);
    let served = w.serve(&["--worker-config", worker.to_str().expect("UTF-8 temp path")]);
    let rest = Rest::new(&w, &served);

    // Nothing yet: the table has its header only.
    assert_eq!(
        rest.ok(&["connectors", "list"]),
        "NAME  TYPE  STATE  TASKS\n"
    );

    let post = w.dir.path().join("source.json");
    let config = serde_json::json!({
        "name": SOURCE,
        "config": {
            "connector.class": "FileStreamSource",
            "tasks.max": "1",
            "file": input.to_str().expect("UTF-8 temp path"),
            "topic": "lines",
        }
    });
    write(&post, &config.to_string());
    let post_arg = post.to_str().expect("UTF-8 temp path");
    assert_eq!(
        rest.ok(&["connectors", "create", "-f", post_arg]),
        format!("Created connector {SOURCE}.\n")
    );

    rest.wait_state(SOURCE, "RUNNING");
    wait_for(
        "the task to run",
        Duration::from_secs(30),
        || rest.ok(&["connectors", "list"]).contains("RUNNING  1/1"),
        || rest.ok(&["connectors", "list"]),
    );
    let list = rest.ok(&["connectors", "list"]);
    let rows: Vec<Vec<&str>> = list
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["NAME", "TYPE", "STATE", "TASKS"],
            vec![SOURCE, "source", "RUNNING", "1/1"]
        ],
        "{list}"
    );
    let listed = rest.json(&["connectors", "list"]);
    assert_eq!(listed[SOURCE]["status"]["connector"]["state"], "RUNNING");
    assert_eq!(listed[SOURCE]["info"]["type"], "source");

    let status = rest.ok(&["connectors", "status", SOURCE]);
    assert!(
        status.starts_with(&format!("Connector {SOURCE} (source): RUNNING on ")),
        "{status}"
    );
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("0 ") && l.contains("RUNNING")),
        "{status}"
    );
    let info = rest.ok(&["connectors", "get", SOURCE]);
    assert!(info.contains("Type:   source"), "{info}");
    assert!(info.contains(&format!("Tasks:  {SOURCE}-0")), "{info}");
    let config_lines = rest.ok(&["connectors", "config", SOURCE]);
    assert!(
        config_lines.contains(&format!("file={}\n", input.display())),
        "{config_lines}"
    );
    assert_eq!(
        rest.json(&["connectors", "config", SOURCE])["topic"],
        "lines"
    );

    // The source reads the whole file and commits its position.
    let size = std::fs::metadata(&input).expect("input size").len();
    wait_for(
        "the source to commit the end of the file",
        Duration::from_secs(30),
        || committed_position(&rest) == Some(size),
        || rest.ok(&["connectors", "offsets", SOURCE]),
    );

    assert_eq!(
        rest.ok(&["connectors", "pause", SOURCE]),
        format!("Pausing connector {SOURCE}.\n")
    );
    rest.wait_state(SOURCE, "PAUSED");
    rest.ok(&["connectors", "resume", SOURCE]);
    rest.wait_state(SOURCE, "RUNNING");

    // Offsets change only while stopped.
    let offsets_file = w.dir.path().join("offsets.json");
    let rewind = serde_json::json!({"offsets": [{
        "partition": {"filename": input.to_str().expect("UTF-8 temp path")},
        "offset": {"position": 4}
    }]});
    write(&offsets_file, &rewind.to_string());
    let offsets_arg = offsets_file.to_str().expect("UTF-8 temp path");
    let refused = rest.fails(&[
        "connectors",
        "offsets",
        SOURCE,
        "--alter",
        "-f",
        offsets_arg,
    ]);
    assert!(
        refused.contains("STOPPED") && refused.contains("(400)"),
        "{refused}"
    );

    assert_eq!(
        rest.ok(&["connectors", "stop", SOURCE]),
        format!("Stopped connector {SOURCE}.\n")
    );
    rest.wait_state(SOURCE, "STOPPED");
    assert!(
        rest.ok(&["connectors", "status", SOURCE])
            .contains("No tasks."),
        "a stopped connector has no tasks"
    );
    let table = rest.ok(&["connectors", "offsets", SOURCE]);
    let partition = serde_json::json!({"filename": input.to_str().expect("UTF-8 temp path")});
    assert_eq!(
        table,
        format!(
            "PARTITION{}  OFFSET\n{partition}  {{\"position\":{size}}}\n",
            " ".repeat(partition.to_string().len() - "PARTITION".len())
        )
    );
    let altered = rest.ok(&[
        "connectors",
        "offsets",
        SOURCE,
        "--alter",
        "-f",
        offsets_arg,
    ]);
    assert!(altered.contains("altered successfully"), "{altered}");
    assert_eq!(committed_position(&rest), Some(4));
    let reset = rest.ok(&["connectors", "offsets", SOURCE, "--reset"]);
    assert!(reset.contains("reset successfully"), "{reset}");
    assert_eq!(
        rest.ok(&["connectors", "offsets", SOURCE]),
        "PARTITION  OFFSET\n"
    );

    rest.ok(&["connectors", "resume", SOURCE]);
    rest.wait_state(SOURCE, "RUNNING");
    assert_eq!(
        rest.ok(&["connectors", "restart", SOURCE]),
        format!("Restarting connector {SOURCE}.\n")
    );
    let restarted = rest.ok(&["connectors", "restart", SOURCE, "--include-tasks"]);
    assert!(
        restarted.starts_with(&format!(
            "Restarting connector {SOURCE}.\nConnector {SOURCE}"
        )),
        "{restarted}"
    );
    let restarted = rest.json(&["connectors", "restart", SOURCE, "--include-tasks"]);
    assert_eq!(restarted["name"], SOURCE);
    rest.wait_state(SOURCE, "RUNNING");

    // The flat shape (the PUT body) updates in place.
    let flat = w.dir.path().join("flat.json");
    let mut flat_config = config["config"].clone();
    flat_config["name"] = SOURCE.into();
    flat_config["batch.size"] = "10".into();
    write(&flat, &flat_config.to_string());
    assert_eq!(
        rest.ok(&["connectors", "create", "-f", flat.to_str().expect("UTF-8")]),
        format!("Updated connector {SOURCE}.\n")
    );
    assert_eq!(
        rest.json(&["connectors", "config", SOURCE])["batch.size"],
        "10"
    );

    assert_eq!(
        rest.ok(&["connectors", "delete", SOURCE]),
        format!("Deleted connector {SOURCE}.\n")
    );
    assert_eq!(rest.json(&["connectors", "list"]), serde_json::json!({}));
    let gone = rest.fails(&["connectors", "get", SOURCE]);
    assert_eq!(gone, format!("error: Connector {SOURCE} not found (404)\n"));
    let (clean, log) = served.stop();
    assert!(clean, "weir serve exits cleanly:\n{}", log.join("\n"));
}

#[test]
fn errors_carry_the_server_message_and_exit_non_zero() {
    let w = Workdir::new();
    let served = w.serve(&[]);
    let rest = Rest::new(&w, &served);
    for verb in [
        "get", "config", "pause", "resume", "stop", "delete", "offsets",
    ] {
        let err = rest.fails(&["connectors", verb, "nope"]);
        assert_eq!(err, "error: Connector nope not found (404)\n", "{verb}");
    }
    let err = rest.fails(&["connectors", "status", "nope", "--json"]);
    assert!(err.contains("nope") && err.contains("(404)"), "{err}");

    // A second POST of the same name is a conflict, and the message says so.
    let file = w.dir.path().join("c.json");
    let input = w.dir.path().join("in.txt");
    write(&input, "");
    let body = serde_json::json!({"name": "dup", "config": {
        "connector.class": "FileStreamSource",
        "file": input.to_str().expect("UTF-8 temp path"),
        "topic": "t",
    }});
    write(&file, &body.to_string());
    let file_arg = file.to_str().expect("UTF-8 temp path");
    let created = rest.json(&["connectors", "create", "-f", file_arg]);
    assert_eq!(created["name"], "dup");
    assert_eq!(created["type"], "source");
    let err = rest.fails(&["connectors", "create", "-f", file_arg]);
    assert_eq!(err, "error: Connector dup already exists (409)\n");

    // An invalid config prints every error the server lists.
    let bad = w.dir.path().join("bad.json");
    write(
        &bad,
        r#"{"name": "bad", "config": {"connector.class": "FileStreamSource"}}"#,
    );
    let err = rest.fails(&["connectors", "create", "-f", bad.to_str().expect("UTF-8")]);
    assert!(
        err.starts_with("error: Connector configuration is invalid") && err.contains("(400)"),
        "{err}"
    );
    // A file that is neither shape is refused before anything is sent.
    write(&bad, r#"{"connector.class": "FileStreamSource"}"#);
    let err = rest.fails(&["connectors", "create", "-f", bad.to_str().expect("UTF-8")]);
    assert!(err.contains("needs a \"name\""), "{err}");
    drop(served);
}

#[test]
fn an_unreachable_api_names_the_url_and_weir_serve() {
    let w = Workdir::new();
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = w
        .weir(&["connectors", "list"])
        .env("WEIR_REST_URL", &url)
        .output()
        .expect("run weir");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot connect to the REST API at {url}"))
            && err.contains("weir serve"),
        "{err}"
    );
}

#[test]
fn plugins_list_shows_the_file_connectors() {
    let w = Workdir::new();
    let served = w.serve(&[]);
    let rest = Rest::new(&w, &served);
    let table = rest.ok(&["plugins", "list"]);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["CLASS", "TYPE", "VERSION"], "{table}");
    for (class, kind) in [
        (
            "org.apache.kafka.connect.file.FileStreamSourceConnector",
            "source",
        ),
        (
            "org.apache.kafka.connect.file.FileStreamSinkConnector",
            "sink",
        ),
    ] {
        assert!(
            rows.iter()
                .any(|r| r.first() == Some(&class) && r.get(1) == Some(&kind)),
            "{class} {kind} missing:\n{table}"
        );
    }
    assert!(
        rows.iter()
            .skip(1)
            .all(|r| matches!(r.get(1), Some(&"source" | &"sink"))),
        "connectors only without --all:\n{table}"
    );
    let all = rest.json(&["plugins", "list", "--all"]);
    let kinds: Vec<&str> = all
        .as_array()
        .expect("plugins are an array")
        .iter()
        .filter_map(|p| p["type"].as_str())
        .collect();
    assert!(kinds.contains(&"transformation"), "{all}");
    assert!(kinds.contains(&"converter"), "{all}");
}

#[test]
fn basic_and_bearer_credentials_reach_a_protected_api() {
    for (auth, good, bad) in [
        (
            serde_json::json!({"rest.auth.basic.username": "admin", "rest.auth.basic.password": "pa55 word"}),
            vec![
                ("WEIR_REST_USER", "admin"),
                ("WEIR_REST_PASSWORD", "pa55 word"),
            ],
            vec![
                ("WEIR_REST_USER", "admin"),
                ("WEIR_REST_PASSWORD", "Wr0ngPa55"),
            ],
        ),
        (
            serde_json::json!({"rest.auth.bearer.token": "t0ken"}),
            vec![("WEIR_REST_TOKEN", "t0ken")],
            vec![("WEIR_REST_TOKEN", "0therT0k")],
        ),
    ] {
        let w = Workdir::new();
        let config = w.dir.path().join("worker.json");
        write(&config, &auth.to_string());
        let served = w.serve(&["--worker-config", config.to_str().expect("UTF-8 temp path")]);
        let mut rest = Rest::new(&w, &served);
        let err = rest.fails(&["plugins", "list"]);
        assert!(err.contains("(401)"), "no credentials: {err}");
        let env = |creds: &[(&'static str, &str)]| {
            creds.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
        };
        rest.env = env(&bad);
        let err = rest.fails(&["connectors", "list"]);
        assert!(err.contains("(401)"), "{auth}: wrong credentials: {err}");
        assert!(
            !err.contains("Wr0ngPa55") && !err.contains("0therT0k"),
            "a secret is printed: {err}"
        );
        rest.env = env(&good);
        assert_eq!(
            rest.ok(&["connectors", "list"]),
            "NAME  TYPE  STATE  TASKS\n"
        );
        // --password-file instead of WEIR_REST_PASSWORD.
        if auth.get("rest.auth.basic.password").is_some() {
            let file = w.dir.path().join("password");
            write(&file, "pa55 word\n");
            rest.env = vec![("WEIR_REST_USER", "admin".to_owned())];
            let out = rest.ok(&[
                "connectors",
                "list",
                "--password-file",
                file.to_str().expect("UTF-8"),
            ]);
            assert_eq!(out, "NAME  TYPE  STATE  TASKS\n");
        }
    }
}
