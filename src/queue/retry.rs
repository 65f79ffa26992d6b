//! The retry schedule: pure decisions on when a deferred message is tried again, when it expires and
//! when its sender gets a delay warning. No clock is read here; every instant is an argument.
//!
//! Expiry rule (chosen to match Postfix's "one last try" in spirit while never bouncing late): the
//! deadline is `received_at + max_lifetime`. A retry that would fall after the deadline is moved to the
//! deadline itself, so a message always gets a final attempt exactly at expiry; only an attempt made at or
//! after the deadline that still fails leads to [`Decision::Expire`] (bounce the remaining recipients).

use std::time::{Duration, SystemTime};

/// Shortest wait between two attempts: a `0s` entry in the configured list must not make the queue spin.
pub const MIN_RETRY_WAIT: Duration = Duration::from_secs(1);

/// Wait used when the configured list is empty (the config layer should refuse that; this is a safe net).
pub const FALLBACK_RETRY_WAIT: Duration = Duration::from_secs(5 * 60);

/// `[queue] retry`, `max_lifetime` and `delay_warning`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Waits before the 2nd, 3rd, ... attempt, counted from the end of the previous attempt; the last
    /// entry repeats.
    pub retry: Vec<Duration>,
    /// After this age the remaining recipients bounce (after one final attempt at the deadline).
    pub max_lifetime: Duration,
    /// Age at which the sender is warned once that the mail is still queued; zero disables warnings.
    pub delay_warning: Duration,
}

/// What to do with a message after an attempt left recipients pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try again at this instant.
    RetryAt(SystemTime),
    /// Its lifetime is over: bounce the recipients still pending.
    Expire,
}

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

impl Default for RetryPolicy {
    /// Postfix-like: 5m, 10m, 20m, 40m, then every hour; 5 days; warn after 4 hours.
    fn default() -> Self {
        RetryPolicy {
            retry: [5, 10, 20, 40, 60]
                .into_iter()
                .map(|m| Duration::from_secs(m * MINUTE))
                .collect(),
            max_lifetime: Duration::from_secs(5 * DAY),
            delay_warning: Duration::from_secs(4 * HOUR),
        }
    }
}

impl RetryPolicy {
    /// This policy with a domain's own `max_lifetime` (`[[domain]] max_lifetime`), if it has one.
    pub fn with_lifetime(&self, lifetime: Option<Duration>) -> RetryPolicy {
        RetryPolicy {
            max_lifetime: lifetime.unwrap_or(self.max_lifetime),
            ..self.clone()
        }
    }

    /// The instant after which a message received at `received_at` expires.
    pub fn deadline(&self, received_at: SystemTime) -> SystemTime {
        received_at + self.max_lifetime
    }

    /// The wait before attempt number `attempts_so_far + 1` (for `attempts_so_far >= 1`).
    pub fn wait_after(&self, attempts_so_far: usize) -> Duration {
        let index = attempts_so_far.saturating_sub(1);
        let wait = self
            .retry
            .get(index)
            .or_else(|| self.retry.last())
            .copied()
            .unwrap_or(FALLBACK_RETRY_WAIT);
        wait.max(MIN_RETRY_WAIT)
    }

    /// When to try next, given that `attempts_so_far` attempts were made, the last one ending at
    /// `last_attempt_at`. With no attempt yet the message is due at once (`received_at`).
    pub fn next_attempt_at(
        &self,
        received_at: SystemTime,
        attempts_so_far: usize,
        last_attempt_at: SystemTime,
    ) -> Decision {
        let deadline = self.deadline(received_at);
        if attempts_so_far == 0 {
            return Decision::RetryAt(received_at);
        }
        if last_attempt_at >= deadline {
            return Decision::Expire;
        }
        let next = last_attempt_at + self.wait_after(attempts_so_far);
        Decision::RetryAt(next.min(deadline))
    }

    /// True once the message's lifetime is over at `now`.
    pub fn expired(&self, received_at: SystemTime, now: SystemTime) -> bool {
        now >= self.deadline(received_at)
    }

    /// When the delay warning falls due, if warnings are on and it comes before expiry.
    pub fn delay_warning_at(&self, received_at: SystemTime) -> Option<SystemTime> {
        if self.delay_warning.is_zero() || self.delay_warning >= self.max_lifetime {
            return None;
        }
        Some(received_at + self.delay_warning)
    }

    /// True when a delay warning should be sent now: warnings on, not sent before, the message old
    /// enough and not yet expired (an expired message bounces instead).
    pub fn delay_warning_due(
        &self,
        received_at: SystemTime,
        now: SystemTime,
        already_warned: bool,
    ) -> bool {
        if already_warned || self.expired(received_at, now) {
            return false;
        }
        self.delay_warning_at(received_at)
            .is_some_and(|at| now >= at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }
    fn mins(m: u64) -> Duration {
        Duration::from_secs(m * MINUTE)
    }

    /// Every attempt time (minutes after arrival) when each attempt fails at once.
    fn simulate(policy: &RetryPolicy) -> Vec<u64> {
        let received = t0();
        let mut attempts = Vec::new();
        let mut last = received;
        for round in 0..10_000 {
            match policy.next_attempt_at(received, round, last) {
                Decision::RetryAt(at) => {
                    let offset = at.duration_since(received).unwrap().as_secs();
                    assert_eq!(offset % MINUTE, 0);
                    attempts.push(offset / MINUTE);
                    last = at;
                }
                Decision::Expire => return attempts,
            }
        }
        panic!("the schedule never expires");
    }

    #[test]
    fn default_schedule_over_five_days() {
        let attempts = simulate(&RetryPolicy::default());
        // Arrival, then +5m, +10m, +20m, +40m, then hourly until the 5-day deadline, where one final
        // attempt is made at exactly 7200 minutes.
        let mut expected = vec![0, 5, 15, 35];
        expected.extend((75..=7155).step_by(60));
        expected.push(7200);
        assert_eq!(attempts, expected);
        assert_eq!(attempts.len(), 124);
        assert_eq!(&attempts[..7], &[0, 5, 15, 35, 75, 135, 195]);
        assert_eq!(&attempts[attempts.len() - 3..], &[7095, 7155, 7200]);
    }

    #[test]
    fn first_attempt_is_immediate() {
        let p = RetryPolicy::default();
        assert_eq!(p.next_attempt_at(t0(), 0, t0()), Decision::RetryAt(t0()));
    }

    #[test]
    fn waits_count_from_the_end_of_the_last_attempt() {
        let p = RetryPolicy::default();
        let late = t0() + mins(3);
        assert_eq!(
            p.next_attempt_at(t0(), 1, late),
            Decision::RetryAt(late + mins(5))
        );
        assert_eq!(
            p.next_attempt_at(t0(), 2, late),
            Decision::RetryAt(late + mins(10))
        );
        assert_eq!(
            p.next_attempt_at(t0(), 99, late),
            Decision::RetryAt(late + mins(60))
        );
    }

    #[test]
    fn final_attempt_is_clamped_to_the_deadline_then_expires() {
        let p = RetryPolicy::default();
        let deadline = p.deadline(t0());
        let near = deadline - mins(1);
        assert_eq!(
            p.next_attempt_at(t0(), 50, near),
            Decision::RetryAt(deadline)
        );
        assert_eq!(p.next_attempt_at(t0(), 51, deadline), Decision::Expire);
        assert_eq!(
            p.next_attempt_at(t0(), 51, deadline + mins(30)),
            Decision::Expire
        );
    }

    #[test]
    fn expired_at_the_deadline() {
        let p = RetryPolicy::default();
        let deadline = t0() + Duration::from_secs(5 * DAY);
        assert!(!p.expired(t0(), deadline - Duration::from_secs(1)));
        assert!(p.expired(t0(), deadline));
    }

    #[test]
    fn zero_and_empty_retry_lists_do_not_spin() {
        let zero = RetryPolicy {
            retry: vec![Duration::ZERO],
            ..RetryPolicy::default()
        };
        assert_eq!(
            zero.next_attempt_at(t0(), 1, t0()),
            Decision::RetryAt(t0() + MIN_RETRY_WAIT)
        );
        let empty = RetryPolicy {
            retry: vec![],
            ..RetryPolicy::default()
        };
        assert_eq!(
            empty.next_attempt_at(t0(), 3, t0()),
            Decision::RetryAt(t0() + FALLBACK_RETRY_WAIT)
        );
    }

    #[test]
    fn delay_warning_once_after_four_hours() {
        let p = RetryPolicy::default();
        let four_h = Duration::from_secs(4 * HOUR);
        assert!(!p.delay_warning_due(t0(), t0() + four_h - mins(1), false));
        assert!(p.delay_warning_due(t0(), t0() + four_h, false));
        assert!(!p.delay_warning_due(t0(), t0() + four_h, true));
        assert_eq!(p.delay_warning_at(t0()), Some(t0() + four_h));
        // Expired mail bounces instead of being warned about.
        assert!(!p.delay_warning_due(t0(), p.deadline(t0()), false));
    }

    #[test]
    fn zero_delay_warning_disables_it() {
        let p = RetryPolicy {
            delay_warning: Duration::ZERO,
            ..RetryPolicy::default()
        };
        assert_eq!(p.delay_warning_at(t0()), None);
        assert!(!p.delay_warning_due(t0(), t0() + Duration::from_secs(3 * DAY), false));
    }

    #[test]
    fn delay_warning_past_lifetime_never_fires() {
        let p = RetryPolicy {
            delay_warning: Duration::from_secs(6 * DAY),
            ..RetryPolicy::default()
        };
        assert_eq!(p.delay_warning_at(t0()), None);
    }
}
