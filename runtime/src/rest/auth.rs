//! Optional authentication of every request (`rest.auth.basic.*` or
//! `rest.auth.bearer.token`). Secrets are compared in constant time and never logged; a
//! request without valid credentials gets 401 with `WWW-Authenticate` and the error body.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::RestState;
use super::error::ApiError;
use crate::worker::settings::RestAuth;

pub async fn check(State(s): State<RestState>, request: Request, next: Next) -> Response {
    let auth = &s.options().auth;
    if matches!(auth, RestAuth::None) {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match given {
        Some(given) if authorized(auth, given) => next.run(request).await,
        Some(_) => unauthorized(auth, "Invalid credentials"),
        None => unauthorized(auth, "Authentication required"),
    }
}

fn unauthorized(auth: &RestAuth, message: &str) -> Response {
    let challenge = match auth {
        RestAuth::Bearer(_) => "Bearer realm=\"weir\"",
        _ => "Basic realm=\"weir\", charset=\"UTF-8\"",
    };
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

/// Whether an `Authorization` header value carries the configured credentials.
pub fn authorized(auth: &RestAuth, header_value: &str) -> bool {
    let (scheme, rest) = header_value
        .trim()
        .split_once(' ')
        .unwrap_or((header_value, ""));
    match auth {
        RestAuth::None => true,
        RestAuth::Bearer(token) => {
            scheme.eq_ignore_ascii_case("bearer") && same(rest.trim(), token.expose())
        }
        RestAuth::Basic { username, password } => {
            if !scheme.eq_ignore_ascii_case("basic") {
                return false;
            }
            let Some(decoded) = base64_decode(rest.trim()) else {
                return false;
            };
            let Ok(decoded) = String::from_utf8(decoded) else {
                return false;
            };
            let Some((user, pass)) = decoded.split_once(':') else {
                return false;
            };
            // Both compared, always: the time taken says nothing about which one was wrong.
            let user_ok = same(user, username);
            let pass_ok = same(pass, password.expose());
            user_ok & pass_ok
        }
    }
}

/// Constant-time comparison (the length may leak; the content does not).
fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Standard base64 (RFC 4648, padding optional); `None` when malformed.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let padding = "=".repeat((4 - s.len() % 4) % 4);
    crate::converters::json::base64::decode(&format!("{s}{padding}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_connect_api::Secret;

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(
            base64_decode("dXNlcjpwYXNz").as_deref(),
            Some(&b"user:pass"[..])
        );
        assert_eq!(base64_decode("YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(base64_decode("YWI").as_deref(), Some(&b"ab"[..]));
        assert_eq!(base64_decode("").as_deref(), Some(&b""[..]));
        assert_eq!(base64_decode("Y"), None);
        assert_eq!(base64_decode("a$bc"), None);
    }

    #[test]
    fn basic_and_bearer_credentials() {
        let basic = RestAuth::Basic {
            username: "admin".into(),
            password: Secret::new("s3cret:x"),
        };
        // admin:s3cret:x (a colon in the password is allowed)
        assert!(authorized(&basic, "Basic YWRtaW46czNjcmV0Ong="));
        assert!(authorized(&basic, "basic YWRtaW46czNjcmV0Ong="));
        assert!(!authorized(&basic, "Basic YWRtaW46d3Jvbmc=")); // admin:wrong
        assert!(!authorized(&basic, "Bearer s3cret:x"));
        assert!(!authorized(&basic, "Basic !!!"));
        let bearer = RestAuth::Bearer(Secret::new("t0ken"));
        assert!(authorized(&bearer, "Bearer t0ken"));
        assert!(!authorized(&bearer, "Bearer t0ke"));
        assert!(!authorized(&bearer, "Basic t0ken"));
        assert!(!authorized(&bearer, "t0ken"));
    }
}
