//! Helpers for the console tests: a WebDriver client for headless Chromium ([`webdriver`]) and a
//! small HTTP client that logs in to the console and keeps its session cookie ([`console`]).
//!
//! Use from a test file with `mod admin_ui_support;` (next to `mod support;` and `mod e2e_support;`).

#![allow(dead_code)]

pub mod console;
pub mod webdriver;

/// The console password the server generated at its first start (it logs it once, for the quick
/// start). Waits for that log line.
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
    let value = line.split(" password=").nth(1).expect("a password= field");
    value
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .trim_matches('"')
        .to_string()
}
