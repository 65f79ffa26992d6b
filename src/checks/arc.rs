//! ARC sealing (RFC 8617, issue 15): the `[arc]` key (RSA-SHA256 or Ed25519-SHA256) and one ARC set
//! (ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results) per relayed message, so a primary
//! that trusts us as a sealer can use our verdicts although it sees our address, not the sender's.

use mail_auth::arc::ArcSealer;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::Done;
use mail_auth::{ArcOutput, AuthenticatedMessage, AuthenticationResults};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

use crate::config::ArcConfig;

/// The loaded key, with our domain, selector and the header fields the signature covers.
pub struct Sealer {
    sealer: Built,
}

enum Built {
    Rsa(ArcSealer<RsaKey<Sha256>, Done>),
    Ed25519(ArcSealer<Ed25519Key, Done>),
}

enum Key {
    Rsa(RsaKey<Sha256>),
    Ed25519(Ed25519Key),
}

impl Sealer {
    /// Reads the key file (the config loader has checked it already; this is the start-up read).
    /// `signed_headers`: the fields the ARC-Message-Signature covers.
    pub fn load(config: &ArcConfig, signed_headers: &[&str]) -> Result<Sealer, String> {
        let pem = std::fs::read(&config.key_file).map_err(|e| e.to_string())?;
        let headers = signed_headers.iter().map(|h| h.to_string());
        let sealer = match parse_key(&pem)? {
            Key::Rsa(key) => Built::Rsa(
                ArcSealer::from_key(key)
                    .domain(config.domain.clone())
                    .selector(config.selector.clone())
                    .headers(headers),
            ),
            Key::Ed25519(key) => Built::Ed25519(
                ArcSealer::from_key(key)
                    .domain(config.domain.clone())
                    .selector(config.selector.clone())
                    .headers(headers),
            ),
        };
        Ok(Sealer { sealer })
    }

    /// Which algorithm the seal uses, for logs and benchmarks.
    pub fn algorithm(&self) -> &'static str {
        match self.sealer {
            Built::Rsa(_) => "rsa-sha256",
            Built::Ed25519(_) => "ed25519-sha256",
        }
    }

    /// The three ARC header fields (CRLF-terminated) to prepend to `message`, or why not (a chain
    /// that already failed is not sealed again, RFC 8617 §5.1.2).
    pub fn seal(
        &self,
        message: &AuthenticatedMessage<'_>,
        results: &AuthenticationResults<'_>,
        chain: &ArcOutput<'_>,
    ) -> Result<String, String> {
        if !chain.can_be_sealed() {
            return Err("the incoming ARC chain failed (cv=fail)".into());
        }
        let set = match &self.sealer {
            Built::Rsa(sealer) => sealer.seal(message, results, chain),
            Built::Ed25519(sealer) => sealer.seal(message, results, chain),
        };
        set.map(|set| set.to_header()).map_err(|e| e.to_string())
    }
}

fn parse_key(pem: &[u8]) -> Result<Key, String> {
    let key = PrivateKeyDer::from_pem_slice(pem).map_err(|e| format!("no PEM private key: {e}"))?;
    match &key {
        PrivateKeyDer::Pkcs1(_) => RsaKey::<Sha256>::from_key_der(key.clone_key())
            .map(Key::Rsa)
            .map_err(|e| format!("not a usable RSA key: {e}")),
        PrivateKeyDer::Pkcs8(der) => {
            if let Ok(rsa) = RsaKey::<Sha256>::from_key_der(key.clone_key()) {
                return Ok(Key::Rsa(rsa));
            }
            Ed25519Key::from_pkcs8_maybe_unchecked_der(der.secret_pkcs8_der())
                .map(Key::Ed25519)
                .map_err(|e| format!("neither an RSA nor an Ed25519 key: {e}"))
        }
        _ => Err("an EC key: ARC signs with RSA-SHA256 or Ed25519-SHA256 only".into()),
    }
}
