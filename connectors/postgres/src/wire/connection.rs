//! One session: TCP, TLS negotiation, startup, and the message plumbing shared by the query
//! and replication code.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;

use super::error::ServerFields;
use super::frame::{Backend, Framed, Stream};
use super::query::InFlight;
use super::{ConnectConfig, SslMode, WireError, auth, tls};

/// Server parameters kept from ParameterStatus; a server sends about fifteen, this bound only
/// guards against a misbehaving one.
const MAX_PARAMETERS: usize = 256;

/// One Postgres session speaking the simple query protocol (the only one a replication
/// connection accepts). Not thread-safe by itself: one caller at a time (`&mut self`).
pub struct Connection {
    pub(super) framed: Framed,
    pub(super) params: HashMap<String, String>,
    pub(super) pid: i32,
    pub(super) query_timeout: Duration,
    /// The query whose replies are still being read (a `RowStream` in progress or dropped).
    pub(super) in_flight: Option<InFlight>,
    /// Set when the session can no longer be used (timeout mid-reply, I/O or protocol error).
    pub(super) broken: Option<String>,
}

impl Connection {
    /// Connects, negotiates TLS as `cfg.sslmode` says, logs in and waits for the server to be
    /// ready; the whole set-up is bounded by `cfg.connect_timeout`.
    pub async fn connect(cfg: &ConnectConfig) -> Result<Connection, WireError> {
        match tokio::time::timeout(cfg.connect_timeout, connect_inner(cfg)).await {
            Ok(r) => r,
            Err(_) => Err(WireError::Timeout {
                what: format!(
                    "the connection to Postgres at {} as user \"{}\" (database.connect_timeout)",
                    cfg.addr(),
                    cfg.user
                ),
                after: cfg.connect_timeout,
            }),
        }
    }

    /// A value the server reported with ParameterStatus (`server_version`, `TimeZone`,
    /// `integer_datetimes`, ...).
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// `server_version` as a number like `server_version_num`: 150004 for "15.4 (Debian ...)",
    /// 90603 for "9.6.3"; 0 if the server did not report it.
    pub fn server_version_num(&self) -> u32 {
        self.parameter("server_version")
            .map(parse_server_version)
            .unwrap_or(0)
    }

    /// Process id of the backend serving this session (as in `pg_stat_activity.pid`).
    pub fn backend_pid(&self) -> i32 {
        self.pid
    }

    /// Sends Terminate and closes the socket, best effort (bounded by the query timeout).
    pub async fn close(mut self) {
        let mut buf = BytesMut::new();
        frontend::terminate(&mut buf);
        let timeout = self.query_timeout;
        let _ = tokio::time::timeout(timeout, async {
            let _ = self.framed.write_all(&buf).await;
            self.framed.shutdown().await;
        })
        .await;
    }

    pub(super) fn addr(&self) -> &str {
        &self.framed.addr
    }

    /// Refuses to use a session an earlier error left in an unknown state.
    pub(super) fn check_usable(&self) -> Result<(), WireError> {
        match &self.broken {
            Some(why) => Err(WireError::closed(
                self.addr(),
                format!("the session is unusable after an earlier error ({why})"),
            )),
            None => Ok(()),
        }
    }

    fn mark_broken(&mut self, e: &WireError) {
        if self.broken.is_none() {
            self.broken = Some(e.to_string());
        }
    }

    /// Writes `buf`, bounded by the query timeout; a failure breaks the session.
    pub(super) async fn send(&mut self, buf: &[u8]) -> Result<(), WireError> {
        let r = match tokio::time::timeout(self.query_timeout, self.framed.write_all(buf)).await {
            Ok(r) => r,
            Err(_) => Err(WireError::Timeout {
                what: format!(
                    "the socket to Postgres at {} to accept a message",
                    self.addr()
                ),
                after: self.query_timeout,
            }),
        };
        if let Err(e) = &r {
            self.mark_broken(e);
        }
        r
    }

    /// The next message that needs an answer, bounded by the query timeout. ParameterStatus
    /// is recorded, NoticeResponse logged at debug, NotificationResponse ignored. A failure
    /// breaks the session.
    pub(super) async fn recv(&mut self) -> Result<Backend, WireError> {
        loop {
            let r = match tokio::time::timeout(self.query_timeout, self.framed.read()).await {
                Ok(r) => r,
                Err(_) => Err(WireError::Timeout {
                    what: format!("a reply from Postgres at {}", self.addr()),
                    after: self.query_timeout,
                }),
            };
            let m = match r {
                Ok(m) => m,
                Err(e) => {
                    self.mark_broken(&e);
                    return Err(e);
                }
            };
            match m {
                Backend::Message(Message::ParameterStatus(p)) => {
                    if let (Ok(name), Ok(value)) = (p.name(), p.value())
                        && (self.params.len() < MAX_PARAMETERS || self.params.contains_key(name))
                    {
                        self.params.insert(name.to_string(), value.to_string());
                    }
                }
                Backend::Message(Message::NoticeResponse(n)) => {
                    let f = ServerFields::parse(n.fields());
                    tracing::debug!(
                        server = %self.addr(),
                        severity = %f.severity,
                        code = %f.code,
                        message = %f.message,
                        "postgres notice"
                    );
                }
                Backend::Message(Message::NotificationResponse(_)) => {}
                other => return Ok(other),
            }
        }
    }

    /// An error for a message that is not expected at this point; it breaks the session.
    pub(super) fn unexpected(&mut self, m: &Backend, during: &str) -> WireError {
        let e = WireError::protocol(
            self.addr(),
            format!("unexpected message {} {during}", describe(m)),
        );
        self.mark_broken(&e);
        e
    }
}

/// A short name of a message for error texts.
pub(super) fn describe(m: &Backend) -> &'static str {
    match m {
        Backend::CopyBoth => "CopyBothResponse",
        Backend::NegotiateProtocol { .. } => "NegotiateProtocolVersion",
        Backend::Message(m) => match m {
            Message::AuthenticationOk => "AuthenticationOk",
            Message::BackendKeyData(_) => "BackendKeyData",
            Message::CommandComplete(_) => "CommandComplete",
            Message::CopyData(_) => "CopyData",
            Message::CopyDone => "CopyDone",
            Message::CopyInResponse(_) => "CopyInResponse",
            Message::CopyOutResponse(_) => "CopyOutResponse",
            Message::DataRow(_) => "DataRow",
            Message::EmptyQueryResponse => "EmptyQueryResponse",
            Message::ErrorResponse(_) => "ErrorResponse",
            Message::ReadyForQuery(_) => "ReadyForQuery",
            Message::RowDescription(_) => "RowDescription",
            _ => "(other backend message)",
        },
    }
}

async fn connect_inner(cfg: &ConnectConfig) -> Result<Connection, WireError> {
    let addr = cfg.addr();
    let tcp = tcp_connect(cfg).await?;
    let stream = negotiate_tls(tcp, cfg).await?;
    let mut conn = Connection {
        framed: Framed::new(stream, addr),
        params: HashMap::new(),
        pid: 0,
        query_timeout: cfg.query_timeout,
        in_flight: None,
        broken: None,
    };
    let mut params: Vec<(&str, &str)> = vec![
        ("user", &cfg.user),
        ("database", &cfg.dbname),
        ("application_name", &cfg.application_name),
        ("client_encoding", "UTF8"),
        ("DateStyle", "ISO"),
    ];
    if cfg.replication {
        params.push(("replication", "database"));
    }
    let mut buf = BytesMut::new();
    frontend::startup_message(params.iter().copied(), &mut buf).map_err(|e| {
        WireError::protocol(
            &conn.framed.addr,
            format!("cannot encode the startup message: {e}"),
        )
    })?;
    conn.send(&buf).await?;
    auth::authenticate(&mut conn, cfg).await?;
    loop {
        match conn.recv().await? {
            Backend::Message(Message::BackendKeyData(k)) => conn.pid = k.process_id(),
            Backend::Message(Message::ReadyForQuery(_)) => break,
            Backend::Message(Message::ErrorResponse(e)) => {
                return Err(ServerFields::parse(e.fields()).into_error());
            }
            Backend::NegotiateProtocol {
                newest_minor,
                unsupported,
            } => {
                tracing::debug!(server = %conn.addr(), newest_minor, ?unsupported,
                    "postgres negotiated the protocol version");
            }
            other => return Err(conn.unexpected(&other, "after authentication")),
        }
    }
    tracing::debug!(server = %conn.addr(), user = %cfg.user, pid = conn.pid,
        replication = cfg.replication, "connected to postgres");
    Ok(conn)
}

/// Tries every address the host resolves to, in order.
async fn tcp_connect(cfg: &ConnectConfig) -> Result<TcpStream, WireError> {
    let addr = cfg.addr();
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((cfg.host.as_str(), cfg.port))
        .await
        .map_err(|e| WireError::io(&addr, format!("resolving host \"{}\"", cfg.host), e))?
        .collect();
    let mut last = None;
    for a in addrs {
        match tcp_connect_one(a, cfg.tcp_keepalive).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => WireError::io(&addr, "connecting", e),
        None => WireError::io(
            &addr,
            format!("resolving host \"{}\"", cfg.host),
            std::io::Error::new(std::io::ErrorKind::NotFound, "no address found"),
        ),
    })
}

async fn tcp_connect_one(a: SocketAddr, keepalive: bool) -> std::io::Result<TcpStream> {
    let socket = if a.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_keepalive(keepalive)?;
    let stream = socket.connect(a).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// SSLRequest per libpq's sslmode: `disable` skips it; `allow`/`prefer` take plain TCP when
/// the server answers `N`; `require` and stricter fail then.
async fn negotiate_tls(mut tcp: TcpStream, cfg: &ConnectConfig) -> Result<Stream, WireError> {
    if cfg.sslmode == SslMode::Disable {
        return Ok(Stream::Plain(tcp));
    }
    let addr = cfg.addr();
    // Built first so a bad root certificate file is reported before any network traffic.
    let config = tls::client_config(cfg)?;
    let name = tls::server_name(cfg)?;
    let mut req = BytesMut::new();
    frontend::ssl_request(&mut req);
    tcp.write_all(&req)
        .await
        .map_err(|e| WireError::io(&addr, "sending SSLRequest", e))?;
    // Exactly one byte: anything the server sent after it must not be read as plain text
    // before the handshake (CVE-2021-23222).
    let answer = tcp
        .read_u8()
        .await
        .map_err(|e| WireError::io(&addr, "reading the answer to SSLRequest", e))?;
    match answer {
        b'S' => {
            let tls = TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| WireError::Tls {
                    addr: addr.clone(),
                    reason: format!("handshake failed (sslmode={}): {e}", cfg.sslmode),
                })?;
            Ok(Stream::Tls(Box::new(tls)))
        }
        b'N' if matches!(cfg.sslmode, SslMode::Allow | SslMode::Prefer) => {
            tracing::debug!(server = %addr, "server declined TLS; continuing unencrypted (sslmode={})", cfg.sslmode);
            Ok(Stream::Plain(tcp))
        }
        b'N' => Err(WireError::Tls {
            addr,
            reason: format!(
                "the server does not accept TLS connections (ssl=off) but sslmode is {}",
                cfg.sslmode
            ),
        }),
        other => Err(WireError::protocol(
            &addr,
            format!(
                "unexpected answer {:?} to SSLRequest (expected 'S' or 'N')",
                char::from(other)
            ),
        )),
    }
}

/// "15.4 (Debian 15.4-1.pgdg120+1)" -> 150004; "9.6.3" -> 90603; "16beta1" -> 160000.
pub(super) fn parse_server_version(v: &str) -> u32 {
    let head: String = v
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let mut parts = head.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let second = parts.next().unwrap_or(0);
    let third = parts.next().unwrap_or(0);
    if major >= 10 {
        major * 10_000 + second
    } else {
        major * 10_000 + second * 100 + third
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_versions() {
        assert_eq!(
            parse_server_version("15.4 (Debian 15.4-1.pgdg120+1)"),
            150004
        );
        assert_eq!(parse_server_version("15.14"), 150014);
        assert_eq!(parse_server_version("9.6.3"), 90603);
        assert_eq!(parse_server_version("16beta1"), 160000);
        assert_eq!(parse_server_version(""), 0);
    }
}
