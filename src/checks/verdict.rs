//! What the sender checks' results mean for a message, pure (issue 15): the mode that applies (the
//! strictest among the domains of the recipients accepted), and under `enforce` the refusal given
//! before the 250: SPF fail → 550 5.7.23, a DMARC failure under `p=reject` → 550 5.7.1, a temporary
//! DNS error in either → 451 4.7.x. `tag` and `off` never refuse.

use backupmx_smtp::{EnhancedCode, Reply};

use crate::config::{ChecksConfig, SenderChecks};
use crate::envelope::{Envelope, Route};

/// The result of one check, in the words of RFC 8601 (plus `skipped` for "not run").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    None,
    TempError,
    PermError,
    Policy,
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::SoftFail => "softfail",
            Outcome::Neutral => "neutral",
            Outcome::None => "none",
            Outcome::TempError => "temperror",
            Outcome::PermError => "permerror",
            Outcome::Policy => "policy",
            Outcome::Skipped => "skipped",
        }
    }
}

/// The results the verdict looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Findings {
    /// SPF of the MAIL FROM identity (of the HELO identity for `<>`).
    pub spf: Outcome,
    pub dmarc: Outcome,
    /// The published DMARC policy is `p=reject` (after `pct`/subdomain rules, as the library applies).
    pub dmarc_reject: bool,
}

/// Why an `enforce` domain's message is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    SpfFail,
    DmarcReject,
    SpfTemporary,
    DmarcTemporary,
}

impl Refusal {
    /// The check named in metrics and logs.
    pub fn check(self) -> &'static str {
        match self {
            Refusal::SpfFail | Refusal::SpfTemporary => "spf",
            Refusal::DmarcReject | Refusal::DmarcTemporary => "dmarc",
        }
    }

    pub fn reply(self, domain: &str) -> Reply {
        match self {
            Refusal::SpfFail => Reply::new(
                550,
                EnhancedCode(5, 7, 23),
                format!("SPF check failed: {domain} does not allow this host to send its mail"),
            ),
            Refusal::DmarcReject => Reply::new(
                550,
                EnhancedCode(5, 7, 1),
                format!("DMARC policy of {domain} rejects this message (unauthenticated From)"),
            ),
            Refusal::SpfTemporary => Reply::new(
                451,
                EnhancedCode(4, 7, 24),
                format!("SPF check of {domain} failed temporarily (DNS); try again later"),
            ),
            Refusal::DmarcTemporary => Reply::new(
                451,
                EnhancedCode(4, 7, 5),
                format!("DMARC check of {domain} failed temporarily (DNS); try again later"),
            ),
        }
    }
}

/// The mode for a message: the strictest among its recipients' domains (postmaster: `tag`).
pub fn mode_for(envelope: &Envelope, checks: &ChecksConfig) -> SenderChecks {
    envelope
        .recipients
        .iter()
        .map(|r| match &r.route {
            Route::Relay { domain } => checks.sender_checks_for(domain),
            Route::Postmaster => SenderChecks::Tag,
        })
        .max()
        .unwrap_or_default()
}

/// The refusal under `mode`, if any. `exempt`: a client in `[checks] allow`, never refused.
pub fn decide(mode: SenderChecks, exempt: bool, findings: &Findings) -> Option<Refusal> {
    if mode != SenderChecks::Enforce || exempt {
        return None;
    }
    if findings.spf == Outcome::Fail {
        return Some(Refusal::SpfFail);
    }
    if findings.dmarc == Outcome::Fail && findings.dmarc_reject {
        return Some(Refusal::DmarcReject);
    }
    if findings.spf == Outcome::TempError {
        return Some(Refusal::SpfTemporary);
    }
    if findings.dmarc == Outcome::TempError {
        return Some(Refusal::DmarcTemporary);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::samples;

    fn findings(spf: Outcome, dmarc: Outcome, reject: bool) -> Findings {
        Findings {
            spf,
            dmarc,
            dmarc_reject: reject,
        }
    }

    #[test]
    fn enforce_refuses_hard_failures_and_defers_temporary_errors() {
        use Outcome as O;
        let cases = [
            (findings(O::Pass, O::Pass, true), None),
            (findings(O::Fail, O::Pass, false), Some(Refusal::SpfFail)),
            (findings(O::SoftFail, O::None, false), None),
            (findings(O::Neutral, O::None, false), None),
            (findings(O::PermError, O::None, false), None),
            (
                findings(O::TempError, O::None, false),
                Some(Refusal::SpfTemporary),
            ),
            (findings(O::Pass, O::Fail, true), Some(Refusal::DmarcReject)),
            (findings(O::SoftFail, O::Fail, false), None),
            (
                findings(O::Pass, O::TempError, false),
                Some(Refusal::DmarcTemporary),
            ),
            (findings(O::Fail, O::Fail, true), Some(Refusal::SpfFail)),
        ];
        for (found, expected) in cases {
            assert_eq!(
                decide(SenderChecks::Enforce, false, &found),
                expected,
                "{found:?}"
            );
        }
    }

    #[test]
    fn tag_off_and_exempt_clients_are_never_refused() {
        let worst = findings(Outcome::Fail, Outcome::Fail, true);
        assert_eq!(decide(SenderChecks::Tag, false, &worst), None);
        assert_eq!(decide(SenderChecks::Off, false, &worst), None);
        assert_eq!(decide(SenderChecks::Enforce, true, &worst), None);
    }

    #[test]
    fn replies_carry_the_enhanced_codes() {
        let code = |r: Refusal| {
            let reply = r.reply("bank.test");
            (reply.code, reply.enhanced)
        };
        assert_eq!(code(Refusal::SpfFail), (550, Some(EnhancedCode(5, 7, 23))));
        assert_eq!(
            code(Refusal::DmarcReject),
            (550, Some(EnhancedCode(5, 7, 1)))
        );
        assert_eq!(code(Refusal::SpfTemporary).0, 451);
        assert_eq!(code(Refusal::DmarcTemporary).0, 451);
    }

    #[test]
    fn the_strictest_domain_of_the_accepted_recipients_applies() {
        let mut checks = ChecksConfig::default();
        checks
            .sender_checks
            .insert("strict.test".into(), SenderChecks::Enforce);
        checks
            .sender_checks
            .insert("lax.test".into(), SenderChecks::Off);
        let mut envelope = samples::envelope("a@lax.test", 0);
        envelope.recipients[0].route = Route::Relay {
            domain: "lax.test".into(),
        };
        assert_eq!(mode_for(&envelope, &checks), SenderChecks::Off);
        let mut strict = samples::recipient("b@strict.test");
        strict.route = Route::Relay {
            domain: "strict.test".into(),
        };
        envelope.recipients.push(strict);
        assert_eq!(mode_for(&envelope, &checks), SenderChecks::Enforce);
        let mut other = samples::envelope("c@example.test", 0);
        other.recipients[0].route = Route::Postmaster;
        assert_eq!(mode_for(&other, &checks), SenderChecks::Tag);
    }
}
