//! Our own Postgres client on `postgres-protocol` + tokio: tokio-postgres has no replication
//! mode, so this module speaks the frontend/backend protocol itself.
//!
//! - [`Connection::connect`]: TCP (connect timeout, optional keepalive), TLS per [`SslMode`]
//!   (libpq semantics), the startup packet (optionally `replication=database`), and trust /
//!   cleartext / MD5 / SCRAM-SHA-256 authentication.
//! - The simple query protocol: [`Connection::simple_query`], [`Connection::execute`] and
//!   [`Connection::query_stream`] (rows read from the socket only when the caller asks).
//! - [`Connection::start_replication`]: the CopyBoth stream of a logical slot, owned by a
//!   tokio task that answers keepalives, reports the flushed LSN in standby status updates
//!   even while the consumer is slow, and forwards [`Replication`] items into a bounded
//!   channel read with [`ReplicationStream::recv`].
//!
//! Every wait on the server is bounded by [`ConnectConfig::connect_timeout`] or
//! [`ConnectConfig::query_timeout`]; a frame larger than Postgres' own 1 GiB limit is refused.

mod auth;
mod codec;
mod connection;
mod error;
mod frame;
mod query;
mod replication;
mod tls;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

pub use connection::Connection;
pub use error::WireError;
pub use query::{Row, RowStream};
pub use replication::{Replication, ReplicationStream, StreamSettings, XLogData};

/// A WAL position (`pg_lsn`): the byte offset in the write-ahead log.
pub type Lsn = u64;

/// Parses Postgres' text form of an LSN, `"16/B374D848"` (two hex halves of 32 bits each).
pub fn parse_lsn(s: &str) -> Result<Lsn, WireError> {
    let bad = || WireError::Protocol {
        addr: String::new(),
        reason: format!("\"{s}\" is not an LSN (expected two hex numbers like 16/B374D848)"),
    };
    let (hi, lo) = s.trim().split_once('/').ok_or_else(bad)?;
    let valid = |p: &str| !p.is_empty() && p.len() <= 8 && p.bytes().all(|b| b.is_ascii_hexdigit());
    if !valid(hi) || !valid(lo) {
        return Err(bad());
    }
    let hi = u64::from_str_radix(hi, 16).map_err(|_| bad())?;
    let lo = u64::from_str_radix(lo, 16).map_err(|_| bad())?;
    Ok((hi << 32) | lo)
}

/// Formats an LSN as Postgres does: upper-case hex halves without leading zeros, `"16/B374D848"`.
pub fn format_lsn(lsn: Lsn) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}

/// Quotes an SQL identifier: `a"b` becomes `"a""b"`.
pub fn quote_ident(s: &str) -> String {
    postgres_protocol::escape::escape_identifier(s)
}

/// Quotes an SQL string literal: `it's` becomes `'it''s'`; a value with backslashes gets the
/// ` E'...'` form so it is safe whatever `standard_conforming_strings` says.
pub fn quote_literal(s: &str) -> String {
    postgres_protocol::escape::escape_literal(s)
}

/// `database.sslmode`, with libpq's names and meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Plain TCP only.
    Disable,
    /// Like `prefer` here: ask for TLS and fall back to plain TCP when the server declines
    /// (libpq tries plain first; the outcome differs only on servers that insist on TLS
    /// through `hostssl`, where asking first is what succeeds).
    Allow,
    /// Ask for TLS, fall back to plain TCP when the server declines; no certificate checks.
    #[default]
    Prefer,
    /// TLS or fail; the certificate is not checked unless `ssl_root_cert` is given, in which
    /// case the chain is verified as with `verify-ca` (libpq does the same).
    Require,
    /// TLS, and the server certificate must chain to `ssl_root_cert`.
    VerifyCa,
    /// TLS, the chain as in `verify-ca`, and the certificate must name the host.
    VerifyFull,
}

impl SslMode {
    /// The libpq name of the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SslMode {
    type Err = String;

    /// Accepts libpq's names, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" | "verify_ca" => SslMode::VerifyCa,
            "verify-full" | "verify_full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode \"{other}\" is not one of disable, allow, prefer, require, \
                     verify-ca, verify-full"
                ));
            }
        })
    }
}

/// Where and how to connect. `Debug` hides the password.
#[derive(Clone)]
pub struct ConnectConfig {
    /// Host name or IP address (TCP only).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Role to log in as.
    pub user: String,
    /// Password for cleartext, MD5 or SCRAM authentication; never logged or printed.
    pub password: Option<String>,
    /// Database to connect to.
    pub dbname: String,
    /// TLS policy.
    pub sslmode: SslMode,
    /// PEM file of trusted root certificates, for `verify-ca` / `verify-full` (and `require`).
    pub ssl_root_cert: Option<PathBuf>,
    /// Bound on the whole connection set-up: TCP, TLS, startup and authentication.
    pub connect_timeout: Duration,
    /// Bound on every single wait for the server once connected (each message of a query,
    /// each write, the drain at close).
    pub query_timeout: Duration,
    /// `application_name` shown in `pg_stat_activity`.
    pub application_name: String,
    /// Sends `replication=database`: a walsender that accepts replication commands and simple
    /// SQL queries.
    pub replication: bool,
    /// Enables TCP keepalive probes on the socket (the system's idle time and interval).
    pub tcp_keepalive: bool,
}

impl ConnectConfig {
    /// `host:port`, as error messages name the server.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl Default for ConnectConfig {
    fn default() -> Self {
        ConnectConfig {
            host: "localhost".to_string(),
            port: 5432,
            user: "postgres".to_string(),
            password: None,
            dbname: "postgres".to_string(),
            sslmode: SslMode::default(),
            ssl_root_cert: None,
            connect_timeout: Duration::from_secs(30),
            query_timeout: Duration::from_secs(60),
            application_name: "weir".to_string(),
            replication: false,
            tcp_keepalive: true,
        }
    }
}

impl fmt::Debug for ConnectConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "[hidden]"))
            .field("dbname", &self.dbname)
            .field("sslmode", &self.sslmode)
            .field("ssl_root_cert", &self.ssl_root_cert)
            .field("connect_timeout", &self.connect_timeout)
            .field("query_timeout", &self.query_timeout)
            .field("application_name", &self.application_name)
            .field("replication", &self.replication)
            .field("tcp_keepalive", &self.tcp_keepalive)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_round_trips_in_postgres_text_form() {
        assert_eq!(parse_lsn("16/B374D848").expect("valid"), 0x16_B374_D848);
        assert_eq!(parse_lsn("0/0").expect("valid"), 0);
        assert_eq!(parse_lsn("0/16b3748").expect("lower case"), 0x16B_3748);
        assert_eq!(format_lsn(0x16_B374_D848), "16/B374D848");
        assert_eq!(format_lsn(0), "0/0");
        assert_eq!(format_lsn(u64::MAX), "FFFFFFFF/FFFFFFFF");
        for lsn in [1u64, 0xFFFF_FFFF, 0x1_0000_0000, 0xABC_0000_0001] {
            assert_eq!(parse_lsn(&format_lsn(lsn)).expect("round trip"), lsn);
        }
    }

    #[test]
    fn bad_lsns_are_refused_with_the_text() {
        for s in [
            "",
            "16",
            "/1",
            "1/",
            "G/1",
            "1/2/3",
            "123456789/0",
            "-1/0",
            "+1/0",
        ] {
            let e = parse_lsn(s).expect_err(s);
            assert!(e.to_string().contains(&format!("\"{s}\"")), "{e}");
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident("Slot"), "\"Slot\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\b"), " E'a\\\\b'");
    }

    #[test]
    fn sslmode_names() {
        for m in [
            SslMode::Disable,
            SslMode::Allow,
            SslMode::Prefer,
            SslMode::Require,
            SslMode::VerifyCa,
            SslMode::VerifyFull,
        ] {
            assert_eq!(m.as_str().parse::<SslMode>().expect("own name"), m);
        }
        assert_eq!("VERIFY-FULL".parse::<SslMode>(), Ok(SslMode::VerifyFull));
        let e = "strict".parse::<SslMode>().expect_err("unknown");
        assert!(e.contains("\"strict\""), "{e}");
        assert_eq!(SslMode::default(), SslMode::Prefer);
    }

    #[test]
    fn debug_hides_the_password() {
        let cfg = ConnectConfig {
            password: Some("s3cret".into()),
            ..ConnectConfig::default()
        };
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("s3cret"), "{dbg}");
        assert!(dbg.contains("[hidden]"), "{dbg}");
    }
}
