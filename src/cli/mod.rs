//! The admin CLI: `backupmx queue ...`, `backupmx status` (both talk to the running server through the
//! JSON API) and `backupmx hash-password`. Exit codes: 0 ok, 1 the server said no (or some ids failed),
//! 2 usage or config, 3 the server cannot be reached.

mod alerts;
mod client;
mod db;
mod domains;
mod format;
mod generate;
mod recipients;
mod spool;
mod trust;

pub use alerts::{AlertsCommand, alerts};
pub use db::{DbCommand, db};
pub use domains::{DomainsCommand, domains};
pub use generate::{Generated, generate};
pub use recipients::{RecipientsCommand, recipients};
pub use spool::{SpoolCommand, spool};

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use client::{ApiClient, CliError, EXIT_REFUSED};

/// Where the server is; by default from the config file and its credentials file.
#[derive(Args, Debug, Clone)]
pub struct Target {
    /// The server's config file (default: $BACKUPMX_CONFIG, else /etc/backupmx/backupmx.toml, else the
    /// embedded default with its spool ./backupmx-spool in the current directory).
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// The admin listener's URL, e.g. http://127.0.0.1:8025 (default: from `[admin] listen`, https
    /// when `[admin] tls_cert` is set).
    #[arg(long, value_name = "URL", global = true)]
    pub url: Option<String>,
    /// The API token (default: `[admin] api_token`, else the generated credentials file).
    #[arg(long, value_name = "TOKEN", global = true)]
    pub token: Option<String>,
    /// PEM file of the CA (or certificate) to trust for an HTTPS admin listener (default: the
    /// config's `[admin] tls_cert` itself).
    #[arg(long, value_name = "FILE", global = true)]
    pub ca: Option<PathBuf>,
}

impl Target {
    /// The API client for this target.
    pub(crate) fn client(&self) -> Result<ApiClient, CliError> {
        ApiClient::new(
            self.config.as_deref(),
            self.url.clone(),
            self.token.clone(),
            self.ca.as_deref(),
        )
    }
}

#[derive(Subcommand, Debug)]
pub enum QueueCommand {
    /// List queued messages (oldest first).
    List {
        #[arg(long)]
        domain: Option<String>,
        /// queued, deferred, held, sending or misconfigured.
        #[arg(long)]
        status: Option<String>,
        /// At most this many (the server allows 1 to 1000).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Show one message: envelope, recipients, attempt history.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Attempt delivery now: everything, one domain, or the given messages.
    Flush {
        #[arg(long, conflicts_with = "ids")]
        domain: Option<String>,
        ids: Vec<String>,
    },
    /// Keep messages from being delivered until released.
    Hold {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Release held messages.
    Release {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Delete messages without notice.
    Delete {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Return messages to their senders now (with a DSN).
    Bounce {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// What the spool's recovery set aside at start (damaged files, messages without a body).
    Quarantined {
        #[arg(long)]
        json: bool,
    },
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs a CLI action and turns its result into an exit code (errors to stderr).
fn finish(result: Result<u8, CliError>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("backupmx: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// `backupmx status`.
pub fn status(target: Target, as_json: bool) -> ExitCode {
    finish((|| {
        let api = target.client()?;
        let domains = api.get("/api/v1/domains")?;
        if as_json {
            print_json(&domains);
        } else {
            print!("{}", format::status_table(&domains, now_ms()));
        }
        Ok(0)
    })())
}

/// `backupmx reload`: the running server reads its config file again (as on SIGHUP) and says what it
/// applied, or why it refused the file (exit 1; the running config stays).
pub fn reload(target: Target) -> ExitCode {
    finish((|| {
        let api = target.client()?;
        let answer = api.post("/api/v1/reload", None)?;
        let text = |key: &str| answer.get(key).and_then(Value::as_str).unwrap_or_default();
        println!("config reloaded: {}", text("summary"));
        let waiting: Vec<&str> = answer
            .get("restart_needed")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !waiting.is_empty() {
            println!("changed but kept until a restart: {}", waiting.join("; "));
        }
        Ok(0)
    })())
}

/// `backupmx queue ...`.
pub fn queue(target: Target, command: QueueCommand) -> ExitCode {
    finish((|| {
        let api = target.client()?;
        run_queue(&api, command)
    })())
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", percent_encode(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn run_queue(api: &ApiClient, command: QueueCommand) -> Result<u8, CliError> {
    match command {
        QueueCommand::List {
            domain,
            status,
            limit,
            json,
        } => {
            let q = query(&[
                ("domain", domain),
                ("status", status),
                ("limit", Some(limit.to_string())),
            ]);
            let listing = api.get(&format!("/api/v1/queue{q}"))?;
            if json {
                print_json(&listing);
            } else {
                print!("{}", format::queue_table(&listing, now_ms()));
            }
            Ok(0)
        }
        QueueCommand::Show { id, json } => {
            let detail = api.get(&format!("/api/v1/queue/{}", percent_encode(&id)))?;
            if json {
                print_json(&detail);
            } else {
                print!("{}", format::message_detail(&detail, now_ms()));
            }
            Ok(0)
        }
        QueueCommand::Flush { domain, ids } => {
            let body = (!ids.is_empty()).then(|| json!({ "ids": ids }));
            let answer = api.post(
                &format!("/api/v1/flush{}", query(&[("domain", domain)])),
                body,
            )?;
            println!(
                "flushed {} messages",
                answer.get("flushed").and_then(Value::as_u64).unwrap_or(0)
            );
            Ok(0)
        }
        QueueCommand::Hold { ids } => bulk(api, "hold", ids),
        QueueCommand::Release { ids } => bulk(api, "release", ids),
        QueueCommand::Bounce { ids } => bulk(api, "bounce", ids),
        QueueCommand::Delete { ids } => delete_each(api, ids),
        QueueCommand::Quarantined { json } => {
            let items = api.get("/api/v1/quarantine")?;
            if json {
                print_json(&items);
            } else {
                print!("{}", format::quarantine_list(&items));
            }
            Ok(0)
        }
    }
}

/// Prints what was done and what failed; exit 1 when anything failed.
fn report(done: &[String], failed: &[(String, String)], verb: &str) -> u8 {
    for id in done {
        println!("{id}: {verb}");
    }
    for (id, why) in failed {
        eprintln!("{id}: {}", format::clean(why));
    }
    if failed.is_empty() { 0 } else { EXIT_REFUSED }
}

fn bulk(api: &ApiClient, action: &str, ids: Vec<String>) -> Result<u8, CliError> {
    let answer = api.post(&format!("/api/v1/{action}"), Some(json!({ "ids": ids })))?;
    let done: Vec<String> = answer
        .get("done")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let failed: Vec<(String, String)> = answer
        .get("failed")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|f| {
                    let field =
                        |k: &str| f.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                    (
                        field("id"),
                        format!("{} ({})", field("message"), field("code")),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let verb = match action {
        "hold" => "held",
        "release" => "released",
        _ => "bounced",
    };
    Ok(report(&done, &failed, verb))
}

fn delete_each(api: &ApiClient, ids: Vec<String>) -> Result<u8, CliError> {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for id in ids {
        match api.delete(&format!("/api/v1/queue/{}", percent_encode(&id))) {
            Ok(_) => done.push(id),
            Err(CliError::Refused { code, message, .. }) => {
                failed.push((id, format!("{message} ({code})")))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(report(&done, &failed, "deleted"))
}

/// `backupmx hash-password`: reads the password (one line on stdin, or a prompt) and prints its hash.
pub fn hash_password() -> ExitCode {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password (shown as you type): ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    if let Err(e) = stdin.lock().read_line(&mut line) {
        eprintln!("backupmx: cannot read the password: {e}");
        return ExitCode::from(client::EXIT_USAGE);
    }
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!("backupmx: empty password");
        return ExitCode::from(client::EXIT_USAGE);
    }
    match backupmx::admin::credentials::hash_password(password) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("backupmx: {e}");
            ExitCode::from(EXIT_REFUSED)
        }
    }
}
