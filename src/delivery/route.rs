//! Pure routing policy of a backup MX: from a domain's MX list (with each host's resolved addresses)
//! and our own identity, which hosts we may deliver to — only those strictly more preferred than us.
//!
//! Decisions (documented here because the RFCs leave them to us):
//! - We are "in the list" when an MX name is one of our names, or when one of its addresses is one of
//!   our listening sockets (address *and* the delivery port), the "points back to myself" case. Our
//!   preference is the lowest of all such entries; everything at or above it is dropped.
//! - If we are not in the list at all, RFC 5321 §5.1 allows any MX: we deliver to every listed host
//!   (`check-dns` still calls this setup WRONG, because senders will never pick us).
//! - No MX records, NXDOMAIN, or the null MX (RFC 7505) make the domain *misconfigured*: the implicit
//!   MX of RFC 5321 §5.1 (the domain's own A record) is not used for a domain we back up, because for a
//!   backed-up domain it would be a guess that could just as well be us or a web server.
//! - Equal-preference peers are never used; hosts of equal preference are tried in random order.

use std::net::{IpAddr, SocketAddr};

use rand::Rng;
use rand::seq::SliceRandom;

use crate::config::Config;
use crate::delivery::dns::normalise_name;

/// How we recognise ourselves in MX lists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SelfIdentity {
    /// `hostname` and `extra_names`, normalised (lower-case, no trailing dot).
    pub names: Vec<String>,
    /// Our SMTP listening sockets. An unspecified address (0.0.0.0, ::) stands for every loopback
    /// address at that port (other local interface addresses are recognised by name only).
    pub listen: Vec<SocketAddr>,
}

impl SelfIdentity {
    pub fn new(names: &[String], listen: &[SocketAddr]) -> SelfIdentity {
        SelfIdentity {
            names: names.iter().map(|n| normalise_name(n)).collect(),
            listen: listen.to_vec(),
        }
    }

    pub fn from_config(config: &Config) -> SelfIdentity {
        let mut names = vec![config.hostname.clone()];
        names.extend(config.extra_names.iter().cloned());
        SelfIdentity::new(&names, &config.smtp.listen)
    }

    /// Case-insensitive, trailing dots ignored.
    pub fn is_our_name(&self, name: &str) -> bool {
        let name = normalise_name(name);
        self.names.contains(&name)
    }

    /// Whether connecting to `addr` would reach one of our own listeners.
    pub fn is_our_socket(&self, addr: SocketAddr) -> bool {
        self.listen.iter().any(|ours| {
            ours.port() == addr.port()
                && (ours.ip() == addr.ip()
                    || (ours.ip().is_unspecified() && addr.ip().is_loopback())
                    || (is_loopback_twin(ours.ip(), addr.ip())))
        })
    }
}

/// 127.0.0.1 and ::1 both reach a loopback listener only if it is dual-stack; we count an IPv4
/// loopback listener as reachable through any 127/8 address (Linux routes all of 127/8 to lo).
fn is_loopback_twin(ours: IpAddr, addr: IpAddr) -> bool {
    matches!((ours, addr), (IpAddr::V4(a), IpAddr::V4(b)) if a.is_loopback() && b.is_loopback())
}

/// One MX entry with the addresses its name resolved to (empty when resolution failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxTarget {
    pub preference: u16,
    /// Normalised host name ("" for the null MX).
    pub name: String,
    pub addresses: Vec<IpAddr>,
}

/// A host we may deliver to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    /// `None` for a static `primary`.
    pub preference: Option<u16>,
    pub port: u16,
    /// Addresses to try, in order (none when the host's address look-up failed).
    pub addresses: Vec<IpAddr>,
}

impl Host {
    pub fn sockets(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.addresses
            .iter()
            .map(|ip| SocketAddr::new(*ip, self.port))
    }
}

/// Why mail for a domain cannot be routed until an admin fixes something; never a reason to bounce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Misconfiguration {
    #[error("the domain does not exist (NXDOMAIN)")]
    NoSuchDomain,
    #[error("the domain has no MX records")]
    NoMx,
    #[error("the domain publishes a null MX (it accepts no mail)")]
    NullMx,
    #[error(
        "this host is the most preferred MX (preference {preference}): no better host to deliver to"
    )]
    MostPreferred { preference: u16 },
    #[error("the static primary {name} has no address")]
    PrimaryNotFound { name: String },
    #[error("the MX list points back to myself: {name} reaches this host")]
    PointsBackToMyself { name: String },
}

/// What routing decided for one domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteDecision {
    /// Hosts to try in this order; never empty.
    Candidates(Vec<Host>),
    Misconfigured(Misconfiguration),
}

/// Our own position in an MX list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfPosition {
    pub preference: u16,
    pub name: String,
    /// True when recognised by address only (the name is not one of ours).
    pub by_address: bool,
}

/// Finds our most preferred entry in the list, if any.
pub fn find_self(mx: &[MxTarget], me: &SelfIdentity, port: u16) -> Option<SelfPosition> {
    mx.iter()
        .filter_map(|entry| {
            let by_name = me.is_our_name(&entry.name);
            let by_address = entry
                .addresses
                .iter()
                .any(|ip| me.is_our_socket(SocketAddr::new(*ip, port)));
            (by_name || by_address).then(|| SelfPosition {
                preference: entry.preference,
                name: entry.name.clone(),
                by_address: !by_name,
            })
        })
        .min_by_key(|position| position.preference)
}

/// The backup-MX routing rule. `port` is the delivery port; `rng` orders equal preferences.
pub fn plan_route<R: Rng + ?Sized>(
    mx: &[MxTarget],
    me: &SelfIdentity,
    port: u16,
    rng: &mut R,
) -> RouteDecision {
    if mx.is_empty() {
        return RouteDecision::Misconfigured(Misconfiguration::NoMx);
    }
    if mx.iter().all(|entry| entry.name.is_empty()) {
        return RouteDecision::Misconfigured(Misconfiguration::NullMx);
    }
    let ceiling = find_self(mx, me, port);
    let chosen: Vec<&MxTarget> = mx
        .iter()
        .filter(|entry| !entry.name.is_empty())
        .filter(|entry| {
            ceiling
                .as_ref()
                .is_none_or(|us| entry.preference < us.preference)
        })
        .collect();
    if chosen.is_empty() {
        let us = ceiling.unwrap_or(SelfPosition {
            preference: 0,
            name: String::new(),
            by_address: false,
        });
        return RouteDecision::Misconfigured(if us.by_address {
            Misconfiguration::PointsBackToMyself { name: us.name }
        } else {
            Misconfiguration::MostPreferred {
                preference: us.preference,
            }
        });
    }
    let hosts = order_by_preference(chosen, port, rng);
    RouteDecision::Candidates(hosts)
}

/// Sorts by preference and shuffles each group of equal preference.
fn order_by_preference<R: Rng + ?Sized>(
    mut entries: Vec<&MxTarget>,
    port: u16,
    rng: &mut R,
) -> Vec<Host> {
    entries.shuffle(rng);
    // A stable sort keeps the shuffled order inside each preference group.
    entries.sort_by_key(|entry| entry.preference);
    let mut seen = std::collections::HashSet::new();
    entries
        .into_iter()
        .filter(|entry| seen.insert(entry.name.clone()))
        .map(|entry| Host {
            name: entry.name.clone(),
            preference: Some(entry.preference),
            port,
            addresses: entry.addresses.clone(),
        })
        .collect()
}

/// A static `primary`: the only candidate, unless it is ourselves.
pub fn plan_static(
    host: &str,
    port: u16,
    addresses: Vec<IpAddr>,
    me: &SelfIdentity,
) -> RouteDecision {
    let points_back = me.is_our_name(host)
        || addresses
            .iter()
            .any(|ip| me.is_our_socket(SocketAddr::new(*ip, port)));
    if points_back {
        return RouteDecision::Misconfigured(Misconfiguration::PointsBackToMyself {
            name: host.to_owned(),
        });
    }
    RouteDecision::Candidates(vec![Host {
        name: normalise_name(host),
        preference: None,
        port,
        addresses,
    }])
}

#[cfg(test)]
mod tests;
