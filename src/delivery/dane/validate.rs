//! TLSA records validated by backupmx itself (`[dns] dnssec = "validate"`): the look-up goes
//! through hickory's validating resolver, which checks every RRSIG up to the configured trust
//! anchor, and the proofs it attaches decide (RFC 4035 §4.3): secure records are authenticated,
//! insecure ones (a zone proven unsigned) are not, and bogus or indeterminate ones are not to be
//! used at all ([`DnsError::Bogus`]): RFC 7672 §2.1.1 forbids connecting to such a host.

use hickory_resolver::TokioResolver;
use hickory_resolver::net::{DnsError as Proto, NetError};
use hickory_resolver::proto::dnssec::Proof;
use hickory_resolver::proto::rr::RecordType;

use super::{TlsaAnswer, Validator, tlsa_of};
use crate::delivery::dns::{DnsError, classify, fqdn};

/// What a validated RRset's proofs say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Validation {
    Secure,
    Insecure,
    /// Bogus or indeterminate, named.
    Failed(&'static str),
}

/// The RRset is only as good as its worst record; no records (a proven denial) is secure.
fn judge(proofs: impl IntoIterator<Item = Proof>) -> Validation {
    let mut verdict = Validation::Secure;
    for proof in proofs {
        match proof {
            Proof::Secure => {}
            Proof::Insecure => verdict = Validation::Insecure,
            Proof::Bogus => return Validation::Failed("bogus"),
            Proof::Indeterminate => return Validation::Failed("indeterminate"),
        }
    }
    verdict
}

/// The TLSA records of `name` (`_25._tcp.<host>`), validated.
pub(super) async fn lookup_tlsa(
    validator: &TokioResolver,
    name: &str,
) -> Result<TlsaAnswer, DnsError> {
    let bogus = |reason: &str| DnsError::Bogus {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    let lookup = match validator.lookup(fqdn(name)?, RecordType::TLSA).await {
        Ok(lookup) => lookup,
        Err(NetError::Dns(Proto::DnssecBogus)) => {
            return Err(bogus(
                "bogus: no chain of valid signatures from the trust anchor",
            ));
        }
        Err(NetError::Dns(Proto::Nsec { proof, .. })) if !proof.is_secure() => {
            return Err(bogus(&format!("the denial of existence is {proof}")));
        }
        Err(error) => {
            return match classify(name, "TLSA", &error) {
                // A validated "no such record": no DANE, nothing to validate.
                DnsError::NxDomain { .. } | DnsError::NoData { .. } => Ok(TlsaAnswer {
                    validator: Validator::Backupmx,
                    ..TlsaAnswer::default()
                }),
                other => Err(other),
            };
        }
    };
    let tlsa: Vec<_> = lookup
        .answers()
        .iter()
        .filter(|record| record.record_type() == RecordType::TLSA)
        .collect();
    let authenticated = match judge(tlsa.iter().map(|record| record.proof)) {
        Validation::Secure => !tlsa.is_empty(),
        Validation::Insecure => false,
        Validation::Failed(why) => return Err(bogus(why)),
    };
    Ok(TlsaAnswer {
        records: tlsa
            .iter()
            .filter_map(|record| tlsa_of(&record.data))
            .collect(),
        authenticated,
        validator: Validator::Backupmx,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_proof_decides() {
        assert_eq!(judge([]), Validation::Secure);
        assert_eq!(judge([Proof::Secure, Proof::Secure]), Validation::Secure);
        assert_eq!(
            judge([Proof::Secure, Proof::Insecure]),
            Validation::Insecure
        );
        assert_eq!(
            judge([Proof::Insecure, Proof::Bogus]),
            Validation::Failed("bogus")
        );
        assert_eq!(
            judge([Proof::Secure, Proof::Indeterminate]),
            Validation::Failed("indeterminate")
        );
    }
}
