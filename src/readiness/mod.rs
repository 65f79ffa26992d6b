//! Readiness (issue 17): will senders really hand this backup MX a domain's mail when the primary
//! is down? Six checks per domain (`mx`, `address`, `fcrdns`, `certificate`, `mta_sts`, `dane`),
//! each a pure function over gathered [`Facts`] (`checks.rs`, `certificate.rs`); `gather.rs` is
//! the shell that collects the facts (DNS, the MTA-STS policy over HTTPS, the inbound
//! certificate); `service.rs` keeps the latest result per domain for the API, the dashboard and
//! the metrics (computed at start, hourly and on demand). `backupmx check-dns` prints the same.

pub mod certificate;
pub mod checks;
pub mod facts;
pub mod gather;
pub mod service;

use std::fmt;

use serde::Serialize;

pub use facts::Facts;
pub use gather::{Gatherer, certificate_from_files};
pub use service::ReadinessService;

/// One check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Works today, but something is about to break or cannot be confirmed.
    Warn,
    /// Some senders will not hand us mail.
    Fail,
    /// Does not apply (e.g. no MTA-STS policy published).
    Skip,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }
}

/// The domain's overall verdict: the worst of its checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ready,
    Warning,
    Broken,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ready => "ready",
            Verdict::Warning => "warning",
            Verdict::Broken => "broken",
        }
    }
}

/// One named check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
}

impl Check {
    pub fn new(name: &'static str, status: Status, detail: impl Into<String>) -> Check {
        Check {
            name,
            status,
            detail: detail.into(),
        }
    }
}

/// A domain's readiness, as `check-dns --json` and the API give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Readiness {
    pub domain: String,
    pub verdict: Verdict,
    pub checks: Vec<Check>,
}

impl Readiness {
    /// The verdict of `checks`: broken if one fails, warning if one warns, else ready.
    pub fn new(domain: &str, checks: Vec<Check>) -> Readiness {
        let verdict = if checks.iter().any(|c| c.status == Status::Fail) {
            Verdict::Broken
        } else if checks.iter().any(|c| c.status == Status::Warn) {
            Verdict::Warning
        } else {
            Verdict::Ready
        };
        Readiness {
            domain: domain.to_owned(),
            verdict,
            checks,
        }
    }

    /// The checks that fail, else those that warn: what the dashboard's badge names.
    pub fn worst_checks(&self) -> Vec<&'static str> {
        let wanted = match self.verdict {
            Verdict::Broken => Status::Fail,
            Verdict::Warning => Status::Warn,
            Verdict::Ready => return Vec::new(),
        };
        self.checks
            .iter()
            .filter(|c| c.status == wanted)
            .map(|c| c.name)
            .collect()
    }
}

impl fmt::Display for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Readiness of {}:", self.domain)?;
        for check in &self.checks {
            writeln!(
                f,
                "  {:<4} {:<11} {}",
                check.status.as_str().to_ascii_uppercase(),
                check.name,
                check.detail
            )?;
        }
        let worst = self.worst_checks();
        match self.verdict {
            Verdict::Ready => writeln!(
                f,
                "READY: senders can hand mail for {} to this host",
                self.domain
            ),
            verdict => writeln!(
                f,
                "{}: {} ({})",
                verdict.as_str().to_ascii_uppercase(),
                self.domain,
                worst.join(", ")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_is_the_worst_check() {
        let ok = Check::new("mx", Status::Ok, "");
        let skip = Check::new("dane", Status::Skip, "");
        let warn = Check::new("certificate", Status::Warn, "");
        let fail = Check::new("mta_sts", Status::Fail, "");
        let r = Readiness::new("a.test", vec![ok.clone(), skip.clone()]);
        assert_eq!(r.verdict, Verdict::Ready);
        assert!(r.worst_checks().is_empty());
        let r = Readiness::new("a.test", vec![ok.clone(), warn.clone()]);
        assert_eq!(
            (r.verdict, r.worst_checks()),
            (Verdict::Warning, vec!["certificate"])
        );
        let r = Readiness::new("a.test", vec![warn, fail, skip]);
        assert_eq!(
            (r.verdict, r.worst_checks()),
            (Verdict::Broken, vec!["mta_sts"])
        );
    }

    #[test]
    fn the_json_has_the_issues_shape() {
        let r = Readiness::new("a.test", vec![Check::new("mx", Status::Ok, "fine")]);
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"domain":"a.test","verdict":"ready","checks":[{"name":"mx","status":"ok","detail":"fine"}]}"#
        );
    }
}
