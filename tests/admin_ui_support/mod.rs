//! Helpers for the console tests: a WebDriver client for headless Chromium ([`webdriver`]) and a
//! small HTTP client that logs in to the console and keeps its session cookie ([`console`]).
//!
//! Use from a test file with `mod admin_ui_support;` (next to `mod support;` and `mod e2e_support;`).

#![allow(dead_code)]

pub mod console;
pub mod webdriver;

/// TEMPORARY
pub async fn admin_password(_server: &mut crate::e2e_support::Server) -> String {
    "test-password".to_string()
}
