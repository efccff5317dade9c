//! The base URL of the REST API (`http://host:port[/prefix]` or `host:port`) and path
//! segment escaping.

use std::fmt;

use super::RestError;

/// Where the REST API is: host, port and an optional path prefix (behind a proxy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BaseUrl {
    /// Host name or IP (an IPv6 address without brackets), for connecting.
    pub(super) host: String,
    pub(super) port: u16,
    /// The `Host` header: `host:port`, IPv6 in brackets.
    pub(super) authority: String,
    /// `""` or `/prefix` without a trailing slash.
    pub(super) prefix: String,
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority, self.prefix)
    }
}

pub(super) fn parse_url(url: &str) -> Result<BaseUrl, RestError> {
    let bad = |reason: &str| RestError::BadUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let s = url.trim();
    let (rest, has_scheme) = if let Some(r) = s.strip_prefix("http://") {
        (r, true)
    } else if s.starts_with("https://") {
        return Err(bad(
            "https is not supported; reach the API over plain HTTP (loopback or a private \
             network) or through a local TLS-terminating proxy",
        ));
    } else if s.contains("://") {
        return Err(bad("expected http://host:port or host:port"));
    } else {
        (s, false)
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(bad(
            "credentials in the URL are not supported; use --user with WEIR_REST_PASSWORD \
             or --password-file, or --token / WEIR_REST_TOKEN",
        ));
    }
    if path.contains(['?', '#']) {
        return Err(bad("a query or fragment is not allowed in the base URL"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("unclosed [ in an IPv6 address"))?;
        (
            host,
            after.strip_prefix(':').or(after.is_empty().then_some("")),
        )
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, Some("")),
        }
    };
    let port = match port {
        Some("") if has_scheme => 80,
        Some("") => return Err(bad("expected host:port or http://host:port")),
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?,
        None => return Err(bad("expected host:port or http://host:port")),
    };
    if host.is_empty() || host.contains(':') && !authority.starts_with('[') {
        return Err(bad("expected host:port or http://host:port"));
    }
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    Ok(BaseUrl {
        host: host.to_owned(),
        port,
        authority,
        prefix: path.trim_end_matches('/').to_owned(),
    })
}

/// `name` as one URL path segment: everything but RFC 3986's unreserved characters is
/// percent-encoded, so a connector named `a/b c` stays one segment.
pub fn segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_and_without_scheme() {
        let u = parse_url("http://127.0.0.1:8083").expect("plain URL");
        assert_eq!(
            (u.host.as_str(), u.port, u.prefix.as_str()),
            ("127.0.0.1", 8083, "")
        );
        assert_eq!(u.to_string(), "http://127.0.0.1:8083");
        let u = parse_url("localhost:9000").expect("host:port");
        assert_eq!((u.host.as_str(), u.port), ("localhost", 9000));
        let u = parse_url("http://connect.internal/").expect("default port");
        assert_eq!((u.port, u.prefix.as_str()), (80, ""));
        let u = parse_url("http://[::1]:8083/connect/").expect("IPv6 with prefix");
        assert_eq!(u.host, "::1");
        assert_eq!(u.authority, "[::1]:8083");
        assert_eq!(u.prefix, "/connect");
        assert_eq!(u.to_string(), "http://[::1]:8083/connect");
    }

    #[test]
    fn bad_urls_say_why() {
        for (url, why) in [
            ("https://h:8083", "https is not supported"),
            ("ftp://h:1", "expected http://host:port"),
            ("localhost", "expected host:port"),
            ("h:0", "port must be"),
            ("h:port", "port must be"),
            ("http://u:p@h:1", "credentials in the URL"),
            ("http://h:1/?x=1", "query"),
            ("http://[::1:8083", "unclosed"),
            ("::1:8083", "expected host:port"),
            (":8083", "expected host:port"),
        ] {
            let e = parse_url(url).expect_err(url).to_string();
            assert!(e.contains(why), "{url}: {e}");
        }
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(segment("inventory-1.v2_~"), "inventory-1.v2_~");
        assert_eq!(segment("a/b c?"), "a%2Fb%20c%3F");
        assert_eq!(segment("é"), "%C3%A9");
    }
}
