//! What the readiness checks look at, gathered beforehand (`gather.rs`) so that the checks are
//! pure functions of these facts and the time.

use std::net::{IpAddr, SocketAddr};

use rustls::pki_types::CertificateDer;

use crate::delivery::dane::TlsaAnswer;
use crate::delivery::mta_sts::Discovery;
use crate::delivery::route::{MxTarget, SelfIdentity};

/// A DNS answer or the reason there is none; `temporary`: the resolver did not answer (retry),
/// as opposed to a negative answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub reason: String,
    pub temporary: bool,
}

/// The reverse DNS of one of our addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reverse {
    pub ip: IpAddr,
    /// The PTR names.
    pub names: Result<Vec<String>, Failed>,
    /// Each PTR name's forward addresses.
    pub forward: Vec<(String, Result<Vec<IpAddr>, Failed>)>,
}

/// Everything the six checks need for one domain.
#[derive(Debug, Clone)]
pub struct Facts {
    pub domain: String,
    /// How we recognise ourselves (names, listening sockets).
    pub identity: SelfIdentity,
    /// The delivery port (to recognise our own sockets in the MX list).
    pub port: u16,
    /// The domain's MX list with addresses.
    pub mx: Result<Vec<MxTarget>, Failed>,
    /// The configured static primary, if any (`host:port`).
    pub static_primary: Option<String>,
    /// Our SMTP listening sockets (`[smtp] listen`).
    pub listen: Vec<SocketAddr>,
    /// Of our MX name's addresses, those that are addresses of this host (tried by binding).
    pub local_addresses: Vec<IpAddr>,
    /// The reverse DNS of our MX name's addresses.
    pub reverse: Vec<Reverse>,
    /// The inbound certificate chain (leaf first); `None` without `[smtp] tls_cert`.
    pub certificate: Option<Vec<CertificateDer<'static>>>,
    /// The MTA-STS record and policy, looked at afresh.
    pub mta_sts: Discovery,
    /// TLSA records of `_25._tcp.<our MX name>`.
    pub our_tlsa: Result<TlsaAnswer, Failed>,
    /// TLSA records of each primary MX host (more preferred than us).
    pub primary_tlsa: Vec<(String, Result<TlsaAnswer, Failed>)>,
}

impl Facts {
    /// The name senders use for us: our entry in the MX list, else our hostname.
    pub fn our_name(&self) -> String {
        self.our_entry()
            .map(|entry| entry.name.clone())
            .or_else(|| self.identity.names.first().cloned())
            .unwrap_or_default()
    }

    /// Our most preferred entry in the MX list.
    pub fn our_entry(&self) -> Option<&MxTarget> {
        let mx = self.mx.as_ref().ok()?;
        let us = crate::delivery::route::find_self(mx, &self.identity, self.port)?;
        mx.iter()
            .find(|entry| entry.name == us.name && entry.preference == us.preference)
    }
}
