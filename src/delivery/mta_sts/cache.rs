//! The MTA-STS policies delivery applies (RFC 8461 §5.1): the `_mta-sts` TXT record is looked up at
//! each use, a policy is fetched when none is cached or the record's id changed, and a cached policy
//! is kept until its `max_age` runs out, also while the TXT record or the fetch fails. The choice is
//! the pure [`next_step`]; [`MtaSts`] is the shell around it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use super::fetch::{FetchError, PolicyFetcher};
use super::policy::{Policy, PolicyError, StsRecord, parse_record};
use crate::delivery::{DnsError, DnsResolver};

/// Domains whose policy is kept at most (a backup MX serves a bounded list; this bounds the rest).
const MAX_CACHED: usize = 10_000;

/// A policy as cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedPolicy {
    pub id: String,
    pub policy: Policy,
    pub expires: Instant,
}

/// What to do for one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The cached policy still applies.
    UseCached,
    /// Fetch the policy (a new or changed record); the id to cache it under.
    Fetch(String),
    /// No policy: deliver as if the domain had no MTA-STS.
    NoPolicy,
}

/// RFC 8461 §5.1: a valid cached policy is used unless the TXT record names another id; without a
/// record, a valid cached policy still applies.
pub fn next_step(
    cached: Option<&CachedPolicy>,
    record: &Result<Option<StsRecord>, String>,
    now: Instant,
) -> Step {
    let valid = cached.filter(|c| c.expires > now);
    match (record, valid) {
        (Ok(Some(record)), Some(cached)) if cached.id == record.id => Step::UseCached,
        (Ok(Some(record)), _) => Step::Fetch(record.id.clone()),
        (_, Some(_)) => Step::UseCached,
        (_, None) => Step::NoPolicy,
    }
}

/// What a fresh look at a domain's MTA-STS found (for the readiness check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    /// No `_mta-sts` TXT record starting with `v=STSv1`.
    NoRecord,
    /// The TXT look-up failed or the record is invalid.
    BadRecord(String),
    /// The record exists; the policy fetch's result.
    Fetched(Result<Policy, FetchError>),
}

/// The MTA-STS look-ups and policy cache of delivery; cheap to clone.
#[derive(Clone)]
pub struct MtaSts {
    resolver: DnsResolver,
    fetcher: PolicyFetcher,
    cache: Arc<Mutex<HashMap<String, CachedPolicy>>>,
}

impl MtaSts {
    pub fn new(resolver: DnsResolver, fetcher: PolicyFetcher) -> MtaSts {
        MtaSts {
            resolver,
            fetcher,
            cache: Arc::default(),
        }
    }

    pub fn fetcher(&self) -> &PolicyFetcher {
        &self.fetcher
    }

    /// The `_mta-sts` record of `domain`: `Ok(None)` when there is none.
    async fn record(&self, domain: &str) -> Result<Option<StsRecord>, String> {
        match self
            .resolver
            .lookup_txt(&format!("_mta-sts.{domain}"))
            .await
        {
            Ok(txt) => parse_record(&txt).map_err(|e: PolicyError| e.to_string()),
            Err(DnsError::NxDomain { .. } | DnsError::NoData { .. }) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The policy delivery to `domain` must follow, if any. A fetch failure without a valid cached
    /// policy means no policy (§5.1), and is logged.
    pub async fn policy_for(&self, domain: &str) -> Option<Policy> {
        let record = self.record(domain).await;
        let now = Instant::now();
        let cached = self.cached(domain);
        match next_step(cached.as_ref(), &record, now) {
            Step::UseCached => cached.map(|c| c.policy),
            Step::NoPolicy => {
                if let Err(reason) = record {
                    tracing::info!(%domain, %reason, "MTA-STS record unusable; no policy applies");
                }
                None
            }
            Step::Fetch(id) => match self.fetcher.fetch(domain).await {
                Ok(policy) => {
                    tracing::info!(%domain, mode = policy.mode.as_str(), %id, "MTA-STS policy fetched");
                    self.store(domain, id, policy.clone(), now);
                    Some(policy)
                }
                Err(error) => {
                    tracing::warn!(%domain, %error, "MTA-STS policy fetch failed");
                    cached.filter(|c| c.expires > now).map(|c| c.policy)
                }
            },
        }
    }

    /// Looks at `domain` afresh (the TXT record, then the policy), and caches what was fetched.
    pub async fn discover(&self, domain: &str) -> Discovery {
        let id = match self.record(domain).await {
            Ok(None) => return Discovery::NoRecord,
            Err(reason) => return Discovery::BadRecord(reason),
            Ok(Some(record)) => record.id,
        };
        let fetched = self.fetcher.fetch(domain).await;
        if let Ok(policy) = &fetched {
            self.store(domain, id, policy.clone(), Instant::now());
        }
        Discovery::Fetched(fetched)
    }

    fn cached(&self, domain: &str) -> Option<CachedPolicy> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.get(domain).cloned()
    }

    fn store(&self, domain: &str, id: String, policy: Policy, now: Instant) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, c| c.expires > now);
        }
        if cache.len() < MAX_CACHED || cache.contains_key(domain) {
            let expires = now + policy.max_age;
            cache.insert(
                domain.to_owned(),
                CachedPolicy {
                    id,
                    policy,
                    expires,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::policy::Mode;
    use super::*;
    use std::time::Duration;

    fn cached(id: &str, expires: Instant) -> CachedPolicy {
        CachedPolicy {
            id: id.into(),
            policy: Policy {
                mode: Mode::Enforce,
                mx: vec!["mx.example.com".into()],
                max_age: Duration::from_secs(60),
            },
            expires,
        }
    }

    fn record(id: &str) -> Result<Option<StsRecord>, String> {
        Ok(Some(StsRecord { id: id.into() }))
    }

    #[test]
    fn a_valid_cached_policy_with_the_same_id_is_used() {
        let now = Instant::now();
        let later = now + Duration::from_secs(10);
        assert_eq!(
            next_step(Some(&cached("a", later)), &record("a"), now),
            Step::UseCached
        );
        assert_eq!(
            next_step(Some(&cached("a", later)), &record("b"), now),
            Step::Fetch("b".into())
        );
        assert_eq!(
            next_step(Some(&cached("a", now)), &record("a"), now),
            Step::Fetch("a".into())
        );
        assert_eq!(next_step(None, &record("a"), now), Step::Fetch("a".into()));
    }

    #[test]
    fn without_a_record_only_a_valid_cached_policy_applies() {
        let now = Instant::now();
        let later = now + Duration::from_secs(10);
        for missing in [Ok(None), Err("SERVFAIL".to_string())] {
            assert_eq!(
                next_step(Some(&cached("a", later)), &missing, now),
                Step::UseCached
            );
            assert_eq!(
                next_step(Some(&cached("a", now)), &missing, now),
                Step::NoPolicy
            );
            assert_eq!(next_step(None, &missing, now), Step::NoPolicy);
        }
    }
}
