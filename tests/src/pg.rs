//! A real PostgreSQL 15 server on loopback, for the Postgres CDC tests.
//!
//! [`PgServer::start`] runs `initdb` into a fresh temp dir and starts the postmaster as a
//! direct child of the test (so it is stopped by PID) on a free `127.0.0.1` port, with
//! `wal_level=logical` and room for 20 replication slots and WAL senders. Postgres refuses
//! to run as root: when the tests run as root, `initdb` and `postgres` run as the `postgres`
//! user through `setpriv` (which execs, so the child's PID is the postmaster's).
//!
//! Layout of [`PgServer::dir`]: `data/` (the cluster), the Unix socket
//! (`.s.PGSQL.<port>`), `server.log` (the postmaster's stdout and stderr) and, with TLS,
//! `tls/ca.crt` (the CA that signed the server certificate).
//!
//! SQL runs through `psql` (see [`PgServer::sql`]): it splits a script into statements
//! like a user's psql session, so scripts may mix DDL, DML, functions with `$$` bodies and
//! calls that refuse to run inside a transaction block (creating a replication slot).
//!
//! Every method blocks (it runs a process or waits for one) and every wait has a deadline.
//! Tokio tests may call them directly, or through `spawn_blocking` while a replication
//! stream must keep being read on the same runtime thread.
//!
//! Binaries come from [`pg_bin`]; `scripts/test` installs them when they are missing.

mod options;
pub(crate) mod process;
mod psql;
mod tls;

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub use options::{PgAuth, PgOptions, PgRole};
use process::{alive, check, children_of, chown_postgres, free_port, run, signal, signal_and_wait};

/// The superuser `initdb` creates; it logs in without a password through the socket (and
/// over TCP) in every configuration.
pub const SUPERUSER: &str = "postgres";
/// The address the server listens on.
pub const HOST: &str = "127.0.0.1";

/// How long a start (or restart) may take until the server accepts connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a fast shutdown may take.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one `sql` call (or `initdb`, `openssl`, `chown`) may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// The path of PostgreSQL program `name` (`initdb`, `postgres`, `psql`, `pg_recvlogical`,
/// ...): from `$WEIR_PG_BINDIR`, else `/usr/lib/postgresql/15/bin`, else `pg_config
/// --bindir`, else the bare name (looked up in `PATH`).
pub fn pg_bin(name: &str) -> PathBuf {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("WEIR_PG_BINDIR") {
            return Some(PathBuf::from(dir));
        }
        let debian = PathBuf::from("/usr/lib/postgresql/15/bin");
        if debian.join("postgres").exists() {
            return Some(debian);
        }
        let out = Command::new("pg_config").arg("--bindir").output().ok()?;
        let dir = String::from_utf8(out.stdout).ok()?;
        (out.status.success() && !dir.trim().is_empty()).then(|| PathBuf::from(dir.trim()))
    });
    match dir {
        Some(dir) => dir.join(name),
        None => PathBuf::from(name),
    }
}

/// One running (or stopped) PostgreSQL server in its own temp dir. Dropping it stops the
/// server (fast shutdown, then SIGKILL) and removes the directory.
pub struct PgServer {
    dir: tempfile::TempDir,
    port: u16,
    opts: PgOptions,
    as_root: bool,
    child: Option<Child>,
}

impl PgServer {
    /// Creates a cluster and starts it; returns once it accepts connections. Fails with the
    /// server log when it does not start within 30 s.
    pub fn start(opts: PgOptions) -> anyhow::Result<PgServer> {
        let as_root = std::fs::metadata("/proc/self")
            .context("cannot read /proc/self to learn the user id")?
            .uid()
            == 0;
        let dir = tempfile::Builder::new()
            .prefix("weir-pg-")
            .tempdir()
            .context("cannot create a temp dir for Postgres")?;
        let mut server = PgServer {
            dir,
            port: 0,
            opts,
            as_root,
            child: None,
        };
        server.init()?;
        // Another process may take the free port between probe and bind: retry on a new one.
        let mut attempt = 0;
        loop {
            attempt += 1;
            server.port = free_port()?;
            match server.launch() {
                Ok(()) => break,
                Err(e) if attempt < 5 && server.log().contains("could not bind") => {
                    eprintln!(
                        "postgres could not bind port {}, retrying: {e}",
                        server.port
                    );
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(role) = server.opts.role.clone() {
            server
                .execute_batch(&format!(
                    "SET password_encryption = '{}';\nCREATE ROLE {} WITH {} PASSWORD {};",
                    role.auth.method(),
                    psql::quote_ident(&role.name),
                    role.attributes,
                    psql::quote_literal(&role.password)
                ))
                .with_context(|| format!("cannot create role {}", role.name))?;
        }
        Ok(server)
    }

    /// The TCP port (unchanged by [`PgServer::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The listen address, `127.0.0.1`.
    pub fn host(&self) -> &str {
        HOST
    }

    /// The temp dir: holds `data/`, the Unix socket, `server.log` and `tls/`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir().join("data")
    }

    /// The options the server was started with.
    pub fn options(&self) -> &PgOptions {
        &self.opts
    }

    /// The password role, when the options create one.
    pub fn role(&self) -> Option<&PgRole> {
        self.opts.role.as_ref()
    }

    /// The PEM CA certificate that signed the server's certificate (TLS only).
    pub fn ca_cert(&self) -> Option<PathBuf> {
        self.opts.tls.then(|| self.dir().join("tls/ca.crt"))
    }

    /// The postmaster's PID while it runs.
    pub fn pid(&mut self) -> Option<u32> {
        self.is_running()
            .then(|| self.child.as_ref().map(Child::id))
            .flatten()
    }

    /// Whether the postmaster is running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The server log so far (every start appends to it).
    pub fn log(&self) -> String {
        std::fs::read(self.dir().join("server.log"))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Runs an SQL script as [`SUPERUSER`] in database `postgres` (through the Unix
    /// socket) and returns the rows of every result set, in order; `None` is SQL NULL.
    /// Statements run one by one (autocommit, as in psql) and the first error stops the
    /// script and is returned with psql's message. Values must not contain the bytes
    /// U+0001 or U+001F (the output's NULL mark and field separator). Times out after 60 s.
    pub fn sql(&self, sql: &str) -> anyhow::Result<Vec<Vec<Option<String>>>> {
        self.sql_db("postgres", sql)
    }

    /// [`PgServer::sql`] in database `db`.
    pub fn sql_db(&self, db: &str, sql: &str) -> anyhow::Result<Vec<Vec<Option<String>>>> {
        let mut cmd = psql::command(self.port, self.dir());
        cmd.arg("-h")
            .arg(self.dir())
            .args(["-U", SUPERUSER, "-d", db]);
        psql::run_rows(
            cmd,
            sql,
            &format!("SQL on postgres at {}", self.dir().display()),
        )
    }

    /// Runs an SQL script over TCP as `user` with `password` and libpq `sslmode`
    /// (`disable`, `require`, `verify-full`...; the CA of [`PgServer::ca_cert`] is the root
    /// certificate), in database `postgres`. Output and errors as [`PgServer::sql`]: a
    /// failed login is an `Err` holding the server's message.
    pub fn sql_tcp(
        &self,
        user: &str,
        password: Option<&str>,
        sslmode: &str,
        sql: &str,
    ) -> anyhow::Result<Vec<Vec<Option<String>>>> {
        let mut cmd = psql::command(self.port, self.dir());
        cmd.args(["-h", HOST, "-p"])
            .arg(self.port.to_string())
            .args(["-U", user, "-d", "postgres", "-w"])
            .env("PGSSLMODE", sslmode);
        if let Some(p) = password {
            cmd.env("PGPASSWORD", p);
        }
        if let Some(ca) = self.ca_cert() {
            cmd.env("PGSSLROOTCERT", ca);
        }
        psql::run_rows(cmd, sql, &format!("SQL as {user} on {HOST}:{}", self.port))
    }

    /// Runs an SQL script as [`PgServer::sql`] does, discarding rows.
    pub fn execute_batch(&self, sql: &str) -> anyhow::Result<()> {
        self.sql(sql).map(drop)
    }

    /// Fast shutdown (SIGINT: open sessions, replication ones included, are ended) and
    /// waits up to 60 s for the postmaster to exit. Does nothing when it is not running.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        if !signal_and_wait(&mut child, "INT", STOP_TIMEOUT)? {
            self.child = Some(child);
            self.kill9()?;
            bail!(
                "postgres on port {} did not shut down within {STOP_TIMEOUT:?} (killed)\n{}",
                self.port,
                tail(&self.log())
            );
        }
        Ok(())
    }

    /// Crashes the server: SIGKILL to the postmaster and all its processes at once, then
    /// waits until they are gone. The next [`PgServer::restart`] runs crash recovery.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        let mut pids = children_of(child.id());
        pids.push(child.id());
        // Some may have exited meanwhile: kill's status does not matter, the wait does.
        let _ = signal("KILL", &pids);
        child.wait().context("cannot reap the postmaster")?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        while pids.iter().any(|p| alive(*p)) {
            if Instant::now() > deadline {
                bail!("postgres processes {pids:?} survived SIGKILL for {STOP_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Stops the server when it runs (fast shutdown) and starts it again on the same port
    /// and data directory; returns once it accepts connections.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop()?;
        self.launch()
    }

    /// Starts the postmaster (port and data dir already set) and waits until it is ready.
    fn launch(&mut self) -> anyhow::Result<()> {
        let log_path = self.dir().join("server.log");
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        let mut cmd = self.as_postgres(&pg_bin("postgres"));
        cmd.arg("-D")
            .arg(self.data_dir())
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(self.dir())
            .args(["-h", HOST]);
        let mut settings: Vec<(String, String)> = [
            ("wal_level", "logical"),
            ("max_replication_slots", "20"),
            ("max_wal_senders", "20"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        if self.opts.tls {
            for (k, v) in [
                ("ssl", "on"),
                ("ssl_cert_file", "server.crt"),
                ("ssl_key_file", "server.key"),
            ] {
                settings.push((k.to_owned(), v.to_owned()));
            }
        }
        settings.extend(self.opts.settings.iter().cloned());
        for (k, v) in &settings {
            cmd.arg("-c").arg(format!("{k}={v}"));
        }
        cmd.current_dir(self.dir())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start postgres ({cmd:?})"))?;
        let pid = child.id();
        self.child = Some(child);
        self.wait_ready(pid)
    }

    /// Waits until postmaster `pid` reports `ready` in postmaster.pid and its port accepts
    /// TCP connections.
    fn wait_ready(&mut self, pid: u32) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let pid_file = self.data_dir().join("postmaster.pid");
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                bail!(
                    "postgres on port {} exited at start ({status})\n{}",
                    self.port,
                    tail(&self.log())
                );
            }
            // Lines: pid, data dir, start time, port, socket dir, listen address, shared
            // memory key, status. A file left by a killed server names another PID.
            let text = std::fs::read_to_string(&pid_file).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let ready = lines.first().map(|l| l.trim()) == Some(pid.to_string().as_str())
                && lines.get(7).map(|l| l.trim()) == Some("ready");
            if ready && TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = self.kill9();
                bail!(
                    "postgres on port {} did not accept connections within {START_TIMEOUT:?}\n{}",
                    self.port,
                    tail(&self.log())
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// initdb, pg_hba.conf and (with TLS) the certificates.
    fn init(&self) -> anyhow::Result<()> {
        if self.as_root {
            chown_postgres(self.dir())?;
        }
        let mut initdb = self.as_postgres(&pg_bin("initdb"));
        initdb
            .arg("-D")
            .arg(self.data_dir())
            .args(["-U", SUPERUSER, "--auth=trust", "-E", "UTF8"])
            .args(["--locale=C.UTF-8", "-N"])
            .current_dir(self.dir());
        check(run("initdb", initdb, None, COMMAND_TIMEOUT)?, "initdb")?;

        let method = self.opts.role.as_ref().map_or("trust", |r| r.auth.method());
        let mut hba = String::from("# written by weir's test harness (tests/src/pg.rs)\n");
        for line in &self.opts.hba {
            hba.push_str(line);
            hba.push('\n');
        }
        hba.push_str(&format!(
            "local all all trust\n\
             local replication all trust\n\
             host all {SUPERUSER} {HOST}/32 trust\n\
             host replication {SUPERUSER} {HOST}/32 trust\n\
             host all all {HOST}/32 {method}\n\
             host replication all {HOST}/32 {method}\n"
        ));
        let hba_path = self.data_dir().join("pg_hba.conf");
        std::fs::write(&hba_path, hba)
            .with_context(|| format!("cannot write {}", hba_path.display()))?;
        if self.opts.tls {
            tls::make_certificates(self.dir(), &self.data_dir(), self.as_root)?;
        }
        Ok(())
    }

    /// A command that runs `program` as the `postgres` user when the tests run as root.
    fn as_postgres(&self, program: &Path) -> Command {
        if self.as_root {
            let mut cmd = Command::new("setpriv");
            cmd.args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
                .arg(program);
            cmd
        } else {
            Command::new(program)
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.stop().is_err() {
            let _ = self.kill9();
        }
    }
}

/// The last 60 lines of a server log, for error messages.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    format!(
        "--- server log (tail) ---\n{}",
        lines[lines.len().saturating_sub(60)..].join("\n")
    )
}
