//! Pure DANE matching (RFC 6698, RFC 7672): which TLSA records are usable for SMTP and whether a
//! certificate chain matches one of them.

use rustls::pki_types::CertificateDer;

/// One TLSA record's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlsa {
    /// 2 = DANE-TA, 3 = DANE-EE (0 and 1, the PKIX usages, are unusable for SMTP: RFC 7672 §3.1.3).
    pub usage: u8,
    /// 0 = the whole certificate, 1 = its SubjectPublicKeyInfo.
    pub selector: u8,
    /// 0 = exact, 1 = SHA-256, 2 = SHA-512.
    pub matching: u8,
    pub data: Vec<u8>,
}

impl Tlsa {
    /// RFC 7672 §3.1: only DANE-TA(2) and DANE-EE(3) with a known selector and matching type.
    pub fn is_usable(&self) -> bool {
        matches!(self.usage, 2 | 3) && self.selector <= 1 && self.matching <= 2
    }

    /// The record in presentation form (`3 1 1 ab12...`), for messages.
    pub fn show(&self) -> String {
        let hex: String = self.data.iter().map(|b| format!("{b:02x}")).collect();
        format!("{} {} {} {hex}", self.usage, self.selector, self.matching)
    }
}

/// The bytes a record's selector picks from `cert`; `None` when the certificate does not parse.
fn selected(cert: &CertificateDer<'_>, selector: u8) -> Option<Vec<u8>> {
    match selector {
        0 => Some(cert.as_ref().to_vec()),
        1 => {
            let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
            Some(parsed.tbs_certificate.subject_pki.raw.to_vec())
        }
        _ => None,
    }
}

fn digest(matching: u8, bytes: &[u8]) -> Option<Vec<u8>> {
    match matching {
        0 => Some(bytes.to_vec()),
        1 => Some(
            ring::digest::digest(&ring::digest::SHA256, bytes)
                .as_ref()
                .to_vec(),
        ),
        2 => Some(
            ring::digest::digest(&ring::digest::SHA512, bytes)
                .as_ref()
                .to_vec(),
        ),
        _ => None,
    }
}

fn matches_cert(record: &Tlsa, cert: &CertificateDer<'_>) -> bool {
    selected(cert, record.selector)
        .and_then(|bytes| digest(record.matching, &bytes))
        .is_some_and(|value| value == record.data)
}

/// Whether `chain` (leaf first, as the server sends it) matches one usable record: DANE-EE against
/// the leaf, DANE-TA against a certificate after the leaf. Under DANE-EE neither the name nor the
/// dates of the certificate matter (RFC 7672 §3.1.1).
pub fn chain_matches(records: &[Tlsa], chain: &[CertificateDer<'_>]) -> bool {
    records
        .iter()
        .filter(|r| r.is_usable())
        .any(|r| match r.usage {
            3 => chain.first().is_some_and(|leaf| matches_cert(r, leaf)),
            _ => chain.iter().skip(1).any(|ca| matches_cert(r, ca)),
        })
}

/// The `3 1 1` record for a certificate (what an admin would publish for it).
pub fn ee_record(cert: &CertificateDer<'_>) -> Option<Tlsa> {
    let spki = selected(cert, 1)?;
    Some(Tlsa {
        usage: 3,
        selector: 1,
        matching: 1,
        data: digest(1, &spki)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(name: &str) -> CertificateDer<'static> {
        let certified = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        certified.cert.der().clone()
    }

    #[test]
    fn a_3_1_1_record_matches_its_own_leaf_only() {
        let ours = cert("mx2.example.net");
        let other = cert("mx2.example.net");
        let record = ee_record(&ours).unwrap();
        assert!(record.show().starts_with("3 1 1 "));
        assert!(chain_matches(
            std::slice::from_ref(&record),
            std::slice::from_ref(&ours)
        ));
        assert!(!chain_matches(
            std::slice::from_ref(&record),
            std::slice::from_ref(&other)
        ));
        // The same key in the CA position does not make a DANE-EE match.
        assert!(!chain_matches(&[record], &[other, ours]));
    }

    #[test]
    fn full_certificate_and_sha512_selectors_match() {
        let ours = cert("mx2.example.net");
        for (selector, matching) in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 2)] {
            let bytes = selected(&ours, selector).unwrap();
            let record = Tlsa {
                usage: 3,
                selector,
                matching,
                data: digest(matching, &bytes).unwrap(),
            };
            assert!(
                chain_matches(&[record], std::slice::from_ref(&ours)),
                "{selector} {matching}"
            );
        }
    }

    #[test]
    fn dane_ta_matches_an_issuer_in_the_chain_and_pkix_usages_are_unusable() {
        let leaf = cert("mx2.example.net");
        let ca = cert("ca.example.net");
        let mut record = ee_record(&ca).unwrap();
        record.usage = 2;
        assert!(chain_matches(
            std::slice::from_ref(&record),
            &[leaf.clone(), ca.clone()]
        ));
        assert!(!chain_matches(
            std::slice::from_ref(&record),
            std::slice::from_ref(&ca)
        ));
        for usage in [0, 1] {
            let pkix = Tlsa {
                usage,
                ..ee_record(&leaf).unwrap()
            };
            assert!(!pkix.is_usable());
            assert!(!chain_matches(&[pkix], std::slice::from_ref(&leaf)));
        }
    }
}
