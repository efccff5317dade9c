//! `GET /metrics`: the worker's per-task counters in Prometheus text format (0.0.4).

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::RestState;
use crate::worker::metrics::{LATENCY_BUCKETS, TaskMetricsSnapshot};

pub async fn render(State(s): State<RestState>) -> Response {
    let body = text(s.worker().connectors().len(), &s.worker().metrics());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels(t: &TaskMetricsSnapshot) -> String {
    format!(
        "connector=\"{}\",task=\"{}\",type=\"{}\"",
        escape(&t.connector),
        t.task,
        t.kind
    )
}

/// The exposition text for `connectors` connectors and their tasks' counters.
pub fn text(connectors: usize, tasks: &[TaskMetricsSnapshot]) -> String {
    let mut out = String::new();
    let mut family =
        |name: &str, kind: &str, help: &str, value: &dyn Fn(&TaskMetricsSnapshot) -> String| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for t in tasks {
                let _ = writeln!(out, "{name}{{{}}} {}", labels(t), value(t));
            }
        };
    family(
        "weir_connector_task_records_in_total",
        "counter",
        "Records read by the task: polled from the source system, or read from the log by a sink.",
        &|t| t.records_in.to_string(),
    );
    family(
        "weir_connector_task_records_out_total",
        "counter",
        "Records written by the task: to the log by a source, or handed to put by a sink.",
        &|t| t.records_out.to_string(),
    );
    family(
        "weir_connector_task_errors_total",
        "counter",
        "Record failures of the task (tolerated or not).",
        &|t| t.errors.to_string(),
    );
    family(
        "weir_connector_task_dlq_writes_total",
        "counter",
        "Records the task wrote to its dead-letter queue.",
        &|t| t.dlq_writes.to_string(),
    );
    family(
        "weir_connector_task_offset_lag",
        "gauge",
        "Sink: records in the log not yet delivered; source: records polled whose offsets are not committed.",
        &|t| t.offset_lag.to_string(),
    );
    let name = "weir_connector_task_batch_duration_seconds";
    let _ = writeln!(out, "# HELP {name} Time to process one batch.");
    let _ = writeln!(out, "# TYPE {name} histogram");
    for t in tasks {
        let l = labels(t);
        for (bound, count) in LATENCY_BUCKETS.iter().zip(&t.batch_buckets) {
            let _ = writeln!(out, "{name}_bucket{{{l},le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{{l},le=\"+Inf\"}} {}", t.batches);
        let _ = writeln!(out, "{name}_sum{{{l}}} {}", t.batch_seconds_sum);
        let _ = writeln!(out, "{name}_count{{{l}}} {}", t.batches);
    }
    let _ = writeln!(
        out,
        "# HELP weir_connectors Connectors configured on this worker."
    );
    let _ = writeln!(out, "# TYPE weir_connectors gauge");
    let _ = writeln!(out, "weir_connectors {connectors}");
    let _ = writeln!(
        out,
        "# HELP weir_up Whether the worker is up (always 1 when it answers)."
    );
    let _ = writeln!(out, "# TYPE weir_up gauge");
    let _ = writeln!(out, "weir_up 1");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_family_and_a_cumulative_histogram() {
        let task = TaskMetricsSnapshot {
            connector: "file\"src".into(),
            task: 0,
            kind: "source",
            records_in: 7,
            records_out: 5,
            errors: 1,
            dlq_writes: 0,
            offset_lag: 2,
            batches: 3,
            batch_seconds_sum: 0.25,
            batch_buckets: vec![1; LATENCY_BUCKETS.len()],
        };
        let text = text(1, &[task]);
        let l = "connector=\"file\\\"src\",task=\"0\",type=\"source\"";
        assert!(
            text.contains(&format!("weir_connector_task_records_in_total{{{l}}} 7\n")),
            "{text}"
        );
        assert!(text.contains(&format!("weir_connector_task_offset_lag{{{l}}} 2\n")));
        assert!(text.contains(&format!(
            "weir_connector_task_batch_duration_seconds_bucket{{{l},le=\"0.0005\"}} 1\n"
        )));
        assert!(text.contains(&format!(
            "weir_connector_task_batch_duration_seconds_bucket{{{l},le=\"+Inf\"}} 3\n"
        )));
        assert!(text.contains(&format!(
            "weir_connector_task_batch_duration_seconds_count{{{l}}} 3\n"
        )));
        assert!(text.ends_with("weir_up 1\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').expect("name value");
            value
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("not a number: {line}"));
        }
    }
}
