//! `tls = "auto"`: each MX host of the primary gets the TLS its domain publishes. DANE (RFC 7672)
//! when the host's TLSA records are DNSSEC-validated and usable; else MTA-STS (RFC 8461) when the
//! domain's policy is in `enforce` mode (the host must be listed and its certificate valid for its
//! name); else opportunistic. A host the policy forbids, or whose TLSA look-up failed, is skipped
//! with the reason, and the mail is deferred if no host is left: never sent in clear. The choice
//! is the pure [`host_tls`].

use std::net::SocketAddr;

use super::client::{ClientError, Connection, TlsPolicy};
use super::dane::{self, Tlsa, TlsaAnswer};
use super::mta_sts::{Mode, Policy};
use super::{ConnectError, Deliverer, DnsError, FailedAttempt, Host, open};

/// The TLS one MX host gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostTls {
    /// Required TLS, the certificate matched against these records.
    Dane(Vec<Tlsa>),
    /// Required TLS, the certificate verified for the host's name (MTA-STS enforce).
    Verified,
    /// STARTTLS when offered, any certificate, clear text after a failed handshake.
    Opportunistic,
    /// Not to be used; the reason is recorded as the attempt's error.
    Refused(String),
}

/// RFC 7672 §2.2 and RFC 8461 §2 (DANE first, then MTA-STS). `tlsa` is the host's TLSA answer.
/// A failed TLSA look-up counts as no DANE (and is logged by the caller): RFC 7672 §2.2.1 would
/// make the host unusable, but only for an MX answer that was itself DNSSEC-validated, which
/// backupmx cannot tell (hickory's resolver hides the AD bit of the MX answer), and a resolver that
/// fails unknown record types would otherwise stop all mail. A TLSA answer that backupmx itself
/// found bogus (`[dns] dnssec = "validate"`) is different: the host is refused.
pub fn host_tls(
    host: &str,
    tlsa: &Result<TlsaAnswer, DnsError>,
    policy: Option<&Policy>,
) -> HostTls {
    match tlsa {
        Ok(answer) if answer.applies() => {
            return HostTls::Dane(
                answer
                    .records
                    .iter()
                    .filter(|r| r.is_usable())
                    .cloned()
                    .collect(),
            );
        }
        Ok(answer) if answer.authenticated && !answer.records.is_empty() => {
            // Validated but none usable: RFC 7672 §2.2 says encrypt without authentication.
            return HostTls::Opportunistic;
        }
        Err(error @ DnsError::Bogus { .. }) => {
            // Known bad (our own validation): RFC 7672 §2.1.1, do not connect; neither MTA-STS
            // nor clear text may stand in, the mail waits.
            return HostTls::Refused(format!("DANE: {error}: not delivering to {host}"));
        }
        Ok(_) | Err(_) => {}
    }
    match policy {
        Some(policy) if policy.mode == Mode::Enforce => {
            if policy.allows(host) {
                HostTls::Verified
            } else {
                HostTls::Refused(format!(
                    "MTA-STS: {host} is not an mx of the domain's enforce policy ({})",
                    policy.mx.join(", ")
                ))
            }
        }
        _ => HostTls::Opportunistic,
    }
}

impl Deliverer {
    /// [`Deliverer::connect_for`] under `tls = "auto"` with MX routing.
    pub(super) async fn connect_auto(
        &self,
        domain: &str,
        hosts: &[Host],
    ) -> Result<Connection, ConnectError> {
        let policy = self.mta_sts().policy_for(domain).await;
        let mut attempts = Vec::new();
        for host in hosts {
            let tlsa = dane::lookup_tlsa(self.resolver(), &host.name).await;
            if let Err(error) = &tlsa
                && !matches!(error, DnsError::Bogus { .. })
            {
                tracing::warn!(%domain, host = %host.name, %error, "TLSA look-up failed; DANE not applied");
            }
            let client = match host_tls(&host.name, &tlsa, policy.as_ref()) {
                HostTls::Dane(records) => match self.client_config().with_dane(records) {
                    Ok(client) => client,
                    Err(error) => {
                        attempts.push(refused(host, error));
                        continue;
                    }
                },
                HostTls::Verified => self.client_config().with_tls(TlsPolicy::Require),
                HostTls::Opportunistic => self.client_config().with_tls(TlsPolicy::Opportunistic),
                HostTls::Refused(reason) => {
                    tracing::warn!(%domain, host = %host.name, %reason, "MX host skipped by the TLS policy");
                    attempts.push(refused(host, ClientError::TlsPolicy(reason)));
                    continue;
                }
            };
            match super::first_answering(std::slice::from_ref(host), |addr: SocketAddr, name| {
                let client = &client;
                async move { open(addr, &name, client).await }
            })
            .await
            {
                Ok(connection) => return Ok(connection),
                Err(failed) => attempts.extend(failed.attempts),
            }
        }
        Err(ConnectError { attempts })
    }
}

fn refused(host: &Host, error: ClientError) -> FailedAttempt {
    FailedAttempt {
        host: host.name.clone(),
        addr: host.sockets().next(),
        error: Some(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn policy(mode: Mode) -> Policy {
        Policy {
            mode,
            mx: vec!["mail.example.com".into()],
            max_age: Duration::from_secs(60),
        }
    }

    fn record(usage: u8) -> Tlsa {
        Tlsa {
            usage,
            selector: 1,
            matching: 1,
            data: vec![1; 32],
        }
    }

    fn answer(records: Vec<Tlsa>, authenticated: bool) -> Result<TlsaAnswer, DnsError> {
        Ok(TlsaAnswer {
            records,
            authenticated,
            ..TlsaAnswer::default()
        })
    }

    #[test]
    fn validated_usable_tlsa_records_mean_dane_whatever_the_policy() {
        let tlsa = answer(vec![record(3), record(1)], true);
        for p in [None, Some(policy(Mode::Enforce))] {
            assert_eq!(
                host_tls("other.example.com", &tlsa, p.as_ref()),
                HostTls::Dane(vec![record(3)])
            );
        }
    }

    #[test]
    fn unvalidated_or_unusable_records_do_not_mean_dane() {
        let unsigned = answer(vec![record(3)], false);
        assert_eq!(
            host_tls("mail.example.com", &unsigned, None),
            HostTls::Opportunistic
        );
        let pkix_only = answer(vec![record(1)], true);
        assert_eq!(
            host_tls("mail.example.com", &pkix_only, None),
            HostTls::Opportunistic
        );
    }

    #[test]
    fn an_enforce_policy_requires_a_listed_host_and_a_valid_certificate() {
        let none = answer(vec![], false);
        let enforce = policy(Mode::Enforce);
        assert_eq!(
            host_tls("mail.example.com", &none, Some(&enforce)),
            HostTls::Verified
        );
        let refused = host_tls("evil.example.org", &none, Some(&enforce));
        assert!(
            matches!(&refused, HostTls::Refused(r) if r.contains("not an mx")),
            "{refused:?}"
        );
        for mode in [Mode::Testing, Mode::None] {
            assert_eq!(
                host_tls("evil.example.org", &none, Some(&policy(mode))),
                HostTls::Opportunistic
            );
        }
    }

    #[test]
    fn a_failed_tlsa_look_up_means_no_dane() {
        let servfail = Err(DnsError::Temporary {
            name: "_25._tcp.mail.example.com".into(),
            reason: "SERVFAIL".into(),
        });
        assert_eq!(
            host_tls("mail.example.com", &servfail, None),
            HostTls::Opportunistic
        );
        let enforce = policy(Mode::Enforce);
        assert_eq!(
            host_tls("mail.example.com", &servfail, Some(&enforce)),
            HostTls::Verified
        );
        let nx = Err(DnsError::NxDomain {
            name: "_25._tcp.mail.example.com".into(),
        });
        assert_eq!(
            host_tls("mail.example.com", &nx, None),
            HostTls::Opportunistic
        );
    }

    #[test]
    fn a_bogus_tlsa_answer_refuses_the_host_whatever_the_policy() {
        let bogus = Err(DnsError::Bogus {
            name: "_25._tcp.mail.example.com".into(),
            reason: "bogus".into(),
        });
        for p in [
            None,
            Some(policy(Mode::Enforce)),
            Some(policy(Mode::Testing)),
        ] {
            let tls = host_tls("mail.example.com", &bogus, p.as_ref());
            assert!(
                matches!(&tls, HostTls::Refused(r) if r.contains("DNSSEC validation failed")),
                "{tls:?}"
            );
        }
    }
}
