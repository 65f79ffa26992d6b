//! SMTP commands (RFC 5321 §4.1, with the ESMTP parameters of SIZE, 8BITMIME, SMTPUTF8, DSN, CHUNKING).

use crate::address::{self, AddressError, DomainRules, Mailbox};

mod params;

/// A parsed command line. Addresses are already checked by [`Mailbox::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo {
        domain: String,
    },
    Helo {
        domain: String,
    },
    Mail {
        from: ReversePath,
        params: MailParams,
    },
    Rcpt {
        to: ForwardPath,
        params: RcptParams,
    },
    Data,
    Bdat {
        size: u64,
        last: bool,
    },
    Rset,
    Noop,
    Quit,
    Vrfy,
    Expn,
    Help,
    StartTls,
    Etrn {
        domain: String,
    },
    Auth,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReversePath {
    /// `<>`: bounces and other notifications.
    Null,
    Mailbox(Mailbox),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardPath {
    /// `<postmaster>` without a domain (RFC 5321 §4.5.1), any case.
    Postmaster,
    Mailbox(Mailbox),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyType {
    #[default]
    SevenBit,
    EightBitMime,
    BinaryMime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    Full,
    Headers,
}

/// DSN NOTIFY (RFC 3461 §4.1): `never` is all false.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Notify {
    pub success: bool,
    pub failure: bool,
    pub delay: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailParams {
    pub size: Option<u64>,
    pub body: Option<BodyType>,
    pub smtputf8: bool,
    pub ret: Option<Ret>,
    /// ENVID, xtext-decoded.
    pub envid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RcptParams {
    pub notify: Option<Notify>,
    /// ORCPT as `addr-type;address`, xtext-decoded (e.g. `rfc822;user@example.test`).
    pub orcpt: Option<String>,
}

/// Why a command line was not understood. The daemon maps each to its reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// 500 5.5.1
    #[error("command unrecognized")]
    UnknownCommand,
    /// 501 5.5.4 (arguments) / 501 5.5.2 (syntax)
    #[error("syntax error: {0}")]
    Syntax(&'static str),
    /// 555 5.5.4: a MAIL/RCPT parameter we do not know or did not advertise.
    #[error("unsupported parameter: {0}")]
    UnknownParameter(String),
    /// 501 5.1.3 / 553 5.1.3 / 550 5.7.1 (relay tricks), see [`AddressError::is_relay_trick`].
    #[error("bad address: {0}")]
    Address(#[from] AddressError),
}

/// Parses one command line, given without its CRLF. Verbs are case-insensitive.
pub fn parse_command(line: &[u8]) -> Result<Command, ParseError> {
    let text =
        std::str::from_utf8(line).map_err(|_| ParseError::Syntax("command line is not UTF-8"))?;
    if text.chars().any(char::is_control) {
        return Err(ParseError::Syntax("control character in command line"));
    }
    // Trailing spaces are common and harmless; extra spaces after the verb too.
    let text = text.trim_end_matches(' ');
    let (verb, arg) = match text.split_once(' ') {
        Some((verb, arg)) => (verb, Some(arg.trim_start_matches(' '))),
        None => (text, None),
    };
    parse_verb(verb, arg.filter(|arg| !arg.is_empty()))
}

fn parse_verb(verb: &str, arg: Option<&str>) -> Result<Command, ParseError> {
    let is = |name: &str| verb.eq_ignore_ascii_case(name);
    if is("MAIL") {
        parse_mail(arg)
    } else if is("RCPT") {
        parse_rcpt(arg)
    } else if is("EHLO") {
        Ok(Command::Ehlo {
            domain: helo_name(arg)?,
        })
    } else if is("HELO") {
        Ok(Command::Helo {
            domain: helo_name(arg)?,
        })
    } else if is("DATA") {
        without_argument(arg, Command::Data)
    } else if is("BDAT") {
        parse_bdat(arg)
    } else if is("RSET") {
        without_argument(arg, Command::Rset)
    } else if is("NOOP") {
        Ok(Command::Noop)
    } else if is("QUIT") {
        without_argument(arg, Command::Quit)
    } else if is("HELP") {
        Ok(Command::Help)
    } else if is("STARTTLS") {
        without_argument(arg, Command::StartTls)
    } else if is("VRFY") {
        required(arg).map(|_| Command::Vrfy)
    } else if is("EXPN") {
        required(arg).map(|_| Command::Expn)
    } else if is("ETRN") {
        Ok(Command::Etrn {
            domain: single_word(arg)?.to_owned(),
        })
    } else if is("AUTH") {
        // Not advertised: the daemon refuses it whatever the mechanism.
        Ok(Command::Auth)
    } else {
        Err(ParseError::UnknownCommand)
    }
}

fn without_argument(arg: Option<&str>, command: Command) -> Result<Command, ParseError> {
    match arg {
        None => Ok(command),
        Some(_) => Err(ParseError::Syntax("this command takes no argument")),
    }
}

fn required(arg: Option<&str>) -> Result<&str, ParseError> {
    arg.ok_or(ParseError::Syntax("argument required"))
}

fn single_word(arg: Option<&str>) -> Result<&str, ParseError> {
    let arg = required(arg)?;
    if arg.contains(' ') {
        return Err(ParseError::Syntax("exactly one argument expected"));
    }
    Ok(arg)
}

/// The EHLO/HELO argument: a domain or an address literal (RFC 5321 §4.1.1.1).
fn helo_name(arg: Option<&str>) -> Result<String, ParseError> {
    let name = single_word(arg).map_err(|_| ParseError::Syntax("EHLO/HELO needs one domain"))?;
    let valid = if let Some(literal) = name.strip_prefix('[') {
        is_address_literal(literal)
    } else {
        address::check_domain(name, DomainRules::HeloName).is_ok()
    };
    if valid {
        Ok(name.to_owned())
    } else {
        Err(ParseError::Syntax("invalid EHLO/HELO domain"))
    }
}

/// The inside of `[...]` plus the closing bracket: printable ASCII without brackets or backslash.
fn is_address_literal(rest: &str) -> bool {
    match rest.strip_suffix(']') {
        Some(inner) => {
            !inner.is_empty()
                && inner
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"[]\\".contains(&b))
        }
        None => false,
    }
}

fn parse_bdat(arg: Option<&str>) -> Result<Command, ParseError> {
    let mut words = required(arg)?.split(' ').filter(|w| !w.is_empty());
    let size = words
        .next()
        .and_then(params::parse_number)
        .ok_or(ParseError::Syntax("BDAT size"))?;
    let last = match words.next() {
        None => false,
        Some(word) if word.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return Err(ParseError::Syntax("BDAT <size> [LAST]")),
    };
    if words.next().is_some() {
        return Err(ParseError::Syntax("BDAT <size> [LAST]"));
    }
    Ok(Command::Bdat { size, last })
}

fn parse_mail(arg: Option<&str>) -> Result<Command, ParseError> {
    let (path, rest) = split_path(arg, "FROM:")?;
    let from = if path.is_empty() {
        ReversePath::Null
    } else {
        // RFC 5321 §4.1.1.2: a source route in a reverse path may be ignored.
        ReversePath::Mailbox(Mailbox::parse(strip_source_route(path)?)?)
    };
    Ok(Command::Mail {
        from,
        params: params::mail_params(rest)?,
    })
}

fn parse_rcpt(arg: Option<&str>) -> Result<Command, ParseError> {
    let (path, rest) = split_path(arg, "TO:")?;
    let to = if path.eq_ignore_ascii_case("postmaster") {
        ForwardPath::Postmaster
    } else if path.is_empty() {
        return Err(AddressError::Syntax.into());
    } else if path.starts_with('@') {
        return Err(AddressError::SourceRoute.into());
    } else {
        ForwardPath::Mailbox(Mailbox::parse(path)?)
    };
    Ok(Command::Rcpt {
        to,
        params: params::rcpt_params(rest)?,
    })
}

/// Splits `FROM:<path> params` into the path without its brackets and the parameter text.
fn split_path<'a>(arg: Option<&'a str>, keyword: &str) -> Result<(&'a str, &'a str), ParseError> {
    let arg = required(arg)?;
    let after = match arg.get(..keyword.len()) {
        Some(head) if head.eq_ignore_ascii_case(keyword) => &arg[keyword.len()..],
        _ => return Err(ParseError::Syntax("expected FROM:<path> or TO:<path>")),
    };
    // Some clients send `MAIL FROM: <a@b>`.
    let after = after.trim_start_matches(' ');
    let inside = after
        .strip_prefix('<')
        .ok_or(ParseError::Syntax("path must be in angle brackets"))?;
    let end = closing_bracket(inside).ok_or(ParseError::Syntax("unterminated path"))?;
    let rest = &inside[end + 1..];
    if !rest.is_empty() && !rest.starts_with(' ') {
        return Err(ParseError::Syntax("space expected after the path"));
    }
    Ok((&inside[..end], rest))
}

/// Position of the `>` ending a path, skipping any inside a quoted local part.
fn closing_bracket(inside: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (index, byte) in inside.bytes().enumerate() {
        match byte {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b'>' if !quoted => return Some(index),
            _ => {}
        }
    }
    None
}

/// Removes `@a,@b:` from the front of a reverse path, checking that it is a well-formed route.
fn strip_source_route(path: &str) -> Result<&str, ParseError> {
    if !path.starts_with('@') {
        return Ok(path);
    }
    let (route, mailbox) = path.split_once(':').ok_or(AddressError::Syntax)?;
    let hops_valid = route.split(',').all(|hop| {
        hop.strip_prefix('@')
            .is_some_and(|domain| address::check_domain(domain, DomainRules::Mailbox).is_ok())
    });
    if hops_valid {
        Ok(mailbox)
    } else {
        Err(AddressError::Syntax.into())
    }
}

#[cfg(test)]
mod tests;
