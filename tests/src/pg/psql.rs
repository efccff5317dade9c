//! SQL through `psql`: the command line, the output format and its parsing.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use super::process::run;
use super::{COMMAND_TIMEOUT, pg_bin};

/// The output format: fields are separated by [`FIELD_SEP`], records end with NUL (which
/// text values never hold), and SQL NULL prints as [`NULL_MARK`].
const FIELD_SEP: &str = "\u{1f}";
const NULL_MARK: &str = "\u{1}";

/// `psql` for the server on `port` with the harness's output format, its working dir in
/// `dir`, and no influence from the caller's `PG*` variables. The caller adds `-h`, `-U`,
/// `-d` and any environment.
pub(super) fn command(port: u16, dir: &Path) -> Command {
    let mut cmd = Command::new(pg_bin("psql"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PG") {
            cmd.env_remove(k);
        }
    }
    cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-0"])
        .args(["-F", FIELD_SEP, "-P"])
        .arg(format!("null={NULL_MARK}"))
        .arg("-p")
        .arg(port.to_string())
        .env("PGCONNECT_TIMEOUT", "10")
        .current_dir(dir);
    cmd
}

/// Runs `cmd` (from [`command`]) with `sql` on stdin and parses its rows; `what` names
/// the call in errors.
pub(super) fn run_rows(
    cmd: Command,
    sql: &str,
    what: &str,
) -> anyhow::Result<Vec<Vec<Option<String>>>> {
    let out = run("psql", cmd, Some(sql.as_bytes()), COMMAND_TIMEOUT)?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8(out.stdout).context("psql printed invalid UTF-8")?;
    // Every record ends with NUL; an empty last piece is the end of the output.
    let mut records: Vec<&str> = text.split('\0').collect();
    if records.last() == Some(&"") {
        records.pop();
    }
    Ok(records
        .into_iter()
        .map(|r| {
            r.split(FIELD_SEP)
                .map(|f| (f != NULL_MARK).then(|| f.to_owned()))
                .collect()
        })
        .collect())
}

/// `name` as an SQL identifier.
pub(super) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as an SQL string literal.
pub(super) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
