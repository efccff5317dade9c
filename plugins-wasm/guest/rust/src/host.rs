//! The host's imports (module `weir`, see `plugins-wasm/ABI.md`) with safe wrappers.
//!
//! On targets other than wasm32 (unit tests) the wrappers do nothing: `log`/`error` drop
//! the message, `config`/`offset` return `None`, `http_request` fails with
//! [`HttpError::NotAllowed`].

use alloc::vec;
use alloc::vec::Vec;

#[cfg(target_arch = "wasm32")]
mod imports {
    #[link(wasm_import_module = "weir")]
    unsafe extern "C" {
        #[link_name = "log"]
        pub fn weir_log(level: i32, ptr: *const u8, len: usize);
        #[link_name = "error"]
        pub fn weir_error(ptr: *const u8, len: usize);
        #[link_name = "config"]
        pub fn weir_config(key: *const u8, key_len: usize, buf: *mut u8, cap: usize) -> i32;
        #[link_name = "offset"]
        pub fn weir_offset(part: *const u8, part_len: usize, buf: *mut u8, cap: usize) -> i32;
        #[link_name = "http_request"]
        pub fn weir_http_request(req: *const u8, req_len: usize, buf: *mut u8, cap: usize) -> i64;
    }
}

/// Log levels of `weir.log`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Level {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
}

/// `weir.log`: a line in the worker's log.
pub fn log(level: Level, msg: &str) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: the host reads `msg.len()` bytes at `msg.as_ptr()` during the call.
    unsafe {
        imports::weir_log(level as i32, msg.as_ptr(), msg.len())
    };
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (level, msg);
}

/// `weir.error`: the message of the failure the guest is about to return.
pub fn error(msg: &str) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: as in `log`.
    unsafe {
        imports::weir_error(msg.as_ptr(), msg.len())
    };
    #[cfg(not(target_arch = "wasm32"))]
    let _ = msg;
}

/// Shared by `config` and `offset`: the host returns the length and copies when it fits.
#[cfg_attr(not(target_arch = "wasm32"), allow(unused_variables, unused_mut))]
fn fetch(config: bool, key: &[u8]) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 64];
    for _ in 0..4 {
        #[cfg(target_arch = "wasm32")]
        // SAFETY: the host writes at most `buf.len()` bytes into `buf`.
        let n = unsafe {
            if config {
                imports::weir_config(key.as_ptr(), key.len(), buf.as_mut_ptr(), buf.len())
            } else {
                imports::weir_offset(key.as_ptr(), key.len(), buf.as_mut_ptr(), buf.len())
            }
        };
        #[cfg(not(target_arch = "wasm32"))]
        let n: i32 = -1;
        let n = usize::try_from(n).ok()?;
        if n <= buf.len() {
            buf.truncate(n);
            return Some(buf);
        }
        buf.resize(n, 0);
    }
    None
}

/// `weir.config`: the value of config `key`, `None` when it is not set.
pub fn config(key: &str) -> Option<Vec<u8>> {
    fetch(true, key.as_bytes())
}

/// `weir.offset` (sources): the last committed offset (a JSON object) of the source partition
/// `partition` (a JSON object), `None` when none was committed.
pub fn offset(partition: &[u8]) -> Option<Vec<u8>> {
    fetch(false, partition)
}

/// A request for [`http_request`].
#[derive(Clone, Copy, Debug)]
pub struct HttpRequest<'a> {
    pub method: &'a str,
    /// `http://host[:port]/path?query`; host:port must be in `wasm.http.allowed.hosts`.
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a [u8])],
    pub body: &'a [u8],
}

impl HttpRequest<'_> {
    /// The request framed as ABI.md describes:
    /// `u32 method_len | method | u32 url_len | url | u16 n_headers |
    ///  n_headers x (u16 name_len | name | u32 value_len | value) | u32 body_len | body`.
    /// `None` when a part is too long for its length field.
    pub fn encode(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(
            14 + self.method.len()
                + self.url.len()
                + self.body.len()
                + self
                    .headers
                    .iter()
                    .map(|(n, v)| 6 + n.len() + v.len())
                    .sum::<usize>(),
        );
        let u32_len = |n: usize| u32::try_from(n).ok().map(u32::to_le_bytes);
        out.extend_from_slice(&u32_len(self.method.len())?);
        out.extend_from_slice(self.method.as_bytes());
        out.extend_from_slice(&u32_len(self.url.len())?);
        out.extend_from_slice(self.url.as_bytes());
        out.extend_from_slice(&u16::try_from(self.headers.len()).ok()?.to_le_bytes());
        for (name, value) in self.headers {
            out.extend_from_slice(&u16::try_from(name.len()).ok()?.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&u32_len(value.len())?);
            out.extend_from_slice(value);
        }
        out.extend_from_slice(&u32_len(self.body.len())?);
        out.extend_from_slice(self.body);
        Some(out)
    }
}

/// A response of [`http_request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u32,
    /// The full body length; `min(body_len, buf.len())` bytes were copied.
    pub body_len: usize,
}

/// Failures of [`http_request`] (its negative results).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// -1: the host is not in `wasm.http.allowed.hosts` or the URL is not `http://`.
    NotAllowed,
    /// -2: connection refused or reset.
    Connection,
    /// -3: connect or read timeout.
    Timeout,
    /// -4: malformed request or response (also: the request could not be framed).
    Malformed,
    /// Another negative value.
    Other(i64),
}

impl HttpError {
    /// The import's code for this error.
    pub fn code(self) -> i64 {
        match self {
            HttpError::NotAllowed => -1,
            HttpError::Connection => -2,
            HttpError::Timeout => -3,
            HttpError::Malformed => -4,
            HttpError::Other(c) => c,
        }
    }
    /// Worth retrying (connection problems and timeouts).
    pub fn is_transient(self) -> bool {
        matches!(self, HttpError::Connection | HttpError::Timeout)
    }
    /// Splits a raw `weir.http_request` result.
    pub fn decode(raw: i64) -> Result<HttpResponse, HttpError> {
        match raw {
            -1 => Err(HttpError::NotAllowed),
            -2 => Err(HttpError::Connection),
            -3 => Err(HttpError::Timeout),
            -4 => Err(HttpError::Malformed),
            r if r < 0 => Err(HttpError::Other(r)),
            r => Ok(HttpResponse {
                status: (r >> 32) as u32,
                body_len: (r & 0xFFFF_FFFF) as usize,
            }),
        }
    }
}

/// `weir.http_request`: sends `req`, copies up to `resp.len()` bytes of the response body
/// into `resp`.
#[cfg_attr(not(target_arch = "wasm32"), allow(unused_variables))]
pub fn http_request(req: &HttpRequest<'_>, resp: &mut [u8]) -> Result<HttpResponse, HttpError> {
    let framed = req.encode().ok_or(HttpError::Malformed)?;
    #[cfg(target_arch = "wasm32")]
    // SAFETY: the host reads the request and writes at most `resp.len()` bytes into `resp`.
    let raw = unsafe {
        imports::weir_http_request(framed.as_ptr(), framed.len(), resp.as_mut_ptr(), resp.len())
    };
    #[cfg(not(target_arch = "wasm32"))]
    let raw = -1;
    HttpError::decode(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_http_requests() {
        let req = HttpRequest {
            method: "POST",
            url: "http://h:1/p",
            headers: &[("content-type", b"x/y")],
            body: b"ab",
        };
        let mut want = Vec::new();
        want.extend_from_slice(&4u32.to_le_bytes());
        want.extend_from_slice(b"POST");
        want.extend_from_slice(&12u32.to_le_bytes());
        want.extend_from_slice(b"http://h:1/p");
        want.extend_from_slice(&1u16.to_le_bytes());
        want.extend_from_slice(&12u16.to_le_bytes());
        want.extend_from_slice(b"content-type");
        want.extend_from_slice(&3u32.to_le_bytes());
        want.extend_from_slice(b"x/y");
        want.extend_from_slice(&2u32.to_le_bytes());
        want.extend_from_slice(b"ab");
        assert_eq!(req.encode().unwrap(), want);
    }

    #[test]
    fn decodes_http_results() {
        assert_eq!(
            HttpError::decode((204i64 << 32) | 5),
            Ok(HttpResponse {
                status: 204,
                body_len: 5
            })
        );
        assert_eq!(HttpError::decode(-3), Err(HttpError::Timeout));
        assert!(HttpError::Connection.is_transient());
        assert!(!HttpError::NotAllowed.is_transient());
        assert_eq!(HttpError::decode(-9), Err(HttpError::Other(-9)));
    }

    #[test]
    fn stubs_off_wasm() {
        assert_eq!(config("x"), None);
        assert_eq!(offset(b"{}"), None);
        log(Level::Info, "ignored");
        error("ignored");
    }
}
