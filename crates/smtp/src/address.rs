//! Mailbox addresses (RFC 5321 §4.1.2, RFC 6531): parsing, normalisation, and refusal of relay tricks.

/// Longest local part in octets (RFC 5321 §4.5.3.1.1).
const MAX_LOCAL_PART: usize = 64;
/// Longest domain in octets (RFC 5321 §4.5.3.1.2).
const MAX_DOMAIN: usize = 255;
/// Longest `local@domain` in octets (the 256-octet path limit minus the angle brackets).
const MAX_MAILBOX: usize = 254;
/// Longest domain label in octets (RFC 1035).
const MAX_LABEL: usize = 63;

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
        matches!(
            self,
            AddressError::SourceRoute
                | AddressError::PercentHack
                | AddressError::BangPath
                | AddressError::QuotedAt
                | AddressError::IpLiteral
        )
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
        let (local_part, rest) = split_local_part(text)?;
        let domain = rest.strip_prefix('@').ok_or(AddressError::Syntax)?;
        check_domain(domain, DomainRules::Mailbox)?;
        if local_part.len() > MAX_LOCAL_PART || text.len() > MAX_MAILBOX {
            return Err(AddressError::TooLong);
        }
        Ok(Mailbox {
            local_part: local_part.to_owned(),
            domain: domain.to_owned(),
        })
    }

    /// The domain lower-cased, trailing dot removed: the key for relay-domain look-ups.
    pub fn domain_key(&self) -> String {
        self.domain
            .strip_suffix('.')
            .unwrap_or(&self.domain)
            .to_ascii_lowercase()
    }

    /// `local@domain` as it goes on the wire again (quotes preserved).
    pub fn to_wire(&self) -> String {
        format!("{}@{}", self.local_part, self.domain)
    }

    /// True when the address is pure ASCII (otherwise it needs SMTPUTF8, RFC 6531).
    pub fn is_ascii(&self) -> bool {
        self.local_part.is_ascii() && self.domain.is_ascii()
    }
}

/// How strict a domain check is: mailbox domains follow RFC 5321 exactly; EHLO names tolerate the
/// underscores that misconfigured but legitimate hosts announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DomainRules {
    Mailbox,
    HeloName,
}

/// Splits `text` into the local part (quotes kept) and the rest, which starts at the `@` if well formed.
fn split_local_part(text: &str) -> Result<(&str, &str), AddressError> {
    if text.starts_with('"') {
        split_quoted(text)
    } else {
        let end = text.find('@').ok_or(AddressError::Syntax)?;
        check_dot_string(&text[..end])?;
        Ok(text.split_at(end))
    }
}

/// A quoted-string local part (RFC 5321 `Quoted-string`, UTF-8 allowed). `@`, `%` and `!` inside the
/// quotes are refused: the primary may unquote the local part and route on them.
fn split_quoted(text: &str) -> Result<(&str, &str), AddressError> {
    let mut chars = text.char_indices().skip(1);
    while let Some((index, c)) = chars.next() {
        let content = match c {
            '"' => return Ok(text.split_at(index + 1)),
            '\\' => chars
                .next()
                .map(|(_, escaped)| escaped)
                .ok_or(AddressError::Syntax)?,
            other => other,
        };
        check_quoted_char(content)?;
    }
    Err(AddressError::Syntax)
}

fn check_quoted_char(c: char) -> Result<(), AddressError> {
    match c {
        '@' => Err(AddressError::QuotedAt),
        '%' => Err(AddressError::PercentHack),
        '!' => Err(AddressError::BangPath),
        c if c.is_control() => Err(AddressError::Syntax),
        _ => Ok(()),
    }
}

/// A dot-string local part: atoms of atext (or UTF-8) separated by single dots.
fn check_dot_string(local: &str) -> Result<(), AddressError> {
    if local.contains('%') {
        return Err(AddressError::PercentHack);
    }
    if local.contains('!') {
        return Err(AddressError::BangPath);
    }
    let well_formed = local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(is_atext));
    if well_formed {
        Ok(())
    } else {
        Err(AddressError::Syntax)
    }
}

/// RFC 5322 atext, extended with non-ASCII characters by RFC 6531.
fn is_atext(c: char) -> bool {
    match c {
        'a'..='z' | 'A'..='Z' | '0'..='9' => true,
        '!' | '#' | '$' | '%' | '&' | '\'' | '*' | '+' | '-' | '/' | '=' | '?' | '^' | '_'
        | '`' => true,
        '{' | '|' | '}' | '~' => true,
        c => !c.is_ascii() && !c.is_control() && !c.is_whitespace(),
    }
}

/// Checks a domain (one trailing dot tolerated). Address literals are refused as [`AddressError::IpLiteral`].
pub(crate) fn check_domain(domain: &str, rules: DomainRules) -> Result<(), AddressError> {
    if domain.starts_with('[') {
        return Err(AddressError::IpLiteral);
    }
    let body = domain.strip_suffix('.').unwrap_or(domain);
    if body.len() > MAX_DOMAIN {
        return Err(AddressError::TooLong);
    }
    if body.is_empty() || !body.split('.').all(|label| is_label(label, rules)) {
        return Err(AddressError::Syntax);
    }
    Ok(())
}

/// A label of letters, digits and inner hyphens (or UTF-8, for internationalised domains).
fn is_label(label: &str, rules: DomainRules) -> bool {
    let allowed = |c: char| {
        c.is_ascii_alphanumeric()
            || c == '-'
            || (c == '_' && rules == DomainRules::HeloName)
            || (!c.is_ascii() && !c.is_control() && !c.is_whitespace())
    };
    !label.is_empty()
        && label.len() <= MAX_LABEL
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label.chars().all(allowed)
}

#[cfg(test)]
mod tests;
