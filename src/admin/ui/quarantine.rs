//! The dashboard's "Quarantine" section: what the spool's recovery set aside at the last start
//! (damaged journals, undecodable records, messages whose body is missing or short), so an admin
//! sees it without reading the logs. Shown only when there is something to see.

use super::markup::esc;

/// The section's HTML; empty when nothing was quarantined.
pub fn section(items: &[String]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let rows: String = items
        .iter()
        .map(|item| format!("<li>{}</li>", esc(item)))
        .collect();
    format!(
        "<section class=\"quarantine\" id=\"quarantine\"><h2>Quarantine \
         <span class=\"hint\">{n} item(s) set aside by recovery at the last start; the rest of the \
         queue is delivered as usual. Copies are in the spool's <code>quarantine/</code> directory.</span></h2>\
         <ul class=\"error\">{rows}</ul></section>",
        n = items.len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_quarantined_shows_nothing() {
        assert_eq!(section(&[]), "");
    }

    #[test]
    fn items_are_listed_and_escaped() {
        let html = section(&[
            "journal/1.log: damaged at offset 8".to_string(),
            "message <x>: body & more".to_string(),
        ]);
        assert!(html.contains("id=\"quarantine\""), "{html}");
        assert!(html.contains("2 item(s)"), "{html}");
        assert!(
            html.contains("<li>journal/1.log: damaged at offset 8</li>"),
            "{html}"
        );
        assert!(
            html.contains("message &lt;x&gt;: body &amp; more"),
            "{html}"
        );
    }
}
