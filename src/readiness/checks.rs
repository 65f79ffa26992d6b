//! The six readiness checks, pure functions of the gathered [`Facts`] and the time; [`assess`] runs
//! them in the order the report shows them.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::client::danger::ServerCertVerifier;

use super::certificate::{EXPIRY_WARNING, Examined, Problem, examine, show_date};
use super::facts::{Facts, Failed};
use super::{Check, Readiness, Status};
use crate::delivery::dane::{TlsaAnswer, Validator, chain_matches, ee_record, tlsa_name};
use crate::delivery::mta_sts::{Discovery, Mode};

/// Runs every check for `facts` at `now`.
pub fn assess(facts: &Facts, verifier: &dyn ServerCertVerifier, now: SystemTime) -> Readiness {
    let name = facts.our_name();
    let examined = facts.certificate.as_ref().map(|chain| {
        (
            examine(chain, &name, verifier, now),
            examine(chain, &name, verifier, now + EXPIRY_WARNING),
        )
    });
    let certificate = certificate(&name, examined.as_ref(), now);
    let checks = vec![
        mx(facts),
        address(facts),
        fcrdns(facts),
        certificate.clone(),
        mta_sts(facts, &name, &certificate),
        dane(facts, &name),
    ];
    Readiness::new(&facts.domain, checks)
}

fn dns_status(failed: &Failed) -> Status {
    if failed.temporary {
        Status::Warn
    } else {
        Status::Fail
    }
}

/// `mx`: we are listed, less preferred than the primary, whose hosts resolve.
pub fn mx(facts: &Facts) -> Check {
    const NAME: &str = "mx";
    let list = match &facts.mx {
        Ok(list) => list,
        Err(failed) => {
            return Check::new(
                NAME,
                dns_status(failed),
                format!("MX look-up: {}", failed.reason),
            );
        }
    };
    if list.iter().any(|e| e.name.is_empty()) {
        return Check::new(
            NAME,
            Status::Fail,
            "the domain publishes a null MX: it accepts no mail",
        );
    }
    let Some(us) = facts.our_entry() else {
        let names = facts.identity.names.join(", ");
        return Check::new(
            NAME,
            Status::Fail,
            format!("no MX record names this host ({names}): senders never try it"),
        );
    };
    if let Some(primary) = &facts.static_primary {
        return Check::new(
            NAME,
            Status::Ok,
            format!(
                "{} is listed at preference {}; mail goes to the static primary {primary}",
                us.name, us.preference
            ),
        );
    }
    let primaries: Vec<_> = list
        .iter()
        .filter(|e| e.preference < us.preference)
        .collect();
    if primaries.is_empty() {
        return Check::new(
            NAME,
            Status::Fail,
            format!(
                "{} has preference {}, no host is more preferred: senders deliver here first, and there is no primary to forward to",
                us.name, us.preference
            ),
        );
    }
    let shown: Vec<String> = primaries
        .iter()
        .map(|p| format!("{} ({})", p.name, p.preference))
        .collect();
    let unresolved: Vec<&str> = primaries
        .iter()
        .filter(|p| p.addresses.is_empty())
        .map(|p| p.name.as_str())
        .collect();
    if unresolved.len() == primaries.len() {
        return Check::new(
            NAME,
            Status::Fail,
            format!("no primary MX host resolves: {}", unresolved.join(", ")),
        );
    }
    let detail = format!(
        "{} at preference {} behind {}",
        us.name,
        us.preference,
        shown.join(", ")
    );
    if unresolved.is_empty() {
        Check::new(NAME, Status::Ok, detail)
    } else {
        Check::new(
            NAME,
            Status::Warn,
            format!("{detail}; without an address: {}", unresolved.join(", ")),
        )
    }
}

/// `address`: our MX name resolves to an address we listen on.
pub fn address(facts: &Facts) -> Check {
    const NAME: &str = "address";
    let Some(us) = facts.our_entry() else {
        return Check::new(NAME, Status::Skip, "this host is not in the MX list");
    };
    if us.addresses.is_empty() {
        return Check::new(NAME, Status::Fail, format!("{} has no address", us.name));
    }
    let shown = |ips: &[IpAddr]| {
        ips.iter()
            .map(IpAddr::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let specific: Vec<IpAddr> = facts
        .listen
        .iter()
        .map(|s| s.ip())
        .filter(|ip| !ip.is_unspecified())
        .collect();
    let wildcard = facts.listen.iter().any(|s| s.ip().is_unspecified());
    let listened =
        |ip: &IpAddr| specific.contains(ip) || (wildcard && facts.local_addresses.contains(ip));
    let (ours, others): (Vec<IpAddr>, Vec<IpAddr>) =
        us.addresses.iter().partition(|ip| listened(ip));
    match (ours.is_empty(), others.is_empty()) {
        (false, true) => Check::new(
            NAME,
            Status::Ok,
            format!("{} is {}, where this host listens", us.name, shown(&ours)),
        ),
        (false, false) => Check::new(
            NAME,
            Status::Warn,
            format!(
                "{} is {}, but this host does not listen on {}",
                us.name,
                shown(&us.addresses),
                shown(&others)
            ),
        ),
        (true, _) if wildcard => Check::new(
            NAME,
            Status::Warn,
            format!(
                "{} is {}, not an address of this host: it cannot be confirmed (NAT or a proxy?)",
                us.name,
                shown(&others)
            ),
        ),
        (true, _) => Check::new(
            NAME,
            Status::Fail,
            format!(
                "{} is {}, but this host listens only on {}",
                us.name,
                shown(&others),
                shown(&specific)
            ),
        ),
    }
}

/// `fcrdns`: each address of our MX name has a PTR name that resolves back to it.
pub fn fcrdns(facts: &Facts) -> Check {
    const NAME: &str = "fcrdns";
    if facts.reverse.is_empty() {
        return Check::new(
            NAME,
            Status::Skip,
            "no address of this host's MX name to check",
        );
    }
    let mut good = Vec::new();
    let mut worst = Status::Ok;
    let mut problems = Vec::new();
    for reverse in &facts.reverse {
        let names = match &reverse.names {
            Ok(names) => names,
            Err(failed) => {
                worst = worse(worst, dns_status(failed));
                problems.push(format!("{}: no PTR ({})", reverse.ip, failed.reason));
                continue;
            }
        };
        let confirmed = reverse
            .forward
            .iter()
            .find(|(_, forward)| forward.as_ref().is_ok_and(|ips| ips.contains(&reverse.ip)));
        match confirmed {
            Some((name, _)) => good.push(format!("{} -> {name} -> {}", reverse.ip, reverse.ip)),
            None => {
                worst = worse(worst, Status::Fail);
                problems.push(format!(
                    "{} -> {}, which does not resolve back to {}",
                    reverse.ip,
                    names.join(", "),
                    reverse.ip
                ));
            }
        }
    }
    if problems.is_empty() {
        Check::new(NAME, Status::Ok, good.join("; "))
    } else {
        Check::new(
            NAME,
            worst,
            format!(
                "{}: large receivers' peers may refuse it",
                problems.join("; ")
            ),
        )
    }
}

fn worse(a: Status, b: Status) -> Status {
    let rank = |s: Status| match s {
        Status::Skip | Status::Ok => 0,
        Status::Warn => 1,
        Status::Fail => 2,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// `certificate`: covers our MX name, valid chain, more than 14 days from expiry.
/// `examined`: the examination now and 14 days from now.
pub fn certificate(name: &str, examined: Option<&(Examined, Examined)>, now: SystemTime) -> Check {
    const NAME: &str = "certificate";
    let Some((current, later)) = examined else {
        return Check::new(
            NAME,
            Status::Fail,
            "no certificate ([smtp] tls_cert): STARTTLS is not offered, MTA-STS and DANE senders will not deliver here",
        );
    };
    let expiry = current
        .not_after
        .map(show_date)
        .unwrap_or_else(|| "an unknown date".into());
    if let Err(problem) = &current.verified {
        let detail = match problem {
            Problem::Expired => format!("it expired on {expiry}"),
            other => other.describe(name),
        };
        return Check::new(
            NAME,
            Status::Fail,
            format!(
                "{detail} (names: {}; issuer: {})",
                current.names.join(", "),
                current.issuer
            ),
        );
    }
    let now_s = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    if later.verified == Err(Problem::Expired) {
        let days = current
            .not_after
            .map_or(0, |t| t.saturating_sub(now_s) / 86_400);
        return Check::new(
            NAME,
            Status::Warn,
            format!("valid for {name}, but it expires on {expiry}, in {days} days"),
        );
    }
    Check::new(
        NAME,
        Status::Ok,
        format!(
            "valid for {name}, issued by {}, expires on {expiry}",
            current.issuer
        ),
    )
}

/// `mta_sts`: when the domain publishes a policy, our MX name must match one of its `mx:` lines;
/// under `enforce` our certificate must pass as well.
pub fn mta_sts(facts: &Facts, name: &str, certificate: &Check) -> Check {
    const NAME: &str = "mta_sts";
    let policy = match &facts.mta_sts {
        Discovery::NoRecord => {
            return Check::new(
                NAME,
                Status::Skip,
                format!("no _mta-sts.{} TXT record: no policy", facts.domain),
            );
        }
        Discovery::BadRecord(reason) => {
            return Check::new(
                NAME,
                Status::Fail,
                format!("_mta-sts.{}: {reason}", facts.domain),
            );
        }
        Discovery::Fetched(Err(error)) => {
            return Check::new(
                NAME,
                Status::Fail,
                format!("the TXT record exists, but the policy cannot be fetched: {error}"),
            );
        }
        Discovery::Fetched(Ok(policy)) => policy,
    };
    let mode = policy.mode.as_str();
    if policy.mode == Mode::None {
        return Check::new(
            NAME,
            Status::Ok,
            "mode none: the domain has withdrawn its policy",
        );
    }
    if !policy.allows(name) {
        let consequence = match policy.mode {
            Mode::Enforce => "senders will not deliver to this host",
            _ => "senders deliver anyway but report failures; under enforce they would not",
        };
        return Check::new(
            NAME,
            Status::Fail,
            format!(
                "mode {mode}: {name} matches no mx line ({}): {consequence}",
                policy.mx.join(", ")
            ),
        );
    }
    if policy.mode == Mode::Enforce && certificate.status == Status::Fail {
        return Check::new(
            NAME,
            Status::Fail,
            format!(
                "mode enforce: {name} is listed, but its certificate would not pass: {}",
                certificate.detail
            ),
        );
    }
    Check::new(
        NAME,
        Status::Ok,
        format!(
            "mode {mode}: {name} is listed (mx: {})",
            policy.mx.join(", ")
        ),
    )
}

/// `dane`: validated TLSA records for our MX name must match our certificate; none while the
/// primary has some is a warning.
pub fn dane(facts: &Facts, name: &str) -> Check {
    const NAME: &str = "dane";
    let ours = match &facts.our_tlsa {
        // Bogus under backupmx's own validation: validating senders will not connect here.
        Err(failed) if !failed.temporary => {
            return Check::new(
                NAME,
                Status::Fail,
                format!(
                    "{}: DANE senders will not deliver to this host",
                    failed.reason
                ),
            );
        }
        Err(failed) => {
            return Check::new(
                NAME,
                Status::Warn,
                format!("TLSA look-up for {}: {}", tlsa_name(name), failed.reason),
            );
        }
        Ok(answer) => answer,
    };
    let suggestion = facts
        .certificate
        .as_ref()
        .and_then(|chain| chain.first())
        .and_then(ee_record)
        .map(|r| {
            format!(
                "; for this certificate publish {} IN TLSA {}",
                tlsa_name(name),
                r.show()
            )
        })
        .unwrap_or_default();
    if !ours.records.is_empty() {
        if !ours.authenticated {
            let why = match ours.validator {
                Validator::Resolver => "no AD bit from the resolver",
                Validator::Backupmx => "insecure: no chain of signatures from the trust anchor",
            };
            return Check::new(
                NAME,
                Status::Warn,
                format!(
                    "{} has TLSA records, but they are not DNSSEC-validated ({why}): senders ignore them",
                    tlsa_name(name)
                ),
            );
        }
        let Some(chain) = &facts.certificate else {
            return Check::new(
                NAME,
                Status::Fail,
                format!(
                    "{} has TLSA records, but this host has no certificate",
                    tlsa_name(name)
                ),
            );
        };
        if chain_matches(&ours.records, chain) {
            return Check::new(
                NAME,
                Status::Ok,
                format!(
                    "the certificate matches the TLSA records of {} (DNSSEC: {})",
                    tlsa_name(name),
                    ours.validator.describe()
                ),
            );
        }
        let published: Vec<String> = ours.records.iter().map(|r| r.show()).collect();
        return Check::new(
            NAME,
            Status::Fail,
            format!(
                "the certificate matches none of the TLSA records of {} ({}): DANE senders will not deliver here{suggestion}",
                tlsa_name(name),
                published.join(", ")
            ),
        );
    }
    let signed_primaries: Vec<&str> = facts
        .primary_tlsa
        .iter()
        .filter(|(_, answer)| answer.as_ref().is_ok_and(TlsaAnswer::applies))
        .map(|(host, _)| host.as_str())
        .collect();
    if signed_primaries.is_empty() {
        Check::new(
            NAME,
            Status::Skip,
            format!("no TLSA records for {} or the primary", tlsa_name(name)),
        )
    } else {
        Check::new(
            NAME,
            Status::Warn,
            format!(
                "the primary ({}) publishes DANE TLSA records and {} has none: DANE senders fall back to this host without authentication{suggestion}",
                signed_primaries.join(", "),
                tlsa_name(name)
            ),
        )
    }
}
