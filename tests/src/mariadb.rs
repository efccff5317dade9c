//! A real MariaDB server on loopback, for the JDBC sink tests.
//!
//! [`MariaDb::start`] runs `mariadb-install-db` into a fresh temp dir and starts `mariadbd`
//! as a direct child of the test (so it is stopped by PID, never by name) on a free
//! `127.0.0.1` port, then creates the database [`DATABASE`]. `root` logs in over TCP with
//! an empty password. When the tests run as root the server runs as root too
//! (`--user=root`; mariadbd refuses root otherwise).
//!
//! Layout of the temp dir: `data/` (the data directory), `sock` (the Unix socket), `pid`
//! and `err.log` (the error log; the server's stdout and stderr are appended to it too, as
//! a few warnings are printed before the log is opened). The dir is removed on drop, after
//! the server has stopped.
//!
//! Server settings beyond the defaults: `utf8mb4` as the server character set (MariaDB's
//! built-in default is `latin1`; `--no-defaults` skips Debian's config that changes it) and
//! a 16 MiB redo log instead of 96 MiB (a third of the disk per server, and a faster
//! `mariadb-install-db`).
//!
//! SQL runs through the `mariadb` client in batch mode (see [`MariaDb::sql`]): it splits
//! a script into statements like a user's session, and the first error stops the script.
//!
//! Every method blocks (it runs a process or waits for one) and every wait has a deadline.
//!
//! Binaries: `mariadbd` and `mariadb-install-db` from `$WEIR_MARIADB_BINDIR` (default
//! `/usr/sbin`; `mariadb-install-db` is also looked up in `PATH`), the client from
//! `$WEIR_MARIADB_CLIENT` (default `mariadb` in `PATH`). `scripts/test` installs them.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::pg::process::{alive, free_port, run, signal_and_wait};

/// The address the server listens on.
pub const HOST: &str = "127.0.0.1";
/// The superuser; it logs in over TCP without a password.
pub const ROOT: &str = "root";
/// The database [`MariaDb::start`] creates.
pub const DATABASE: &str = "weir";

/// How long a start (or a start again, crash recovery included) may take until the server
/// answers SQL.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a shutdown (SIGTERM) may take before the server is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one `sql` call (or `mariadb-install-db`) may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one readiness probe (`SELECT @@socket`) may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Options given to both `mariadb-install-db` and `mariadbd` (see the module docs).
const SERVER_OPTIONS: &[&str] = &[
    "--character-set-server=utf8mb4",
    "--innodb-log-file-size=16M",
];

/// The programs the harness runs.
#[derive(Debug, Clone)]
struct Binaries {
    server: PathBuf,
    install_db: PathBuf,
    client: PathBuf,
}

impl Binaries {
    /// Finds the programs; fails with how to install them when one is missing.
    fn find() -> anyhow::Result<Binaries> {
        let bindir = std::env::var_os("WEIR_MARIADB_BINDIR")
            .map_or_else(|| PathBuf::from("/usr/sbin"), PathBuf::from);
        let server = bindir.join("mariadbd");
        if !executable(&server) {
            bail!(missing("mariadbd", &server, "WEIR_MARIADB_BINDIR"));
        }
        let install_db = [bindir.join("mariadb-install-db")]
            .into_iter()
            .chain(in_path("mariadb-install-db"))
            .chain([PathBuf::from("/usr/bin/mariadb-install-db")])
            .find(|p| executable(p))
            .ok_or_else(|| {
                anyhow::anyhow!(missing(
                    "mariadb-install-db",
                    &bindir.join("mariadb-install-db"),
                    "WEIR_MARIADB_BINDIR"
                ))
            })?;
        let client = match std::env::var_os("WEIR_MARIADB_CLIENT") {
            Some(p) => PathBuf::from(p),
            None => in_path("mariadb").unwrap_or_else(|| PathBuf::from("mariadb")),
        };
        if !executable(&client) {
            bail!(missing(
                "the mariadb client",
                &client,
                "WEIR_MARIADB_CLIENT"
            ));
        }
        Ok(Binaries {
            server,
            install_db,
            client,
        })
    }
}

/// The error for a missing program, worded as [`crate::installed`] words it.
fn missing(what: &str, path: &Path, env: &str) -> String {
    format!(
        "{what} not found at {} (set {env}, or run ./scripts/test, which installs it)",
        path.display()
    )
}

/// Whether `path` is an executable file.
fn executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first executable `name` in `PATH`.
fn in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| executable(p))
}

/// One running (or stopped) MariaDB server in its own temp dir. Dropping it stops the
/// server (SIGTERM, then SIGKILL) and removes the directory.
pub struct MariaDb {
    dir: tempfile::TempDir,
    port: u16,
    as_root: bool,
    bins: Binaries,
    child: Option<Child>,
}

impl MariaDb {
    /// Creates a data directory, starts the server on a free port and creates the database
    /// [`DATABASE`]; returns once the server answers SQL. Fails with the server log when it
    /// does not start within 30 s.
    pub fn start() -> anyhow::Result<MariaDb> {
        let bins = Binaries::find()?;
        let as_root = std::fs::metadata("/proc/self")
            .context("cannot read /proc/self to learn the user id")?
            .uid()
            == 0;
        let dir = tempfile::Builder::new()
            .prefix("weir-mariadb-")
            .tempdir()
            .context("cannot create a temp dir for MariaDB")?;
        let mut server = MariaDb {
            dir,
            port: 0,
            as_root,
            bins,
            child: None,
        };
        server.install_db()?;
        // Another process may take the free port between probe and bind: retry on a new one.
        let mut attempt = 0;
        loop {
            attempt += 1;
            server.port = free_port()?;
            let log_before = server.log().len();
            match server.launch() {
                Ok(()) => break,
                Err(e)
                    if attempt < 5
                        && server
                            .log()
                            .get(log_before..)
                            .is_some_and(|l| l.contains("Address already in use")) =>
                {
                    eprintln!(
                        "mariadbd could not bind port {}, retrying: {e}",
                        server.port
                    );
                }
                Err(e) => return Err(e),
            }
        }
        server
            .execute("", &format!("CREATE DATABASE {DATABASE}"))
            .with_context(|| format!("cannot create database {DATABASE}"))?;
        Ok(server)
    }

    /// The TCP port (unchanged by [`MariaDb::start_again`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The listen address, `127.0.0.1`.
    pub fn host(&self) -> &str {
        HOST
    }

    /// The JDBC URL of database `db`: `jdbc:mariadb://127.0.0.1:<port>/<db>`.
    pub fn url(&self, db: &str) -> String {
        format!("jdbc:mariadb://{HOST}:{}/{db}", self.port)
    }

    /// The temp dir: holds `data/`, `sock`, `pid` and `err.log`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir().join("data")
    }

    /// The server's PID while it runs (its process exists and is not a zombie).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id).filter(|p| alive(*p))
    }

    /// The error log so far (every start appends to it).
    pub fn log(&self) -> String {
        std::fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Creates `user` with `password` for the hosts `%` and `localhost`, with all
    /// privileges on `*.*` (no grant option). Fails when the user exists.
    pub fn create_user(&self, user: &str, password: &str) -> anyhow::Result<()> {
        let (user_q, password_q) = (quote_literal(user), quote_literal(password));
        let sql: String = ["%", "localhost"]
            .iter()
            .map(|host| {
                let account = format!("{user_q}@'{host}'");
                format!(
                    "CREATE USER {account} IDENTIFIED BY {password_q};\n\
                     GRANT ALL PRIVILEGES ON *.* TO {account};\n"
                )
            })
            .collect();
        self.execute("", &sql)
            .with_context(|| format!("cannot create user {user}"))
    }

    /// Runs an SQL script with the `mariadb` client over TCP as [`ROOT`] in database `db`
    /// (none when `db` is empty) and returns the rows of every result set, in order:
    /// fields as text, SQL NULL as `None`. Statements run one by one (autocommit) and the
    /// first error stops the script and is returned with the client's message.
    ///
    /// The client's batch output (`-N -B`) escapes tab, new line, backslash and NUL in
    /// values (undone here) but prints SQL NULL and the string `'NULL'` alike: both read
    /// as `None`. Select `QUOTE(col)` or `col IS NULL` where the difference matters.
    /// Times out after 60 s.
    pub fn sql(&self, db: &str, sql: &str) -> anyhow::Result<Vec<Vec<Option<String>>>> {
        self.sql_as(ROOT, "", db, sql)
    }

    /// [`MariaDb::sql`] as `user` with `password` (none when empty).
    pub fn sql_as(
        &self,
        user: &str,
        password: &str,
        db: &str,
        sql: &str,
    ) -> anyhow::Result<Vec<Vec<Option<String>>>> {
        let out = self.client(user, password, db, sql, COMMAND_TIMEOUT)?;
        if !out.status.success() {
            bail!(
                "SQL as {user} on {HOST}:{} (database {db:?}) failed ({}): {}\n--- SQL ---\n{}",
                self.port,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                cut(sql, 2000)
            );
        }
        Ok(parse_rows(&String::from_utf8_lossy(&out.stdout)))
    }

    /// Runs an SQL script as [`MariaDb::sql`] does, discarding rows; errors carry the
    /// client's stderr.
    pub fn execute(&self, db: &str, sql: &str) -> anyhow::Result<()> {
        self.sql(db, sql).map(drop)
    }

    /// Shuts the server down (SIGTERM) and waits up to 30 s for it to exit; past that it
    /// is killed and this fails. Does nothing when it is not running.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        if !signal_and_wait(&mut child, "TERM", STOP_TIMEOUT)? {
            let _ = child.kill();
            child.wait().context("cannot reap mariadbd")?;
            bail!(
                "mariadbd on port {} did not shut down within {STOP_TIMEOUT:?} (killed)\n{}",
                self.port,
                tail(&self.log())
            );
        }
        Ok(())
    }

    /// Crashes the server: SIGKILL, then waits until it is gone. The next
    /// [`MariaDb::start_again`] runs crash recovery. Does nothing when it is not running.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        // Child::kill sends SIGKILL; it may have exited meanwhile, the wait is what counts.
        let _ = child.kill();
        child.wait().context("cannot reap mariadbd")?;
        Ok(())
    }

    /// Starts the stopped (or killed) server again on the same data directory and port;
    /// returns once it answers SQL. Fails when it is still running.
    pub fn start_again(&mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.pid() {
            bail!(
                "mariadbd on port {} still runs (PID {pid}): stop or kill9 it first",
                self.port
            );
        }
        self.kill9()?; // reaps a server that exited by itself
        self.launch()
    }

    fn log_path(&self) -> PathBuf {
        self.dir().join("err.log")
    }

    /// `--tmpdir` of this server's own: mariadbd deletes the `#sql*` temporary files it
    /// finds in its tmpdir at start, so servers sharing `/tmp` break each other's
    /// `mariadb-install-db` (seen: `Unknown table 'mysql.tmp_proxies_priv'`).
    fn tmpdir_option(&self) -> anyhow::Result<String> {
        let tmp = self.dir().join("tmp");
        std::fs::create_dir_all(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        Ok(format!("--tmpdir={}", tmp.display()))
    }

    /// `--user=root` when the tests run as root (mariadbd refuses root without it).
    fn user_option(&self) -> Option<&'static str> {
        self.as_root.then_some("--user=root")
    }

    /// `mariadb-install-db`: the system tables, `root` without password, no test database.
    fn install_db(&self) -> anyhow::Result<()> {
        let mut cmd = Command::new(&self.bins.install_db);
        cmd.arg("--no-defaults")
            .args(self.user_option())
            .arg(format!("--datadir={}", self.data_dir().display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .arg(self.tmpdir_option()?)
            .args(SERVER_OPTIONS)
            .current_dir(self.dir());
        let out = run("mariadb-install-db", cmd, None, COMMAND_TIMEOUT)?;
        if !out.status.success() {
            bail!(
                "mariadb-install-db failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Starts mariadbd (port and data dir already set) and waits until it answers SQL.
    fn launch(&mut self) -> anyhow::Result<()> {
        let log_path = self.log_path();
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        let dir = self.dir();
        let mut cmd = Command::new(&self.bins.server);
        cmd.arg("--no-defaults")
            .args(self.user_option())
            .arg(format!("--datadir={}", self.data_dir().display()))
            .arg(format!("--bind-address={HOST}"))
            .arg(format!("--port={}", self.port))
            .arg(format!("--socket={}", dir.join("sock").display()))
            .arg(format!("--pid-file={}", dir.join("pid").display()))
            .arg(format!("--log-error={}", log_path.display()))
            .arg("--skip-log-bin")
            .arg(self.tmpdir_option()?)
            .args(SERVER_OPTIONS)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start mariadbd ({cmd:?})"))?;
        self.child = Some(child);
        self.wait_ready()
    }

    /// Waits until the port accepts TCP connections and `SELECT @@socket` through it names
    /// this server's socket (not another server's that took the port meanwhile).
    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let socket = self.dir().join("sock").display().to_string();
        let mut last_error = String::new();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                bail!(
                    "mariadbd on port {} exited at start ({status})\n{}",
                    self.port,
                    tail(&self.log())
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                match self.client(ROOT, "", "", "SELECT @@socket", PROBE_TIMEOUT) {
                    Ok(out) if out.status.success() => {
                        let rows = parse_rows(&String::from_utf8_lossy(&out.stdout));
                        if rows == [[Some(socket.clone())]] {
                            return Ok(());
                        }
                        last_error = format!("another server answers on the port: {rows:?}");
                    }
                    Ok(out) => last_error = String::from_utf8_lossy(&out.stderr).into_owned(),
                    Err(e) => last_error = format!("{e:#}"),
                }
            }
            if Instant::now() > deadline {
                let _ = self.kill9();
                bail!(
                    "mariadbd on port {} did not answer SQL within {START_TIMEOUT:?} \
                     (last probe: {})\n{}",
                    self.port,
                    last_error.trim(),
                    tail(&self.log())
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs the client with `sql` on stdin; the output as the client left it.
    fn client(
        &self,
        user: &str,
        password: &str,
        db: &str,
        sql: &str,
        timeout: Duration,
    ) -> anyhow::Result<Output> {
        let mut cmd = Command::new(&self.bins.client);
        // --no-defaults first: no option file (/etc/mysql, ~/.my.cnf) changes the session.
        cmd.args(["--no-defaults", "--protocol=TCP", "--skip-ssl", "-N", "-B"])
            .args(["--default-character-set=utf8mb4", "--connect-timeout=10"])
            .arg(format!("--host={HOST}"))
            .arg(format!("--port={}", self.port))
            .arg(format!("--user={user}"))
            .env_remove("MYSQL_PWD")
            .env_remove("MYSQL_HOST")
            .env_remove("MYSQL_TCP_PORT")
            .current_dir(self.dir());
        if !password.is_empty() {
            cmd.arg(format!("--password={password}"));
        }
        if !db.is_empty() {
            cmd.arg(format!("--database={db}"));
        }
        run("mariadb", cmd, Some(sql.as_bytes()), timeout)
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        if self.stop().is_err() {
            let _ = self.kill9();
        }
    }
}

/// The rows of the client's `-N -B` output: one line per row, fields split at tabs,
/// `NULL` as `None`, escapes undone.
fn parse_rows(out: &str) -> Vec<Vec<Option<String>>> {
    if out.is_empty() {
        return Vec::new();
    }
    // A row of one empty string is an empty line: only the last new line ends the output.
    out.strip_suffix('\n')
        .unwrap_or(out)
        .split('\n')
        .map(|line| {
            line.split('\t')
                .map(|f| (f != "NULL").then(|| unescape(f)))
                .collect()
        })
        .collect()
}

/// Undoes the client's escapes: `\t`, `\n`, `\0` and `\\`.
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// `text` as an SQL string literal (backslashes are escapes in MariaDB's default mode).
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// At most `max` bytes of `text` (cut at a character boundary), for error messages.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().map(|(i, _)| i).find(|i| *i > max) {
        Some(end) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// The last 60 lines of the server log, for error messages.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    format!(
        "--- mariadbd log (tail) ---\n{}",
        lines[lines.len().saturating_sub(60)..].join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::{parse_rows, quote_literal, unescape};

    #[test]
    fn batch_output_is_parsed() {
        assert!(parse_rows("").is_empty());
        assert_eq!(
            parse_rows("1\tNULL\t\ta\\tb\\nc\\\\d\\0\n\n"),
            vec![
                vec![
                    Some("1".to_owned()),
                    None,
                    Some(String::new()),
                    Some("a\tb\nc\\d\0".to_owned())
                ],
                vec![Some(String::new())],
            ]
        );
        assert_eq!(unescape("\\NULL"), "\\NULL");
        assert_eq!(unescape("\\\\NULL"), "\\NULL");
        assert_eq!(unescape("end\\"), "end\\");
    }

    #[test]
    fn literals_are_quoted() {
        assert_eq!(quote_literal("it's a \\ test"), "'it''s a \\\\ test'");
    }
}
