//! Pure examination of the inbound certificate: does its chain verify (trusted issuer, valid now,
//! valid for our MX name), when does it expire, who issued it. Time is an argument.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, Error};

/// Closer to expiry than this is a warning (issue 17).
pub const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);

/// Why the chain does not verify now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Expired,
    NotYetValid,
    WrongName,
    /// Not issued by a trusted CA (self-signed, private CA...).
    UntrustedIssuer,
    Other(String),
}

impl Problem {
    pub fn describe(&self, name: &str) -> String {
        match self {
            Problem::Expired => "it has expired".into(),
            Problem::NotYetValid => "it is not valid yet".into(),
            Problem::WrongName => format!("it is not valid for {name}"),
            Problem::UntrustedIssuer => {
                "its issuer is not a trusted CA (self-signed or a private CA)".into()
            }
            Problem::Other(text) => format!("it does not verify: {text}"),
        }
    }
}

/// What the checks need to know about the certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Examined {
    /// `Ok` when the chain verifies for the name now.
    pub verified: Result<(), Problem>,
    /// Seconds since the epoch of the leaf's notAfter.
    pub not_after: Option<u64>,
    /// The leaf's subject alternative DNS names.
    pub names: Vec<String>,
    /// The issuer's common name (or whole name).
    pub issuer: String,
}

/// Verifies `chain` for `name` at `now` with `verifier` (webpki: roots, dates, name).
pub fn examine(
    chain: &[CertificateDer<'static>],
    name: &str,
    verifier: &dyn ServerCertVerifier,
    now: SystemTime,
) -> Examined {
    let (not_after, names, issuer) = chain
        .first()
        .map_or((None, Vec::new(), String::new()), describe_leaf);
    let verified = match (chain.split_first(), ServerName::try_from(name.to_owned())) {
        (None, _) => Err(Problem::Other("the chain is empty".into())),
        (_, Err(e)) => Err(Problem::Other(format!("{name}: {e}"))),
        (Some((leaf, intermediates)), Ok(server)) => {
            let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
            verifier
                .verify_server_cert(
                    leaf,
                    intermediates,
                    &server,
                    &[],
                    UnixTime::since_unix_epoch(since),
                )
                .map(|_| ())
                .map_err(|e| classify(&e))
        }
    };
    Examined {
        verified,
        not_after,
        names,
        issuer,
    }
}

fn classify(error: &Error) -> Problem {
    match error {
        Error::InvalidCertificate(e) => match e {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => Problem::Expired,
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                Problem::NotYetValid
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                Problem::WrongName
            }
            CertificateError::UnknownIssuer => Problem::UntrustedIssuer,
            other => Problem::Other(format!("{other:?}")),
        },
        other => Problem::Other(other.to_string()),
    }
}

fn describe_leaf(leaf: &CertificateDer<'static>) -> (Option<u64>, Vec<String>, String) {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf.as_ref()) else {
        return (None, Vec::new(), String::new());
    };
    let not_after = u64::try_from(cert.validity().not_after.timestamp()).ok();
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for general in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(dns) = general {
                names.push(dns.to_string());
            }
        }
    }
    let issuer = cert
        .issuer()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok().map(str::to_owned))
        .unwrap_or_else(|| cert.issuer().to_string());
    (not_after, names, issuer)
}

/// `2026-12-31` for seconds since the epoch (civil date, UTC).
pub fn show_date(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(show_date(0), "1970-01-01");
        assert_eq!(show_date(951_782_400), "2000-02-29");
        assert_eq!(show_date(1_798_675_200), "2026-12-31");
    }
}
