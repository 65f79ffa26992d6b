//! The live queue: the pure scheduler behind its lock. The lock is reached only through closures, so
//! no guard can be held across an `.await` or leave the `queue` module; recipient validation reads
//! one fact from it (is a destination unreachable?) through the `PrimaryHealth` trait it owns.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::retry::RetryPolicy;
use super::scheduler::{Health, Scheduler};
use crate::config::{Config, DomainConfig};
use crate::recipients::{DomainUsage, PrimaryHealth};

pub struct QueueState {
    scheduler: Mutex<Scheduler>,
}

impl QueueState {
    /// An empty queue with the retry schedule, connection limit and probe interval of `config`.
    pub fn new(config: &Config) -> QueueState {
        let policy = RetryPolicy {
            retry: config.queue.retry.clone(),
            max_lifetime: config.queue.max_lifetime,
            delay_warning: config.queue.delay_warning,
        };
        let mut scheduler = Scheduler::new(
            policy,
            config.queue.max_parallel,
            config.queue.probe_interval,
        );
        scheduler.set_lifetimes(lifetimes(&config.domains));
        QueueState {
            scheduler: Mutex::new(scheduler),
        }
    }

    /// Runs `change` on the scheduler under its lock. A panic elsewhere never makes the queue
    /// unusable: the scheduler's own state stays consistent between calls, so poison is ignored.
    pub(super) fn with<R>(&self, change: impl FnOnce(&mut Scheduler) -> R) -> R {
        let mut scheduler = self.scheduler.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut scheduler)
    }

    /// Reads the scheduler under its lock (views for the admin layer).
    pub(super) fn read<R>(&self, look: impl FnOnce(&Scheduler) -> R) -> R {
        self.with(|scheduler| look(scheduler))
    }
}

/// The `[[domain]] max_lifetime` overrides of `domains`.
pub(super) fn lifetimes<'a>(
    domains: impl IntoIterator<Item = &'a DomainConfig>,
) -> HashMap<String, Duration> {
    domains
        .into_iter()
        .filter_map(|d| d.limits.max_lifetime.map(|l| (d.name.clone(), l)))
        .collect()
}

impl DomainUsage for QueueState {
    fn usage(&self, domain: &str) -> (u64, u64) {
        self.read(|s| s.usage(domain))
    }
}

impl PrimaryHealth for QueueState {
    fn is_down(&self, domain: &str) -> bool {
        self.read(|s| {
            s.destination(domain)
                .is_some_and(|d| matches!(d.health, Health::Unreachable { .. }))
        })
    }
}
