//! DNSBL / DNSWL scoring, pure (issue 15): the query name of a client in a zone (RFC 5782: reversed
//! IPv4 octets, reversed IPv6 nibbles), and the postscreen-style verdict: the weights of the lists
//! that name the client are summed, and a sum at or over the threshold refuses it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use crate::config::DnsblList;

/// `d.c.b.a.zone` for 192.0.2.1 → `1.2.0.192.zone`; IPv6 as 32 reversed nibbles.
pub fn query_name(ip: IpAddr, zone: &str) -> String {
    let mut name = String::with_capacity(80);
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            for octet in v4.octets().iter().rev() {
                let _ = write!(name, "{octet}.");
            }
        }
        IpAddr::V6(v6) => {
            for byte in v6.octets().iter().rev() {
                let _ = write!(name, "{:x}.{:x}.", byte & 0xf, byte >> 4);
            }
        }
    }
    name.push_str(zone);
    name
}

/// What one zone said about the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneAnswer {
    /// A records found (the list's codes), with the time they may be kept.
    Listed { codes: Vec<Ipv4Addr>, ttl: Duration },
    /// NXDOMAIN or no A record: not on this list.
    NotListed { ttl: Duration },
    /// Timeout, SERVFAIL, refused: counts as not listed (fail open), and is not cached.
    Failed { reason: String },
}

/// The verdict on one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsblVerdict {
    pub score: i64,
    /// Zones whose listing counted (positive weight), in configuration order: named in the refusal.
    pub listed: Vec<String>,
    /// Allow lists (negative weight) that named the client.
    pub allowed_by: Vec<String>,
    /// Zones that could not be asked.
    pub failed: Vec<String>,
    pub refuse: bool,
    /// How long the verdict may be reused: the shortest TTL among the answers; `None` when a zone
    /// failed (ask again next time).
    pub ttl: Option<Duration>,
}

impl DnsblVerdict {
    /// The result shown in the admin views and counted: `listed`, `allowed`, `temperror`, `pass`.
    pub fn result(&self) -> &'static str {
        if self.refuse {
            "listed"
        } else if !self.allowed_by.is_empty() {
            "allowed"
        } else if !self.failed.is_empty() {
            "temperror"
        } else {
            "pass"
        }
    }
}

/// Whether an answer counts for `list`: any answer, or only one of its `codes`.
fn counts(list: &DnsblList, codes: &[Ipv4Addr]) -> bool {
    if list.codes.is_empty() {
        !codes.is_empty()
    } else {
        codes.iter().any(|code| list.codes.contains(code))
    }
}

/// Scores the answers (`answers[i]` is `lists[i]`'s).
pub fn score(lists: &[DnsblList], answers: &[ZoneAnswer], threshold: i64) -> DnsblVerdict {
    let mut verdict = DnsblVerdict {
        score: 0,
        listed: Vec::new(),
        allowed_by: Vec::new(),
        failed: Vec::new(),
        refuse: false,
        ttl: None,
    };
    let mut ttl: Option<Duration> = None;
    let mut any_failed = false;
    for (list, answer) in lists.iter().zip(answers) {
        let answer_ttl = match answer {
            ZoneAnswer::Listed { codes, ttl } => {
                if counts(list, codes) {
                    verdict.score = verdict.score.saturating_add(list.weight);
                    if list.weight > 0 {
                        verdict.listed.push(list.zone.clone());
                    } else {
                        verdict.allowed_by.push(list.zone.clone());
                    }
                }
                *ttl
            }
            ZoneAnswer::NotListed { ttl } => *ttl,
            ZoneAnswer::Failed { .. } => {
                any_failed = true;
                verdict.failed.push(list.zone.clone());
                continue;
            }
        };
        ttl = Some(ttl.map_or(answer_ttl, |t| t.min(answer_ttl)));
    }
    verdict.refuse = verdict.score >= threshold;
    verdict.ttl = if any_failed { None } else { ttl };
    verdict
}

/// Verdicts per client address until their TTL runs out; bounded (when full, expired entries go
/// first, then everything: a flood of new addresses costs look-ups, never memory).
#[derive(Debug, Default)]
pub struct VerdictCache {
    entries: HashMap<IpAddr, (DnsblVerdict, Instant)>,
}

/// Client addresses remembered at most.
pub const CACHE_LIMIT: usize = 100_000;

impl VerdictCache {
    pub fn get(&self, ip: IpAddr, now: Instant) -> Option<&DnsblVerdict> {
        match self.entries.get(&ip) {
            Some((verdict, expires)) if *expires > now => Some(verdict),
            _ => None,
        }
    }

    /// Keeps `verdict` for its TTL (not at all when it has none: a zone failed).
    pub fn put(&mut self, ip: IpAddr, verdict: &DnsblVerdict, now: Instant) {
        let Some(ttl) = verdict.ttl.filter(|t| !t.is_zero()) else {
            return;
        };
        if self.entries.len() >= CACHE_LIMIT {
            self.entries.retain(|_, (_, expires)| *expires > now);
            if self.entries.len() >= CACHE_LIMIT {
                self.entries.clear();
            }
        }
        self.entries.insert(ip, (verdict.clone(), now + ttl));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(zone: &str, weight: i64, codes: &[&str]) -> DnsblList {
        DnsblList {
            zone: zone.into(),
            weight,
            codes: codes.iter().map(|c| c.parse().unwrap()).collect(),
        }
    }

    fn listed(codes: &[&str], ttl: u64) -> ZoneAnswer {
        ZoneAnswer::Listed {
            codes: codes.iter().map(|c| c.parse().unwrap()).collect(),
            ttl: Duration::from_secs(ttl),
        }
    }

    fn clean(ttl: u64) -> ZoneAnswer {
        ZoneAnswer::NotListed {
            ttl: Duration::from_secs(ttl),
        }
    }

    #[test]
    fn ipv4_names_reverse_the_octets() {
        let ip: IpAddr = "192.0.2.99".parse().unwrap();
        assert_eq!(query_name(ip, "bl.test"), "99.2.0.192.bl.test");
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().unwrap();
        assert_eq!(query_name(mapped, "bl.test"), "2.0.0.127.bl.test");
    }

    #[test]
    fn ipv6_names_reverse_the_nibbles() {
        // RFC 5782 §2.4's example.
        let ip: IpAddr = "2001:db8:1:2:3:4:567:89ab".parse().unwrap();
        assert_eq!(
            query_name(ip, "ugly.example.com"),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example.com"
        );
    }

    #[test]
    fn weights_add_up_to_the_threshold() {
        let lists = [list("a.test", 1, &[]), list("b.test", 1, &[])];
        let one = score(&lists, &[listed(&["127.0.0.2"], 60), clean(30)], 2);
        assert_eq!((one.score, one.refuse), (1, false));
        assert_eq!(one.result(), "pass");
        let both = score(
            &lists,
            &[listed(&["127.0.0.2"], 60), listed(&["127.0.0.4"], 90)],
            2,
        );
        assert_eq!((both.score, both.refuse), (2, true));
        assert_eq!(both.listed, vec!["a.test", "b.test"]);
        assert_eq!(both.ttl, Some(Duration::from_secs(60)));
        assert_eq!(both.result(), "listed");
    }

    #[test]
    fn only_the_configured_codes_count() {
        let lists = [list("zen.test", 2, &["127.0.0.2", "127.0.0.3"])];
        let other = score(&lists, &[listed(&["127.0.0.10"], 60)], 2);
        assert!(!other.refuse);
        assert!(other.listed.is_empty());
        let hit = score(&lists, &[listed(&["127.0.0.10", "127.0.0.3"], 60)], 2);
        assert!(hit.refuse);
    }

    #[test]
    fn an_allow_list_offsets_a_block_list() {
        let lists = [list("bl.test", 2, &[]), list("wl.test", -5, &[])];
        let verdict = score(
            &lists,
            &[listed(&["127.0.0.2"], 60), listed(&["127.0.0.1"], 60)],
            2,
        );
        assert_eq!(verdict.score, -3);
        assert!(!verdict.refuse);
        assert_eq!(verdict.allowed_by, vec!["wl.test"]);
        assert_eq!(verdict.result(), "allowed");
    }

    #[test]
    fn a_failed_zone_fails_open_and_is_not_cached() {
        let lists = [list("bl.test", 2, &[]), list("down.test", 2, &[])];
        let failed = ZoneAnswer::Failed {
            reason: "timeout".into(),
        };
        let verdict = score(&lists, &[clean(60), failed], 2);
        assert!(!verdict.refuse);
        assert_eq!(verdict.failed, vec!["down.test"]);
        assert_eq!(verdict.ttl, None);
        assert_eq!(verdict.result(), "temperror");
    }

    #[test]
    fn verdicts_are_cached_for_their_ttl_only() {
        let lists = [list("bl.test", 1, &[])];
        let now = Instant::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut cache = VerdictCache::default();
        let listed_verdict = score(&lists, &[listed(&["127.0.0.2"], 30)], 1);
        cache.put(ip, &listed_verdict, now);
        assert_eq!(
            cache.get(ip, now + Duration::from_secs(29)),
            Some(&listed_verdict)
        );
        assert_eq!(cache.get(ip, now + Duration::from_secs(30)), None);
        let failed = score(
            &lists,
            &[ZoneAnswer::Failed {
                reason: "timeout".into(),
            }],
            1,
        );
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        cache.put(other, &failed, now);
        assert_eq!(cache.get(other, now), None);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn no_lists_never_refuse() {
        let verdict = score(&[], &[], 1);
        assert!(!verdict.refuse);
        assert_eq!(verdict.ttl, None);
    }
}
