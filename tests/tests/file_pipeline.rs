//! The classic demo pair end to end through the real binary: FileStreamSource -> log ->
//! FileStreamSink, 100,000 lines, with the worker killed (SIGKILL, no clean shutdown) in the
//! middle and started again on the same data directory. Nothing may be lost, and lines may
//! repeat only where a task re-read from its last committed offset.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::json;
use weir_e2e::{RestApi, Workdir, wait_for};

const LINES: usize = 100_000;
const WAIT: Duration = Duration::from_secs(120);

fn line(i: usize) -> String {
    // Varying lengths and characters the converters must keep byte-exact.
    format!("line {i:06} \u{e9}\t\"quoted\" {}", "x".repeat(i % 37))
}

fn append_lines(path: &Path, range: std::ops::Range<usize>) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open input");
    let mut text = String::new();
    for i in range {
        text.push_str(&line(i));
        text.push('\n');
    }
    f.write_all(text.as_bytes()).expect("append input");
}

fn output_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // A line still being written (no newline yet) is not counted.
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    if complete.is_empty() {
        return Vec::new();
    }
    complete.split('\n').map(str::to_string).collect()
}

fn distinct(lines: &[String]) -> usize {
    lines.iter().collect::<HashSet<_>>().len()
}

#[test]
fn hundred_thousand_lines_survive_a_sigkill() {
    let w = Workdir::new();
    let dir = w.dir.path();
    let input = dir.join("in.txt");
    let output = dir.join("out.txt");
    let config = dir.join("worker.json");
    std::fs::write(
        &config,
        json!({"offset.flush.interval.ms": "300"}).to_string(),
    )
    .expect("worker config");
    let config = config.display().to_string();
    append_lines(&input, 0..LINES / 2);

    let served = w.serve(&["--worker-config", &config]);
    let api = RestApi::new(served.rest());
    for (name, body) in [
        (
            "source",
            json!({"connector.class": "FileStreamSource", "file": input.display().to_string(),
                   "topic": "lines", "batch.size": "500"}),
        ),
        (
            "sink",
            json!({"connector.class": "FileStreamSink", "file": output.display().to_string(),
                   "topics": "lines"}),
        ),
    ] {
        let r = api.send("PUT", &format!("/connectors/{name}/config"), &body);
        assert_eq!(r.status, 201, "{}", r.body);
    }
    wait_for(
        "a first part of the lines in the output",
        WAIT,
        || output_lines(&output).len() >= LINES / 10,
        || format!("{} lines so far", output_lines(&output).len()),
    );
    append_lines(&input, LINES / 2..LINES);
    std::thread::sleep(Duration::from_millis(100));
    let before_kill = output_lines(&output).len();
    drop(served); // SIGKILL: no final flush, no final offset commit.

    let served = w.serve(&["--worker-config", &config]);
    let api = RestApi::new(served.rest());
    api.wait_state(WAIT, "source", "RUNNING");
    api.wait_state(WAIT, "sink", "RUNNING");
    wait_for(
        "every line in the output",
        WAIT,
        || distinct(&output_lines(&output)) >= LINES,
        || format!("{} distinct lines so far", distinct(&output_lines(&output))),
    );
    // Let a late duplicate, if any, arrive before checking.
    std::thread::sleep(Duration::from_millis(500));
    let got = output_lines(&output);
    let expected: Vec<String> = (0..LINES).map(line).collect();

    // Byte-exact and in order once repeats are dropped: nothing lost, nothing changed.
    let mut seen = HashSet::new();
    let first_seen: Vec<&String> = got.iter().filter(|l| seen.insert(l.as_str())).collect();
    assert_eq!(first_seen.len(), LINES, "lines lost or invented");
    for (i, l) in first_seen.iter().enumerate() {
        assert_eq!(**l, expected[i], "line {i} differs");
    }
    // Repeats are re-reads from a committed offset: the output is a few ascending runs of
    // consecutive input lines (one rewind per task at most), each rewind short.
    let index = |l: &str| -> usize {
        l[5..11]
            .parse()
            .unwrap_or_else(|_| panic!("unexpected line {l:?}"))
    };
    let mut rewinds = Vec::new();
    for pair in got.windows(2) {
        let (a, b) = (index(&pair[0]), index(&pair[1]));
        if b != a + 1 {
            assert!(b <= a, "a gap between line {a} and line {b}");
            rewinds.push(a + 1 - b);
        }
    }
    assert!(rewinds.len() <= 2, "more rewinds than tasks: {rewinds:?}");
    let duplicates = got.len() - LINES;
    assert_eq!(duplicates, rewinds.iter().sum::<usize>());
    assert!(
        duplicates < LINES / 2,
        "{duplicates} repeats: more than the uncommitted interval (killed at {before_kill} lines)"
    );
    eprintln!(
        "killed at {before_kill} output lines; {duplicates} repeated line(s) after the restart, rewinds {rewinds:?}"
    );
    let (clean, log) = served.stop();
    assert!(clean, "{}", log.join("\n"));
}
