//! ESMTP parameters of MAIL and RCPT (SIZE, BODY, SMTPUTF8, DSN's RET/ENVID/NOTIFY/ORCPT) and xtext.

use super::{BodyType, MailParams, Notify, ParseError, RcptParams, Ret};

/// RFC 3461 §4.4: ENVID is at most 100 characters (before decoding).
const MAX_ENVID: usize = 100;
/// RFC 3461 §4.2: ORCPT is at most 500 characters.
const MAX_ORCPT: usize = 500;

/// Parses the parameters after `MAIL FROM:<path>`.
pub(super) fn mail_params(text: &str) -> Result<MailParams, ParseError> {
    let mut params = MailParams::default();
    for (key, value) in split_params(text)? {
        if key.eq_ignore_ascii_case("SIZE") {
            let size = value
                .and_then(parse_number)
                .ok_or(ParseError::Syntax("SIZE=<number>"))?;
            set_once(&mut params.size, size)?;
        } else if key.eq_ignore_ascii_case("BODY") {
            set_once(&mut params.body, body_type(value)?)?;
        } else if key.eq_ignore_ascii_case("SMTPUTF8") {
            if value.is_some() || params.smtputf8 {
                return Err(ParseError::Syntax("SMTPUTF8 takes no value"));
            }
            params.smtputf8 = true;
        } else if key.eq_ignore_ascii_case("RET") {
            set_once(&mut params.ret, ret(value)?)?;
        } else if key.eq_ignore_ascii_case("ENVID") {
            let envid = value
                .filter(|v| v.len() <= MAX_ENVID)
                .and_then(decode_xtext)
                .ok_or(ParseError::Syntax("ENVID=<xtext>"))?;
            set_once(&mut params.envid, envid)?;
        } else {
            return Err(ParseError::UnknownParameter(key.to_owned()));
        }
    }
    Ok(params)
}

/// Parses the parameters after `RCPT TO:<path>`.
pub(super) fn rcpt_params(text: &str) -> Result<RcptParams, ParseError> {
    let mut params = RcptParams::default();
    for (key, value) in split_params(text)? {
        if key.eq_ignore_ascii_case("NOTIFY") {
            set_once(&mut params.notify, notify(value)?)?;
        } else if key.eq_ignore_ascii_case("ORCPT") {
            set_once(&mut params.orcpt, orcpt(value)?)?;
        } else {
            return Err(ParseError::UnknownParameter(key.to_owned()));
        }
    }
    Ok(params)
}

/// A decimal number without sign, as in SIZE and BDAT; None on overflow or any other character.
pub(super) fn parse_number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Splits `KEY=value KEY2` into pairs, checking the keyword syntax (RFC 5321 `esmtp-keyword`).
fn split_params(text: &str) -> Result<Vec<(&str, Option<&str>)>, ParseError> {
    text.split(' ')
        .filter(|word| !word.is_empty())
        .map(|word| {
            let (key, value) = match word.split_once('=') {
                Some((key, value)) => (key, Some(value)),
                None => (word, None),
            };
            let valid_key = key.starts_with(|c: char| c.is_ascii_alphanumeric())
                && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !valid_key || value == Some("") {
                return Err(ParseError::Syntax("malformed parameter"));
            }
            Ok((key, value))
        })
        .collect()
}

fn set_once<T>(slot: &mut Option<T>, value: T) -> Result<(), ParseError> {
    if slot.is_some() {
        return Err(ParseError::Syntax("duplicate parameter"));
    }
    *slot = Some(value);
    Ok(())
}

fn body_type(value: Option<&str>) -> Result<BodyType, ParseError> {
    let value = value.unwrap_or_default();
    if value.eq_ignore_ascii_case("7BIT") {
        Ok(BodyType::SevenBit)
    } else if value.eq_ignore_ascii_case("8BITMIME") {
        Ok(BodyType::EightBitMime)
    } else if value.eq_ignore_ascii_case("BINARYMIME") {
        Ok(BodyType::BinaryMime)
    } else {
        Err(ParseError::Syntax("BODY=7BIT|8BITMIME|BINARYMIME"))
    }
}

fn ret(value: Option<&str>) -> Result<Ret, ParseError> {
    let value = value.unwrap_or_default();
    if value.eq_ignore_ascii_case("FULL") {
        Ok(Ret::Full)
    } else if value.eq_ignore_ascii_case("HDRS") {
        Ok(Ret::Headers)
    } else {
        Err(ParseError::Syntax("RET=FULL|HDRS"))
    }
}

/// `NEVER`, or a comma list of `SUCCESS`, `FAILURE`, `DELAY` (RFC 3461 §4.1).
fn notify(value: Option<&str>) -> Result<Notify, ParseError> {
    const BAD: ParseError = ParseError::Syntax("NOTIFY=NEVER|SUCCESS,FAILURE,DELAY");
    let value = value.ok_or(BAD)?;
    if value.eq_ignore_ascii_case("NEVER") {
        return Ok(Notify::default());
    }
    let mut notify = Notify::default();
    for item in value.split(',') {
        let flag = if item.eq_ignore_ascii_case("SUCCESS") {
            &mut notify.success
        } else if item.eq_ignore_ascii_case("FAILURE") {
            &mut notify.failure
        } else if item.eq_ignore_ascii_case("DELAY") {
            &mut notify.delay
        } else {
            return Err(BAD);
        };
        *flag = true;
    }
    Ok(notify)
}

/// `addr-type;xtext` (RFC 3461 §4.2), returned as `addr-type;decoded`.
fn orcpt(value: Option<&str>) -> Result<String, ParseError> {
    const BAD: ParseError = ParseError::Syntax("ORCPT=addr-type;xtext");
    let value = value.filter(|v| v.len() <= MAX_ORCPT).ok_or(BAD)?;
    let (addr_type, address) = value.split_once(';').ok_or(BAD)?;
    let valid_type = !addr_type.is_empty()
        && addr_type
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let address = decode_xtext(address)
        .filter(|a| valid_type && !a.is_empty())
        .ok_or(BAD)?;
    Ok(format!("{addr_type};{address}"))
}

/// Decodes xtext (RFC 3461 §4): `+HH` is a hex-coded octet; `+` and `=` may not appear otherwise.
/// Non-ASCII characters pass through (RFC 6533 utf-8-addr-xtext). The result must be UTF-8 without
/// control characters, because it ends up in DSN headers.
fn decode_xtext(text: &str) -> Option<String> {
    let mut decoded = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(byte) = bytes.next() {
        match byte {
            b'+' => {
                let high = hex_value(bytes.next()?)?;
                let low = hex_value(bytes.next()?)?;
                decoded.push(high << 4 | low);
            }
            b'=' => return None,
            b'!'..=b'~' | 0x80.. => decoded.push(byte),
            _ => return None,
        }
    }
    let decoded = String::from_utf8(decoded).ok()?;
    if decoded.chars().any(char::is_control) {
        return None;
    }
    Some(decoded)
}

fn hex_value(byte: u8) -> Option<u8> {
    (byte as char)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests;
