//! `backupmx domains add NAME [...] | remove NAME | show NAME | list`: domain provisioning through
//! the running server's JSON API (`/api/v1/domains/...`). `add` takes the `[[domain]]` keys as flags
//! or as a JSON object in `--json-file` (read here: the one file this command reads); flags given
//! beside the file override its keys.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::client::{ApiClient, CliError};
use super::format::table;
use super::{Target, finish, percent_encode, print_json};

#[derive(Subcommand, Debug)]
pub enum DomainsCommand {
    /// Provision a domain (or replace a provisioned domain's settings): it accepts mail at once.
    Add {
        name: String,
        #[command(flatten)]
        settings: Box<DomainFlags>,
    },
    /// Remove a provisioned domain: no new mail; what is queued for it is still delivered.
    Remove { name: String },
    /// A domain's settings in force and where it comes from (config file or API).
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Every domain (configured and provisioned) with its origin and queue.
    List {
        #[arg(long)]
        json: bool,
    },
}

/// The `[[domain]]` keys (docs/config.md), as flags.
#[derive(Args, Debug, Default)]
pub struct DomainFlags {
    /// A JSON object with the keys of a `[[domain]]` table (flags override its keys).
    #[arg(long, value_name = "FILE")]
    json_file: Option<PathBuf>,
    /// Static primary, HOST[:PORT] (default: MX routing).
    #[arg(long, value_name = "HOST[:PORT]")]
    primary: Option<String>,
    /// Also accept mail for subdomains.
    #[arg(long)]
    subdomains: bool,
    /// Outbound TLS: auto, opportunistic, require or none.
    #[arg(long)]
    tls: Option<String>,
    #[arg(long, value_name = "NAME")]
    tls_name: Option<String>,
    /// accept_all, list or verify.
    #[arg(long)]
    recipients: Option<String>,
    #[arg(long, value_name = "FILE")]
    recipient_list: Option<String>,
    /// accept or tempfail.
    #[arg(long)]
    unknown_when_down: Option<String>,
    #[arg(long)]
    accept_only_when_primary_down: bool,
    /// off, tag or enforce.
    #[arg(long)]
    sender_checks: Option<String>,
    /// e.g. 14d.
    #[arg(long, value_name = "DURATION")]
    max_lifetime: Option<String>,
    #[arg(long, value_name = "N")]
    max_messages: Option<u64>,
    #[arg(long, value_name = "BYTES")]
    max_bytes: Option<u64>,
}

impl DomainFlags {
    /// The JSON body: the file's object, then the flags given.
    fn body(&self) -> Result<Value, CliError> {
        let mut body = match &self.json_file {
            Some(file) => read_object(file)?,
            None => Map::new(),
        };
        let mut set = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                body.insert(key.to_string(), value);
            }
        };
        set("primary", self.primary.clone().map(Value::from));
        set("subdomains", self.subdomains.then_some(Value::Bool(true)));
        set("tls", self.tls.clone().map(Value::from));
        set("tls_name", self.tls_name.clone().map(Value::from));
        set("recipients", self.recipients.clone().map(Value::from));
        set(
            "recipient_list",
            self.recipient_list.clone().map(Value::from),
        );
        set(
            "unknown_when_down",
            self.unknown_when_down.clone().map(Value::from),
        );
        set(
            "accept_only_when_primary_down",
            self.accept_only_when_primary_down
                .then_some(Value::Bool(true)),
        );
        set("sender_checks", self.sender_checks.clone().map(Value::from));
        set("max_lifetime", self.max_lifetime.clone().map(Value::from));
        set("max_messages", self.max_messages.map(Value::from));
        set("max_bytes", self.max_bytes.map(Value::from));
        Ok(Value::Object(body))
    }
}

fn read_object(file: &PathBuf) -> Result<Map<String, Value>, CliError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(CliError::Usage(format!(
            "{}: expected a JSON object with the keys of a [[domain]] table",
            file.display()
        ))),
        Err(e) => Err(CliError::Usage(format!(
            "{}: not JSON: {e}",
            file.display()
        ))),
    }
}

/// `backupmx domains ...`.
pub fn domains(target: Target, command: DomainsCommand) -> ExitCode {
    finish((|| {
        let api = target.client()?;
        run(&api, command)
    })())
}

fn path(name: &str) -> String {
    format!("/api/v1/domains/{}", percent_encode(name))
}

fn run(api: &ApiClient, command: DomainsCommand) -> Result<u8, CliError> {
    match command {
        DomainsCommand::Add { name, settings } => {
            let answer = api.put(&path(&name), settings.body()?)?;
            let action = answer
                .get("action")
                .and_then(Value::as_str)
                .unwrap_or("added");
            println!("{}: {action}; it accepts mail now", text(&answer, "name"));
            Ok(0)
        }
        DomainsCommand::Remove { name } => {
            let answer = api.delete(&path(&name))?;
            println!(
                "{}: removed; no new mail is accepted, what is queued is still delivered",
                text(&answer, "name")
            );
            Ok(0)
        }
        DomainsCommand::Show { name, json } => {
            let view = api.get(&path(&name))?;
            if json {
                print_json(&view);
            } else {
                print!("{}", show_text(&view));
            }
            Ok(0)
        }
        DomainsCommand::List { json } => {
            let listing = api.get("/api/v1/domains")?;
            if json {
                print_json(&listing);
            } else {
                print!("{}", list_text(&listing));
            }
            Ok(0)
        }
    }
}

fn text(value: &Value, key: &str) -> String {
    match value.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    }
}

/// `name (origin)` and one `key = value` line per setting in force.
fn show_text(view: &Value) -> String {
    let mut out = format!("{} (from {})\n", text(view, "name"), text(view, "origin"));
    let settings = view.get("settings").cloned().unwrap_or(json!({}));
    for (key, value) in settings.as_object().into_iter().flatten() {
        if key == "name" || value.is_null() {
            continue;
        }
        let shown = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_string);
        out.push_str(&format!("  {key} = {shown}\n"));
    }
    out
}

fn list_text(listing: &Value) -> String {
    let rows: Vec<Vec<String>> = listing
        .get("domains")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|d| {
            let origin = match (text(d, "origin").as_str(), d.get("removed")) {
                (_, Some(Value::Bool(true))) => "removed, draining".to_string(),
                (origin, _) => origin.to_string(),
            };
            vec![
                text(d, "domain"),
                origin,
                text(d, "state"),
                text(d, "messages"),
            ]
        })
        .collect();
    table(&["DOMAIN", "ORIGIN", "PRIMARY", "MESSAGES"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_and_only_given_flags_are_sent() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("d.json");
        std::fs::write(&file, r#"{"primary": "a:1", "max_messages": 3}"#).unwrap();
        let flags = DomainFlags {
            json_file: Some(file),
            primary: Some("b:2".into()),
            max_bytes: Some(10),
            ..DomainFlags::default()
        };
        assert_eq!(
            flags.body().unwrap(),
            json!({"primary": "b:2", "max_messages": 3, "max_bytes": 10})
        );
        assert_eq!(DomainFlags::default().body().unwrap(), json!({}));
    }

    #[test]
    fn the_listing_names_the_origin() {
        let listing = json!({"domains": [
            {"domain": "a.test", "origin": "config", "state": "up", "messages": 0},
            {"domain": "b.test", "origin": "api", "state": "unknown", "messages": 2},
            {"domain": "c.test", "origin": null, "removed": true, "state": "down", "messages": 1},
        ]});
        let text = list_text(&listing);
        assert!(text.contains("b.test"), "{text}");
        assert!(text.contains("api"), "{text}");
        assert!(text.contains("removed, draining"), "{text}");
    }
}
