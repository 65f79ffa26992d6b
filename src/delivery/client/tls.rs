//! TLS for the SMTP client: the rustls configurations of opportunistic STARTTLS (encrypt, do not
//! authenticate: an MX's certificate is not checked, RFC 7435) and of required TLS (the certificate
//! is verified against the MX name: built-in roots plus `[delivery] tls_ca_file`), on ring.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// When the client uses STARTTLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsPolicy {
    /// Never start TLS.
    None,
    /// Start TLS when offered; any certificate is accepted; a failed handshake is reported as
    /// [`super::ClientError::TlsHandshake`] so the caller can retry in clear.
    #[default]
    Opportunistic,
    /// Refuse to send mail unless TLS is offered, works, and the certificate is valid for the MX name
    /// (webpki). A failed handshake is never retried in clear.
    Require,
}

/// Accepts any certificate but still checks that the handshake is signed by its key, so the session
/// is at least bound to the certificate the server showed.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// DANE (RFC 7672 §3): the certificate chain must match one of the host's usable TLSA records;
/// the handshake signature is still checked against the leaf's key. Under DANE-EE the name and dates
/// are not checked; under DANE-TA the chain is only matched, not path-validated (a simplification:
/// the issuer named by the record must be in the chain the server sends).
#[derive(Debug)]
struct DaneVerifier {
    records: Vec<crate::delivery::dane::Tlsa>,
    signatures: AcceptAnyCertificate,
}

impl ServerCertVerifier for DaneVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.clone()];
        chain.extend(intermediates.iter().cloned());
        if crate::delivery::dane::chain_matches(&self.records, &chain) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "DANE: the certificate matches none of the TLSA records".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.signatures.supported_verify_schemes()
    }
}

/// The client configuration for DANE: certificates are checked against `records` only.
pub fn dane_config(
    records: Vec<crate::delivery::dane::Tlsa>,
) -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = DaneVerifier {
        records,
        signatures: AcceptAnyCertificate {
            algorithms: provider.signature_verification_algorithms,
        },
    };
    let config = ClientConfig::builder_with_provider(Arc::clone(&provider) as Arc<CryptoProvider>)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The client configuration for opportunistic TLS.
pub fn opportunistic_config() -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = AcceptAnyCertificate {
        algorithms: provider.signature_verification_algorithms,
    };
    let config = ClientConfig::builder_with_provider(Arc::clone(&provider) as Arc<CryptoProvider>)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

impl From<crate::config::TlsMode> for TlsPolicy {
    fn from(mode: crate::config::TlsMode) -> TlsPolicy {
        match mode {
            crate::config::TlsMode::None => TlsPolicy::None,
            // `auto` is resolved per delivery by `Deliverer::connect_for`; without a policy it is
            // opportunistic.
            crate::config::TlsMode::Auto | crate::config::TlsMode::Opportunistic => {
                TlsPolicy::Opportunistic
            }
            crate::config::TlsMode::Require => TlsPolicy::Require,
        }
    }
}

/// The client configuration for required TLS: certificates are verified (chain, validity, name)
/// against the Mozilla roots built in (webpki-roots: the same on every host, whatever its CA bundle
/// layout) plus the PEM certificates of `ca_file`.
pub fn verified_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let roots = trust_roots(ca_file)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider as Arc<CryptoProvider>)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The Mozilla roots built in plus the PEM certificates of `ca_file` (`[delivery] tls_ca_file`).
pub fn trust_roots(ca_file: Option<&Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!("{}: no PEM certificate found", path.display()));
        }
    }
    Ok(roots)
}

/// The name sent as SNI: the MX host name when it is a valid DNS name, else the address.
pub fn server_name(host: &str, addr: std::net::IpAddr) -> ServerName<'static> {
    ServerName::try_from(host.to_owned()).unwrap_or_else(|_| ServerName::IpAddress(addr.into()))
}
