//! Login throttling, the pure core: failed logins are counted per key (the client's address, and the
//! user name tried); `max_failures` of them lock the key for `lock`, each further lock of the same key
//! twice as long up to `lock_max`. While any key of an attempt is locked the attempt is refused without
//! checking the password. Time is an argument; the shell (`ui/login.rs`) passes the injected clock.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use crate::config::AdminLimits;

/// Keys remembered at most; beyond, the least recently seen goes first (an attacker cycling through
/// user names cannot grow the table without bound).
pub const MAX_KEYS: usize = 10_000;
/// Longest user name kept as a key (longer ones are cut).
const MAX_USER_CHARS: usize = 64;

/// When to lock and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub max_failures: u32,
    pub lock: Duration,
    pub lock_max: Duration,
}

impl ThrottlePolicy {
    pub fn from_limits(limits: &AdminLimits) -> ThrottlePolicy {
        ThrottlePolicy {
            max_failures: limits.login_max_failures.max(1),
            lock: limits.login_lock,
            lock_max: limits.login_lock_max.max(limits.login_lock),
        }
    }

    /// The length of the `n`-th lock (0-based): doubled each time, capped.
    fn lock_length(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.min(31)).unwrap_or(u32::MAX);
        self.lock.saturating_mul(factor).min(self.lock_max)
    }
}

/// What an attempt is keyed by: its client address (IPv6 by /64, as one host usually has a whole
/// /64) and the user name tried.
pub fn keys(ip: IpAddr, user: &str) -> [String; 2] {
    let address = match ip.to_canonical() {
        IpAddr::V4(v4) => format!("address {v4}"),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("address {:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    };
    let user: String = user.chars().take(MAX_USER_CHARS).collect();
    [address, format!("user {user:?}")]
}

#[derive(Debug, Clone)]
struct Record {
    failures: u32,
    /// Locks so far (each doubles the next).
    locks: u32,
    locked_until: Option<SystemTime>,
    last_seen: SystemTime,
}

/// An attempt may go ahead, or must wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Locked { retry_after: Duration },
}

/// A lock just imposed (to be audited once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLock {
    pub key: String,
    pub length: Duration,
}

/// Failed logins per key, and the locks they caused.
#[derive(Debug)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    max_keys: usize,
    records: HashMap<String, Record>,
}

impl LoginThrottle {
    pub fn new(policy: ThrottlePolicy) -> LoginThrottle {
        LoginThrottle {
            policy,
            max_keys: MAX_KEYS,
            records: HashMap::new(),
        }
    }

    /// Whether an attempt with these keys may check its password at `now`.
    pub fn check(&self, keys: &[String], now: SystemTime) -> Verdict {
        let retry_after = keys
            .iter()
            .filter_map(|k| self.records.get(k)?.locked_until)
            .filter_map(|until| until.duration_since(now).ok())
            .filter(|left| !left.is_zero())
            .max();
        match retry_after {
            Some(retry_after) => Verdict::Locked { retry_after },
            None => Verdict::Allowed,
        }
    }

    /// Counts a failed attempt; returns the locks it caused.
    pub fn failure(&mut self, keys: &[String], now: SystemTime) -> Vec<NewLock> {
        self.forget_stale(now);
        let mut locked = Vec::new();
        for key in keys {
            let record = self.records.entry(key.clone()).or_insert(Record {
                failures: 0,
                locks: 0,
                locked_until: None,
                last_seen: now,
            });
            record.last_seen = now;
            record.failures += 1;
            if record.failures >= self.policy.max_failures {
                let length = self.policy.lock_length(record.locks);
                record.locks = record.locks.saturating_add(1);
                record.failures = 0;
                record.locked_until = Some(now + length);
                locked.push(NewLock {
                    key: key.clone(),
                    length,
                });
            }
        }
        locked
    }

    /// A successful login clears its keys' history.
    pub fn success(&mut self, keys: &[String]) {
        for key in keys {
            self.records.remove(key);
        }
    }

    /// Drops records whose lock is over and that were not seen for `lock_max` (their next lock
    /// starts short again), then the least recently seen beyond `max_keys`.
    fn forget_stale(&mut self, now: SystemTime) {
        let keep_for = self.policy.lock_max;
        self.records.retain(|_, r| {
            let lock_over = r.locked_until.is_none_or(|until| until <= now);
            let recent = now
                .duration_since(r.last_seen)
                .is_ok_and(|since| since < keep_for);
            !lock_over || recent
        });
        while self.records.len() >= self.max_keys {
            let oldest = self
                .records
                .iter()
                .min_by_key(|(_, r)| r.last_seen)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(key) => self.records.remove(&key),
                None => break,
            };
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.records.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            max_failures: 3,
            lock: 10 * SEC,
            lock_max: 25 * SEC,
        }
    }

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + secs)
    }

    fn k(ip: &str, user: &str) -> [String; 2] {
        keys(ip.parse().unwrap(), user)
    }

    #[test]
    fn keys_are_the_address_or_its_64_and_the_user() {
        assert_eq!(
            k("127.0.0.1", "admin"),
            [
                "address 127.0.0.1".to_string(),
                "user \"admin\"".to_string()
            ]
        );
        assert_eq!(
            k("2001:db8:1:2:3::4", "x")[0],
            k("2001:db8:1:2:ffff::1", "y")[0]
        );
        assert_eq!(k("::ffff:10.0.0.1", "")[0], "address 10.0.0.1");
        assert_eq!(k("10.0.0.1", &"u".repeat(500))[1].len(), 64 + 7);
    }

    #[test]
    fn the_nth_failure_locks_once_and_the_lock_expires() {
        let mut throttle = LoginThrottle::new(policy());
        let keys = k("10.0.0.1", "admin");
        assert!(throttle.failure(&keys, t(0)).is_empty());
        assert!(throttle.failure(&keys, t(1)).is_empty());
        assert_eq!(throttle.check(&keys, t(1)), Verdict::Allowed);
        let locks = throttle.failure(&keys, t(2));
        assert_eq!(locks.len(), 2, "address and user both locked: {locks:?}");
        assert!(locks.iter().all(|l| l.length == 10 * SEC));
        assert_eq!(
            throttle.check(&keys, t(5)),
            Verdict::Locked {
                retry_after: 7 * SEC
            }
        );
        assert_eq!(throttle.check(&keys, t(12)), Verdict::Allowed);
    }

    #[test]
    fn either_key_locks_an_attempt() {
        let mut throttle = LoginThrottle::new(policy());
        for user in ["a", "b", "c"] {
            throttle.failure(&k("10.0.0.1", user), t(0));
        }
        // The address is locked, whatever user it tries next; another address with a fresh user is not.
        assert!(matches!(
            throttle.check(&k("10.0.0.1", "admin"), t(1)),
            Verdict::Locked { .. }
        ));
        assert_eq!(
            throttle.check(&k("10.0.0.2", "admin"), t(1)),
            Verdict::Allowed
        );
        for ip in ["10.0.0.3", "10.0.0.4", "10.0.0.5"] {
            throttle.failure(&k(ip, "admin"), t(2));
        }
        assert!(matches!(
            throttle.check(&k("10.0.0.6", "admin"), t(3)),
            Verdict::Locked { .. }
        ));
    }

    #[test]
    fn further_locks_double_up_to_the_maximum_and_success_resets() {
        let mut throttle = LoginThrottle::new(policy());
        let keys = k("10.0.0.1", "admin");
        let mut now = 0;
        let mut lengths = Vec::new();
        // Each round starts once the previous lock is over (and before the record is forgotten).
        for wait in [11, 21, 26] {
            for _ in 0..3 {
                for lock in throttle.failure(&keys[..1], t(now)) {
                    lengths.push(lock.length);
                }
            }
            now += wait;
        }
        assert_eq!(lengths, [10 * SEC, 20 * SEC, 25 * SEC]);
        throttle.success(&keys);
        for _ in 0..3 {
            throttle.failure(&keys[..1], t(now));
        }
        assert_eq!(
            throttle.check(&keys, t(now)),
            Verdict::Locked {
                retry_after: 10 * SEC
            }
        );
    }

    #[test]
    fn stale_records_are_forgotten_and_the_table_is_bounded() {
        let mut throttle = LoginThrottle::new(policy());
        throttle.failure(&k("10.0.0.1", "a"), t(0));
        throttle.failure(&k("10.0.0.2", "b"), t(100));
        assert_eq!(
            throttle.len(),
            2,
            "the first pair was seen 100 s ago > 25 s"
        );
        throttle.max_keys = 50;
        for i in 0..60 {
            throttle.failure(&[format!("user {i}")], t(200 + i / 10));
        }
        assert_eq!(throttle.len(), 50);
        assert_eq!(
            throttle.check(&["user 59".to_string()], t(206)),
            Verdict::Allowed
        );
        assert!(
            !throttle.records.contains_key("user 0"),
            "the oldest went first"
        );
    }

    #[test]
    fn policy_from_limits_never_shrinks_locks() {
        let limits = AdminLimits {
            login_lock: 10 * SEC,
            login_lock_max: SEC,
            login_max_failures: 0,
            ..AdminLimits::default()
        };
        let policy = ThrottlePolicy::from_limits(&limits);
        assert_eq!(policy.lock_max, 10 * SEC);
        assert_eq!(policy.max_failures, 1);
        assert_eq!(policy.lock_length(40), 10 * SEC);
    }
}
