//! The pure verdict on one RCPT: from the domain's policy, what the cache (or list) knows about the
//! address, and what we know about the primary, decide accept / refuse / tempfail / ask the primary.
//! A callout that fails never leads to a permanent refusal: only a primary's own 5xx does.

pub use crate::config::{DomainPolicy, Mode, UnknownWhenDown};

/// What is known about the address (for `list`: Good = listed, Bad = not listed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheState {
    Good,
    Bad,
    Unknown,
}

/// What is known about the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrimaryState {
    /// No recent contact: a callout will tell.
    Unknown,
    /// Answered recently (a callout connection or delivery worked).
    Up,
    /// Answers, but deferred our question (4xx to the callout RCPT): up, yet no answer to cache.
    Deferring,
    /// Unreachable (queue health or a failed callout connection).
    Down,
}

/// The answer to the RCPT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// 550 5.1.1
    Refuse550,
    /// 450 4.1.1
    Tempfail450,
    /// Ask the primary, then decide again with its answer.
    Callout,
    /// 451 4.7.1: monitoring mode while the primary is up.
    TryPrimary451,
    /// 452 4.2.2: the domain's quota (`max_messages`, `max_bytes`) is reached.
    OverQuota452,
}

/// Why: the `reason` label of `backupmx_recipients_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    AcceptAll,
    Listed,
    NotListed,
    KnownGood,
    KnownBad,
    UnknownAccepted,
    UnknownTempfailed,
    PrimaryUp,
    NeedsCallout,
    OverQuota,
}

impl Reason {
    pub fn label(self) -> &'static str {
        match self {
            Reason::AcceptAll => "accept_all",
            Reason::Listed => "listed",
            Reason::NotListed => "not_listed",
            Reason::KnownGood => "known_good",
            Reason::KnownBad => "known_bad",
            Reason::UnknownAccepted => "unknown_accepted",
            Reason::UnknownTempfailed => "unknown_tempfailed",
            Reason::PrimaryUp => "primary_up",
            Reason::NeedsCallout => "callout",
            Reason::OverQuota => "over_quota",
        }
    }
}

/// A verdict with its reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    pub reason: Reason,
}

const fn decision(verdict: Verdict, reason: Reason) -> Decision {
    Decision { verdict, reason }
}

/// The verdict for one RCPT. Monitoring mode is checked first (while the primary is up nothing else
/// matters; while unknown, a callout tells whether it is up); then the domain's mode.
pub fn decide(policy: &DomainPolicy, cache: CacheState, primary: PrimaryState) -> Decision {
    if policy.accept_only_when_primary_down {
        match primary {
            PrimaryState::Up | PrimaryState::Deferring => {
                return decision(Verdict::TryPrimary451, Reason::PrimaryUp);
            }
            PrimaryState::Unknown => return decision(Verdict::Callout, Reason::NeedsCallout),
            PrimaryState::Down => {}
        }
    }
    match policy.mode {
        Mode::AcceptAll => decision(Verdict::Accept, Reason::AcceptAll),
        Mode::List => match cache {
            CacheState::Good => decision(Verdict::Accept, Reason::Listed),
            CacheState::Bad | CacheState::Unknown => {
                decision(Verdict::Refuse550, Reason::NotListed)
            }
        },
        Mode::Verify => verify(policy.unknown_when_down, cache, primary),
    }
}

fn verify(unknown: UnknownWhenDown, cache: CacheState, primary: PrimaryState) -> Decision {
    match (cache, primary) {
        (CacheState::Good, _) => decision(Verdict::Accept, Reason::KnownGood),
        (CacheState::Bad, _) => decision(Verdict::Refuse550, Reason::KnownBad),
        (CacheState::Unknown, PrimaryState::Unknown | PrimaryState::Up) => {
            decision(Verdict::Callout, Reason::NeedsCallout)
        }
        (CacheState::Unknown, PrimaryState::Down | PrimaryState::Deferring) => match unknown {
            UnknownWhenDown::Accept => decision(Verdict::Accept, Reason::UnknownAccepted),
            UnknownWhenDown::Tempfail => decision(Verdict::Tempfail450, Reason::UnknownTempfailed),
        },
    }
}

#[cfg(test)]
mod tests;
