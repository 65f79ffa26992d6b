//! Loader tests for recipient validation keys: defaults, each mode, list files, errors with places.

use std::io::Write;
use std::time::Duration;

use super::super::Config;
use super::super::tests::{MINIMAL, places};
use crate::config::{Mode, UnknownWhenDown};

fn load(text: &str) -> Config {
    Config::from_toml_str(text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn defaults_are_accept_all_and_documented_lifetimes() {
    let config = load(MINIMAL);
    let r = &config.recipients;
    assert!(r.domains.is_empty());
    assert_eq!(r.positive_ttl, Duration::from_secs(30 * 86_400));
    assert_eq!(r.negative_ttl, Duration::from_secs(3 * 3600));
    assert_eq!(r.callout_timeout, Duration::from_secs(5));
    assert_eq!(r.policy("example.test").mode, Mode::AcceptAll);
}

#[test]
fn verify_with_settings() {
    let config = load(
        "[recipients]\npositive_ttl = \"7d\"\nnegative_ttl = \"10m\"\ncallout_timeout = \"2s\"\n\
         [[domain]]\nname = \"Example.test\"\nrecipients = \"verify\"\n\
         unknown_when_down = \"tempfail\"\naccept_only_when_primary_down = true\n\
         [[domain]]\nname = \"plain.test\"\n",
    );
    let r = &config.recipients;
    assert_eq!(r.positive_ttl, Duration::from_secs(7 * 86_400));
    assert_eq!(r.negative_ttl, Duration::from_secs(600));
    assert_eq!(r.callout_timeout, Duration::from_secs(2));
    let p = r.policy("example.test");
    assert_eq!(p.mode, Mode::Verify);
    assert_eq!(p.unknown_when_down, UnknownWhenDown::Tempfail);
    assert!(p.accept_only_when_primary_down);
    assert!(!r.domains.contains_key("plain.test"));
}

#[test]
fn list_mode_reads_the_file() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "# users\nalice@example.test").unwrap();
    let path = file.path().display().to_string();
    let config = load(&format!(
        "[[domain]]\nname = \"example.test\"\nrecipients = \"list\"\nrecipient_list = \"{path}\"\n"
    ));
    let d = &config.recipients.domains["example.test"];
    assert_eq!(d.policy.mode, Mode::List);
    assert_eq!(d.list.as_deref(), Some(file.path()));
}

#[test]
fn errors_name_line_and_key() {
    let text = "[recipients]\npositive_ttl = \"0s\"\ncolour = 1\n\
                [[domain]]\nname = \"a.test\"\nrecipients = \"maybe\"\n\
                [[domain]]\nname = \"b.test\"\nrecipients = \"list\"\n\
                [[domain]]\nname = \"c.test\"\nunknown_when_down = \"later\"\nrecipient_list = \"x\"\n\
                [[domain]]\nname = \"d.test\"\nrecipients = \"list\"\nrecipient_list = \"/nonexistent/list\"\n";
    assert_eq!(
        places(text),
        [
            (2, "recipients.positive_ttl".to_string()),
            (3, "recipients.colour".to_string()),
            (6, "domain[0].recipients".to_string()),
            (9, "domain[1].recipient_list".to_string()),
            (12, "domain[2].unknown_when_down".to_string()),
            (13, "domain[2].recipient_list".to_string()),
            (17, "domain[3].recipient_list".to_string()),
        ]
    );
}

#[test]
fn a_bad_list_file_is_reported_with_its_own_line() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "ok@example.test\nnot an address").unwrap();
    let path = file.path().display().to_string();
    let text = format!(
        "[[domain]]\nname = \"e.test\"\nrecipients = \"list\"\nrecipient_list = \"{path}\"\n"
    );
    let errors = super::super::tests::errors(&text);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].message.contains(&format!("{path}:2:")),
        "{}",
        errors[0]
    );
}

#[test]
fn the_example_file_shows_every_recipient_key() {
    let text = include_str!("../../../examples/backupmx.toml");
    let config = load(text);
    assert_eq!(config.recipients.policy("example.com").mode, Mode::Verify);
    for key in [
        "recipients =",
        "recipient_list =",
        "unknown_when_down =",
        "accept_only_when_primary_down =",
        "[recipients]",
        "positive_ttl =",
        "negative_ttl =",
        "callout_timeout =",
    ] {
        assert!(text.contains(key), "{key}");
    }
}
