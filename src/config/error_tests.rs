//! Loader error tests: every error reported at once, with its file, line, column and key path.

use super::tests::{MINIMAL, errors, places};
use super::*;

#[test]
fn unknown_keys_are_reported_each_with_its_line() {
    let text = "hostnme = \"x\"\n[smtp]\nlisten = [\"127.0.0.1:25\"]\nmax_mesage_size = 5\n\n[[domain]]\nname = \"a.test\"\nprimry = \"b:25\"\n[colour]\n";
    assert_eq!(
        places(text),
        vec![
            (1, "hostnme".to_string()),
            (4, "smtp.max_mesage_size".to_string()),
            (8, "domain[0].primry".to_string()),
            (9, "colour".to_string()),
        ]
    );
    assert!(errors(text)[1].message.contains("unknown key"));
}

#[test]
fn several_errors_are_reported_at_once_in_file_order() {
    let text = "hostname = \"bad host\"\n[smtp]\nlisten = [\"127.0.0.1:2525\", \"127.0.0.1\"]\nmax_recipients = 0\n[queue]\nretry = [\"5m\", \"10x\", \"1h\"]\n[[domain]]\nname = \"a.test\"\nprimary = \"::1\"\n[admin]\nallow = [\"10.0.0.0/33\"]\n";
    assert_eq!(
        places(text),
        vec![
            (1, "hostname".to_string()),
            (3, "smtp.listen[1]".to_string()),
            (4, "smtp.max_recipients".to_string()),
            (6, "queue.retry[1]".to_string()),
            (9, "domain[0].primary".to_string()),
            (11, "admin.allow[0]".to_string()),
        ]
    );
}

#[test]
fn display_is_one_error_per_line_with_file_line_and_key() {
    let text = "[queue]\nmax_parallel = 0\nmax_lifetime = \"5\"\n";
    let shown = Config::from_toml_str(text, "conf/b.toml")
        .unwrap_err()
        .to_string();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 3, "{shown}");
    assert!(
        lines[0].starts_with("conf/b.toml:1: domain: at least one [[domain]]"),
        "{shown}"
    );
    assert!(
        lines[1].starts_with("conf/b.toml:2: queue.max_parallel: 0 is out of range"),
        "{shown}"
    );
    assert!(
        lines[2].starts_with("conf/b.toml:3: queue.max_lifetime: invalid duration"),
        "{shown}"
    );
}

#[test]
fn columns_are_reported() {
    let found =
        errors("[smtp]\nlisten = [\"127.0.0.1:1\", \"x\"]\n[[domain]]\nname = \"a.test\"\n");
    assert_eq!((found[0].line, found[0].column), (Some(2), Some(26)));
}

#[test]
fn bad_durations_are_reported() {
    for (value, expected) in [
        ("\"5\"", "missing unit"),
        ("\"5w\"", "unknown unit"),
        ("\"1.5h\"", "invalid duration"),
        ("300", "expected a string"),
        ("\"\"", "empty duration"),
    ] {
        let found = errors(&format!("{MINIMAL}[delivery]\nconnect_timeout = {value}\n"));
        assert_eq!(found.len(), 1, "{value}");
        assert_eq!(found[0].key, "delivery.connect_timeout");
        assert!(
            found[0].message.contains(expected),
            "{value}: {}",
            found[0].message
        );
    }
}

#[test]
fn bad_addresses_are_reported() {
    let text = "[smtp]\nlisten = [\"[::1]:2525\", \"::1:2525\", \"localhost:25\"]\netrn_allow = [\"192.0.2.0/24\", \"nope\"]\n[dns]\nnameservers = [\"192.0.2.53\", \"ns.example:53\"]\n[admin]\nlisten = \"127.0.0.1\"\n[[domain]]\nname = \"a.test\"\nprimary = \"host:99999\"\n";
    assert_eq!(
        places(text),
        vec![
            (2, "smtp.listen[1]".to_string()),
            (2, "smtp.listen[2]".to_string()),
            (3, "smtp.etrn_allow[1]".to_string()),
            (5, "dns.nameservers[1]".to_string()),
            (7, "admin.listen".to_string()),
            (10, "domain[0].primary".to_string()),
        ]
    );
}

#[test]
fn wrong_types_are_reported() {
    let text = "[smtp]\nmax_recipients = \"10\"\nmax_connections = -1\n[spool]\ndir = 5\n[admin]\napi_token = \"\"\n[queue]\nretry = \"5m\"\n[dns]\nnameservers = [53]\n";
    let found = errors(&format!("{text}{MINIMAL}"));
    let keys: Vec<&str> = found.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "smtp.max_recipients",
            "smtp.max_connections",
            "spool.dir",
            "admin.api_token",
            "queue.retry",
            "dns.nameservers[0]"
        ]
    );
    assert!(
        found[0]
            .message
            .contains("expected an integer, found string"),
        "{}",
        found[0].message
    );
    assert!(places(&format!("smtp = 1\n{MINIMAL}")).contains(&(1, "smtp".to_string())));
}

#[test]
fn syntax_errors_have_lines() {
    let found = errors("[smtp]\nlisten = [\"127.0.0.1:25\"\n[[domain]]\nname = \"a.test\"\n");
    assert!(!found.is_empty());
    assert_eq!(found[0].line, Some(3));
    let found = errors("hostname = \"a\"\nhostname = \"b\"\n");
    assert_eq!(found[0].line, Some(2));
}

#[test]
fn unreadable_file_is_one_error_without_a_line() {
    let errors = Config::load(std::path::Path::new("/nonexistent/backupmx.toml")).unwrap_err();
    assert_eq!(errors.len(), 1);
    let shown = errors.to_string();
    assert!(
        shown.starts_with("/nonexistent/backupmx.toml: cannot read the config file"),
        "{shown}"
    );
}
