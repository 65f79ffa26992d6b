//! Loader tests: defaults, bounds, error positions and key paths, normalisation, the shipped files.

use std::path::PathBuf;
use std::time::Duration;

use super::limits::*;
use super::*;

pub(super) const MINIMAL: &str = "[[domain]]\nname = \"example.test\"\n";

fn load(text: &str) -> Config {
    match Config::from_toml_str(text, "test.toml") {
        Ok(config) => config,
        Err(errors) => panic!("unexpected errors:\n{errors}"),
    }
}

pub(super) fn errors(text: &str) -> Vec<ConfigError> {
    match Config::from_toml_str(text, "test.toml") {
        Ok(config) => panic!("expected errors, got {config:?}"),
        Err(errors) => errors.errors,
    }
}

/// `(line, key)` of every error.
pub(super) fn places(text: &str) -> Vec<(usize, String)> {
    errors(text)
        .into_iter()
        .map(|e| (e.line.unwrap_or(0), e.key))
        .collect()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn embedded_default_loads() {
    let config = Config::embedded_default();
    assert_eq!(config.hostname, "backupmx.localhost");
    assert_eq!(config.smtp.listen, vec!["127.0.0.1:2525".parse().unwrap()]);
    assert_eq!(config.spool.dir, PathBuf::from("./backupmx-spool"));
    assert_eq!(config.domains.len(), 1);
    assert_eq!(config.domains[0].name, "example.test");
    assert_eq!(
        config.domains[0].primary,
        Some(Primary {
            host: "127.0.0.1".into(),
            port: 2526
        })
    );
    assert_eq!(config.admin.listen, "127.0.0.1:8025".parse().unwrap());
    assert_eq!(
        config.admin.allow,
        vec!["127.0.0.1/32".parse().unwrap(), "::1/128".parse().unwrap()]
    );
    assert_eq!(config.smtp.tls_cert, None);
}

#[test]
fn defaults_fill_every_missing_key() {
    let config = load(MINIMAL);
    assert_eq!(config.hostname, DEFAULT_HOSTNAME);
    assert!(config.extra_names.is_empty());
    let smtp = &config.smtp;
    assert_eq!(smtp.listen, vec![DEFAULT_SMTP_LISTEN]);
    assert_eq!(smtp.max_message_size, 52_428_800);
    assert_eq!(smtp.max_recipients, 1000);
    assert_eq!(smtp.max_connections, 1000);
    assert_eq!((smtp.tls_cert.clone(), smtp.tls_key.clone()), (None, None));
    assert_eq!(smtp.command_timeout, secs(300));
    assert!(smtp.etrn_allow.is_empty());
    assert_eq!(config.spool.dir, PathBuf::from(DEFAULT_SPOOL_DIR));
    assert!(config.dns.nameservers.is_empty());
    assert_eq!(config.delivery.port, 25);
    assert_eq!(config.delivery.connect_timeout, secs(30));
    assert_eq!(config.delivery.command_timeout, secs(300));
    assert_eq!(config.delivery.data_timeout, secs(600));
    let queue = &config.queue;
    assert_eq!(queue.retry, [300, 600, 1200, 2400, 3600].map(secs).to_vec());
    assert_eq!(queue.max_lifetime, secs(5 * 86_400));
    assert_eq!(queue.delay_warning, secs(4 * 3600));
    assert_eq!(queue.probe_interval, secs(1));
    assert_eq!(queue.max_parallel, 20);
    assert_eq!(
        config.domains,
        vec![DomainConfig {
            name: "example.test".into(),
            subdomains: false,
            primary: None,
            tls: Default::default(),
            limits: Default::default(),
        }]
    );
    assert_eq!(config.admin.listen, DEFAULT_ADMIN_LISTEN);
    assert_eq!(
        config.admin.allow,
        vec!["127.0.0.1/32".parse().unwrap(), "::1/128".parse().unwrap()]
    );
    assert_eq!(config.admin.api_token, None);
}

#[test]
fn example_file_loads_with_every_key() {
    let text = include_str!("../../examples/backupmx.toml");
    let config = load(text);
    assert_eq!(config.hostname, "mx2.example.net");
    assert!(config.domains.len() >= 2);
    // Every key the loader knows appears in the example (TLS ones commented out: their files must exist).
    let keys = [
        "hostname",
        "extra_names",
        "listen",
        "max_message_size",
        "max_recipients",
        "max_connections",
        "tls_cert",
        "tls_key",
        "command_timeout",
        "etrn_allow",
        "greeting_delay",
        "data_timeout",
        "session_timeout",
        "tls_listen",
        "max_connections_per_ip",
        "connections_per_minute",
        "messages_per_connection",
        "recipients_per_minute",
        "max_errors",
        "max_unknown_commands",
        "exempt",
        "dir",
        "nameservers",
        "port",
        "connect_timeout",
        "retry",
        "max_lifetime",
        "delay_warning",
        "probe_interval",
        "max_parallel",
        "name",
        "subdomains",
        "primary",
        "allow",
        "api_token",
        "allow_plaintext",
        "max_messages",
        "max_bytes",
    ];
    for key in keys {
        assert!(text.contains(&format!("{key} = ")), "example lacks {key}");
    }
}

/// `(section, key, lowest valid, highest valid, just below, just above)` as TOML values.
const INTEGER_BOUNDS: &[(&str, &str, &str, &str, &str, &str)] = &[
    (
        "smtp",
        "max_message_size",
        "1024",
        "2147483648",
        "1023",
        "2147483649",
    ),
    ("smtp", "max_recipients", "1", "100000", "0", "100001"),
    ("smtp", "max_connections", "1", "100000", "0", "100001"),
    ("delivery", "port", "1", "65535", "0", "65536"),
    ("queue", "max_parallel", "1", "100", "0", "101"),
    (
        "smtp",
        "command_timeout",
        "\"1s\"",
        "\"1h\"",
        "\"999ms\"",
        "\"1h1ms\"",
    ),
    (
        "delivery",
        "connect_timeout",
        "\"1s\"",
        "\"10m\"",
        "\"999ms\"",
        "\"10m1ms\"",
    ),
    (
        "delivery",
        "command_timeout",
        "\"1s\"",
        "\"1h\"",
        "\"999ms\"",
        "\"1h1ms\"",
    ),
    (
        "delivery",
        "data_timeout",
        "\"1s\"",
        "\"1h\"",
        "\"999ms\"",
        "\"1h1ms\"",
    ),
    (
        "queue",
        "max_lifetime",
        "\"1s\"",
        "\"365d\"",
        "\"999ms\"",
        "\"365d1ms\"",
    ),
    (
        "queue",
        "probe_interval",
        "\"100ms\"",
        "\"1h\"",
        "\"99ms\"",
        "\"1h1ms\"",
    ),
    (
        "queue",
        "retry",
        "[\"100ms\"]",
        "[\"7d\"]",
        "[\"99ms\"]",
        "[\"7d1ms\"]",
    ),
];

#[test]
fn every_bound_is_enforced() {
    for (section, key, low, high, below, above) in INTEGER_BOUNDS {
        let with = |value: &str| format!("[{section}]\n{key} = {value}\n{MINIMAL}");
        load(&with(low));
        load(&with(high));
        for bad in [below, above] {
            let found = errors(&with(bad));
            assert_eq!(found.len(), 1, "{section}.{key} = {bad}: {found:?}");
            assert_eq!(found[0].line, Some(2));
            assert!(
                found[0].key.starts_with(&format!("{section}.{key}")),
                "{:?}",
                found[0].key
            );
            assert!(
                found[0].message.contains("out of range"),
                "{}",
                found[0].message
            );
        }
    }
}

#[test]
fn delay_warning_zero_is_off_and_must_precede_expiry() {
    let config = load(&format!("{MINIMAL}[queue]\ndelay_warning = \"0s\"\n"));
    assert_eq!(config.queue.delay_warning, Duration::ZERO);
    let found = errors(&format!(
        "{MINIMAL}[queue]\nmax_lifetime = \"1h\"\ndelay_warning = \"2h\"\n"
    ));
    assert_eq!(found[0].key, "queue.delay_warning");
    // A short lifetime silently turns the default warning off rather than failing.
    let config = load(&format!("{MINIMAL}[queue]\nmax_lifetime = \"1h\"\n"));
    assert_eq!(config.queue.delay_warning, Duration::ZERO);
}

#[test]
fn empty_lists_that_need_entries_are_refused() {
    assert_eq!(
        places(&format!("{MINIMAL}[queue]\nretry = []\n")),
        vec![(4, "queue.retry".to_string())]
    );
    assert_eq!(
        places(&format!("{MINIMAL}[smtp]\nlisten = []\n")),
        vec![(4, "smtp.listen".to_string())]
    );
}

#[test]
fn addresses_parse_with_defaults() {
    let config = load(&format!(
        "[smtp]\nlisten = [\"127.0.0.1:2525\", \"[::1]:2525\"]\n[dns]\nnameservers = [\"127.0.0.1:5353\", \"192.0.2.1\"]\n[delivery]\nport = 2526\n{MINIMAL}primary = \"MAIL.Example.test.\"\n"
    ));
    assert_eq!(config.smtp.listen.len(), 2);
    assert_eq!(
        config.dns.nameservers,
        vec![
            "127.0.0.1:5353".parse().unwrap(),
            "192.0.2.1:53".parse().unwrap()
        ]
    );
    // A primary without a port uses [delivery] port.
    assert_eq!(
        config.domains[0].primary,
        Some(Primary {
            host: "mail.example.test".into(),
            port: 2526
        })
    );
}

#[test]
fn domains_are_normalised_and_duplicates_refused() {
    let config = load(
        "extra_names = [\"MX2.Example.NET.\"]\n[[domain]]\nname = \"Example.TEST.\"\nsubdomains = true\n",
    );
    assert_eq!(config.extra_names, vec!["mx2.example.net".to_string()]);
    assert_eq!(config.domains[0].name, "example.test");
    assert!(config.domains[0].subdomains);

    let text = "[[domain]]\nname = \"example.test\"\n[[domain]]\nname = \"other.test\"\n[[domain]]\nname = \"EXAMPLE.test.\"\n";
    let found = errors(text);
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].line, found[0].key.as_str()),
        (Some(6), "domain[2].name")
    );
    assert!(
        found[0].message.contains("first on line 2"),
        "{}",
        found[0].message
    );
}

#[test]
fn domain_list_is_required_and_well_formed() {
    assert_eq!(
        places("hostname = \"mx2.example.net\"\n"),
        vec![(1, "domain".to_string())]
    );
    assert_eq!(
        places("[domain]\nname = \"a.test\"\n"),
        vec![(1, "domain".to_string())]
    );
    assert_eq!(places("domain = []\n"), vec![(1, "domain".to_string())]);
    assert_eq!(
        places("[[domain]]\nsubdomains = true\n"),
        vec![(1, "domain[0].name".to_string())]
    );
    assert_eq!(
        places("[[domain]]\nname = \"a_b.test\"\n"),
        vec![(2, "domain[0].name".to_string())]
    );
    assert_eq!(
        places("[[domain]]\nname = \"a.test\"\nsubdomains = \"yes\"\n"),
        vec![(3, "domain[0].subdomains".to_string())]
    );
}

#[test]
fn tls_needs_both_files_and_they_must_exist() {
    let found = errors(&format!(
        "[smtp]\ntls_cert = \"/nonexistent/cert.pem\"\n{MINIMAL}"
    ));
    let messages: Vec<&str> = found.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(found.len(), 2, "{messages:?}");
    assert!(
        messages.iter().any(|m| m.contains("smtp.tls_key")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("file not found: /nonexistent/cert.pem")),
        "{messages:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, "x").unwrap();
    std::fs::write(&key, "x").unwrap();
    let text = format!(
        "[smtp]\ntls_cert = {:?}\ntls_key = {:?}\n{MINIMAL}",
        cert.display().to_string(),
        key.display().to_string()
    );
    let config = load(&text);
    assert_eq!(config.smtp.tls_cert, Some(cert));
    assert_eq!(config.smtp.tls_key, Some(key));
}

#[test]
fn load_reads_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.toml");
    std::fs::write(&path, MINIMAL).unwrap();
    assert_eq!(Config::load(&path).unwrap().domains[0].name, "example.test");
}
