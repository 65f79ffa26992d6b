//! The scheduler's view of destinations: connections running, health (up, unreachable,
//! misconfigured), recovery probes, and which destinations want a connection now. Pure, like the rest.

use std::time::SystemTime;

use super::{DestinationState, Health, Scheduler, deferral_due, is_down};
use crate::clock::to_unix_ms;

impl Scheduler {
    /// A worker starts or stops for `dest`.
    pub fn worker_started(&mut self, dest: &str) {
        if let Some(d) = self.destinations.get_mut(dest) {
            d.workers += 1;
        }
    }

    pub fn worker_stopped(&mut self, dest: &str) {
        if let Some(d) = self.destinations.get_mut(dest) {
            d.workers = d.workers.saturating_sub(1);
        }
    }

    /// The destination answered: from unreachable to up flushes its queue at once (recovery).
    pub fn mark_up(&mut self, dest: &str, now: SystemTime) -> bool {
        let Some(d) = self.destinations.get_mut(dest) else {
            return false;
        };
        let recovered = is_down(&d.health);
        d.health = Health::Up;
        d.next_probe = None;
        if recovered {
            self.book.flush(dest, now);
            self.keep_held_waiting();
        }
        recovered
    }

    pub fn mark_unreachable(&mut self, dest: &str, error: String, now: SystemTime) {
        if let Some(d) = self.destinations.get_mut(dest) {
            if !matches!(d.health, Health::Unreachable { .. }) {
                d.health = Health::Unreachable {
                    since_ms: to_unix_ms(now),
                    error,
                };
            } else if let Health::Unreachable { error: e, .. } = &mut d.health {
                *e = error;
            }
            d.next_probe = Some(now + self.probe_interval);
        }
    }

    pub fn mark_misconfigured(&mut self, dest: &str, reason: String, now: SystemTime) {
        if let Some(d) = self.destinations.get_mut(dest) {
            match &mut d.health {
                Health::Misconfigured { reason: r, .. } => *r = reason,
                h => {
                    *h = Health::Misconfigured {
                        since_ms: to_unix_ms(now),
                        reason,
                    }
                }
            }
            d.next_probe = Some(now + self.probe_interval);
        }
    }

    /// Destinations where another connection should start now: something claimable is due, the
    /// destination is not known to be down, and fewer than `max_parallel` connections run.
    pub fn wanted_workers(&self, now: SystemTime) -> Vec<String> {
        let mut wanted = Vec::new();
        for (dest, d) in &self.destinations {
            let healthy = matches!(d.health, Health::Up | Health::Unknown);
            let due = self.book.next_due_at(dest).is_some_and(|t| t <= now);
            let room =
                d.workers < self.max_parallel && self.book.in_flight(dest) < self.max_parallel;
            if healthy && due && room && self.book.queued(dest) > self.book.in_flight(dest) {
                wanted.push(dest.clone());
            }
        }
        wanted.sort();
        wanted
    }

    /// Down destinations with messages due now: to be deferred without a connection. Never while a
    /// probe runs: a probe that finds the destination back flushes its queue, and a deferral running
    /// alongside would take the flushed messages and push them back by the retry schedule.
    pub fn due_while_down(&self, now: SystemTime) -> Vec<String> {
        let mut down: Vec<String> = self
            .destinations
            .iter()
            .filter(|(dest, d)| !d.probing && deferral_due(&self.book, dest, d, now))
            .map(|(dest, _)| dest.clone())
            .collect();
        down.sort();
        down
    }

    /// Down destinations whose recovery probe is due; marks them as being probed. A destination
    /// whose due mail is about to be deferred ([`Scheduler::due_while_down`]) is probed after that
    /// deferral, not alongside it (see there).
    pub fn take_due_probes(&mut self, now: SystemTime) -> Vec<String> {
        let mut due = Vec::new();
        for (dest, d) in self.destinations.iter_mut() {
            if !d.probing
                && d.workers == 0
                && d.next_probe.is_some_and(|t| t <= now)
                && !deferral_due(&self.book, dest, d, now)
            {
                d.probing = true;
                due.push(dest.clone());
            }
        }
        due.sort();
        due
    }

    /// Another node saw a primary answer again (cluster): every unreachable destination here is
    /// probed now rather than at its next `probe_interval`, since it may share that primary. Returns
    /// how many will be probed.
    pub fn probe_unreachable_now(&mut self, now: SystemTime) -> usize {
        self.probe_now(now, |_, d| matches!(d.health, Health::Unreachable { .. }))
    }

    pub fn probe_done(&mut self, dest: &str) {
        if let Some(d) = self.destinations.get_mut(dest) {
            d.probing = false;
        }
    }

    /// Keeps a destination's state even while nothing is queued for it (the configured domains: the
    /// console shows their primary's last known state).
    pub fn pin(&mut self, dest: &str) {
        self.pinned.insert(dest.to_string());
        self.destinations
            .entry(dest.to_string())
            .or_insert_with(DestinationState::new);
    }

    /// Forgets destinations that have nothing queued and nothing running, except pinned ones.
    pub fn prune_destinations(&mut self) {
        let book = &self.book;
        let pinned = &self.pinned;
        self.destinations.retain(|dest, d| {
            pinned.contains(dest) || d.workers > 0 || d.probing || book.queued(dest) > 0
        });
    }
}
