//! `backupmx recipients lookup ADDRESS | purge ADDRESS | import FILE`: the recipient cache of the
//! running server, through the JSON API (`/api/v1/recipients/...`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{Value, json};

use super::client::{ApiClient, CliError};
use super::{Target, finish, percent_encode, print_json};

#[derive(Subcommand, Debug)]
pub enum RecipientsCommand {
    /// What the server knows about an address (cache entry, list match, domain policy).
    Lookup {
        address: String,
        #[arg(long)]
        json: bool,
    },
    /// Forget the cache entry of an address.
    Purge { address: String },
    /// Mark addresses as known: lines `ADDRESS` or `good ADDRESS` (known-good), `bad ADDRESS`
    /// (known-bad); `#` comments.
    Import { file: PathBuf },
}

/// `backupmx recipients ...`.
pub fn recipients(target: Target, command: RecipientsCommand) -> ExitCode {
    finish((|| {
        let api = target.client()?;
        run(&api, command)
    })())
}

fn run(api: &ApiClient, command: RecipientsCommand) -> Result<u8, CliError> {
    match command {
        RecipientsCommand::Lookup { address, json } => {
            let path = format!(
                "/api/v1/recipients/lookup?address={}",
                percent_encode(&address)
            );
            let view = api.get(&path)?;
            if json {
                print_json(&view);
            } else {
                print!("{}", lookup_text(&view));
            }
            Ok(0)
        }
        RecipientsCommand::Purge { address } => {
            let answer = api.post(
                "/api/v1/recipients/purge",
                Some(json!({ "address": address })),
            )?;
            let removed = answer.get("removed").and_then(Value::as_bool) == Some(true);
            println!(
                "{address}: {}",
                if removed {
                    "purged"
                } else {
                    "not in the cache"
                }
            );
            Ok(0)
        }
        RecipientsCommand::Import { file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
            let body = json!({ "text": text, "origin": file.display().to_string() });
            let answer = api.post("/api/v1/recipients/import", Some(body))?;
            let n = answer.get("imported").and_then(Value::as_u64).unwrap_or(0);
            println!("imported {n} addresses");
            Ok(0)
        }
    }
}

/// `key: value` lines of a look-up answer.
fn lookup_text(view: &Value) -> String {
    let field = |name: &str| match view.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".to_string(),
        Some(other) => other.to_string(),
    };
    let mut out = String::new();
    for (label, name) in [
        ("address", "key"),
        ("domain", "domain"),
        ("policy", "policy"),
        ("known", "state"),
        ("cache entry", "entry"),
    ] {
        out.push_str(&format!("{label}: {}\n", field(name)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_text_lists_the_fields() {
        let view = json!({"key": "a@x.test", "domain": "x.test", "policy": "verify",
                          "state": "good", "entry": null});
        assert_eq!(
            lookup_text(&view),
            "address: a@x.test\ndomain: x.test\npolicy: verify\nknown: good\ncache entry: -\n"
        );
    }
}
