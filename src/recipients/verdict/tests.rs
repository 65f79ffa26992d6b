//! Every combination of policy, cache state and primary state, checked against a table written out
//! by hand, plus the invariants that must hold over all of them.

use super::*;

const MODES: [Mode; 3] = [Mode::AcceptAll, Mode::List, Mode::Verify];
const UNKNOWNS: [UnknownWhenDown; 2] = [UnknownWhenDown::Accept, UnknownWhenDown::Tempfail];
const CACHES: [CacheState; 3] = [CacheState::Good, CacheState::Bad, CacheState::Unknown];
const PRIMARIES: [PrimaryState; 4] = [
    PrimaryState::Unknown,
    PrimaryState::Up,
    PrimaryState::Deferring,
    PrimaryState::Down,
];

fn all_policies() -> Vec<DomainPolicy> {
    let mut out = Vec::new();
    for mode in MODES {
        for unknown_when_down in UNKNOWNS {
            for monitoring in [false, true] {
                out.push(DomainPolicy {
                    mode,
                    unknown_when_down,
                    accept_only_when_primary_down: monitoring,
                });
            }
        }
    }
    out
}

/// The expected verdict, written as the rules read in docs/recipients.md.
fn expected(p: &DomainPolicy, cache: CacheState, primary: PrimaryState) -> Verdict {
    use PrimaryState as P;
    if p.accept_only_when_primary_down {
        if matches!(primary, P::Up | P::Deferring) {
            return Verdict::TryPrimary451;
        }
        if primary == P::Unknown {
            return Verdict::Callout;
        }
    }
    match (p.mode, cache, primary) {
        (Mode::AcceptAll, _, _) => Verdict::Accept,
        (Mode::List, CacheState::Good, _) => Verdict::Accept,
        (Mode::List, _, _) => Verdict::Refuse550,
        (Mode::Verify, CacheState::Good, _) => Verdict::Accept,
        (Mode::Verify, CacheState::Bad, _) => Verdict::Refuse550,
        (Mode::Verify, CacheState::Unknown, P::Unknown | P::Up) => Verdict::Callout,
        (Mode::Verify, CacheState::Unknown, _) => match p.unknown_when_down {
            UnknownWhenDown::Accept => Verdict::Accept,
            UnknownWhenDown::Tempfail => Verdict::Tempfail450,
        },
    }
}

#[test]
fn every_combination_matches_the_table() {
    let mut checked = 0;
    for p in all_policies() {
        for cache in CACHES {
            for primary in PRIMARIES {
                let got = decide(&p, cache, primary);
                assert_eq!(
                    got.verdict,
                    expected(&p, cache, primary),
                    "{p:?} {cache:?} {primary:?}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 12 * 3 * 4);
}

#[test]
fn a_down_primary_never_refuses_permanently_without_a_known_bad_answer() {
    for p in all_policies() {
        for primary in [PrimaryState::Down, PrimaryState::Deferring] {
            let d = decide(&p, CacheState::Unknown, primary);
            if p.mode == Mode::Verify {
                assert_ne!(d.verdict, Verdict::Refuse550, "{p:?}");
            }
        }
    }
}

#[test]
fn no_callout_once_the_primary_is_down_or_deferring() {
    for p in all_policies() {
        for cache in CACHES {
            for primary in [PrimaryState::Down, PrimaryState::Deferring] {
                assert_ne!(decide(&p, cache, primary).verdict, Verdict::Callout);
            }
        }
    }
}

#[test]
fn reasons_follow_verdicts() {
    let verify = DomainPolicy {
        mode: Mode::Verify,
        ..DomainPolicy::default()
    };
    let cases = [
        (CacheState::Good, PrimaryState::Up, Reason::KnownGood),
        (CacheState::Bad, PrimaryState::Down, Reason::KnownBad),
        (CacheState::Unknown, PrimaryState::Up, Reason::NeedsCallout),
        (
            CacheState::Unknown,
            PrimaryState::Down,
            Reason::UnknownAccepted,
        ),
    ];
    for (cache, primary, reason) in cases {
        assert_eq!(decide(&verify, cache, primary).reason, reason);
    }
    let tempfail = DomainPolicy {
        unknown_when_down: UnknownWhenDown::Tempfail,
        ..verify
    };
    let d = decide(&tempfail, CacheState::Unknown, PrimaryState::Down);
    assert_eq!(d.reason.label(), "unknown_tempfailed");
    let list = DomainPolicy {
        mode: Mode::List,
        ..DomainPolicy::default()
    };
    assert_eq!(
        decide(&list, CacheState::Unknown, PrimaryState::Up).reason,
        Reason::NotListed
    );
    assert_eq!(
        decide(&DomainPolicy::default(), CacheState::Bad, PrimaryState::Up).reason,
        Reason::AcceptAll
    );
}

#[test]
fn only_non_default_policies_need_a_check() {
    assert!(!DomainPolicy::default().needs_check());
    for p in all_policies() {
        let trivial = p.mode == Mode::AcceptAll && !p.accept_only_when_primary_down;
        assert_eq!(p.needs_check(), !trivial, "{p:?}");
    }
}
