//! `weir.http_request`: plain HTTP/1.1 to the hosts a connector config allows, with connect
//! and read timeouts and a bounded response. Blocking (the guest call it serves is blocking).
//! TLS is not offered: an `https://` URL is refused.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::framing::Reader;

/// Return codes of `http_request` (ABI.md).
pub const NOT_ALLOWED: i64 = -1;
pub const CONNECTION: i64 = -2;
pub const TIMEOUT: i64 = -3;
pub const MALFORMED: i64 = -4;

/// The most response body a guest gets.
const MAX_BODY: usize = 1 << 20;
/// The most response head (status line and headers).
const MAX_HEAD: usize = 64 << 10;

/// The hosts a plugin may reach, and how long it may wait.
#[derive(Debug, Clone)]
pub struct HttpGrant {
    /// `host:port` entries, lower case.
    pub allowed: Vec<String>,
    pub timeout: Duration,
}

impl HttpGrant {
    /// From `wasm.http.allowed.hosts` (`host[:port]`, comma-separated; port 80 when absent).
    pub fn new(allowed: &str, timeout: Duration) -> HttpGrant {
        let allowed = allowed
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .map(|h| {
                if h.contains(':') {
                    h
                } else {
                    format!("{h}:80")
                }
            })
            .collect();
        HttpGrant { allowed, timeout }
    }
}

/// Why a request did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0} is not in wasm.http.allowed.hosts")]
    NotAllowed(String),
    #[error("{0}")]
    Malformed(String),
    #[error("{url}: {message}")]
    Connection { url: String, message: String },
    #[error("{url}: no answer within {ms} ms (wasm.http.timeout.ms)")]
    Timeout { url: String, ms: u128 },
}

impl HttpError {
    pub fn code(&self) -> i64 {
        match self {
            HttpError::NotAllowed(_) => NOT_ALLOWED,
            HttpError::Malformed(_) => MALFORMED,
            HttpError::Connection { .. } => CONNECTION,
            HttpError::Timeout { .. } => TIMEOUT,
        }
    }
}

struct Request<'a> {
    method: &'a str,
    url: &'a str,
    headers: Vec<(&'a str, &'a [u8])>,
    body: &'a [u8],
}

fn parse_request(buf: &[u8]) -> Option<Request<'_>> {
    let mut r = Reader::new(buf);
    let mut text = || -> Option<&str> {
        let len = r.u32("").ok()? as usize;
        r.text_ref(len, "").ok()
    };
    let (method, url) = (text()?, text()?);
    let n_headers = r.u16("").ok()?;
    let mut headers = Vec::new();
    for _ in 0..n_headers {
        let len = r.u16("").ok()?;
        let name = r.text_ref(usize::from(len), "").ok()?;
        headers.push((name, r.bytes_ref("").ok()??));
    }
    let body = r.bytes_ref("").ok()??;
    r.is_done().then_some(Request {
        method,
        url,
        headers,
        body,
    })
}

/// `host:port` and the path of an `http://` URL.
fn split_url(url: &str) -> Result<(String, String), HttpError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| HttpError::NotAllowed(format!("{url} (only http:// URLs)")))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.contains('@') || authority.is_empty() {
        return Err(HttpError::Malformed(
            "the URL has no host or carries credentials".into(),
        ));
    }
    let authority = authority.to_ascii_lowercase();
    let host_port = if authority.contains(':') {
        authority
    } else {
        format!("{authority}:80")
    };
    Ok((host_port, path.to_string()))
}

fn token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.!#$%&'*+^`|~".contains(&b))
}

/// Sends the request framed in `buf` (ABI.md) and returns the status and body.
pub fn request(grant: &HttpGrant, buf: &[u8]) -> Result<(u16, Vec<u8>), HttpError> {
    let req = parse_request(buf).ok_or_else(|| {
        HttpError::Malformed("the request framing does not decode (ABI.md)".into())
    })?;
    if !token(req.method) {
        return Err(HttpError::Malformed(format!("bad method {:?}", req.method)));
    }
    let (host_port, path) = split_url(req.url)?;
    if !grant.allowed.contains(&host_port) {
        return Err(HttpError::NotAllowed(host_port));
    }
    let shown = format!("http://{host_port}{}", path.split('?').next().unwrap_or(""));
    let conn = |message: String| HttpError::Connection {
        url: shown.clone(),
        message,
    };
    let timeout = |_| HttpError::Timeout {
        url: shown.clone(),
        ms: grant.timeout.as_millis(),
    };
    let mut head = format!(
        "{} {path} HTTP/1.1\r\nhost: {host_port}\r\nconnection: close\r\ncontent-length: {}\r\n",
        req.method,
        req.body.len()
    );
    for (name, value) in &req.headers {
        let value = std::str::from_utf8(value).unwrap_or("");
        if !token(name) || value.contains(['\r', '\n']) {
            return Err(HttpError::Malformed(format!("bad header {name:?}")));
        }
        if name.eq_ignore_ascii_case("host")
            || name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("connection")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            continue;
        }
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");

    let deadline = Instant::now() + grant.timeout;
    let addr = host_port
        .to_socket_addrs()
        .map_err(|e| conn(format!("cannot resolve: {e}")))?
        .next()
        .ok_or_else(|| conn("the host resolves to no address".into()))?;
    let mut stream = TcpStream::connect_timeout(&addr, grant.timeout).map_err(|e| {
        if e.kind() == std::io::ErrorKind::TimedOut {
            timeout(())
        } else {
            conn(format!("cannot connect: {e}"))
        }
    })?;
    let io = |e: std::io::Error| {
        if matches!(
            e.kind(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
        ) {
            timeout(())
        } else {
            conn(e.to_string())
        }
    };
    stream.set_write_timeout(Some(grant.timeout)).map_err(io)?;
    stream.write_all(head.as_bytes()).map_err(io)?;
    stream.write_all(req.body).map_err(io)?;
    let mut response = Vec::new();
    let mut chunk = [0u8; 16 << 10];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timeout(()));
        }
        stream.set_read_timeout(Some(left)).map_err(io)?;
        let n = stream.read(&mut chunk).map_err(io)?;
        if n == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..n]);
        if response.len() > MAX_HEAD + MAX_BODY {
            break;
        }
    }
    parse_response(&response).ok_or_else(|| conn("the answer is not an HTTP/1.x response".into()))
}

fn parse_response(raw: &[u8]) -> Option<(u16, Vec<u8>)> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.splitn(3, ' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status: u16 = parts.next()?.parse().ok()?;
    let mut body = &raw[end + 4..];
    let mut chunked = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            let n: usize = value.parse().ok()?;
            body = &body[..n.min(body.len())];
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.eq_ignore_ascii_case("chunked")
        {
            chunked = true;
        }
    }
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Some((status, body.into_iter().take(MAX_BODY).collect()))
}

fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = raw.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&raw[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        raw = &raw[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(method: &str, url: &str, body: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&(method.len() as u32).to_le_bytes());
        b.extend_from_slice(method.as_bytes());
        b.extend_from_slice(&(url.len() as u32).to_le_bytes());
        b.extend_from_slice(url.as_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&12u16.to_le_bytes());
        b.extend_from_slice(b"content-type");
        b.extend_from_slice(&4u32.to_le_bytes());
        b.extend_from_slice(b"text");
        b.extend_from_slice(&(body.len() as u32).to_le_bytes());
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn only_allowed_hosts_are_reached() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !got.ends_with(b"hello") {
                let n = s.read(&mut buf).expect("read");
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(
                b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
            )
            .expect("write");
            String::from_utf8_lossy(&got).into_owned()
        });
        let grant = HttpGrant::new(&format!("127.0.0.1:{port}"), Duration::from_secs(5));
        let url = format!("http://127.0.0.1:{port}/in?x=1");
        let (status, body) = request(&grant, &frame("POST", &url, b"hello")).expect("request");
        assert_eq!((status, body.as_slice()), (201, b"ok".as_slice()));
        let seen = server.join().expect("server");
        assert!(seen.starts_with("POST /in?x=1 HTTP/1.1\r\n"), "{seen}");
        assert!(seen.contains("content-type: text\r\n"), "{seen}");

        let other = format!("http://127.0.0.2:{port}/");
        let e = request(&grant, &frame("GET", &other, b"")).expect_err("not allowed");
        assert_eq!(e.code(), NOT_ALLOWED);
        let e = request(&grant, &frame("GET", "https://127.0.0.1/", b"")).expect_err("tls");
        assert_eq!(e.code(), NOT_ALLOWED);
        let e = request(&grant, b"\x01\x00").expect_err("malformed");
        assert_eq!(e.code(), MALFORMED);
        let e = request(&grant, &frame("GET\r\n", &url, b"")).expect_err("bad method");
        assert_eq!(e.code(), MALFORMED);
    }

    #[test]
    fn a_silent_server_times_out() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let grant = HttpGrant::new(&format!("127.0.0.1:{port}"), Duration::from_millis(200));
        let url = format!("http://127.0.0.1:{port}/");
        let e = request(&grant, &frame("GET", &url, b"")).expect_err("timeout");
        assert_eq!(e.code(), TIMEOUT, "{e}");
        drop(listener);
    }
}
