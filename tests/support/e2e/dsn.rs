//! Reading a DSN received at the sender's sink: its MIME structure (parsed with mail-parser) and the
//! fields of its message/delivery-status part.

use mail_parser::{MessageParser, MimeHeaders};

/// What a test checks in a delivery status notification.
#[derive(Debug)]
pub struct Dsn {
    /// `type/subtype` of each part of the multipart/report, in order.
    pub part_types: Vec<String>,
    /// The text of the message/delivery-status part.
    pub status: String,
}

impl Dsn {
    /// Parses `data`; panics unless it is a multipart/report; report-type=delivery-status.
    pub fn parse(data: &[u8]) -> Dsn {
        let text = || String::from_utf8_lossy(data).into_owned();
        let message = MessageParser::new()
            .parse(data)
            .unwrap_or_else(|| panic!("DSN does not parse:\n{}", text()));
        let root = message.root_part();
        let ct = root.content_type().expect("DSN content type");
        assert_eq!(
            (ct.ctype(), ct.subtype()),
            ("multipart", Some("report")),
            "{}",
            text()
        );
        assert_eq!(ct.attribute("report-type"), Some("delivery-status"));
        let mut part_types = Vec::new();
        let mut status = String::new();
        for id in root.sub_parts().expect("report parts") {
            let part = &message.parts[*id as usize];
            let kind = part
                .content_type()
                .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")))
                .unwrap_or_default();
            if kind == "message/delivery-status" {
                status = String::from_utf8_lossy(part.contents()).into_owned();
            }
            part_types.push(kind);
        }
        Dsn { part_types, status }
    }

    /// The values of every `name:` field of the delivery-status part (case-insensitive name).
    pub fn fields(&self, name: &str) -> Vec<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.status
            .lines()
            .filter(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
            .collect()
    }
}
