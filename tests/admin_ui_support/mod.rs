//! Helpers for the console tests: a WebDriver client for headless Chromium ([`webdriver`]) and a
//! small HTTP client that logs in to the console and keeps its session cookie ([`console`]).
//!
//! Use from a test file with `mod admin_ui_support;` (next to `mod support;` and `mod e2e_support;`).

#![allow(dead_code)]

pub mod console;
pub mod webdriver;

/// The console password the server generated at its first start. Its stderr is not a terminal, so
/// the password is not logged but kept in the file the log line's `password_file=` names. Waits for
/// that log line.
pub async fn admin_password(server: &mut crate::e2e_support::Server) -> String {
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
