//! HTML building for the console: the escaping helper every piece of displayed text goes through,
//! and the page layout (head, navigation, footer). No templates: pages are `format!`ed strings in
//! which every dynamic value is wrapped in [`esc`].

use std::fmt;

/// Text made safe for HTML element content and double-quoted attribute values.
pub struct Escaped<'a>(pub &'a str);

/// Escapes `text` when displayed: `& < > " '` become entities, so hostile mail stays text.
pub fn esc(text: &str) -> Escaped<'_> {
    Escaped(text)
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..at])?;
            let entity = match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            };
            f.write_str(entity)?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

/// Percent-encodes `text` for a query-string value (then still escaped by the caller as HTML).
pub fn url_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Which navigation entry is the current page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Dashboard,
    Queue,
    Postmaster,
    Audit,
    Recipients,
    Alerts,
    None,
}

const NAV_ENTRIES: [(Nav, &str, &str); 6] = [
    (Nav::Dashboard, "/", "Dashboard"),
    (Nav::Queue, "/queue", "Queue"),
    (Nav::Postmaster, "/postmaster", "Postmaster"),
    (Nav::Audit, "/audit", "Audit log"),
    (Nav::Recipients, "/recipients", "Recipients"),
    (Nav::Alerts, "/alerts", "Alerts"),
];

/// A whole page for a logged-in administrator: `body` is already-built HTML; `csrf` goes into the
/// logout form. `script` names a file under /static/ to load, if any.
pub fn page(title: &str, nav: Nav, csrf: &str, body: &str, script: Option<&str>) -> String {
    let mut links = String::new();
    for (entry, href, label) in NAV_ENTRIES {
        let current = if entry == nav {
            " aria-current=\"page\""
        } else {
            ""
        };
        links.push_str(&format!("<a href=\"{href}\"{current}>{label}</a>"));
    }
    let script = script
        .map(|s| format!("<script src=\"/static/{}\" defer></script>", esc(s)))
        .unwrap_or_default();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · backupmx</title><link rel=\"stylesheet\" href=\"/static/app.css\">{script}</head>\
         <body><header class=\"top\"><span class=\"brand\">backupmx</span><nav>{links}</nav>\
         <form method=\"post\" action=\"/logout\" class=\"logout\">{hidden}\
         <button type=\"submit\" class=\"link\">Log out</button></form></header>\
         <main>{body}</main></body></html>\n",
        title = esc(title),
        hidden = csrf_field(csrf),
    )
}

/// The hidden CSRF field every state-changing form carries.
pub fn csrf_field(csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(csrf)
    )
}

/// A page without navigation (login, errors before login).
pub fn bare_page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · backupmx</title><link rel=\"stylesheet\" href=\"/static/app.css\"></head>\
         <body class=\"bare\"><main>{body}</main></body></html>\n",
        title = esc(title),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_special_character() {
        let hostile = "<script>alert('x')</script> & \"q\"";
        assert_eq!(
            esc(hostile).to_string(),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(esc("plain ünïcode").to_string(), "plain ünïcode");
        assert_eq!(esc("").to_string(), "");
    }

    #[test]
    fn url_components_are_percent_encoded() {
        assert_eq!(url_component("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(url_component("example.test"), "example.test");
    }

    #[test]
    fn page_escapes_the_title_and_marks_the_current_entry() {
        let html = page("<b>", Nav::Queue, "tok\"", "<p>x</p>", None);
        assert!(html.contains("<title>&lt;b&gt; · backupmx</title>"));
        assert!(html.contains("<a href=\"/queue\" aria-current=\"page\">Queue</a>"));
        assert!(html.contains("value=\"tok&quot;\""));
        assert!(!html.contains("<script"));
    }
}
