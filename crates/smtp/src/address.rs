//! Mailbox addresses (RFC 5321 §4.1.2, RFC 6531): parsing, normalisation, and refusal of relay tricks.

/// Why an address is refused. Each maps to an SMTP reply in the daemon (syntax → 501 5.1.3 / 553 5.1.3,
/// relay tricks → 550 5.7.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("address syntax error")]
    Syntax,
    #[error("address too long")]
    TooLong,
    #[error("source routes are not accepted")]
    SourceRoute,
    #[error("'%' in the local part is not accepted")]
    PercentHack,
    #[error("'!' bang paths are not accepted")]
    BangPath,
    #[error("'@' inside a quoted local part is not accepted")]
    QuotedAt,
    #[error("address literals are not accepted")]
    IpLiteral,
}

impl AddressError {
    /// True for relay tricks (a foreign destination hidden in an address): refused with 550 5.7.1.
    pub fn is_relay_trick(&self) -> bool {
        todo!()
    }
}

/// A mailbox `local@domain` as received on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    /// The local part exactly as written, quotes included when it was quoted (`"john doe"`).
    pub local_part: String,
    /// The domain as written (may contain UTF-8 with SMTPUTF8, may end with a dot).
    pub domain: String,
}

impl Mailbox {
    /// Parses `local@domain` (no angle brackets). Strict: refuses relay tricks (source routes are
    /// handled by the path parser), IP literals, and any syntax error.
    pub fn parse(text: &str) -> Result<Mailbox, AddressError> {
        let _ = text;
        todo!()
    }

    /// The domain lower-cased, trailing dot removed: the key for relay-domain look-ups.
    pub fn domain_key(&self) -> String {
        todo!()
    }

    /// `local@domain` as it goes on the wire again (quotes preserved).
    pub fn to_wire(&self) -> String {
        format!("{}@{}", self.local_part, self.domain)
    }
}
