//! The error type of the wire client and its retry meaning.

use std::time::Duration;

/// An error talking to Postgres. `Display` is a sentence naming the server (`host:port`), the
/// user or the slot where they matter; causes go through `source()`.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The socket failed.
    #[error("I/O error with Postgres at {addr} while {during}: {source}")]
    Io {
        /// `host:port` of the server.
        addr: String,
        /// What the client was doing.
        during: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A wait passed its bound.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited, naming the server.
        what: String,
        /// The bound that passed.
        after: Duration,
    },
    /// TLS could not be set up as `sslmode` asks.
    #[error("TLS with Postgres at {addr} failed: {reason}")]
    Tls {
        /// `host:port` of the server.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The login was refused, or needs something we do not have or support.
    #[error("authentication of user \"{user}\" with Postgres at {addr} failed: {reason}")]
    Auth {
        /// The role that tried to log in.
        user: String,
        /// `host:port` of the server.
        addr: String,
        /// Why, with the server's message when it sent one.
        reason: String,
        /// The SQLSTATE of the server's refusal (28P01 wrong password, 28000 no pg_hba entry).
        code: Option<String>,
    },
    /// The server sent something this client does not understand, or a message out of order.
    #[error("protocol error with Postgres{}: {reason}", at(addr))]
    Protocol {
        /// `host:port` of the server (empty when no server is involved, e.g. parsing an LSN).
        addr: String,
        /// What was wrong.
        reason: String,
    },
    /// An ErrorResponse: the server's own message, fields as Postgres sends them.
    #[error(
        "Postgres reported {severity} {code}: {message}{}{}",
        detail.as_ref().map(|d| format!(" (detail: {d})")).unwrap_or_default(),
        hint.as_ref().map(|h| format!(" (hint: {h})")).unwrap_or_default()
    )]
    Server {
        /// ERROR, FATAL or PANIC (the non-localized `V` field when present).
        severity: String,
        /// SQLSTATE.
        code: String,
        /// Primary message.
        message: String,
        /// `DETAIL`.
        detail: Option<String>,
        /// `HINT`.
        hint: Option<String>,
    },
    /// The connection is gone (the server closed it, or an earlier error left it unusable).
    #[error("connection to Postgres at {addr} is closed: {reason}")]
    Closed {
        /// `host:port` of the server.
        addr: String,
        /// Why or where it was noticed.
        reason: String,
    },
}

fn at(addr: &str) -> String {
    if addr.is_empty() {
        String::new()
    } else {
        format!(" at {addr}")
    }
}

impl WireError {
    /// The SQLSTATE, for server errors and refused logins.
    pub fn code(&self) -> Option<&str> {
        match self {
            WireError::Server { code, .. } => Some(code),
            WireError::Auth { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// Whether retrying later (on a new connection) may succeed: lost connections and
    /// timeouts, and the SQLSTATEs of connection trouble (class 08), insufficient resources
    /// (class 53), operator intervention/shutdown (57P01-57P03) and serialization failure or
    /// deadlock (40001, 40P01). Everything else needs a fix first.
    pub fn is_transient(&self) -> bool {
        match self {
            WireError::Io { .. } | WireError::Timeout { .. } | WireError::Closed { .. } => true,
            WireError::Server { code, .. } => is_transient_sqlstate(code),
            WireError::Tls { .. } | WireError::Auth { .. } | WireError::Protocol { .. } => false,
        }
    }

    pub(crate) fn io(addr: &str, during: impl Into<String>, source: std::io::Error) -> Self {
        WireError::Io {
            addr: addr.to_string(),
            during: during.into(),
            source,
        }
    }

    pub(crate) fn protocol(addr: &str, reason: impl Into<String>) -> Self {
        WireError::Protocol {
            addr: addr.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn closed(addr: &str, reason: impl Into<String>) -> Self {
        WireError::Closed {
            addr: addr.to_string(),
            reason: reason.into(),
        }
    }
}

fn is_transient_sqlstate(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(code, "57P01" | "57P02" | "57P03" | "40001" | "40P01")
}

/// The fields of an ErrorResponse or NoticeResponse.
#[derive(Debug, Default)]
pub(crate) struct ServerFields {
    pub severity: String,
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl ServerFields {
    /// Reads the `(type, value)` fields; unknown types are skipped, as the protocol asks.
    pub fn parse(mut fields: postgres_protocol::message::backend::ErrorFields<'_>) -> Self {
        use fallible_iterator::FallibleIterator;
        let mut out = ServerFields::default();
        let mut localized_severity = String::new();
        while let Ok(Some(f)) = fields.next() {
            let v = String::from_utf8_lossy(f.value_bytes()).into_owned();
            match f.type_() {
                b'S' => localized_severity = v,
                b'V' => out.severity = v,
                b'C' => out.code = v,
                b'M' => out.message = v,
                b'D' => out.detail = Some(v),
                b'H' => out.hint = Some(v),
                _ => {}
            }
        }
        if out.severity.is_empty() {
            out.severity = localized_severity;
        }
        out
    }

    pub fn into_error(self) -> WireError {
        WireError::Server {
            severity: self.severity,
            code: self.code,
            message: self.message,
            detail: self.detail,
            hint: self.hint,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: &str) -> WireError {
        WireError::Server {
            severity: "ERROR".into(),
            code: code.into(),
            message: "m".into(),
            detail: None,
            hint: None,
        }
    }

    #[test]
    fn transient_classification_by_sqlstate() {
        for c in [
            "08006", "08P01", "53300", "57P01", "57P02", "57P03", "40001", "40P01",
        ] {
            assert!(server(c).is_transient(), "{c}");
        }
        for c in ["55006", "42P01", "28P01", "57014", "XX000"] {
            assert!(!server(c).is_transient(), "{c}");
        }
        assert!(WireError::closed("db:5432", "eof").is_transient());
        assert!(!WireError::protocol("db:5432", "bad").is_transient());
    }

    #[test]
    fn server_error_keeps_message_detail_and_hint() {
        let e = WireError::Server {
            severity: "ERROR".into(),
            code: "55006".into(),
            message: "replication slot \"s\" is active for PID 42".into(),
            detail: Some("d".into()),
            hint: Some("h".into()),
        };
        assert_eq!(
            e.to_string(),
            "Postgres reported ERROR 55006: replication slot \"s\" is active for \
             PID 42 (detail: d) (hint: h)"
        );
        assert_eq!(e.code(), Some("55006"));
    }
}
