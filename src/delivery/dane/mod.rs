//! DANE for SMTP (RFC 7672): the TLSA records of `_25._tcp.<host>` and whether they are
//! DNSSEC-validated. Two ways, by `[dns] dnssec`: `"resolver"` (the default), like Postfix and
//! Exim, asks the `[dns]` nameservers (which must be a validating resolver, e.g. a local unbound)
//! with the DO and AD bits set and trusts the AD bit of the answer (RFC 6840 §5.8); `"validate"`
//! validates the signatures itself from its trust anchors (`validate.rs`, hickory's validator).
//! The pure matching is in `matching.rs`.

pub mod matching;
mod validate;

use hickory_proto::rr::{RData, RecordType};

pub use matching::{Tlsa, chain_matches, ee_record};

use super::dns::{DnsError, DnsResolver};

/// The TLSA records of one name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsaAnswer {
    pub records: Vec<Tlsa>,
    /// The records are DNSSEC-validated (the resolver set the AD bit, or backupmx proved them
    /// secure itself, by `validator`).
    pub authenticated: bool,
    /// Who decided `authenticated`.
    pub validator: Validator,
}

/// Who validates DNSSEC (`[dns] dnssec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Validator {
    /// The `[dns]` resolver, through the AD bit of its answer.
    #[default]
    Resolver,
    /// backupmx itself, from its trust anchors.
    Backupmx,
}

impl Validator {
    /// How a validated answer was validated, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Validator::Resolver => "the resolver's AD bit",
            Validator::Backupmx => "validated by backupmx from its trust anchor",
        }
    }
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
/// (NXDOMAIN, no records) is `Ok` with no records. With `[dns] dnssec = "validate"`, an answer
/// that fails validation is [`DnsError::Bogus`].
pub async fn lookup_tlsa(resolver: &DnsResolver, host: &str) -> Result<TlsaAnswer, DnsError> {
    if let Some(validator) = resolver.validator() {
        return validate::lookup_tlsa(validator, &tlsa_name(host)).await;
    }
    let answer = super::raw_query::ask(resolver, &tlsa_name(host), RecordType::TLSA).await?;
    let records = answer.records.iter().filter_map(tlsa_of).collect();
    Ok(TlsaAnswer {
        records,
        authenticated: answer.authenticated,
        validator: Validator::Resolver,
    })
}

/// A TLSA record's fields, if `data` is one.
fn tlsa_of(data: &RData) -> Option<Tlsa> {
    match data {
        RData::TLSA(tlsa) => Some(Tlsa {
            usage: tlsa.cert_usage.into(),
            selector: tlsa.selector.into(),
            matching: tlsa.matching.into(),
            data: tlsa.cert_data.clone(),
        }),
        _ => None,
    }
}
