//! `backupmx alerts test | list`: the running server's alerts, through the JSON API
//! (`POST /api/v1/alerts/test`, `GET /api/v1/alerts`). `test` exits 1 when a webhook did not answer
//! 2xx (the test alert stays in the outbox and is retried like any other).

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::Value;

use super::client::{ApiClient, CliError, EXIT_REFUSED};
use super::{Target, finish, print_json};

#[derive(Subcommand, Debug)]
pub enum AlertsCommand {
    /// Send a test alert through every configured webhook now, and print each one's answer.
    Test {
        #[arg(long)]
        json: bool,
    },
    /// The recent alerts, newest first, with each webhook's delivery state.
    List {
        /// At most this many (1 to 500).
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
}

/// `backupmx alerts ...`.
pub fn alerts(target: Target, command: AlertsCommand) -> ExitCode {
    finish((|| {
        let api = target.client()?;
        match command {
            AlertsCommand::Test { json } => test(&api, json),
            AlertsCommand::List { limit, json } => list(&api, limit, json),
        }
    })())
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn test(api: &ApiClient, json: bool) -> Result<u8, CliError> {
    let answer = api.post("/api/v1/alerts/test", None)?;
    if json {
        print_json(&answer);
    }
    let results = answer
        .get("results")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut failed = 0;
    for result in &results {
        let delivered = result.get("delivered").and_then(Value::as_bool) == Some(true);
        if !delivered {
            failed += 1;
        }
        if !json {
            match delivered {
                true => println!("{}: delivered", text(result, "webhook")),
                false => println!(
                    "{}: FAILED ({}); it will be retried",
                    text(result, "webhook"),
                    text(result, "error")
                ),
            }
        }
    }
    Ok(if failed == 0 { 0 } else { EXIT_REFUSED })
}

fn ago(at_ms: u64) -> String {
    format!(
        "{} ago",
        super::format::short_age(super::now_ms().saturating_sub(at_ms))
    )
}

fn list(api: &ApiClient, limit: usize, json: bool) -> Result<u8, CliError> {
    let answer = api.get(&format!("/api/v1/alerts?limit={limit}"))?;
    if json {
        print_json(&answer);
        return Ok(0);
    }
    let alerts = answer
        .get("alerts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if alerts.is_empty() {
        println!("no alerts");
    }
    for alert in &alerts {
        let deliveries = alert
            .get("deliveries")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let states: Vec<&str> = deliveries.iter().map(|d| text(d, "state")).collect();
        println!(
            "{:>5} {} {} {} [{}] {}",
            alert.get("id").and_then(Value::as_u64).unwrap_or_default(),
            ago(alert
                .get("at_ms")
                .and_then(Value::as_u64)
                .unwrap_or_default()),
            text(alert, "event"),
            text(alert, "state"),
            if states.is_empty() {
                "not sent".to_string()
            } else {
                states.join(",")
            },
            text(alert, "text"),
        );
    }
    Ok(0)
}
