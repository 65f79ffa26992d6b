//! DANE for SMTP (RFC 7672): the TLSA records of `_25._tcp.<host>` and whether they are
//! DNSSEC-validated. Like Postfix and Exim, backupmx does not validate DNSSEC itself: it asks the
//! nameservers of `[dns]` (which must be a validating resolver, e.g. a local unbound) with the DO
//! and AD bits set and trusts the AD bit of the answer (RFC 6840 §5.8). The pure matching is in
//! `matching.rs`.

pub mod matching;

use hickory_proto::rr::{RData, RecordType};

pub use matching::{Tlsa, chain_matches, ee_record};

use super::dns::{DnsError, DnsResolver};

/// The TLSA records of one name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsaAnswer {
    pub records: Vec<Tlsa>,
    /// The resolver set the AD bit: the records are DNSSEC-validated.
    pub authenticated: bool,
}

impl TlsaAnswer {
    /// DANE applies: validated records, at least one usable (RFC 7672 §2.2).
    pub fn applies(&self) -> bool {
        self.authenticated && self.records.iter().any(Tlsa::is_usable)
    }
}

/// `_25._tcp.<host>`, the TLSA name of an SMTP server on port 25.
pub fn tlsa_name(host: &str) -> String {
    format!("_25._tcp.{}", host.trim_end_matches('.'))
}

/// Looks up the TLSA records of `_25._tcp.<host>` at the resolver's nameservers; an empty answer
/// (NXDOMAIN, no records) is `Ok` with no records.
pub async fn lookup_tlsa(resolver: &DnsResolver, host: &str) -> Result<TlsaAnswer, DnsError> {
    let answer = super::raw_query::ask(resolver, &tlsa_name(host), RecordType::TLSA).await?;
    let records = answer
        .records
        .iter()
        .filter_map(|data| match data {
            RData::TLSA(tlsa) => Some(Tlsa {
                usage: tlsa.cert_usage.into(),
                selector: tlsa.selector.into(),
                matching: tlsa.matching.into(),
                data: tlsa.cert_data.clone(),
            }),
            _ => None,
        })
        .collect();
    Ok(TlsaAnswer {
        records,
        authenticated: answer.authenticated,
    })
}
