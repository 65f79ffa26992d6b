//! Typed errors of recipient validation, each knowing its SMTP reply, enhanced code and whether it is
//! temporary: refusals of a RCPT, list-file errors, cache-file errors.

use std::path::PathBuf;

use backupmx_smtp::{EnhancedCode, Reply};

/// Why a RCPT is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecipientRefusal {
    /// The domain's list file does not name the address.
    #[error("{address}: not in the recipient list")]
    NotInList { address: String },
    /// The primary refused the address (callout or delivery), and the cache remembers it.
    #[error("{address}: known to be unknown at the primary")]
    KnownBad { address: String },
    /// The primary cannot be asked and the address is not in the cache (`unknown_when_down = "tempfail"`).
    #[error("{address}: cannot be verified now")]
    Unverifiable { address: String },
    /// Monitoring mode: the primary is up, so the sender must use it.
    #[error("{address}: the primary is up")]
    TryPrimary { address: String },
    /// What waits for the domain has reached its `max_messages` or `max_bytes`.
    #[error("{address}: the domain's quota is reached")]
    OverQuota { address: String },
}

impl RecipientRefusal {
    pub fn code(&self) -> (u16, EnhancedCode) {
        match self {
            RecipientRefusal::NotInList { .. } | RecipientRefusal::KnownBad { .. } => {
                (550, EnhancedCode(5, 1, 1))
            }
            RecipientRefusal::Unverifiable { .. } => (450, EnhancedCode(4, 1, 1)),
            RecipientRefusal::TryPrimary { .. } => (451, EnhancedCode(4, 7, 1)),
            // RFC 3463 4.2.2: mailbox full; here the domain's share of the spool.
            RecipientRefusal::OverQuota { .. } => (452, EnhancedCode(4, 2, 2)),
        }
    }

    pub fn smtp_reply(&self) -> Reply {
        let (code, enhanced) = self.code();
        let text = match self {
            RecipientRefusal::NotInList { .. } | RecipientRefusal::KnownBad { .. } => {
                "No such user here"
            }
            RecipientRefusal::Unverifiable { .. } => {
                "Recipient cannot be verified now, try again later"
            }
            RecipientRefusal::TryPrimary { .. } => {
                "Try the primary MX: this backup accepts mail only while it is down"
            }
            RecipientRefusal::OverQuota { .. } => {
                "Quota of this domain on the backup MX reached, try again later"
            }
        };
        Reply::new(code, enhanced, text)
    }

    pub fn is_temporary(&self) -> bool {
        self.code().0 < 500
    }
}

/// A recipient list file that cannot be used. Temporary for SMTP: a broken list never refuses mail.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("{file}:{line}: {message}")]
    Syntax {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ListError {
    pub fn smtp_reply(&self) -> Reply {
        Reply::new(451, EnhancedCode(4, 3, 0), "Recipient list unavailable")
    }
    pub fn is_temporary(&self) -> bool {
        true
    }
}

/// The persisted cache cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("recipient cache {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("recipient cache line {line}: {message}")]
    Format { line: usize, message: String },
}

impl CacheError {
    pub fn smtp_reply(&self) -> Reply {
        Reply::new(451, EnhancedCode(4, 3, 0), "Recipient cache unavailable")
    }
    pub fn is_temporary(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_codes() {
        let a = || "a@b.test".to_string();
        let cases = [
            (RecipientRefusal::NotInList { address: a() }, 550, "5.1.1"),
            (RecipientRefusal::KnownBad { address: a() }, 550, "5.1.1"),
            (
                RecipientRefusal::Unverifiable { address: a() },
                450,
                "4.1.1",
            ),
            (RecipientRefusal::TryPrimary { address: a() }, 451, "4.7.1"),
        ];
        for (refusal, code, enhanced) in cases {
            let reply = refusal.smtp_reply();
            assert_eq!(reply.code, code);
            assert_eq!(
                reply.enhanced.map(|e| e.to_string()).as_deref(),
                Some(enhanced)
            );
            assert_eq!(refusal.is_temporary(), code < 500);
        }
    }

    #[test]
    fn file_errors_are_temporary() {
        let list = ListError::Syntax {
            file: "l".into(),
            line: 3,
            message: "m".into(),
        };
        assert_eq!(list.to_string(), "l:3: m");
        assert!(list.is_temporary() && list.smtp_reply().code == 451);
        let cache = CacheError::Format {
            line: 1,
            message: "m".into(),
        };
        assert!(cache.is_temporary() && cache.smtp_reply().code == 451);
    }
}
