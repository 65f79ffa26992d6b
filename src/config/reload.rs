//! What a config reload (SIGHUP, `backupmx reload`) may change in a running server, as a pure
//! function of the config in force and the newly loaded one: [`plan`] returns the config to apply
//! (the new one, with every setting that needs a restart kept at its running value), the keys that
//! changed but wait for a restart, and the domains added, removed and changed. The list of settings
//! that need a restart is [`RESTART_ONLY`]; docs/config.md repeats it.

use super::{Config, DomainConfig};

/// Settings read once at start (sockets, the spool, the resolver, the delivery client, the
/// scheduler, credentials): a reload keeps their running value and names them in the log.
pub const RESTART_ONLY: &[&str] = &[
    "hostname",
    "extra_names",
    "[smtp] listen",
    "[smtp] tls_listen",
    "[smtp] max_connections",
    "[smtp] command_timeout / data_timeout / greeting_delay / session_timeout",
    "[smtp] tls_cert / tls_key (turning STARTTLS on or off)",
    "[spool] dir",
    "[dns]",
    "[delivery]",
    "[queue]",
    "[admin] listen",
    "[admin] state_dir",
    "[admin] api_token / password_hash",
    "[admin] timeouts, connection caps, login locks and audit size",
    "[admin] tls_cert / tls_key (turning HTTPS on or off)",
];

/// What a reload did (the log, the API's answer, `backupmx reload`); `Err` holds the validation
/// errors, one `FILE:LINE: KEY: message` a line, when the file was refused.
pub type ReloadResult = Result<ReloadReport, String>;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReloadReport {
    pub summary: String,
    /// Changed settings that keep their running value until a restart.
    pub restart_needed: Vec<&'static str>,
}

/// The outcome of comparing the running config with a newly loaded one.
#[derive(Debug, Clone, PartialEq)]
pub struct ReloadPlan {
    /// The config to put in force.
    pub apply: Config,
    /// Settings that changed in the file but keep their running value until a restart.
    pub need_restart: Vec<&'static str>,
    pub added: Vec<String>,
    /// Domains no longer in the file: no new mail, their queue still drains.
    pub removed: Vec<DomainConfig>,
    pub changed: Vec<String>,
}

impl ReloadPlan {
    /// One line for the log: what the reload did.
    pub fn summary(&self) -> String {
        let list = |names: &[String]| {
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        };
        let removed: Vec<String> = self.removed.iter().map(|d| d.name.clone()).collect();
        format!(
            "domains added: {}; removed (draining): {}; changed: {}",
            list(&self.added),
            list(&removed),
            list(&self.changed)
        )
    }
}

/// Compares `running` with `loaded` (both valid).
pub fn plan(running: &Config, loaded: Config) -> ReloadPlan {
    let mut apply = loaded;
    let mut need_restart = Vec::new();
    let mut keep = |changed: bool, key: &'static str| {
        if changed {
            need_restart.push(key);
        }
    };
    keep(running.hostname != apply.hostname, RESTART_ONLY[0]);
    keep(running.extra_names != apply.extra_names, RESTART_ONLY[1]);
    let (old, new) = (&running.smtp, &apply.smtp);
    keep(old.listen != new.listen, RESTART_ONLY[2]);
    keep(old.tls_listen != new.tls_listen, RESTART_ONLY[3]);
    keep(old.max_connections != new.max_connections, RESTART_ONLY[4]);
    keep(
        (
            old.command_timeout,
            old.data_timeout,
            old.greeting_delay,
            old.session_timeout,
        ) != (
            new.command_timeout,
            new.data_timeout,
            new.greeting_delay,
            new.session_timeout,
        ),
        RESTART_ONLY[5],
    );
    keep(
        old.tls_cert.is_some() != new.tls_cert.is_some(),
        RESTART_ONLY[6],
    );
    keep(running.spool != apply.spool, RESTART_ONLY[7]);
    keep(running.dns != apply.dns, RESTART_ONLY[8]);
    keep(running.delivery != apply.delivery, RESTART_ONLY[9]);
    keep(running.queue != apply.queue, RESTART_ONLY[10]);
    let (old, new) = (&running.admin, &apply.admin);
    keep(old.listen != new.listen, RESTART_ONLY[11]);
    keep(old.state_dir != new.state_dir, RESTART_ONLY[12]);
    keep(
        (&old.api_token, &old.password_hash) != (&new.api_token, &new.password_hash),
        RESTART_ONLY[13],
    );
    keep(old.limits != new.limits, RESTART_ONLY[14]);
    keep(
        old.tls_cert.is_some() != new.tls_cert.is_some(),
        RESTART_ONLY[15],
    );

    // Keep the running values of everything read once at start.
    apply.hostname = running.hostname.clone();
    apply.extra_names = running.extra_names.clone();
    let smtp = &running.smtp;
    apply.smtp.listen = smtp.listen.clone();
    apply.smtp.tls_listen = smtp.tls_listen.clone();
    apply.smtp.max_connections = smtp.max_connections;
    apply.smtp.command_timeout = smtp.command_timeout;
    apply.smtp.data_timeout = smtp.data_timeout;
    apply.smtp.greeting_delay = smtp.greeting_delay;
    apply.smtp.session_timeout = smtp.session_timeout;
    if smtp.tls_cert.is_some() != apply.smtp.tls_cert.is_some() {
        apply.smtp.tls_cert = smtp.tls_cert.clone();
        apply.smtp.tls_key = smtp.tls_key.clone();
    }
    apply.spool = running.spool.clone();
    apply.dns = running.dns.clone();
    apply.delivery = running.delivery.clone();
    apply.queue = running.queue.clone();
    let admin = &running.admin;
    apply.admin.listen = admin.listen;
    apply.admin.state_dir = admin.state_dir.clone();
    apply.admin.api_token = admin.api_token.clone();
    apply.admin.password_hash = admin.password_hash.clone();
    apply.admin.limits = admin.limits.clone();
    if admin.tls_cert.is_some() != apply.admin.tls_cert.is_some() {
        apply.admin.tls_cert = admin.tls_cert.clone();
        apply.admin.tls_key = admin.tls_key.clone();
        apply.admin.allow_plaintext = admin.allow_plaintext;
    }

    let (added, removed, changed) = domain_changes(running, &apply);
    ReloadPlan {
        apply,
        need_restart,
        added,
        removed,
        changed,
    }
}

fn domain_changes(
    running: &Config,
    apply: &Config,
) -> (Vec<String>, Vec<DomainConfig>, Vec<String>) {
    let find =
        |config: &Config, name: &str| config.domains.iter().find(|d| d.name == name).cloned();
    let mut added = Vec::new();
    let mut changed = Vec::new();
    for domain in &apply.domains {
        match find(running, &domain.name) {
            None => added.push(domain.name.clone()),
            Some(old) => {
                let policy = |c: &Config| c.recipients.domains.get(&domain.name).cloned();
                if old != *domain || policy(running) != policy(apply) {
                    changed.push(domain.name.clone());
                }
            }
        }
    }
    let removed = running
        .domains
        .iter()
        .filter(|d| find(apply, &d.name).is_none())
        .cloned()
        .collect();
    (added, removed, changed)
}

#[cfg(test)]
mod tests {
    use super::plan;
    use crate::config::Config;

    fn config(extra: &str, domains: &[&str]) -> Config {
        let mut text = format!("hostname = \"mx.test\"\n{extra}\n");
        for name in domains {
            text.push_str(&format!("[[domain]]\nname = \"{name}\"\n"));
        }
        Config::from_toml_str(&text, "t.toml").unwrap()
    }

    #[test]
    fn domains_added_removed_and_changed_are_named() {
        let running = config("", &["a.test", "b.test"]);
        let mut loaded = config("", &["b.test", "c.test"]);
        loaded.domains[0].subdomains = true;
        let plan = plan(&running, loaded);
        assert_eq!(plan.added, ["c.test"]);
        assert_eq!(plan.removed.len(), 1);
        assert_eq!(plan.removed[0].name, "a.test");
        assert_eq!(plan.changed, ["b.test"]);
        assert!(plan.need_restart.is_empty(), "{:?}", plan.need_restart);
        assert_eq!(
            plan.summary(),
            "domains added: c.test; removed (draining): a.test; changed: b.test"
        );
    }

    #[test]
    fn restart_only_settings_keep_their_running_value_and_are_named() {
        let running = config(
            "[smtp]\nlisten = [\"127.0.0.1:2525\"]\n[spool]\ndir = \"/a\"",
            &["a.test"],
        );
        let loaded = config(
            "[smtp]\nlisten = [\"127.0.0.1:2526\"]\nmax_recipients = 7\n[spool]\ndir = \"/b\"",
            &["a.test"],
        );
        let plan = plan(&running, loaded);
        assert_eq!(plan.need_restart, ["[smtp] listen", "[spool] dir"]);
        assert_eq!(plan.apply.smtp.listen, running.smtp.listen);
        assert_eq!(plan.apply.spool, running.spool);
        // What may change, changes.
        assert_eq!(plan.apply.smtp.max_recipients, 7);
    }

    #[test]
    fn turning_the_console_https_on_waits_for_a_restart() {
        let pem = tempfile::NamedTempFile::new().unwrap();
        let path = pem.path().display();
        let running = config("", &["a.test"]);
        let tls = format!("[admin]\ntls_cert = \"{path}\"\ntls_key = \"{path}\"");
        let loaded = config(&tls, &["a.test"]);
        let plan = plan(&running, loaded.clone());
        assert_eq!(
            plan.need_restart,
            ["[admin] tls_cert / tls_key (turning HTTPS on or off)"]
        );
        assert_eq!(plan.apply.admin.tls_cert, None);
        // With HTTPS on in both, the pair's paths are applied (the reload reads the files again).
        let plan = super::plan(&loaded, loaded.clone());
        assert!(plan.need_restart.is_empty(), "{:?}", plan.need_restart);
        assert!(plan.apply.admin.tls_cert.is_some());
    }

    #[test]
    fn an_unchanged_file_changes_nothing() {
        let running = config("[limits]\nmax_errors = 5", &["a.test"]);
        let plan = plan(&running, running.clone());
        assert_eq!(plan.apply, running);
        assert!(plan.need_restart.is_empty() && plan.added.is_empty() && plan.changed.is_empty());
        assert!(plan.removed.is_empty());
    }
}
