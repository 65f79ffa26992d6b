//! The sender checks' shell (issue 15): the DNSBL screen at connect (look-ups in parallel, bounded in
//! time, cached per client, failing open), and at the end of data SPF (HELO and MAIL FROM), DKIM,
//! DMARC and iprev through `mail-auth`, the Authentication-Results field, the ARC seal, and the
//! verdict of `verdict.rs`. Counts every result in `backupmx_sender_checks_total{check,result}`.

use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use backupmx_smtp::{EnhancedCode, Reply};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dmarc::Policy;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimResult, DmarcResult, IprevResult,
    MessageAuthenticator, SpfResult,
};
use mail_auth::{Parameters, dmarc::verify::DmarcParameters, spf::verify::SpfParameters};

use super::arc::Sealer;
use super::dnsbl::{self, DnsblVerdict, VerdictCache, ZoneAnswer};
use super::verdict::{self, Findings, Outcome};
use crate::config::{ChecksConfig, Config, SenderChecks};
use crate::delivery::dns::{DnsError, DnsResolver, settings};
use crate::envelope::{AuthStamp, Envelope};

/// All DNSBL look-ups of one client together must answer within this (postscreen waits 10 s; a
/// client waiting for our greeting should not wait that long for a list that is down).
const DNSBL_TIMEOUT: Duration = Duration::from_secs(5);

/// Per-query timeout of the end-of-data checks' look-ups (they run side by side).
const CHECK_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Header fields the ARC-Message-Signature covers (those a sender's DKIM signature usually covers).
const ARC_SIGNED_HEADERS: [&str; 14] = [
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "DKIM-Signature",
    "Sender",
];

/// Why the checker could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum CheckSetupError {
    #[error("resolver for the sender checks: {0}")]
    Resolver(#[from] DnsError),
    #[error("[arc] key_file {path}: {reason}")]
    ArcKey { path: String, reason: String },
}

/// The end-of-data outcome: refuse with `refusal`, or commit with `stamp`.
#[derive(Debug)]
pub struct Judgement {
    pub refusal: Option<Reply>,
    pub stamp: Option<AuthStamp>,
}

/// What the checks refused since start, for the dashboard.
#[derive(Debug, Default)]
struct Refused {
    clients_dnsbl: AtomicU64,
    messages_spf: AtomicU64,
    messages_dmarc: AtomicU64,
    deferred: AtomicU64,
}

/// One line of the dashboard's refusal counts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RefusedCount {
    /// `dnsbl`, `spf`, `dmarc`, or `temporary` (451 under enforce).
    pub check: &'static str,
    /// `clients` (refused at connect) or `messages`.
    pub what: &'static str,
    pub count: u64,
}

/// Shared by all SMTP sessions.
pub struct SenderChecker {
    refused: Refused,
    /// Every configured domain has `sender_checks = "off"`: no copy of the message is kept.
    all_off: bool,
    hostname: String,
    config: ChecksConfig,
    resolver: DnsResolver,
    authenticator: MessageAuthenticator,
    cache: Mutex<VerdictCache>,
    sealer: Option<Sealer>,
}

impl SenderChecker {
    pub fn new(config: &Config) -> Result<SenderChecker, CheckSetupError> {
        let resolver = DnsResolver::new(&config.dns)?;
        let (resolver_config, mut options, _) = settings(&config.dns)?;
        // A sender waits for our end-of-data reply while these run: one quick try per server
        // (a temporary error is tagged, or deferred under enforce, never waited out).
        options.timeout = CHECK_QUERY_TIMEOUT;
        options.attempts = 1;
        let authenticator = MessageAuthenticator::new(resolver_config, options)
            .map_err(|e| DnsError::Setup(e.to_string()))?;
        let sealer = match &config.checks.arc {
            None => None,
            Some(arc) => Some(Sealer::load(arc, &ARC_SIGNED_HEADERS).map_err(|reason| {
                CheckSetupError::ArcKey {
                    path: arc.key_file.display().to_string(),
                    reason,
                }
            })?),
        };
        if let Some(sealer) = &sealer {
            tracing::info!(algorithm = sealer.algorithm(), "ARC sealing on");
        }
        let all_off = config
            .domains
            .iter()
            .all(|d| config.checks.sender_checks_for(&d.name) == SenderChecks::Off);
        Ok(SenderChecker {
            refused: Refused::default(),
            all_off,
            hostname: config.hostname.clone(),
            config: config.checks.clone(),
            resolver,
            authenticator,
            cache: Mutex::new(VerdictCache::default()),
            sealer,
        })
    }

    /// The client is in `[checks] allow`: never DNSBL-checked, never refused by the checks.
    pub fn is_allowed(&self, ip: IpAddr) -> bool {
        self.config.allow.iter().any(|net| net.contains(&ip))
    }

    /// Bytes of a message kept in memory for DKIM, DMARC and ARC (0 when nothing would use them).
    pub fn capture_limit(&self) -> u64 {
        if self.all_off && self.sealer.is_none() {
            0
        } else {
            self.config.max_verify_size
        }
    }

    /// Clients and messages refused per check since start.
    pub fn refused_counts(&self) -> Vec<RefusedCount> {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let r = &self.refused;
        vec![
            RefusedCount {
                check: "dnsbl",
                what: "clients",
                count: read(&r.clients_dnsbl),
            },
            RefusedCount {
                check: "spf",
                what: "messages",
                count: read(&r.messages_spf),
            },
            RefusedCount {
                check: "dmarc",
                what: "messages",
                count: read(&r.messages_dmarc),
            },
            RefusedCount {
                check: "temporary",
                what: "messages",
                count: read(&r.deferred),
            },
        ]
    }

    /// Our authserv-id (the hostname).
    pub fn authserv_id(&self) -> &str {
        &self.hostname
    }

    /// The DNSBL screen: the 554 to send instead of the greeting when the client's score reaches
    /// the threshold (`None` to go on), and the result kept with its messages (`pass`, `allowed`,
    /// `temperror`; `skipped` without lists or for a client in `[checks] allow`).
    pub async fn screen(&self, ip: IpAddr) -> (Option<Reply>, &'static str) {
        if self.config.dnsbl.is_empty() || self.is_allowed(ip) {
            return (None, "skipped");
        }
        let ip = ip.to_canonical();
        let cached = self.lock_cache().get(ip, Instant::now()).cloned();
        let verdict = match cached {
            Some(verdict) => verdict,
            None => {
                let verdict = self.look_up(ip).await;
                self.lock_cache().put(ip, &verdict, Instant::now());
                verdict
            }
        };
        count("dnsbl", verdict.result());
        if !verdict.refuse {
            return (None, verdict.result());
        }
        tracing::info!(client = %ip, lists = %verdict.listed.join(", "), score = verdict.score,
            "client refused: listed in DNSBL");
        let refusal = Reply::new(
            554,
            EnhancedCode(5, 7, 1),
            format!(
                "Service unavailable; client [{ip}] blocked using {}",
                verdict.listed.join(", ")
            ),
        );
        self.refused.clients_dnsbl.fetch_add(1, Ordering::Relaxed);
        (Some(refusal), verdict.result())
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, VerdictCache> {
        // A panic while holding the lock leaves a cache that is still consistent.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn look_up(&self, ip: IpAddr) -> DnsblVerdict {
        let mut tasks = tokio::task::JoinSet::new();
        for (index, list) in self.config.dnsbl.iter().enumerate() {
            let resolver = self.resolver.clone();
            let name = dnsbl::query_name(ip, &list.zone);
            tasks.spawn(async move {
                let answer =
                    tokio::time::timeout(DNSBL_TIMEOUT, resolver.lookup_a_with_ttl(&name)).await;
                let answer = match answer {
                    Ok(Ok((codes, ttl))) if codes.is_empty() => ZoneAnswer::NotListed { ttl },
                    Ok(Ok((codes, ttl))) => ZoneAnswer::Listed { codes, ttl },
                    Ok(Err(error)) => ZoneAnswer::Failed {
                        reason: error.to_string(),
                    },
                    Err(_) => ZoneAnswer::Failed {
                        reason: format!("no answer within {DNSBL_TIMEOUT:?}"),
                    },
                };
                (index, answer)
            });
        }
        let mut answers = vec![
            ZoneAnswer::Failed {
                reason: "look-up did not finish".into()
            };
            self.config.dnsbl.len()
        ];
        while let Some(joined) = tasks.join_next().await {
            if let Ok((index, answer)) = joined {
                answers[index] = answer;
            }
        }
        for (list, answer) in self.config.dnsbl.iter().zip(&answers) {
            if let ZoneAnswer::Failed { reason } = answer {
                // Fail open: the client is not refused for a list that cannot be asked.
                tracing::warn!(client = %ip, zone = %list.zone, %reason, "DNSBL look-up failed; not counted");
                metrics::counter!("backupmx_dnsbl_failures_total", "zone" => list.zone.clone())
                    .increment(1);
            }
        }
        dnsbl::score(&self.config.dnsbl, &answers, self.config.dnsbl_threshold)
    }

    /// Runs SPF, DKIM, DMARC and iprev on a received message and decides. `message`: the stored
    /// bytes (our Received field first) when within `max_verify_size`; `dnsbl`: the connection's
    /// screen result, kept with the message.
    pub async fn judge(
        &self,
        envelope: &Envelope,
        message: Option<&[u8]>,
        dnsbl: &str,
    ) -> Judgement {
        let mode = verdict::mode_for(envelope, &self.config);
        if mode == SenderChecks::Off {
            return Judgement {
                refusal: None,
                stamp: None,
            };
        }
        let ip = envelope.client_ip;
        let helo = envelope.helo.as_str();
        let host = self.hostname.as_str();
        let helo_is_name = !helo.is_empty() && !helo.starts_with('[') && helo.contains('.');
        let sender = envelope.sender.as_str();
        let parsed = message.and_then(AuthenticatedMessage::parse);
        // Independent look-ups side by side: the client waits for our reply meanwhile.
        let helo_check = async {
            match helo_is_name {
                true => Some(
                    self.authenticator
                        .verify_spf(Parameters::new(SpfParameters::verify_ehlo(ip, helo, host)))
                        .await,
                ),
                false => None,
            }
        };
        let mail_from_check = async {
            match sender.is_empty() {
                true => None,
                false => Some(
                    self.authenticator
                        .verify_spf(Parameters::new(SpfParameters::verify_mail_from(
                            ip, helo, host, sender,
                        )))
                        .await,
                ),
            }
        };
        let dkim_check = async {
            match &parsed {
                Some(parsed) => {
                    self.authenticator
                        .verify_dkim(Parameters::new(parsed))
                        .await
                }
                None => Vec::new(),
            }
        };
        let (spf_helo, spf_mail_from, iprev, dkim) = tokio::join!(
            helo_check,
            mail_from_check,
            self.authenticator.verify_iprev(Parameters::new(ip)),
            dkim_check,
        );
        // `<>`: the HELO identity stands for the MAIL FROM one (RFC 7208 §2.4).
        let spf_mail_from = match sender.is_empty() {
            true => spf_helo.clone(),
            false => spf_mail_from,
        };
        let mut results = AuthenticationResults::new(host);
        if let Some(spf) = &spf_helo {
            results = results.with_spf_ehlo_result(spf, ip, helo);
        }
        if let Some(spf) = &spf_mail_from
            && !envelope.sender.is_empty()
        {
            results = results.with_spf_mailfrom_result(spf, ip, &envelope.sender, helo);
        }
        let spf_outcome = spf_mail_from
            .as_ref()
            .map_or(Outcome::None, |s| spf_outcome(s.result()));
        let mut shown = vec![("spf".to_string(), spf_outcome.as_str().to_string())];
        let mut findings = Findings {
            spf: spf_outcome,
            dmarc: Outcome::None,
            dmarc_reject: false,
        };
        let mut arc_headers = String::new();
        match &parsed {
            Some(parsed) => {
                let from = parsed.from().to_string();
                results = results.with_dkim_results(&dkim, &from);
                let dkim_outcome = dkim_outcome(&dkim);
                shown.push(("dkim".into(), dkim_outcome.as_str().into()));
                let mail_from_domain = mail_from_domain(envelope);
                let spf_for_dmarc = spf_mail_from
                    .clone()
                    .unwrap_or_else(|| mail_auth::SpfOutput::new(mail_from_domain.clone()));
                let dmarc = self
                    .authenticator
                    .verify_dmarc(Parameters::new(DmarcParameters::new(
                        parsed,
                        &dkim,
                        &mail_from_domain,
                        &spf_for_dmarc,
                    )))
                    .await;
                if dmarc.dmarc_record().is_some() || dmarc.result() != DmarcResult::None {
                    results = results.with_dmarc_result(&dmarc);
                }
                findings.dmarc = dmarc_outcome(&dmarc.result());
                findings.dmarc_reject = dmarc.policy() == Policy::Reject;
                shown.push(("dmarc".into(), findings.dmarc.as_str().into()));
                results = results.with_iprev_result(&iprev, ip);
                if let Some(sealer) = &self.sealer {
                    let arc = self.authenticator.verify_arc(Parameters::new(parsed)).await;
                    match sealer.seal(parsed, &results, &arc) {
                        Ok(headers) => {
                            arc_headers = headers;
                            count("arc", "sealed");
                        }
                        Err(reason) => {
                            tracing::warn!(%reason, "message not ARC-sealed");
                            count("arc", "not_sealed");
                        }
                    }
                }
            }
            None => {
                // Too large to hold (or unparsable): DKIM and DMARC are not evaluated.
                results = results.with_iprev_result(&iprev, ip);
                shown.push(("dkim".into(), "neutral".into()));
                shown.push(("dmarc".into(), Outcome::Skipped.as_str().into()));
            }
        }
        shown.push(("iprev".into(), iprev_outcome(&iprev.result).into()));
        for (check, result) in &shown {
            count(check, result);
        }
        shown.push(("dnsbl".into(), dnsbl.into()));
        let allowed = self.is_allowed(ip);
        let refusal = verdict::decide(mode, allowed, &findings).map(|refusal| {
            count(refusal.check(), "refused");
            let counter = match refusal {
                verdict::Refusal::SpfFail => &self.refused.messages_spf,
                verdict::Refusal::DmarcReject => &self.refused.messages_dmarc,
                verdict::Refusal::SpfTemporary | verdict::Refusal::DmarcTemporary => {
                    &self.refused.deferred
                }
            };
            counter.fetch_add(1, Ordering::Relaxed);
            let domain = match refusal.check() {
                "spf" => mail_from_domain(envelope),
                _ => parsed
                    .as_ref()
                    .map_or_else(String::new, |p| domain_of(p.from())),
            };
            tracing::info!(client = %ip, sender = %envelope.sender, check = refusal.check(),
                "message refused by the sender checks");
            refusal.reply(&domain)
        });
        let mut prepend = arc_headers;
        prepend.push_str(&results.to_header());
        if parsed.is_none() && message.is_none() {
            // Say why DKIM was not looked at (RFC 8601 §2.7.1 neutral, with a reason).
            prepend = insert_size_note(prepend);
        }
        Judgement {
            refusal,
            stamp: Some(AuthStamp {
                prepend,
                results: shown,
            }),
        }
    }
}

/// Adds `dkim=neutral (too large to verify)` to the Authentication-Results field at the end.
fn insert_size_note(mut prepend: String) -> String {
    if prepend.ends_with("; none\r\n") {
        prepend.truncate(prepend.len() - "; none\r\n".len());
    } else {
        prepend.truncate(prepend.len() - 2);
    }
    prepend.push_str(";\r\n\tdkim=neutral reason=\"message too large to verify\"\r\n");
    prepend
}

fn mail_from_domain(envelope: &Envelope) -> String {
    match envelope.sender.rsplit_once('@') {
        Some((_, domain)) => domain.to_ascii_lowercase(),
        None => envelope.helo.to_ascii_lowercase(),
    }
}

fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map_or(address, |(_, d)| d)
        .to_ascii_lowercase()
}

fn spf_outcome(result: SpfResult) -> Outcome {
    match result {
        SpfResult::Pass => Outcome::Pass,
        SpfResult::Fail => Outcome::Fail,
        SpfResult::SoftFail => Outcome::SoftFail,
        SpfResult::Neutral => Outcome::Neutral,
        SpfResult::TempError => Outcome::TempError,
        SpfResult::PermError => Outcome::PermError,
        SpfResult::None => Outcome::None,
    }
}

/// The best DKIM result among the signatures (pass if any passes).
fn dkim_outcome(outputs: &[mail_auth::DkimOutput<'_>]) -> Outcome {
    let rank = |r: &DkimResult| match r {
        DkimResult::Pass => (0, Outcome::Pass),
        DkimResult::TempError(_) => (1, Outcome::TempError),
        DkimResult::Fail(_) => (2, Outcome::Fail),
        DkimResult::PermError(_) => (3, Outcome::PermError),
        DkimResult::Neutral(_) => (4, Outcome::Neutral),
        DkimResult::None => (5, Outcome::None),
    };
    outputs
        .iter()
        .map(|o| rank(o.result()))
        .min_by_key(|(r, _)| *r)
        .map_or(Outcome::None, |(_, o)| o)
}

fn dmarc_outcome(result: &DmarcResult) -> Outcome {
    match result {
        DmarcResult::Pass => Outcome::Pass,
        DmarcResult::Fail(_) => Outcome::Fail,
        DmarcResult::TempError(_) => Outcome::TempError,
        DmarcResult::PermError(_) => Outcome::PermError,
        DmarcResult::None => Outcome::None,
    }
}

fn iprev_outcome(result: &IprevResult) -> &'static str {
    match result {
        IprevResult::Pass => "pass",
        IprevResult::Fail(_) => "fail",
        IprevResult::TempError(_) => "temperror",
        IprevResult::PermError(_) => "permerror",
        IprevResult::None => "none",
    }
}

fn count(check: &str, result: &str) {
    metrics::counter!(
        "backupmx_sender_checks_total",
        "check" => check.to_string(),
        "result" => result.to_string()
    )
    .increment(1);
}
