//! Domain provisioning for hosters (issue 16): domains added and removed through the admin API
//! (`PUT`/`DELETE /api/v1/domains/{name}`, `backupmx domains`), kept in the store file
//! (`store.rs`) and applied live through the daemon's reload task, the same path as a config
//! reload: an added domain accepts mail at once, a removed one gets no new mail and its queue drains.
//!
//! [`plan_change`] is the pure core: it checks a change against the config in force and the store
//! and returns the store and config to put in force. The admin layer only sends [`DomainChange`]s
//! (it never writes the file); the daemon's reload task plans, writes and applies them one at a time,
//! so a change and a reload never interleave.

mod store;

pub use store::DomainStore;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::config::Config;
use crate::config::provisioned::{ProvisionedDomains, SettingError, domain_from_table};

/// A change asked for through the API.
#[derive(Debug, Clone, PartialEq)]
pub enum DomainChange {
    /// Adds the domain, or replaces its settings (a JSON object with the keys of a `[[domain]]`).
    Put {
        name: String,
        settings: Value,
    },
    Remove {
        name: String,
    },
}

/// What a change did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ChangeReport {
    /// The normalised domain name.
    pub name: String,
    /// `added`, `replaced` or `removed`.
    pub action: &'static str,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChangeError {
    /// The settings fail the `[[domain]]` checks: each error names its key.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<SettingError>),
    #[error(
        "{0} is a [[domain]] of the config file; change it there (the config file's domains cannot be provisioned)"
    )]
    DefinedInConfig(String),
    #[error("{0} is not a provisioned domain")]
    NotProvisioned(String),
    #[error("cannot save the provisioned domains: {0}")]
    Store(String),
    #[error("this server does not take domain changes (shutting down?)")]
    Unavailable,
}

impl ChangeError {
    /// The API's stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ChangeError::Invalid(_) => "invalid_domain",
            ChangeError::DefinedInConfig(_) => "defined_in_config",
            ChangeError::NotProvisioned(_) => "not_provisioned",
            ChangeError::Store(_) => "store_failed",
            ChangeError::Unavailable => "provisioning_unavailable",
        }
    }
}

pub type ChangeResult = Result<ChangeReport, ChangeError>;

/// The admin layer's side of the daemon's reload task: a change and where to send its result.
pub type DomainRequests = mpsc::Sender<(DomainChange, oneshot::Sender<ChangeResult>)>;
pub type DomainInbox = mpsc::Receiver<(DomainChange, oneshot::Sender<ChangeResult>)>;

/// A checked change: the store and the config to put in force.
#[derive(Debug)]
pub struct Planned {
    pub store: ProvisionedDomains,
    pub config: Config,
    pub report: ChangeReport,
}

/// Checks `change` against the config in force (`running`, the config file's domains plus the
/// provisioned ones) and the store's content.
pub fn plan_change(
    running: &Config,
    store: &ProvisionedDomains,
    change: &DomainChange,
) -> Result<Planned, ChangeError> {
    match change {
        DomainChange::Put { name, settings } => {
            let (table, mut errors) = table_from_json(settings);
            let checked = domain_from_table(name, table, running.delivery.port);
            if let Err(more) = &checked {
                errors.extend(more.iter().cloned());
            }
            let (name, table, set) = match checked {
                Ok(checked) if errors.is_empty() => checked,
                _ => return Err(ChangeError::Invalid(errors)),
            };
            if running.defines_in_file(&name) {
                return Err(ChangeError::DefinedInConfig(name));
            }
            let action = if store.contains(&name) {
                "replaced"
            } else {
                "added"
            };
            let mut next = store.clone();
            next.insert(&name, table);
            let (config, _) = running
                .clone()
                .without_provisioned(&name)
                .with_provisioned(&set);
            Ok(Planned {
                store: next,
                config,
                report: ChangeReport { name, action },
            })
        }
        DomainChange::Remove { name } => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let mut next = store.clone();
            if !next.remove(&name) {
                return Err(match running.defines_in_file(&name) {
                    true => ChangeError::DefinedInConfig(name),
                    false => ChangeError::NotProvisioned(name),
                });
            }
            // A stored name the config file also has (a clash: the file's is in force) leaves the
            // store and nothing else changes; `without_provisioned` keeps the file's domain.
            Ok(Planned {
                store: next,
                config: running.clone().without_provisioned(&name),
                report: ChangeReport {
                    name,
                    action: "removed",
                },
            })
        }
    }
}

/// A JSON object → the `[[domain]]` table it stands for, and the keys it cannot carry. JSON has no
/// durations or paths: they are strings, as in the file; `null` has no TOML form and is refused
/// (leave the key out).
fn table_from_json(settings: &Value) -> (toml::Table, Vec<SettingError>) {
    let Value::Object(map) = settings else {
        let error = SettingError {
            key: String::new(),
            message: "the body must be a JSON object with the keys of a [[domain]] table".into(),
        };
        return (toml::Table::new(), vec![error]);
    };
    let mut table = toml::Table::new();
    let mut errors = Vec::new();
    for (key, value) in map {
        match toml_value(value) {
            Some(value) => {
                table.insert(key.clone(), value);
            }
            None => errors.push(SettingError {
                key: key.clone(),
                message: "null (or a null inside) is not a value: leave the key out".into(),
            }),
        }
    }
    (table, errors)
}

fn toml_value(value: &Value) -> Option<toml::Value> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(items) => {
            toml::Value::Array(items.iter().map(toml_value).collect::<Option<_>>()?)
        }
        Value::Object(map) => {
            let mut table = toml::Table::new();
            for (k, v) in map {
                table.insert(k.clone(), toml_value(v)?);
            }
            toml::Value::Table(table)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn running() -> Config {
        Config::from_toml_str(
            "[[domain]]\nname = \"file.test\"\nprimary = \"127.0.0.1:2\"\n",
            "t.toml",
        )
        .unwrap()
    }

    fn put(name: &str, settings: Value) -> DomainChange {
        DomainChange::Put {
            name: name.into(),
            settings,
        }
    }

    #[test]
    fn a_put_adds_then_replaces_and_a_remove_takes_it_away() {
        let running = running();
        let store = ProvisionedDomains::default();
        let added = plan_change(
            &running,
            &store,
            &put(
                "New.Test",
                json!({"primary": "127.0.0.1:3", "max_messages": 5}),
            ),
        )
        .unwrap();
        assert_eq!(added.report.action, "added");
        assert_eq!(added.report.name, "new.test");
        assert!(added.config.provisioned.contains("new.test"));
        assert_eq!(added.config.domains.len(), 2);
        let replaced = plan_change(
            &added.config,
            &added.store,
            &put("new.test", json!({"primary": "127.0.0.1:4"})),
        )
        .unwrap();
        assert_eq!(replaced.report.action, "replaced");
        assert_eq!(replaced.config.domains.len(), 2);
        let domain = &replaced.config.domains[1];
        assert_eq!(domain.primary.as_ref().map(|p| p.port), Some(4));
        assert_eq!(domain.limits.max_messages, None);
        // A clash (the file's domain in force): the stored entry goes, the file's stays.
        let mut clashing = ProvisionedDomains::default();
        clashing.insert("file.test", toml::Table::new());
        let cleared = plan_change(
            &running,
            &clashing,
            &DomainChange::Remove {
                name: "file.test".into(),
            },
        )
        .unwrap();
        assert_eq!(cleared.config, running);
        assert!(!cleared.store.contains("file.test"));
        let removed = plan_change(
            &replaced.config,
            &replaced.store,
            &DomainChange::Remove {
                name: "NEW.test.".into(),
            },
        )
        .unwrap();
        assert_eq!(removed.config, running);
        assert!(!removed.store.contains("new.test"));
    }

    #[test]
    fn refusals_have_their_codes() {
        let running = running();
        let store = ProvisionedDomains::default();
        let refuse = |change: DomainChange| plan_change(&running, &store, &change).unwrap_err();
        let clash = refuse(put("file.test", json!({})));
        assert_eq!(clash.code(), "defined_in_config");
        assert_eq!(
            refuse(DomainChange::Remove {
                name: "file.test".into()
            })
            .code(),
            "defined_in_config"
        );
        assert_eq!(
            refuse(DomainChange::Remove {
                name: "none.test".into()
            })
            .code(),
            "not_provisioned"
        );
        let invalid = refuse(put("x.test", json!({"max_bytes": "lots", "tls": null})));
        assert_eq!(invalid.code(), "invalid_domain");
        let text = invalid.to_string();
        assert!(text.contains("max_bytes: "), "{text}");
        assert!(text.contains("tls: null"), "{text}");
        assert_eq!(refuse(put("x.test", json!([1]))).code(), "invalid_domain");
    }
}
