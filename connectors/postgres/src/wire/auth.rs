//! Authentication: trust, cleartext password, MD5 and SCRAM-SHA-256 (without channel
//! binding: SCRAM-SHA-256-PLUS is not offered, which servers accept unless the role or
//! pg_hba insists on it).

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{ChannelBinding, SCRAM_SHA_256, ScramSha256};
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

use super::connection::describe;
use super::error::ServerFields;
use super::frame::Backend;
use super::{ConnectConfig, Connection, WireError};

/// Runs the authentication exchange up to AuthenticationOk.
pub(super) async fn authenticate(
    conn: &mut Connection,
    cfg: &ConnectConfig,
) -> Result<(), WireError> {
    let auth_err = |reason: String, code: Option<String>| WireError::Auth {
        user: cfg.user.clone(),
        addr: cfg.addr(),
        reason,
        code,
    };
    let password = || {
        cfg.password.as_deref().ok_or_else(|| {
            auth_err(
                "the server asks for a password but none is configured (database.password)"
                    .to_string(),
                None,
            )
        })
    };
    let mut buf = BytesMut::new();
    loop {
        buf.clear();
        match conn.recv().await? {
            Backend::Message(Message::AuthenticationOk) => return Ok(()),
            Backend::Message(Message::AuthenticationCleartextPassword) => {
                frontend::password_message(password()?.as_bytes(), &mut buf)
                    .map_err(|e| auth_err(format!("cannot encode the password: {e}"), None))?;
                conn.send(&buf).await?;
            }
            Backend::Message(Message::AuthenticationMd5Password(body)) => {
                let hash = md5_hash(cfg.user.as_bytes(), password()?.as_bytes(), body.salt());
                frontend::password_message(hash.as_bytes(), &mut buf)
                    .map_err(|e| auth_err(format!("cannot encode the password: {e}"), None))?;
                conn.send(&buf).await?;
            }
            Backend::Message(Message::AuthenticationSasl(body)) => {
                let mut mechanisms = Vec::new();
                let mut it = body.mechanisms();
                while let Ok(Some(m)) = it.next() {
                    mechanisms.push(m.to_string());
                }
                if !mechanisms.iter().any(|m| m == SCRAM_SHA_256) {
                    return Err(auth_err(
                        format!(
                            "the server offers only the SASL mechanisms {} and weir supports {}",
                            mechanisms.join(", "),
                            SCRAM_SHA_256
                        ),
                        None,
                    ));
                }
                scram(conn, password()?, cfg, &auth_err).await?;
            }
            Backend::Message(Message::ErrorResponse(body)) => {
                return Err(refused(body, cfg));
            }
            Backend::Message(
                Message::AuthenticationGss
                | Message::AuthenticationSspi
                | Message::AuthenticationKerberosV5
                | Message::AuthenticationScmCredential
                | Message::AuthenticationGssContinue(_),
            ) => {
                return Err(auth_err(
                    "the server asks for GSSAPI/SSPI/Kerberos/SCM authentication, which weir \
                     does not support; use scram-sha-256, md5 or password in pg_hba.conf"
                        .to_string(),
                    None,
                ));
            }
            other => {
                return Err(auth_err(
                    format!(
                        "unexpected message {} during authentication",
                        describe(&other)
                    ),
                    None,
                ));
            }
        }
    }
}

/// SCRAM-SHA-256: client-first, server-first (SaslContinue), client-final, server-final
/// (SaslFinal, whose signature `finish` verifies so a server without the password cannot
/// pretend).
async fn scram(
    conn: &mut Connection,
    password: &str,
    cfg: &ConnectConfig,
    auth_err: &(dyn Fn(String, Option<String>) -> WireError + Sync),
) -> Result<(), WireError> {
    // Without channel binding, say "not supported" ('n'): 'y' ("supported but not offered")
    // would make a TLS server that offers SCRAM-SHA-256-PLUS suspect a downgrade.
    let mut scram = ScramSha256::new(password.as_bytes(), ChannelBinding::unsupported());
    let mut buf = BytesMut::new();
    frontend::sasl_initial_response(SCRAM_SHA_256, scram.message(), &mut buf)
        .map_err(|e| auth_err(format!("cannot encode the SCRAM message: {e}"), None))?;
    conn.send(&buf).await?;
    match conn.recv().await? {
        Backend::Message(Message::AuthenticationSaslContinue(body)) => {
            scram
                .update(body.data())
                .map_err(|e| auth_err(format!("invalid SCRAM server-first message: {e}"), None))?;
        }
        Backend::Message(Message::ErrorResponse(body)) => return Err(refused(body, cfg)),
        other => {
            return Err(auth_err(
                format!(
                    "unexpected message {} in the SCRAM exchange",
                    describe(&other)
                ),
                None,
            ));
        }
    }
    buf.clear();
    frontend::sasl_response(scram.message(), &mut buf)
        .map_err(|e| auth_err(format!("cannot encode the SCRAM message: {e}"), None))?;
    conn.send(&buf).await?;
    match conn.recv().await? {
        Backend::Message(Message::AuthenticationSaslFinal(body)) => {
            scram.finish(body.data()).map_err(|e| {
                auth_err(
                    format!("the server's SCRAM signature does not verify: {e}"),
                    None,
                )
            })?;
            Ok(())
        }
        Backend::Message(Message::ErrorResponse(body)) => Err(refused(body, cfg)),
        other => Err(auth_err(
            format!(
                "unexpected message {} in the SCRAM exchange",
                describe(&other)
            ),
            None,
        )),
    }
}

/// An ErrorResponse during login: SQLSTATE class 28 (28P01 wrong password, 28000 no
/// pg_hba.conf entry or role without LOGIN) is an authentication error; anything else (too
/// many connections, database shutting down) stays a server error with its retry meaning.
fn refused(
    body: postgres_protocol::message::backend::ErrorResponseBody,
    cfg: &ConnectConfig,
) -> WireError {
    let f = ServerFields::parse(body.fields());
    if f.code.starts_with("28") {
        WireError::Auth {
            user: cfg.user.clone(),
            addr: cfg.addr(),
            reason: format!("{} (SQLSTATE {})", f.message, f.code),
            code: Some(f.code),
        }
    } else {
        f.into_error()
    }
}
