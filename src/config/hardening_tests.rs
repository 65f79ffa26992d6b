//! Loader tests of the hardening keys: `[limits]`, the slow-client timeouts and `tls_listen`.

use std::time::Duration;

use super::tests::{MINIMAL, errors, places};
use super::*;

fn load(text: &str) -> Config {
    Config::from_toml_str(text, "test.toml").unwrap()
}

#[test]
fn defaults() {
    let config = load(MINIMAL);
    assert_eq!(config.smtp.greeting_delay, Duration::ZERO);
    assert_eq!(config.smtp.data_timeout, Duration::from_secs(300));
    assert_eq!(config.smtp.session_timeout, Duration::from_secs(1800));
    assert!(config.smtp.tls_listen.is_empty());
    assert_eq!(
        config.limits,
        LimitsConfig {
            max_connections_per_ip: 50,
            connections_per_minute: 600,
            messages_per_connection: 1000,
            recipients_per_minute: 6000,
            max_errors: 20,
            max_unknown_commands: 10,
            exempt: vec![],
        }
    );
    assert_eq!(config.limits, LimitsConfig::default());
}

#[test]
fn every_key_is_read() {
    let text = format!(
        "{MINIMAL}[smtp]\ngreeting_delay = \"2s\"\ndata_timeout = \"1m\"\nsession_timeout = \"10m\"\n\
         [limits]\nmax_connections_per_ip = 0\nconnections_per_minute = 5\nmessages_per_connection = 7\n\
         recipients_per_minute = 9\nmax_errors = 3\nmax_unknown_commands = 2\n\
         exempt = [\"127.0.0.1\", \"2001:db8::/32\"]\n"
    );
    let config = load(&text);
    assert_eq!(config.smtp.greeting_delay, Duration::from_secs(2));
    assert_eq!(config.smtp.data_timeout, Duration::from_secs(60));
    assert_eq!(config.smtp.session_timeout, Duration::from_secs(600));
    let limits = &config.limits;
    assert_eq!(limits.max_connections_per_ip, 0);
    assert_eq!(limits.connections_per_minute, 5);
    assert_eq!(limits.messages_per_connection, 7);
    assert_eq!(limits.recipients_per_minute, 9);
    assert_eq!(limits.max_errors, 3);
    assert_eq!(limits.max_unknown_commands, 2);
    assert_eq!(
        limits.exempt,
        vec![
            "127.0.0.1/32".parse().unwrap(),
            "2001:db8::/32".parse().unwrap()
        ]
    );
}

#[test]
fn bad_values_are_reported_with_line_and_key() {
    let text = "[smtp]\ngreeting_delay = \"61s\"\ndata_timeout = \"0s\"\nsession_timeout = \"25h\"\n\
                [limits]\nmax_errors = 0\nrecipients_per_minute = -1\nexempt = [\"10.0.0.0/33\"]\n\
                max_unknown_commands = 10001\nconnections_per_minut = 3\n\
                [[domain]]\nname = \"example.test\"\n";
    assert_eq!(
        places(text),
        vec![
            (2, "smtp.greeting_delay".to_string()),
            (3, "smtp.data_timeout".to_string()),
            (4, "smtp.session_timeout".to_string()),
            (6, "limits.max_errors".to_string()),
            (7, "limits.recipients_per_minute".to_string()),
            (8, "limits.exempt[0]".to_string()),
            (9, "limits.max_unknown_commands".to_string()),
            (10, "limits.connections_per_minut".to_string()),
        ]
    );
}

#[test]
fn display_names_file_line_and_key() {
    let text = format!("{MINIMAL}[limits]\nmax_errors = 0\n");
    let shown = Config::from_toml_str(&text, "conf/x.toml")
        .unwrap_err()
        .to_string();
    assert!(
        shown.starts_with("conf/x.toml:4: limits.max_errors: 0 is out of range"),
        "{shown}"
    );
}

#[test]
fn tls_listen_needs_the_certificate_and_key() {
    let text = format!("{MINIMAL}[smtp]\ntls_listen = [\"127.0.0.1:4650\"]\n");
    let found = errors(&text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].key, "smtp.tls_listen");
    assert_eq!(found[0].line, Some(4));
    assert!(found[0].message.contains("smtp.tls_cert"), "{found:?}");

    let dir = std::env::temp_dir().join(format!("backupmx-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
    std::fs::write(&cert, "x").unwrap();
    std::fs::write(&key, "x").unwrap();
    let text = format!(
        "{MINIMAL}[smtp]\ntls_cert = {cert:?}\ntls_key = {key:?}\ntls_listen = [\"127.0.0.1:4650\", \"[::1]:4650\"]\n"
    );
    let config = load(&text);
    assert_eq!(config.smtp.tls_listen.len(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}
