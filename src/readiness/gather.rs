//! The shell of the readiness check: gathers the [`Facts`] of a domain (MX list, our addresses and
//! their reverse DNS, the MTA-STS record and policy, TLSA records) through the delivery resolver,
//! then runs the pure checks at the current time.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::task::JoinSet;

use super::facts::{Facts, Failed, Reverse};
use super::{Readiness, checks};
use crate::config::{Config, DomainConfig};
use crate::delivery::dane::{TlsaAnswer, lookup_tlsa};
use crate::delivery::route::{MxTarget, SelfIdentity};
use crate::delivery::{Deliverer, DnsError, RouteError};

/// Reads a PEM certificate chain (leaf first), for `check-dns` (the server reads its own).
pub fn certificate_from_files(cert: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate", cert.display()));
    }
    Ok(chain)
}

/// Gathers facts and assesses domains; cheap to clone.
#[derive(Clone)]
pub struct Gatherer {
    deliverer: Deliverer,
    identity: SelfIdentity,
    port: u16,
    listen: Vec<SocketAddr>,
    domains: Vec<DomainConfig>,
    verifier: Arc<dyn ServerCertVerifier>,
}

impl Gatherer {
    /// Uses `deliverer`'s resolver and MTA-STS fetcher; trusts the built-in roots plus
    /// `[delivery] tls_ca_file` for our own certificate.
    pub fn new(config: &Config, deliverer: Deliverer) -> Result<Gatherer, String> {
        let roots = crate::delivery::client::trust_roots(config.delivery.tls_ca_file.as_deref())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Gatherer {
            deliverer,
            identity: SelfIdentity::from_config(config),
            port: config.delivery.port,
            listen: config.smtp.listen.clone(),
            domains: config.domains.clone(),
            verifier,
        })
    }

    /// The configured domains' names.
    pub fn domains(&self) -> Vec<String> {
        self.domains.iter().map(|d| d.name.clone()).collect()
    }

    /// Gathers `domain`'s facts and runs the checks now.
    pub async fn assess(
        &self,
        domain: &str,
        certificate: Option<Vec<CertificateDer<'static>>>,
    ) -> Readiness {
        let facts = self.gather(domain, certificate).await;
        checks::assess(&facts, self.verifier.as_ref(), SystemTime::now())
    }

    /// Everything the checks look at for `domain`.
    pub async fn gather(
        &self,
        domain: &str,
        certificate: Option<Vec<CertificateDer<'static>>>,
    ) -> Facts {
        let domain = crate::delivery::dns::normalise_name(domain);
        let static_primary = self
            .domains
            .iter()
            .find(|d| d.name == domain)
            .and_then(|d| d.primary.as_ref())
            .map(|p| format!("{}:{}", p.host, p.port));
        let mx = self
            .deliverer
            .lookup_targets(&domain)
            .await
            .map_err(|e| match e {
                RouteError::Dns(e) => Failed {
                    reason: e.to_string(),
                    temporary: true,
                },
                RouteError::Misconfigured(reason) => Failed {
                    reason: reason.to_string(),
                    temporary: false,
                },
            });
        let mut facts = Facts {
            domain: domain.clone(),
            identity: self.identity.clone(),
            port: self.port,
            mx,
            static_primary,
            listen: self.listen.clone(),
            local_addresses: Vec::new(),
            reverse: Vec::new(),
            certificate,
            mta_sts: self.deliverer.mta_sts().discover(&domain).await,
            our_tlsa: Ok(TlsaAnswer::default()),
            primary_tlsa: Vec::new(),
        };
        let our_name = facts.our_name();
        let (our_addresses, primaries) = match facts.our_entry() {
            Some(us) => (
                us.addresses.clone(),
                more_preferred(&facts.mx, us.preference),
            ),
            None => (Vec::new(), Vec::new()),
        };
        facts.local_addresses = our_addresses
            .iter()
            .copied()
            .filter(|ip| is_local(*ip))
            .collect();
        facts.reverse = self.reverse(&our_addresses).await;
        let resolver = self.deliverer.resolver();
        facts.our_tlsa = lookup_tlsa(resolver, &our_name).await.map_err(failed);
        for host in primaries {
            let answer = lookup_tlsa(resolver, &host).await.map_err(failed);
            facts.primary_tlsa.push((host, answer));
        }
        facts
    }

    async fn reverse(&self, addresses: &[IpAddr]) -> Vec<Reverse> {
        let mut lookups = JoinSet::new();
        for (index, ip) in addresses.iter().copied().enumerate() {
            let resolver = self.deliverer.resolver().clone();
            lookups.spawn(async move {
                let names = resolver.lookup_ptr(ip).await.map_err(failed);
                let mut forward = Vec::new();
                for name in names.iter().flatten() {
                    forward.push((
                        name.clone(),
                        resolver.lookup_ips_public(name).await.map_err(failed),
                    ));
                }
                (index, Reverse { ip, names, forward })
            });
        }
        let mut found: Vec<(usize, Reverse)> = Vec::new();
        while let Some(joined) = lookups.join_next().await {
            if let Ok(result) = joined {
                found.push(result);
            }
        }
        found.sort_by_key(|(index, _)| *index);
        found.into_iter().map(|(_, reverse)| reverse).collect()
    }
}

fn more_preferred(mx: &Result<Vec<MxTarget>, Failed>, preference: u16) -> Vec<String> {
    mx.iter()
        .flatten()
        .filter(|e| e.preference < preference && !e.name.is_empty())
        .map(|e| e.name.clone())
        .collect()
}

fn failed(error: DnsError) -> Failed {
    Failed {
        temporary: error.is_temporary(),
        reason: error.to_string(),
    }
}

/// Whether `ip` is an address of this host: only then can a socket be bound to it.
fn is_local(ip: IpAddr) -> bool {
    UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}
