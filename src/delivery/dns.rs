//! DNS look-ups for delivery: MX records of a domain and the addresses of a host, through
//! hickory-resolver, with errors that tell "does not exist" from "try again later".

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::dnssec::TrustAnchors;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData};
use hickory_resolver::system_conf::read_system_conf;

use crate::config::{DnsConfig, DnssecMode, TrustAnchor, read_anchor};

/// Per-query timeout: a backup MX must not hang on a dead nameserver; the queue retries anyway.
const QUERY_TIMEOUT: Duration = Duration::from_secs(3);
/// Tries per nameserver before a query is reported as a temporary failure.
const QUERY_ATTEMPTS: usize = 2;

/// One MX record as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxRecord {
    pub preference: u16,
    /// The exchange host name, lower-case, without the trailing dot ("" for the null MX `.`).
    pub exchange: String,
}

/// Why a look-up gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// NXDOMAIN: the name does not exist at all.
    #[error("{name}: no such domain (NXDOMAIN)")]
    NxDomain { name: String },
    /// The name exists but has no record of the asked type.
    #[error("{name}: no {record_type} records")]
    NoData {
        name: String,
        record_type: &'static str,
    },
    /// SERVFAIL, timeout, refused, network error: may work later.
    #[error("{name}: temporary DNS failure: {reason}")]
    Temporary { name: String, reason: String },
    /// The answer failed DNSSEC validation (`[dns] dnssec = "validate"`): bogus or indeterminate
    /// (RFC 4035 §4.3). Not to be used, and not to be retried at once.
    #[error("{name}: DNSSEC validation failed ({reason})")]
    Bogus { name: String, reason: String },
    /// Not a syntactically valid domain name.
    #[error("{name}: invalid domain name: {reason}")]
    InvalidName { name: String, reason: String },
    /// The resolver could not be set up (e.g. unreadable /etc/resolv.conf).
    #[error("cannot set up the DNS resolver: {0}")]
    Setup(String),
}

impl DnsError {
    /// True when asking again later may give a different answer.
    pub fn is_temporary(&self) -> bool {
        matches!(self, DnsError::Temporary { .. } | DnsError::Setup(_))
    }
}

/// The resolver delivery uses; cheap to clone.
#[derive(Clone)]
pub struct DnsResolver {
    inner: TokioResolver,
    /// The same nameservers without /etc/hosts: what the rest of the world sees (reverse DNS).
    public: TokioResolver,
    /// Which nameservers it asks, for messages (`check-dns`).
    description: String,
    /// The same nameservers' addresses, for the TLSA queries that read the AD bit (`delivery::dane`).
    servers: Vec<SocketAddr>,
    /// With `[dns] dnssec = "validate"`: the same nameservers through hickory's DNSSEC validator,
    /// from the configured trust anchors (TLSA look-ups only).
    validator: Option<TokioResolver>,
}

impl DnsResolver {
    /// Uses the nameservers listed (UDP and TCP at each one's port), or the system resolver when the
    /// list is empty.
    pub fn new(config: &DnsConfig) -> Result<DnsResolver, DnsError> {
        let nameservers = &config.nameservers;
        let (resolver_config, options, description, servers) = if nameservers.is_empty() {
            let (system, options) =
                read_system_conf().map_err(|e| DnsError::Setup(e.to_string()))?;
            let description = describe_system(&system);
            let servers = system_servers(&system);
            (system, Some(options), description, servers)
        } else {
            let servers = nameservers.iter().map(|addr| name_server(*addr)).collect();
            (
                ResolverConfig::from_name_servers(servers),
                None,
                describe_configured(nameservers),
                nameservers.clone(),
            )
        };
        let build = |hosts: Option<ResolveHosts>| {
            let mut builder = TokioResolver::builder_with_config(
                resolver_config.clone(),
                TokioRuntimeProvider::default(),
            );
            if let Some(options) = &options {
                *builder.options_mut() = options.clone();
            }
            tune(builder.options_mut());
            if let Some(hosts) = hosts {
                builder.options_mut().use_hosts_file = hosts;
            }
            builder.build().map_err(|e| DnsError::Setup(e.to_string()))
        };
        let validator = match &config.dnssec {
            DnssecMode::Resolver => None,
            DnssecMode::Validate { trust_anchor } => Some(validating_resolver(
                resolver_config.clone(),
                options.clone(),
                trust_anchor,
            )?),
        };
        Ok(DnsResolver {
            inner: build(None)?,
            public: build(Some(ResolveHosts::Never))?,
            description,
            servers,
            validator,
        })
    }

    /// The validating resolver, when backupmx validates DNSSEC itself.
    pub(crate) fn validator(&self) -> Option<&TokioResolver> {
        self.validator.as_ref()
    }

    /// The nameservers' addresses, in the order they are asked.
    pub fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    /// Which nameservers this resolver asks, e.g. `127.0.0.1:5353 (from [dns] nameservers)`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The MX records of `domain`, most preferred first (ties in the order received).
    pub async fn lookup_mx(&self, domain: &str) -> Result<Vec<MxRecord>, DnsError> {
        let name = fqdn(domain)?;
        let lookup = self
            .inner
            .mx_lookup(name)
            .await
            .map_err(|e| classify(domain, "MX", &e))?;
        let mut records: Vec<MxRecord> = lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::MX(mx) => Some(MxRecord {
                    preference: mx.preference,
                    exchange: normalise_name(&mx.exchange.to_ascii()),
                }),
                _ => None,
            })
            .collect();
        if records.is_empty() {
            return Err(DnsError::NoData {
                name: domain.to_owned(),
                record_type: "MX",
            });
        }
        records.sort_by_key(|r| r.preference);
        Ok(records)
    }

    /// The A records of `name` with how long they may be kept (DNSBL look-ups); NXDOMAIN and "no
    /// A record" come back as an empty list with the negative TTL (60 s when the zone gives none).
    pub async fn lookup_a_with_ttl(
        &self,
        name: &str,
    ) -> Result<(Vec<std::net::Ipv4Addr>, Duration), DnsError> {
        use hickory_resolver::net::DnsError as Proto;
        let fqdn_name = fqdn(name)?;
        match self.inner.ipv4_lookup(fqdn_name).await {
            Ok(lookup) => {
                let ttl = lookup
                    .valid_until()
                    .saturating_duration_since(std::time::Instant::now());
                let ips = lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::A(a) => Some(a.0),
                        _ => None,
                    })
                    .collect();
                Ok((ips, ttl))
            }
            Err(NetError::Dns(Proto::NoRecordsFound(no_records)))
                if matches!(
                    no_records.response_code,
                    ResponseCode::NXDomain | ResponseCode::NoError
                ) =>
            {
                let ttl = no_records.negative_ttl.map_or(60, u64::from);
                Ok((Vec::new(), Duration::from_secs(ttl)))
            }
            Err(error) => Err(classify(name, "A", &error)),
        }
    }

    /// The IPv4 and IPv6 addresses of `host` (A before AAAA); an IP literal is returned as is.
    pub async fn lookup_ips(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let name = fqdn(host)?;
        let lookup = self
            .inner
            .lookup_ip(name)
            .await
            .map_err(|e| classify(host, "A/AAAA", &e))?;
        let ips: Vec<IpAddr> = lookup.iter().collect();
        if ips.is_empty() {
            return Err(DnsError::NoData {
                name: host.to_owned(),
                record_type: "A/AAAA",
            });
        }
        Ok(ips)
    }
}

/// The nameservers and options every resolver of backupmx uses (delivery, the DNSBL screen, the
/// sender checks' library), and their description.
pub fn settings(config: &DnsConfig) -> Result<(ResolverConfig, ResolverOpts, String), DnsError> {
    let nameservers = &config.nameservers;
    let (resolver_config, mut options, description) = if nameservers.is_empty() {
        let (system, options) = read_system_conf().map_err(|e| DnsError::Setup(e.to_string()))?;
        let description = describe_system(&system);
        (system, options, description)
    } else {
        let servers = nameservers.iter().map(|addr| name_server(*addr)).collect();
        (
            ResolverConfig::from_name_servers(servers),
            ResolverOpts::default(),
            describe_configured(nameservers),
        )
    };
    tune(&mut options);
    Ok((resolver_config, options, description))
}

impl DnsResolver {
    /// The TXT strings of `name`, each record's character-strings joined (RFC 7208 §3.3 style).
    pub async fn lookup_txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        let lookup = self
            .inner
            .txt_lookup(fqdn(name)?)
            .await
            .map_err(|e| classify(name, "TXT", &e))?;
        Ok(lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|part| String::from_utf8_lossy(part).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect())
    }

    /// The addresses of `host` in DNS only (not /etc/hosts): what other hosts see.
    pub async fn lookup_ips_public(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        let lookup = self
            .public
            .lookup_ip(fqdn(host)?)
            .await
            .map_err(|e| classify(host, "A/AAAA", &e))?;
        let ips: Vec<IpAddr> = lookup.iter().collect();
        if ips.is_empty() {
            return Err(DnsError::NoData {
                name: host.to_owned(),
                record_type: "A/AAAA",
            });
        }
        Ok(ips)
    }

    /// The PTR names of `ip` as the nameservers give them (not /etc/hosts, nor the resolver's
    /// built-in `localhost` for 127.0.0.0/8), normalised.
    pub async fn lookup_ptr(&self, ip: IpAddr) -> Result<Vec<String>, DnsError> {
        let reverse = Name::from(ip).to_ascii();
        let answer =
            super::raw_query::ask(self, &reverse, hickory_resolver::proto::rr::RecordType::PTR)
                .await?;
        let names: Vec<String> = answer
            .records
            .iter()
            .filter_map(|data| match data {
                RData::PTR(ptr) => Some(normalise_name(&ptr.0.to_ascii())),
                _ => None,
            })
            .collect();
        match (names.is_empty(), answer.nx_domain) {
            (false, _) => Ok(names),
            (true, true) => Err(DnsError::NxDomain { name: reverse }),
            (true, false) => Err(DnsError::NoData {
                name: reverse,
                record_type: "PTR",
            }),
        }
    }
}

/// The resolver that validates DNSSEC from `anchor` (`[dns] dnssec = "validate"`); /etc/hosts is
/// not asked (TLSA records only).
fn validating_resolver(
    resolver_config: ResolverConfig,
    options: Option<ResolverOpts>,
    anchor: &TrustAnchor,
) -> Result<TokioResolver, DnsError> {
    let anchors = match anchor {
        TrustAnchor::IanaRoot => TrustAnchors::default(),
        TrustAnchor::File(file) => read_anchor(file).map_err(DnsError::Setup)?,
    };
    let mut builder =
        TokioResolver::builder_with_config(resolver_config, TokioRuntimeProvider::default())
            .with_trust_anchor(Arc::new(anchors));
    if let Some(options) = options {
        *builder.options_mut() = options;
    }
    tune(builder.options_mut());
    builder.options_mut().use_hosts_file = ResolveHosts::Never;
    builder.options_mut().validate = true;
    builder.build().map_err(|e| DnsError::Setup(e.to_string()))
}

fn system_servers(system: &ResolverConfig) -> Vec<SocketAddr> {
    let mut servers = Vec::new();
    for server in system.name_servers() {
        let port = server.connections.first().map_or(53, |c| c.port);
        let addr = SocketAddr::new(server.ip, port);
        if !servers.contains(&addr) {
            servers.push(addr);
        }
    }
    servers
}

/// `ip` or `ip:port` (port 53 left out), for messages.
fn show_server(ip: IpAddr, port: u16) -> String {
    match (port, ip) {
        (53, ip) => ip.to_string(),
        (port, ip) => SocketAddr::new(ip, port).to_string(),
    }
}

fn describe_configured(nameservers: &[SocketAddr]) -> String {
    let list: Vec<String> = nameservers
        .iter()
        .map(|a| show_server(a.ip(), a.port()))
        .collect();
    format!("{} (from [dns] nameservers)", list.join(", "))
}

fn describe_system(system: &ResolverConfig) -> String {
    let mut list: Vec<String> = Vec::new();
    for server in system.name_servers() {
        let port = server.connections.first().map_or(53, |c| c.port);
        let shown = show_server(server.ip, port);
        if !list.contains(&shown) {
            list.push(shown);
        }
    }
    if list.is_empty() {
        "no nameserver (the system resolver, /etc/resolv.conf, lists none)".into()
    } else {
        format!(
            "{} (the system resolver, /etc/resolv.conf)",
            list.join(", ")
        )
    }
}

fn name_server(addr: SocketAddr) -> NameServerConfig {
    let mut server = NameServerConfig::udp_and_tcp(addr.ip());
    for connection in &mut server.connections {
        connection.port = addr.port();
    }
    server
}

fn tune(opts: &mut ResolverOpts) {
    opts.timeout = QUERY_TIMEOUT;
    opts.attempts = QUERY_ATTEMPTS;
    opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    opts.try_tcp_on_error = true;
    // MX changes (a primary moved) should be seen within minutes, whatever the TTL says.
    opts.positive_max_ttl = Some(Duration::from_secs(300));
    opts.negative_max_ttl = Some(Duration::from_secs(60));
}

/// Lower-case, no trailing dot: the form names are compared in.
pub fn normalise_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Parses `name` as an absolute name, so no search domain is ever appended.
pub(crate) fn fqdn(name: &str) -> Result<Name, DnsError> {
    let absolute = if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    };
    Name::from_utf8(&absolute).map_err(|e| DnsError::InvalidName {
        name: name.to_owned(),
        reason: e.to_string(),
    })
}

pub(super) fn classify(name: &str, record_type: &'static str, error: &NetError) -> DnsError {
    use hickory_resolver::net::DnsError as Proto;
    if error.is_nx_domain() {
        return DnsError::NxDomain {
            name: name.to_owned(),
        };
    }
    if let NetError::Dns(Proto::NoRecordsFound(no_records)) = error
        && no_records.response_code == ResponseCode::NoError
    {
        return DnsError::NoData {
            name: name.to_owned(),
            record_type,
        };
    }
    DnsError::Temporary {
        name: name.to_owned(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised() {
        assert_eq!(normalise_name("MX2.Example.TEST."), "mx2.example.test");
        assert_eq!(normalise_name("a.b"), "a.b");
        assert_eq!(normalise_name("."), "");
    }

    #[test]
    fn fqdn_appends_one_dot() {
        assert_eq!(fqdn("a.test").unwrap().to_ascii(), "a.test.");
        assert_eq!(fqdn("a.test.").unwrap().to_ascii(), "a.test.");
        assert!(fqdn("a..b").is_err());
    }

    #[test]
    fn configured_nameservers_are_described_with_their_port_unless_53() {
        let servers = [
            "127.0.0.1:5353".parse().unwrap(),
            "[2001:db8::53]:53".parse().unwrap(),
        ];
        assert_eq!(
            describe_configured(&servers),
            "127.0.0.1:5353, 2001:db8::53 (from [dns] nameservers)"
        );
    }

    #[test]
    fn the_system_resolver_is_described_by_its_nameservers() {
        let system = ResolverConfig::from_name_servers(vec![
            NameServerConfig::udp_and_tcp("10.0.0.53".parse().unwrap()),
            name_server("127.0.0.1:5353".parse().unwrap()),
        ]);
        assert_eq!(
            describe_system(&system),
            "10.0.0.53, 127.0.0.1:5353 (the system resolver, /etc/resolv.conf)"
        );
        let none = ResolverConfig::from_name_servers(vec![]);
        assert!(describe_system(&none).starts_with("no nameserver"));
    }

    #[test]
    fn temporary_only_for_retryable_errors() {
        let nx = DnsError::NxDomain { name: "x".into() };
        let temp = DnsError::Temporary {
            name: "x".into(),
            reason: "timeout".into(),
        };
        assert!(!nx.is_temporary());
        assert!(temp.is_temporary());
    }
}
