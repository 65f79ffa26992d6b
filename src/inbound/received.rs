//! The `Received:` trace header we prepend to every message (RFC 5321 §4.4, RFC 5322 date, RFC 3848 and
//! RFC 6531 protocol names). Pure: the caller supplies the time.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::envelope::QueueId;

/// What the Received header records about one message.
#[derive(Debug, Clone, Copy)]
pub struct ReceivedFields<'a> {
    /// The EHLO/HELO name as the client gave it.
    pub helo: &'a str,
    pub client_ip: IpAddr,
    pub hostname: &'a str,
    /// `with` protocol, see [`protocol_name`].
    pub protocol: &'static str,
    /// TLS version and cipher, when the session is encrypted.
    pub tls: Option<&'a str>,
    pub id: QueueId,
    /// Named in a `for` clause only when the message has exactly one recipient.
    pub single_recipient: Option<&'a str>,
    /// Non-ASCII text is kept only for SMTPUTF8 messages; otherwise it is replaced by `?`.
    pub utf8: bool,
    pub now: SystemTime,
}

/// RFC 3848 / RFC 6531 `with` keyword: SMTP for HELO, ESMTP for EHLO, `S` with TLS, UTF8 variants
/// when the transaction used SMTPUTF8. (We never authenticate, so never the `A` forms.)
pub fn protocol_name(extended: bool, tls: bool, smtputf8: bool) -> &'static str {
    match (extended, tls, smtputf8) {
        (false, _, _) => "SMTP",
        (true, false, false) => "ESMTP",
        (true, true, false) => "ESMTPS",
        (true, false, true) => "UTF8SMTP",
        (true, true, true) => "UTF8SMTPS",
    }
}

/// The complete header, folded, CRLF-terminated.
pub fn received_header(f: &ReceivedFields<'_>) -> String {
    let helo = sanitize(f.helo, f.utf8);
    let tls = f.tls.map(|t| format!(" ({t})")).unwrap_or_default();
    let for_clause = match f.single_recipient {
        Some(rcpt) => format!("\r\n\tfor <{}>", sanitize(rcpt, f.utf8)),
        None => String::new(),
    };
    format!(
        "Received: from {helo} ({ip})\r\n\tby {host} (backupmx) with {proto}{tls} id {id}{for_clause};\r\n\t{date}\r\n",
        ip = address_literal(f.client_ip),
        host = f.hostname,
        proto = f.protocol,
        id = f.id,
        date = rfc5322_date(f.now),
    )
}

/// `[192.0.2.1]` or `[IPv6:2001:db8::1]` (RFC 5321 §4.1.3); IPv4-mapped IPv6 shown as IPv4.
pub fn address_literal(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => format!("[{v4}]"),
        IpAddr::V6(v6) => format!("[IPv6:{v6}]"),
    }
}

/// Client-supplied text in a header: printable ASCII only (UTF-8 too under SMTPUTF8); comment
/// delimiters and anything else become `?`, so the client cannot shape the header's structure.
fn sanitize(text: &str, utf8: bool) -> String {
    text.chars()
        .map(|c| match c {
            '(' | ')' | '\\' | ';' => '?',
            c if c.is_ascii_graphic() => c,
            c if utf8 && !c.is_ascii() && !c.is_control() => c,
            _ => '?',
        })
        .collect()
}

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Sun, 29 Nov 2026 06:53:29 +0000` (RFC 5322 §3.3), always in UTC.
pub fn rfc5322_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = crate::clock::civil_from_days(days);
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} +0000",
        WEEKDAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(at(0)), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(at(951_782_400)),
            "Tue, 29 Feb 2000 00:00:00 +0000"
        );
        assert_eq!(
            rfc5322_date(at(1_798_613_609)),
            "Wed, 30 Dec 2026 06:53:29 +0000"
        );
        assert_eq!(
            rfc5322_date(at(4_102_444_799)),
            "Thu, 31 Dec 2099 23:59:59 +0000"
        );
        assert_eq!(
            rfc5322_date(at(1_709_251_199)),
            "Thu, 29 Feb 2024 23:59:59 +0000"
        );
    }

    #[test]
    fn protocol_names() {
        assert_eq!(protocol_name(false, false, false), "SMTP");
        assert_eq!(protocol_name(false, true, false), "SMTP");
        assert_eq!(protocol_name(true, false, false), "ESMTP");
        assert_eq!(protocol_name(true, true, false), "ESMTPS");
        assert_eq!(protocol_name(true, false, true), "UTF8SMTP");
        assert_eq!(protocol_name(true, true, true), "UTF8SMTPS");
    }

    fn fields<'a>(rcpt: Option<&'a str>) -> ReceivedFields<'a> {
        ReceivedFields {
            helo: "client.example",
            client_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            hostname: "mx2.example.net",
            protocol: "ESMTP",
            tls: None,
            id: QueueId(0x1A),
            single_recipient: rcpt,
            utf8: false,
            now: at(0),
        }
    }

    #[test]
    fn header_with_single_recipient() {
        assert_eq!(
            received_header(&fields(Some("a@example.test"))),
            "Received: from client.example ([192.0.2.1])\r\n\tby mx2.example.net (backupmx) with \
             ESMTP id 000000000000001A\r\n\tfor <a@example.test>;\r\n\tThu, 1 Jan 1970 00:00:00 \
             +0000\r\n"
        );
    }

    #[test]
    fn header_without_recipient_and_with_tls() {
        let mut f = fields(None);
        f.tls = Some("TLSv1_3 TLS13_AES_256_GCM_SHA384");
        f.protocol = "ESMTPS";
        let h = received_header(&f);
        assert!(h.contains("with ESMTPS (TLSv1_3 TLS13_AES_256_GCM_SHA384) id 000000000000001A;"));
        assert!(!h.contains("for"));
    }

    #[test]
    fn client_text_cannot_shape_the_header() {
        let mut f = fields(Some("x@example.test"));
        f.helo = "evil) (by\tfake; é";
        let h = received_header(&f);
        assert!(
            h.starts_with("Received: from evil???by?fake??? ([192.0.2.1])"),
            "{h}"
        );
        f.utf8 = true;
        assert!(received_header(&f).contains("fake??é ([192"));
    }

    #[test]
    fn address_literals() {
        assert_eq!(
            address_literal(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            "[IPv6:::1]"
        );
        let mapped = IpAddr::V6(Ipv4Addr::new(127, 0, 0, 1).to_ipv6_mapped());
        assert_eq!(address_literal(mapped), "[127.0.0.1]");
    }
}
