//! What a test server is set up with: settings, a password role, TLS, pg_hba lines.

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
