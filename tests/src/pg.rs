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
//! Binaries come from [`pg_bin`]; `scripts/test` installs them when they are missing.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

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
/// psql's output format: fields end with this, records with NUL (which text values never
/// hold), and SQL NULL prints as [`NULL_MARK`].
const FIELD_SEP: &str = "\u{1f}";
const NULL_MARK: &str = "\u{1}";

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

/// How a password role authenticates over TCP (the pg_hba method and the password's
/// storage, `password_encryption`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgAuth {
    Md5,
    ScramSha256,
}

impl PgAuth {
    /// The name in pg_hba.conf and in `password_encryption`.
    pub fn method(self) -> &'static str {
        match self {
            PgAuth::Md5 => "md5",
            PgAuth::ScramSha256 => "scram-sha-256",
        }
    }
}

/// A role created at start with a password. Its `Debug` hides the password.
#[derive(Clone)]
pub struct PgRole {
    pub name: String,
    pub password: String,
    pub auth: PgAuth,
    /// `CREATE ROLE` options; `LOGIN REPLICATION` unless changed (add `SUPERUSER`, or grant
    /// what a test needs with [`PgServer::sql`]).
    pub attributes: String,
}

impl std::fmt::Debug for PgRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgRole")
            .field("name", &self.name)
            .field("password", &"[hidden]")
            .field("auth", &self.auth)
            .field("attributes", &self.attributes)
            .finish()
    }
}

/// What [`PgServer::start`] sets up beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct PgOptions {
    /// Extra server settings, passed as `-c name=value` after the defaults (so they win):
    /// `logical_decoding_work_mem=64kB`, `wal_sender_timeout=2s`, `fsync=off` (only for
    /// tests that do not test durability)...
    pub settings: Vec<(String, String)>,
    /// A password role. With one, TCP logins other than [`SUPERUSER`]'s need a password
    /// (pg_hba method from [`PgRole::auth`]); without one, every login is trusted.
    pub role: Option<PgRole>,
    /// `ssl=on` with a server certificate for `localhost` and `127.0.0.1` signed by a CA
    /// created for this server ([`PgServer::ca_cert`]). Clients may still connect without
    /// TLS unless [`PgOptions::hba`] lines say otherwise.
    pub tls: bool,
    /// pg_hba.conf lines placed before the harness's own (first match wins), e.g.
    /// `hostnossl all weir 127.0.0.1/32 reject`.
    pub hba: Vec<String>,
}

impl PgOptions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a server setting (`-c name=value`).
    pub fn set(mut self, name: &str, value: &str) -> Self {
        self.settings.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Creates role `name` with `password` (`LOGIN REPLICATION`) that logs in over TCP
    /// with `auth`.
    pub fn role(mut self, name: &str, password: &str, auth: PgAuth) -> Self {
        self.role = Some(PgRole {
            name: name.to_owned(),
            password: password.to_owned(),
            auth,
            attributes: "LOGIN REPLICATION".to_owned(),
        });
        self
    }

    /// Turns TLS on (see [`PgOptions::tls`]).
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Adds a pg_hba.conf line before the harness's own.
    pub fn hba(mut self, line: &str) -> Self {
        self.hba.push(line.to_owned());
        self
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
                    quote_ident(&role.name),
                    role.attributes,
                    quote_literal(&role.password)
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
        let mut cmd = self.psql();
        cmd.arg("-h")
            .arg(self.dir())
            .args(["-U", SUPERUSER, "-d", db]);
        run_psql(
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
        let mut cmd = self.psql();
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
        run_psql(cmd, sql, &format!("SQL as {user} on {HOST}:{}", self.port))
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
        signal("INT", &[child.id()])?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        while child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                self.child = Some(child);
                self.kill9()?;
                bail!(
                    "postgres on port {} did not shut down within {STOP_TIMEOUT:?} (killed)\n{}",
                    self.port,
                    tail(&self.log())
                );
            }
            std::thread::sleep(Duration::from_millis(20));
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
            self.make_certificates()?;
        }
        Ok(())
    }

    /// A CA (`tls/ca.crt`) and a server certificate for `localhost` / `127.0.0.1` signed by
    /// it, `data/server.crt` and `data/server.key` (P-256 keys: quick to make).
    fn make_certificates(&self) -> anyhow::Result<()> {
        let tls = self.dir().join("tls");
        std::fs::create_dir_all(&tls)?;
        std::fs::write(
            tls.join("openssl.cnf"),
            "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = weir test CA\n\
             [ca_ext]\nbasicConstraints = critical,CA:TRUE\n\
             keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n\
             [server_ext]\nbasicConstraints = critical,CA:FALSE\n\
             keyUsage = critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage = serverAuth\nsubjectAltName = DNS:localhost,IP:127.0.0.1\n\
             subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n",
        )?;
        let data = self.data_dir();
        let key = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let steps: [(&str, Vec<&str>); 3] = [
            ("the test CA", {
                let mut a = vec!["req", "-x509", "-config", "openssl.cnf"];
                a.extend(["-extensions", "ca_ext", "-days", "3650"]);
                a.extend(key);
                a.extend(["-keyout", "ca.key", "-out", "ca.crt"]);
                a
            }),
            ("the server key", {
                let mut a = vec!["req", "-new", "-config", "openssl.cnf"];
                a.extend(["-subj", "/CN=localhost"]);
                a.extend(key);
                a.extend(["-keyout", "server.key", "-out", "server.csr"]);
                a
            }),
            ("the server certificate", {
                let mut a = vec!["x509", "-req", "-in", "server.csr", "-CA", "ca.crt"];
                a.extend(["-CAkey", "ca.key", "-set_serial", "2", "-days", "3650"]);
                a.extend(["-extfile", "openssl.cnf", "-extensions", "server_ext"]);
                a.extend(["-out", "server.crt"]);
                a
            }),
        ];
        for (what, args) in steps {
            let mut cmd = Command::new("openssl");
            cmd.args(args).current_dir(&tls);
            check(run("openssl", cmd, None, COMMAND_TIMEOUT)?, what)?;
        }
        for name in ["server.crt", "server.key"] {
            std::fs::copy(tls.join(name), data.join(name))
                .with_context(|| format!("cannot copy {name} into {}", data.display()))?;
        }
        // Postgres refuses a key that others may read.
        let mut chmod = Command::new("chmod");
        chmod.arg("600").arg(data.join("server.key"));
        check(run("chmod", chmod, None, COMMAND_TIMEOUT)?, "chmod")?;
        if self.as_root {
            chown_postgres(&data)?;
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

    /// `psql` with the harness's output format and no influence from `PG*` variables.
    fn psql(&self) -> Command {
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
            .arg(self.port.to_string())
            .env("PGCONNECT_TIMEOUT", "10")
            .current_dir(self.dir());
        cmd
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.stop().is_err() {
            let _ = self.kill9();
        }
    }
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((HOST, 0)).context("cannot bind 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// `chown -R postgres:postgres path`.
fn chown_postgres(path: &Path) -> anyhow::Result<()> {
    let mut cmd = Command::new("chown");
    cmd.arg("-R").arg("postgres:postgres").arg(path);
    check(
        run("chown", cmd, None, COMMAND_TIMEOUT)?,
        "chown to postgres",
    )
}

/// Sends signal `sig` (`INT`, `KILL`) to `pids`.
fn signal(sig: &str, pids: &[u32]) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg("-s")
        .arg(sig)
        .args(pids.iter().map(u32::to_string))
        .stderr(Stdio::null())
        .status()
        .context("cannot run kill")?;
    if !status.success() {
        bail!("kill -s {sig} {pids:?} failed ({status})");
    }
    Ok(())
}

/// The PIDs whose parent is `pid` (from /proc; the postmaster's backends and workers).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| proc_stat(*p).is_some_and(|(_, ppid)| ppid == pid))
        .collect()
}

/// Whether `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|(state, _)| state != 'Z')
}

/// State and parent PID of `pid`, from `/proc/<pid>/stat` (`pid (comm) state ppid ...`).
fn proc_stat(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Runs `cmd` as psql with `sql` on stdin and parses its rows.
fn run_psql(cmd: Command, sql: &str, what: &str) -> anyhow::Result<Vec<Vec<Option<String>>>> {
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

/// Runs `cmd` with `stdin` (or none), collecting its output; past `timeout` it is killed
/// and this fails.
fn run(
    name: &str,
    mut cmd: Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> anyhow::Result<Output> {
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {name} ({cmd:?})"))?;
    let writer = match (stdin, child.stdin.take()) {
        (Some(data), Some(mut pipe)) => {
            let data = data.to_vec();
            // psql may stop reading at an error and close its stdin: the write may fail.
            Some(std::thread::spawn(move || {
                let _ = pipe.write_all(&data);
            }))
        }
        _ => None,
    };
    let read = |from: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut from) = from {
                let _ = from.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = read(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = read(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{name} did not finish within {timeout:?} (killed): {cmd:?}");
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    let join = |h: std::thread::JoinHandle<Vec<u8>>| h.join().unwrap_or_default();
    Ok(Output {
        status,
        stdout: join(stdout),
        stderr: join(stderr),
    })
}

/// `Ok` when `out` is a success, else an error with its output.
fn check(out: Output, what: &str) -> anyhow::Result<()> {
    if out.status.success() {
        return Ok(());
    }
    bail!(
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The last 60 lines of a server log, for error messages.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    format!(
        "--- server log (tail) ---\n{}",
        lines[lines.len().saturating_sub(60)..].join("\n")
    )
}

/// `name` as an SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as an SQL string literal.
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
