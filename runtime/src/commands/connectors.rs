//! `weir connectors list|create|get|config|status|pause|resume|stop|restart|delete|offsets`:
//! the Kafka Connect REST API from the command line, through [`crate::rest_client`].
//!
//! People get tables; `--json` prints the server's answer as it came (re-indented, keys in the
//! server's order) for scripts. An error answer exits non-zero with the server's message and
//! HTTP status, e.g. `error: Connector x not found (404)`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::Value;
use weir_connect_api::Secret;

use crate::cli::{ConnectorsArgs, ConnectorsCommand, RestArgs};
use crate::rest_client::{Answer, Auth, RestClient, RestError, segment};
use crate::worker::model::{ConnectorInfo, ConnectorOffsets, Message, StatusDoc};

pub fn run(args: &ConnectorsArgs) -> anyhow::Result<()> {
    let client = client(&args.rest)?;
    let json = args.rest.json;
    super::block_on(async {
        command(&client, &args.command, json)
            .await
            .map_err(|e| explain(&client, e))
    })
}

/// The client for `--url` with the credentials of `--user` (password from
/// `WEIR_REST_PASSWORD` or `--password-file`) or `--token`.
pub(crate) fn client(rest: &RestArgs) -> anyhow::Result<RestClient> {
    let auth = match (&rest.user, &rest.token) {
        (Some(_), Some(_)) => {
            bail!("pass either --user (basic auth) or --token (bearer auth), not both")
        }
        (Some(user), None) => Some(Auth::Basic {
            user: user.clone(),
            password: password(user, rest)?,
        }),
        (None, Some(token)) => Some(Auth::Bearer(token.clone())),
        (None, None) if rest.password_file.is_some() => {
            bail!("--password-file needs --user USER (or WEIR_REST_USER)")
        }
        (None, None) => None,
    };
    Ok(RestClient::new(&rest.url, auth)?)
}

fn password(user: &str, rest: &RestArgs) -> anyhow::Result<Secret> {
    if let Some(path) = &rest.password_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --password-file {}", path.display()))?;
        return Ok(Secret::new(text.lines().next().unwrap_or_default()));
    }
    match std::env::var("WEIR_REST_PASSWORD") {
        Ok(p) => Ok(Secret::new(p)),
        Err(_) => bail!(
            "--user {user} needs a password: set WEIR_REST_PASSWORD or pass --password-file FILE"
        ),
    }
}

/// A refused connection names the URL and says where the right one is found.
pub(crate) fn explain(client: &RestClient, e: anyhow::Error) -> anyhow::Error {
    match e.downcast_ref::<RestError>() {
        Some(re) if re.is_connection_refused() => anyhow::anyhow!(
            "cannot connect to the REST API at {}: connection refused. Is `weir serve` \
             running? Pass --url (or set WEIR_REST_URL) with the rest= address of its \
             `weir ready` log line",
            client.url()
        ),
        _ => e,
    }
}

async fn command(client: &RestClient, cmd: &ConnectorsCommand, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let path = |name: &str, rest: &str| format!("/connectors/{}{rest}", segment(name));
    match cmd {
        ConnectorsCommand::List => {
            let ans = client.get("/connectors?expand=status&expand=info").await?;
            if json {
                return print_json(&mut out, &ans);
            }
            write_list(&mut out, &ans.json()?)?;
        }
        ConnectorsCommand::Create { file } => {
            let doc: Value = serde_json::from_str(&read_input(file)?)
                .with_context(|| format!("{} is not valid JSON", file.display()))?;
            let req = CreateRequest::from_doc(doc)
                .with_context(|| format!("cannot create a connector from {}", file.display()))?;
            let ans = match &req {
                CreateRequest::Post { body, .. } => {
                    client.send("POST", "/connectors", Some(body)).await?
                }
                CreateRequest::Put { name, config } => {
                    client
                        .send("PUT", &path(name, "/config"), Some(config))
                        .await?
                }
            };
            if json {
                return print_json(&mut out, &ans);
            }
            let info: ConnectorInfo = ans.json()?;
            let verb = if ans.status == 201 {
                "Created"
            } else {
                "Updated"
            };
            writeln!(out, "{verb} connector {}.", info.name)?;
        }
        ConnectorsCommand::Get { name } => {
            let ans = client.get(&path(name, "")).await?;
            if json {
                return print_json(&mut out, &ans);
            }
            write_info(&mut out, &ans.json()?)?;
        }
        ConnectorsCommand::Config { name } => {
            let ans = client.get(&path(name, "/config")).await?;
            if json {
                return print_json(&mut out, &ans);
            }
            let config: BTreeMap<String, String> = ans.json()?;
            for (k, v) in config {
                writeln!(out, "{k}={v}")?;
            }
        }
        ConnectorsCommand::Status { name } => {
            let ans = client.get(&path(name, "/status")).await?;
            if json {
                return print_json(&mut out, &ans);
            }
            write_status(&mut out, &ans.json()?)?;
        }
        ConnectorsCommand::Pause { name } => {
            let ans = client.send("PUT", &path(name, "/pause"), None).await?;
            done(&mut out, json, &ans, &format!("Pausing connector {name}."))?;
        }
        ConnectorsCommand::Resume { name } => {
            let ans = client.send("PUT", &path(name, "/resume"), None).await?;
            done(&mut out, json, &ans, &format!("Resuming connector {name}."))?;
        }
        ConnectorsCommand::Stop { name } => {
            let ans = client.send("PUT", &path(name, "/stop"), None).await?;
            done(&mut out, json, &ans, &format!("Stopped connector {name}."))?;
        }
        ConnectorsCommand::Delete { name } => {
            let ans = client.send("DELETE", &path(name, ""), None).await?;
            done(&mut out, json, &ans, &format!("Deleted connector {name}."))?;
        }
        ConnectorsCommand::Restart {
            name,
            include_tasks,
            only_failed,
        } => {
            let query = format!("/restart?includeTasks={include_tasks}&onlyFailed={only_failed}");
            let ans = client.send("POST", &path(name, &query), None).await?;
            if json {
                return print_json(&mut out, &ans);
            }
            // 204 (connector object only) has no body; 202 answers the status with the
            // restarted instances in RESTARTING.
            writeln!(out, "Restarting connector {name}.")?;
            if !ans.body.is_empty() {
                write_status(&mut out, &ans.json()?)?;
            }
        }
        ConnectorsCommand::Offsets {
            name,
            reset,
            alter,
            file,
        } => {
            let ans = if *reset {
                client.send("DELETE", &path(name, "/offsets"), None).await?
            } else if let (true, Some(file)) = (*alter, file) {
                let body = offsets_file(file)?;
                client
                    .send("PATCH", &path(name, "/offsets"), Some(&body))
                    .await?
            } else {
                client.get(&path(name, "/offsets")).await?
            };
            if json {
                return print_json(&mut out, &ans);
            }
            if *reset || *alter {
                let msg: Message = ans.json()?;
                writeln!(out, "{}", msg.message)?;
            } else {
                write_offsets(&mut out, &ans.json()?)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// What `create -f FILE` sends: the POST body as written, or a flat config map to
/// `PUT /connectors/NAME/config` (create or update).
#[derive(Debug, PartialEq)]
enum CreateRequest {
    Post { name: String, body: Value },
    Put { name: String, config: Value },
}

impl CreateRequest {
    fn from_doc(doc: Value) -> anyhow::Result<Self> {
        let Value::Object(mut map) = doc else {
            bail!(
                r#"expected a JSON object: {{"name": .., "config": {{..}}}} or a flat config map with "name""#
            );
        };
        if let Some(Value::Object(config)) = map.get("config") {
            // The POST shape. Kafka Connect takes the name from the top level; a file that
            // only has it inside `config` means the same connector.
            let name = match (map.get("name"), config.get("name")) {
                (Some(Value::String(n)), _) => n.clone(),
                (None, Some(Value::String(n))) => {
                    let n = n.clone();
                    map.insert("name".into(), Value::String(n.clone()));
                    n
                }
                _ => bail!(r#""name" is missing or not a string"#),
            };
            return Ok(CreateRequest::Post {
                name,
                body: Value::Object(map),
            });
        }
        match map.get("name") {
            Some(Value::String(n)) if !n.trim().is_empty() => Ok(CreateRequest::Put {
                name: n.trim().to_owned(),
                config: Value::Object(map),
            }),
            _ => bail!(
                r#"a flat config map needs a "name" (or use {{"name": .., "config": {{..}}}})"#
            ),
        }
    }
}

/// The contents of FILE, or of stdin for `-`.
fn read_input(file: &Path) -> anyhow::Result<String> {
    if file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read stdin")?;
        return Ok(s);
    }
    std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))
}

/// An `--alter` file, checked to have the offsets shape before it is sent.
fn offsets_file(file: &Path) -> anyhow::Result<Value> {
    let doc: Value = serde_json::from_str(&read_input(file)?)
        .with_context(|| format!("{} is not valid JSON", file.display()))?;
    serde_json::from_value::<ConnectorOffsets>(doc.clone()).with_context(|| {
        format!(
            r#"{}: expected {{"offsets": [{{"partition": {{..}}, "offset": {{..}} or null}}]}}"#,
            file.display()
        )
    })?;
    Ok(doc)
}

/// An action's answer: its body with `--json` (202/204 answers have none), else `message`.
fn done(out: &mut impl Write, json: bool, ans: &Answer, message: &str) -> anyhow::Result<()> {
    if json {
        return print_json(out, ans);
    }
    writeln!(out, "{message}")?;
    Ok(())
}

/// `GET /connectors?expand=status&expand=info`: `{"name": {"status": .., "info": ..}}`.
#[derive(Debug, Deserialize)]
struct Expanded {
    status: Option<StatusDoc>,
    info: Option<ConnectorInfo>,
}

fn write_list(out: &mut impl Write, listing: &BTreeMap<String, Expanded>) -> anyhow::Result<()> {
    let rows = listing
        .iter()
        .map(|(name, e)| {
            let kind = e
                .info
                .as_ref()
                .map(|i| i.kind.as_str())
                .or(e.status.as_ref().map(|s| s.kind.as_str()))
                .unwrap_or("-");
            let state = e
                .status
                .as_ref()
                .map_or("-", |s| s.connector.state.as_str());
            let tasks = e.status.as_ref().map_or(&[][..], |s| &s.tasks[..]);
            let running = tasks.iter().filter(|t| t.state == "RUNNING").count();
            let total = tasks
                .len()
                .max(e.info.as_ref().map_or(0, |i| i.tasks.len()));
            vec![
                name.clone(),
                kind.to_owned(),
                state.to_owned(),
                format!("{running}/{total}"),
            ]
        })
        .collect::<Vec<_>>();
    write_table(out, &["NAME", "TYPE", "STATE", "TASKS"], &rows)
}

fn write_info(out: &mut impl Write, info: &ConnectorInfo) -> anyhow::Result<()> {
    let tasks: Vec<String> = info
        .tasks
        .iter()
        .map(|t| format!("{}-{}", t.connector, t.task))
        .collect();
    writeln!(out, "Name:   {}", info.name)?;
    writeln!(out, "Type:   {}", info.kind)?;
    let tasks = if tasks.is_empty() {
        "none".to_owned()
    } else {
        tasks.join(", ")
    };
    writeln!(out, "Tasks:  {tasks}")?;
    writeln!(out, "Config:")?;
    for (k, v) in &info.config {
        writeln!(out, "  {k}={v}")?;
    }
    Ok(())
}

/// The connector's line, then one line per task with the first line of its trace.
fn write_status(out: &mut impl Write, doc: &StatusDoc) -> anyhow::Result<()> {
    let c = &doc.connector;
    writeln!(
        out,
        "Connector {} ({}): {} on {}",
        doc.name, doc.kind, c.state, c.worker_id
    )?;
    if let Some(trace) = c.trace.as_deref().and_then(first_line) {
        writeln!(out, "  {trace}")?;
    }
    if doc.tasks.is_empty() {
        writeln!(out, "No tasks.")?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = doc
        .tasks
        .iter()
        .map(|t| {
            vec![
                t.id.to_string(),
                t.state.clone(),
                t.worker_id.clone(),
                t.trace
                    .as_deref()
                    .and_then(first_line)
                    .unwrap_or_default()
                    .to_owned(),
            ]
        })
        .collect();
    write_table(out, &["TASK", "STATE", "WORKER", "TRACE"], &rows)
}

fn first_line(trace: &str) -> Option<&str> {
    trace.lines().map(str::trim).find(|l| !l.is_empty())
}

fn write_offsets(out: &mut impl Write, offsets: &ConnectorOffsets) -> anyhow::Result<()> {
    let rows: Vec<Vec<String>> = offsets
        .offsets
        .iter()
        .map(|p| {
            let offset = p.offset.as_ref().map_or_else(
                || "null".to_owned(),
                |o| Value::Object(o.clone()).to_string(),
            );
            vec![Value::Object(p.partition.clone()).to_string(), offset]
        })
        .collect();
    write_table(out, &["PARTITION", "OFFSET"], &rows)
}

/// Columns padded to their widest cell and separated by two spaces, header first; the last
/// column is not padded.
pub(crate) fn write_table(
    out: &mut impl Write,
    header: &[&str],
    rows: &[Vec<String>],
) -> anyhow::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            if i + 1 < row.len() {
                line.extend(std::iter::repeat_n(' ', w - cell.chars().count()));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Prints an answer's JSON body re-indented (keys stay in the server's order); an empty
/// body prints nothing, a body that is not JSON is printed as it came.
pub(crate) fn print_json(out: &mut impl Write, ans: &Answer) -> anyhow::Result<()> {
    if ans.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    if serde_json::from_slice::<serde::de::IgnoredAny>(&ans.body).is_err() {
        out.write_all(&ans.body)?;
    } else {
        out.write_all(&pretty(&ans.body))?;
    }
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// `json` (valid JSON) with serde_json's pretty layout: two-space indent, `": "`, empty
/// containers as `{}` / `[]`. Works on bytes: only ASCII bytes outside strings are layout.
fn pretty(json: &[u8]) -> Vec<u8> {
    fn newline(out: &mut Vec<u8>, depth: usize) {
        out.push(b'\n');
        out.extend(std::iter::repeat_n(b' ', depth * 2));
    }
    let mut out = Vec::with_capacity(json.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < json.len() {
        let b = json[i];
        i += 1;
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                out.push(b);
            }
            b'{' | b'[' => {
                out.push(b);
                let next = json[i..].iter().position(|c| !c.is_ascii_whitespace());
                let close = if b == b'{' { b'}' } else { b']' };
                if let Some(n) = next.filter(|n| json[i + n] == close) {
                    out.push(close);
                    i += n + 1;
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(b);
            }
            b',' => {
                out.push(b);
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            c if c.is_ascii_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::worker::model::{ConnectorState, TaskState};

    #[test]
    fn pretty_matches_serde_json_and_keeps_key_order() {
        let raw = br#" {"z":1,"a":{"k":"v \"q\" ,:{[","e":{},"l":[ ]},"arr":[1,{"x":null}],"u":"\u00e9\\"} "#;
        let value: Value = serde_json::from_slice(raw).expect("valid");
        let ours = String::from_utf8(pretty(raw)).expect("utf-8");
        // Same layout as serde_json, and key order as sent (serde_json's Value sorts).
        assert!(
            ours.starts_with("{\n  \"z\": 1,\n  \"a\": {\n    \"k\""),
            "{ours}"
        );
        assert!(ours.contains("\"e\": {},\n    \"l\": []"), "{ours}");
        let reparsed: Value = serde_json::from_str(&ours).expect("still JSON");
        assert_eq!(reparsed, value);
        let sorted = br#"{"a":[{"b":[]}],"c":"d"}"#;
        let expected =
            serde_json::to_string_pretty(&serde_json::from_slice::<Value>(sorted).expect("valid"))
                .expect("pretty");
        assert_eq!(String::from_utf8(pretty(sorted)).expect("utf-8"), expected);
    }

    #[test]
    fn create_accepts_both_file_shapes() {
        let post = serde_json::json!({"name": "src", "config": {"connector.class": "FileStreamSource"}, "initial_state": "PAUSED"});
        match CreateRequest::from_doc(post.clone()).expect("post shape") {
            CreateRequest::Post { name, body } => {
                assert_eq!(name, "src");
                assert_eq!(body, post, "sent as written");
            }
            other => panic!("{other:?}"),
        }
        let inner = serde_json::json!({"config": {"name": "src", "tasks.max": "1"}});
        match CreateRequest::from_doc(inner).expect("name inside config") {
            CreateRequest::Post { name, body } => {
                assert_eq!(name, "src");
                assert_eq!(body["name"], "src");
            }
            other => panic!("{other:?}"),
        }
        let flat = serde_json::json!({"name": " src ", "connector.class": "FileStreamSource"});
        assert_eq!(
            CreateRequest::from_doc(flat.clone()).expect("flat shape"),
            CreateRequest::Put {
                name: "src".into(),
                config: flat
            }
        );
        for bad in [
            serde_json::json!([1]),
            serde_json::json!({"connector.class": "x"}),
            serde_json::json!({"name": 3, "config": {}}),
        ] {
            let e = CreateRequest::from_doc(bad.clone()).expect_err("rejected");
            assert!(e.to_string().contains("name"), "{bad}: {e}");
        }
    }

    #[test]
    fn tables_align_columns() {
        let mut out = Vec::new();
        let rows = vec![
            vec![
                "file-source".into(),
                "source".into(),
                "RUNNING".into(),
                "1/1".into(),
            ],
            vec!["s".into(), "sink".into(), "FAILED".into(), "0/2".into()],
        ];
        write_table(&mut out, &["NAME", "TYPE", "STATE", "TASKS"], &rows).expect("write");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "NAME         TYPE    STATE    TASKS\n\
             file-source  source  RUNNING  1/1\n\
             s            sink    FAILED   0/2\n"
        );
    }

    #[test]
    fn status_shows_each_task_with_its_trace_first_line() {
        let doc = StatusDoc {
            name: "s".into(),
            connector: ConnectorState {
                state: "RUNNING".into(),
                worker_id: "127.0.0.1:8083".into(),
                trace: None,
            },
            tasks: vec![
                TaskState {
                    id: 0,
                    state: "RUNNING".into(),
                    worker_id: "127.0.0.1:8083".into(),
                    trace: None,
                },
                TaskState {
                    id: 1,
                    state: "FAILED".into(),
                    worker_id: "127.0.0.1:8083".into(),
                    trace: Some("\nConnectException: disk full\n\tcaused by: ENOSPC".into()),
                },
            ],
            kind: "sink".into(),
        };
        let mut out = Vec::new();
        write_status(&mut out, &doc).expect("write");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "Connector s (sink): RUNNING on 127.0.0.1:8083\n\
             TASK  STATE    WORKER          TRACE\n\
             0     RUNNING  127.0.0.1:8083\n\
             1     FAILED   127.0.0.1:8083  ConnectException: disk full\n"
        );
    }
}
