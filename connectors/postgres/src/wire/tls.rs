//! TLS per `sslmode`, on rustls with the aws-lc-rs provider passed explicitly (no
//! process-wide default provider is needed).

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{self, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::{ConnectConfig, SslMode, WireError};

/// How the server certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// `prefer`, `allow`, `require` without a root certificate: encryption only.
    Nothing,
    /// `verify-ca`, and `require` with a root certificate: the chain, not the name.
    Chain,
    /// `verify-full`: the chain and the host name.
    ChainAndName,
}

/// Builds the client config for `cfg.sslmode` (only called when TLS is to be attempted).
pub(crate) fn client_config(cfg: &ConnectConfig) -> Result<Arc<ClientConfig>, WireError> {
    let addr = cfg.addr();
    let tls_err = |reason: String| WireError::Tls {
        addr: addr.clone(),
        reason,
    };
    let check = match (cfg.sslmode, &cfg.ssl_root_cert) {
        (SslMode::VerifyFull, _) => Check::ChainAndName,
        (SslMode::VerifyCa, _) | (SslMode::Require, Some(_)) => Check::Chain,
        _ => Check::Nothing,
    };
    let provider = Arc::new(crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(format!("no usable TLS protocol version: {e}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = if check == Check::Nothing {
        Arc::new(Relaxed {
            chain: None,
            provider,
        })
    } else {
        let path = cfg.ssl_root_cert.as_ref().ok_or_else(|| {
            tls_err(format!(
                "sslmode {} needs a root certificate file (database.sslrootcert) to check the \
                 server's certificate against",
                cfg.sslmode
            ))
        })?;
        let pem = std::fs::read(path).map_err(|e| {
            tls_err(format!(
                "cannot read root certificate file {}: {e}",
                path.display()
            ))
        })?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| {
                tls_err(format!(
                    "root certificate file {} is not valid PEM: {e}",
                    path.display()
                ))
            })?;
            roots.add(cert).map_err(|e| {
                tls_err(format!(
                    "root certificate in {} is unusable: {e}",
                    path.display()
                ))
            })?;
        }
        if roots.is_empty() {
            return Err(tls_err(format!(
                "root certificate file {} holds no certificate",
                path.display()
            )));
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| tls_err(format!("cannot build the certificate verifier: {e}")))?;
        if check == Check::ChainAndName {
            webpki
        } else {
            Arc::new(Relaxed {
                chain: Some(webpki),
                provider,
            })
        }
    };
    let mut config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    // Postgres 17 checks this ALPN on direct TLS connections; older servers ignore it.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(Arc::new(config))
}

/// The name sent as SNI and checked by `verify-full`: a DNS name or an IP address.
pub(crate) fn server_name(cfg: &ConnectConfig) -> Result<ServerName<'static>, WireError> {
    ServerName::try_from(cfg.host.clone()).map_err(|e| WireError::Tls {
        addr: cfg.addr(),
        reason: format!("host \"{}\" is not a valid TLS server name: {e}", cfg.host),
    })
}

/// The checks libpq makes short of `verify-full`. Without `chain` (`sslmode=require` without
/// a root certificate, `prefer`, `allow`): encryption only, any certificate is accepted.
/// With it (`verify-ca`): the webpki chain check, a certificate valid for another name
/// accepted (webpki checks the name only after the chain has verified). Either way the
/// handshake signatures are verified, so the peer must hold the key of the certificate it
/// shows.
#[derive(Debug)]
struct Relaxed {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Relaxed {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_modes_need_a_root_certificate() {
        for mode in [SslMode::VerifyCa, SslMode::VerifyFull] {
            let cfg = ConnectConfig {
                sslmode: mode,
                ..ConnectConfig::default()
            };
            let e = client_config(&cfg).expect_err("refused");
            assert!(e.to_string().contains("sslrootcert"), "{e}");
        }
        let cfg = ConnectConfig {
            sslmode: SslMode::Require,
            ..ConnectConfig::default()
        };
        assert!(client_config(&cfg).is_ok());
    }

    #[test]
    fn unreadable_or_empty_root_files_are_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, b"not pem").expect("write");
        for path in [dir.path().join("missing.pem"), empty] {
            let cfg = ConnectConfig {
                sslmode: SslMode::VerifyCa,
                ssl_root_cert: Some(path.clone()),
                ..ConnectConfig::default()
            };
            let e = client_config(&cfg).expect_err("refused");
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        }
    }
}
