//! Helpers for the console tests: a WebDriver client for headless Chromium ([`webdriver`]) and a
//! small HTTP client that logs in to the console and keeps its session cookie ([`console`]).
//!
//! Use from a test file as `support::ui` (after `use crate::support;`).

pub mod console;
pub mod webdriver;

use std::path::PathBuf;

use crate::support::SmtpSink;
use crate::support::config::Settings;
use crate::support::e2e::client::Client;
use crate::support::server::Server;

/// The console password the server generated at its first start. Its stderr is not a terminal, so
/// the password is not logged but kept in the file the log line's `password_file=` names. Waits for
/// that log line.
pub async fn admin_password(server: &mut crate::support::server::Server) -> String {
    let needle = "admin credentials generated";
    server
        .wait_log(needle, std::time::Duration::from_secs(10))
        .await;
    let log = server.log();
    let line = log
        .lines()
        .find(|l| l.contains(needle))
        .expect("the credentials line");
    let file = line
        .split(" password_file=")
        .nth(1)
        .expect("a password_file= field")
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .trim_matches('"');
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("cannot read the password file {file}: {e}"));
    text.trim().to_string()
}

/// A server verifying recipients against `sink`, after one callout learnt two good addresses and
/// one bad (`bad@example.test`, refused by the sink): what the Recipients page tests look at.
pub async fn verifying_server(sink: &SmtpSink) -> Server {
    sink.reject("bad@example.test", "550 5.1.1 no such user");
    let mut settings = Settings::new(Some(sink.addr()));
    settings.extra_toml = "recipients = \"verify\"\nunknown_when_down = \"tempfail\"\n".into();
    let server = Server::start(settings).await;
    let mut client = Client::connect(server.smtp_addr()).await;
    assert_eq!(client.cmd("MAIL FROM:<s@sender.test>").await.code, 250);
    for (to, code) in [
        ("good@example.test", 250),
        ("Alice+news@example.test", 250),
        ("bad@example.test", 550),
    ] {
        assert_eq!(
            client.cmd(&format!("RCPT TO:<{to}>")).await.code,
            code,
            "{to}"
        );
    }
    client.quit().await;
    server
}

/// Where to save a console screenshot, if asked by `BACKUPMX_SCREENSHOT` (relative paths are from
/// the package root).
pub fn screenshot_path() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os("BACKUPMX_SCREENSHOT")?);
    Some(if path.is_relative() {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
    } else {
        path
    })
}
