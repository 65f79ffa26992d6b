//! `backupmx check-dns DOMAIN`: how the domain's MX setup looks from this host — the MX list as
//! resolved, which entry is us, where we would deliver, whether those hosts answer SMTP, and a plain
//! verdict an admin can act on.

use std::fmt;
use std::net::SocketAddr;

use crate::config::{Config, DomainConfig};
use crate::delivery::route::{self, Host, Misconfiguration, MxTarget, RouteDecision, SelfPosition};
use crate::delivery::{Deliverer, RouteError, probe};

/// The one-line conclusion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// We are listed below at least one more preferred host.
    Ok {
        backup: String,
        primaries: Vec<String>,
    },
    /// A static `primary` is configured; MX records are not used for delivery.
    Static { primary: String },
    /// Something an admin must fix; the text says what.
    Wrong(String),
    /// DNS did not answer: nothing can be said yet.
    Unknown(String),
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Ok { backup, primaries } => {
                write!(f, "OK: {backup} is a backup for {}", primaries.join(", "))
            }
            Verdict::Static { primary } => {
                write!(f, "OK: mail is forwarded to the static primary {primary}")
            }
            Verdict::Wrong(why) => write!(f, "WRONG: {why}"),
            Verdict::Unknown(why) => write!(f, "UNKNOWN: {why}"),
        }
    }
}

/// Whether one address of a delivery target answers SMTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub host: String,
    pub addr: SocketAddr,
    /// `Err` holds the error text.
    pub answer: Result<(), String>,
}

/// Everything `check-dns` found; [`fmt::Display`] prints the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckDnsReport {
    pub domain: String,
    /// The nameservers asked ([`crate::delivery::DnsResolver::description`]).
    pub resolver: String,
    /// The domain is one of the configured `[[domains]]`.
    pub configured: bool,
    /// The MX list with addresses (empty for a static primary or when the look-up failed).
    pub mx: Vec<MxTarget>,
    /// Our entry in the MX list.
    pub us: Option<SelfPosition>,
    /// Where we would deliver.
    pub targets: Vec<Host>,
    pub probes: Vec<ProbeResult>,
    pub verdict: Verdict,
}

/// Runs the diagnosis for `domain` with the resolver and identity of `config`.
pub async fn check_dns(config: &Config, domain: &str) -> CheckDnsReport {
    let name = crate::delivery::dns::normalise_name(domain);
    let configured = config.domains.iter().find(|d| d.name == name).cloned();
    let mut report = CheckDnsReport {
        domain: name.clone(),
        resolver: String::new(),
        configured: configured.is_some(),
        mx: Vec::new(),
        us: None,
        targets: Vec::new(),
        probes: Vec::new(),
        verdict: Verdict::Unknown(String::new()),
    };
    let deliverer = match Deliverer::new(config) {
        Ok(d) => d,
        Err(e) => {
            report.verdict = Verdict::Unknown(e.to_string());
            return report;
        }
    };
    report.resolver = deliverer.resolver().description().to_owned();
    let domain_config = configured.unwrap_or(DomainConfig {
        name: name.clone(),
        subdomains: false,
        primary: None,
        tls: Default::default(),
        limits: Default::default(),
    });
    report.verdict = match &domain_config.primary {
        Some(primary) => {
            static_verdict(
                &deliverer,
                &domain_config,
                &mut report,
                &format!("{}:{}", primary.host, primary.port),
            )
            .await
        }
        None => mx_verdict(&deliverer, config.delivery.port, &mut report).await,
    };
    report.probes = probe_all(&deliverer, &report.targets).await;
    report
}

async fn static_verdict(
    deliverer: &Deliverer,
    domain: &DomainConfig,
    report: &mut CheckDnsReport,
    primary: &str,
) -> Verdict {
    match deliverer.resolve(domain).await {
        Ok(hosts) => {
            report.targets = hosts;
            Verdict::Static {
                primary: primary.to_owned(),
            }
        }
        Err(RouteError::Misconfigured(reason)) => Verdict::Wrong(reason.to_string()),
        Err(RouteError::Dns(e)) => no_answer(&report.resolver, &e),
    }
}

/// The verdict when the resolver gave no usable answer (timeout, SERVFAIL, refused): nothing is
/// known about the domain, and the resolver is named so the admin can check it.
fn no_answer(resolver: &str, error: &crate::delivery::DnsError) -> Verdict {
    Verdict::Unknown(format!(
        "the resolver did not answer ({error}); resolver: {resolver}"
    ))
}

/// A negative answer, with who gave it: a resolver that says NXDOMAIN for every name (a broken or
/// filtering resolver) must not look like a verdict on the domain.
fn wrong(resolver: &str, reason: &Misconfiguration) -> Verdict {
    match reason {
        Misconfiguration::NoSuchDomain | Misconfiguration::NoMx => {
            Verdict::Wrong(format!("{reason}, says the resolver {resolver}"))
        }
        _ => Verdict::Wrong(reason.to_string()),
    }
}

async fn mx_verdict(deliverer: &Deliverer, port: u16, report: &mut CheckDnsReport) -> Verdict {
    let mx = match deliverer.lookup_targets(&report.domain).await {
        Ok(mx) => mx,
        Err(RouteError::Misconfigured(reason)) => return wrong(&report.resolver, &reason),
        Err(RouteError::Dns(e)) => return no_answer(&report.resolver, &e),
    };
    report.us = route::find_self(&mx, deliverer.identity(), port);
    let decision = deliverer.plan(&mx);
    report.mx = mx;
    match decision {
        RouteDecision::Misconfigured(Misconfiguration::MostPreferred { preference }) => {
            Verdict::Wrong(format!(
                "this host is the most preferred MX (preference {preference})"
            ))
        }
        RouteDecision::Misconfigured(reason) => Verdict::Wrong(reason.to_string()),
        RouteDecision::Candidates(hosts) => {
            report.targets = hosts;
            match &report.us {
                None => Verdict::Wrong("no MX record lists this host".into()),
                Some(us) => Verdict::Ok {
                    backup: us.name.clone(),
                    primaries: report.targets.iter().map(|h| h.name.clone()).collect(),
                },
            }
        }
    }
}

async fn probe_all(deliverer: &Deliverer, targets: &[Host]) -> Vec<ProbeResult> {
    let mut results = Vec::new();
    for host in targets {
        for addr in host.sockets() {
            let answer = probe(addr, deliverer.client_config())
                .await
                .map_err(|e| e.to_string());
            results.push(ProbeResult {
                host: host.name.clone(),
                addr,
                answer,
            });
        }
    }
    results
}

impl fmt::Display for CheckDnsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Domain: {}", self.domain)?;
        writeln!(f, "Resolver: {}", self.resolver)?;
        if !self.configured {
            writeln!(
                f,
                "NOTE: {} is not one of the configured domains",
                self.domain
            )?;
        }
        if !self.mx.is_empty() {
            writeln!(f, "MX records:")?;
        }
        for entry in &self.mx {
            let addresses: Vec<String> = entry.addresses.iter().map(|a| a.to_string()).collect();
            let addresses = if addresses.is_empty() {
                "no address".to_owned()
            } else {
                addresses.join(", ")
            };
            let is_us = self
                .us
                .as_ref()
                .is_some_and(|us| us.name == entry.name && us.preference == entry.preference);
            let mark = if is_us { "   <- this host" } else { "" };
            let name = if entry.name.is_empty() {
                "."
            } else {
                &entry.name
            };
            writeln!(f, "  {:>5} {name} ({addresses}){mark}", entry.preference)?;
        }
        if !self.targets.is_empty() {
            writeln!(f, "Would deliver to:")?;
        }
        for host in &self.targets {
            writeln!(f, "  {} port {}", host.name, host.port)?;
            for probe in self.probes.iter().filter(|p| p.host == host.name) {
                match &probe.answer {
                    Ok(()) => writeln!(f, "    {}: answers SMTP", probe.addr)?,
                    Err(e) => writeln!(f, "    {}: does not answer: {e}", probe.addr)?,
                }
            }
        }
        writeln!(f, "{}", self.verdict)?;
        if !self.targets.is_empty() && !self.probes.iter().any(|p| p.answer.is_ok()) {
            writeln!(
                f,
                "WARNING: none of these hosts answers SMTP now; mail waits in the queue"
            )?;
        }
        Ok(())
    }
}
