//! Domains provisioned through the admin API (issue 16): their settings are `[[domain]]` tables, read
//! and validated by the same code as the config file's (the same keys, the same messages), kept in
//! the store file `<state_dir>/domains.toml` (written by `provision::store`, read here), and merged
//! beside the config file's own domains. A name in both is a clash: the config file's `[[domain]]`
//! is in force and the provisioned one is left out (never merged key by key); the caller logs it.

use std::collections::BTreeMap;
use std::path::Path;

use toml::de::DeTable;

use super::error::{ConfigError, ConfigErrors};
use super::reader::{Collector, Section};
use super::{Config, DomainConfig, DomainRecipients, SenderChecks};

/// The store's file name, in the state directory (`[admin] state_dir`, else the spool directory).
pub const STORE_FILE: &str = "domains.toml";

/// The first lines of the store file.
const STORE_HEADER: &str = "# Domains provisioned through the backupmx admin API (PUT /api/v1/domains/NAME,\n\
# `backupmx domains add`). Written by the server: change them through the API, not here.\n\n";

/// The provisioned domains' settings as given: one `[[domain]]` table each, by normalised name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProvisionedDomains {
    tables: BTreeMap<String, toml::Table>,
}

/// Validated domains with the per-domain settings that live outside [`DomainConfig`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DomainSet {
    pub domains: Vec<DomainConfig>,
    pub recipients: BTreeMap<String, DomainRecipients>,
    pub sender_checks: BTreeMap<String, SenderChecks>,
}

/// One problem with a domain's settings given through the API: the `[[domain]]` key and the message
/// the config file would get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    /// The key inside the table (`primary`, `max_bytes`...), empty when about the table as a whole.
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for SettingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

impl ProvisionedDomains {
    pub fn contains(&self, name: &str) -> bool {
        self.tables.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tables.keys().map(String::as_str)
    }

    /// Adds or replaces `name`'s settings (validated by [`domain_from_table`]).
    pub fn insert(&mut self, name: &str, table: toml::Table) {
        self.tables.insert(name.to_string(), table);
    }

    pub fn remove(&mut self, name: &str) -> bool {
        self.tables.remove(name).is_some()
    }

    /// The store file's text: a comment, then one `[[domain]]` table per domain, by name.
    pub fn render(&self) -> String {
        store_text(self.tables.keys().filter_map(|name| self.table_text(name)))
    }

    /// `name`'s `[[domain]]` table in the config file's syntax (what a cluster shares per domain).
    pub fn table_text(&self, name: &str) -> Option<String> {
        let table = self.tables.get(name)?;
        let mut file = toml::Table::new();
        file.insert(
            "domain".into(),
            toml::Value::Array(vec![toml::Value::Table(table.clone())]),
        );
        // A table of strings, numbers and booleans always renders.
        Some(toml::to_string(&file).unwrap_or_default())
    }

    /// Validates every domain of the store (with `default_port` for a primary without a port).
    pub fn validate(&self, origin: &str, default_port: u16) -> Result<DomainSet, ConfigErrors> {
        parse(&self.render(), origin, default_port).map(|(_, set)| set)
    }
}

/// A store file's text from `[[domain]]` tables written by [`ProvisionedDomains::table_text`].
pub fn store_text(tables: impl IntoIterator<Item = String>) -> String {
    let mut out = String::from(STORE_HEADER);
    for table in tables {
        out.push_str(&table);
        out.push('\n');
    }
    out
}

/// Reads the store file; a missing file is an empty store. Errors name the file, line and key.
pub fn load_store(
    path: &Path,
    default_port: u16,
) -> Result<(ProvisionedDomains, DomainSet), ConfigErrors> {
    let origin = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        // No state directory yet (or a file where it should be, which the spool's start reports):
        // nothing was provisioned.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            String::new()
        }
        Err(e) => {
            return Err(ConfigErrors::whole_file(
                &origin,
                format!("cannot read the provisioned domains: {e}"),
            ));
        }
    };
    parse(&text, &origin, default_port)
}

/// Parses store text: only `[[domain]]` tables, each checked like the config file's.
pub fn parse(
    text: &str,
    origin: &str,
    default_port: u16,
) -> Result<(ProvisionedDomains, DomainSet), ConfigErrors> {
    let mut c = Collector::new(origin, text);
    let (tree, syntax_errors) = DeTable::parse_recoverable(text);
    if !syntax_errors.is_empty() {
        for error in &syntax_errors {
            c.error(&error.span().unwrap_or(0..0), "", error.message());
        }
        return Err(ConfigErrors { errors: c.finish() });
    }
    let root = Section::root(&tree);
    root.check_keys(&mut c, &["domain"]);
    let mut set = DomainSet::default();
    if root.has("domain") {
        set.domains = super::domains::build_domains(
            &root,
            &mut c,
            default_port,
            &mut set.recipients,
            &mut set.sender_checks,
        );
    }
    let errors = c.finish();
    if !errors.is_empty() {
        return Err(ConfigErrors { errors });
    }
    // The text is valid TOML (checked above), so the plain parse succeeds too.
    let plain: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigErrors::whole_file(origin, e.message().to_string()))?;
    let mut store = ProvisionedDomains::default();
    let tables = plain.get("domain").and_then(toml::Value::as_array);
    for (table, domain) in tables.into_iter().flatten().zip(&set.domains) {
        if let Some(table) = table.as_table() {
            let mut table = table.clone();
            table.insert("name".into(), toml::Value::String(domain.name.clone()));
            store.insert(&domain.name, table);
        }
    }
    Ok((store, set))
}

/// Checks one domain's settings (a `[[domain]]` table without, or with the same, `name`) as the
/// config file's would be; returns the normalised name, the table to store and the domain.
pub fn domain_from_table(
    name: &str,
    mut table: toml::Table,
    default_port: u16,
) -> Result<(String, toml::Table, DomainSet), Vec<SettingError>> {
    let given = table.remove("name");
    let mut single = ProvisionedDomains::default();
    table.insert("name".into(), toml::Value::String(name.to_string()));
    single.insert(name, table);
    let (store, set) = parse(&single.render(), "request", default_port).map_err(|errors| {
        errors
            .errors
            .into_iter()
            .map(|e| SettingError {
                key: inner_key(&e),
                message: e.message,
            })
            .collect::<Vec<_>>()
    })?;
    let Some(domain) = set.domains.first() else {
        return Err(vec![SettingError {
            key: "name".into(),
            message: "missing".into(),
        }]);
    };
    let normalised = domain.name.clone();
    if let Some(given) = given {
        let same = given
            .as_str()
            .is_some_and(|g| g.trim_end_matches('.').eq_ignore_ascii_case(&normalised));
        if !same {
            return Err(vec![SettingError {
                key: "name".into(),
                message: format!("{given} differs from the domain in the path ({normalised:?})"),
            }]);
        }
    }
    let table = store.tables.into_values().next().unwrap_or_default();
    Ok((normalised, table, set))
}

/// `domain[0].primary` → `primary`.
fn inner_key(error: &ConfigError) -> String {
    match error.key.split_once('.') {
        Some((_, rest)) => rest.to_string(),
        None if error.key.starts_with("domain") => String::new(),
        None => error.key.clone(),
    }
}

impl Config {
    /// Adds the provisioned `set` beside the config file's domains. A name the config already has is
    /// left out and returned (the config file's `[[domain]]` stays in force).
    pub fn with_provisioned(mut self, set: &DomainSet) -> (Config, Vec<String>) {
        let mut clashes = Vec::new();
        for domain in &set.domains {
            if self.domains.iter().any(|d| d.name == domain.name) {
                clashes.push(domain.name.clone());
                continue;
            }
            self.domains.push(domain.clone());
            if let Some(policy) = set.recipients.get(&domain.name) {
                self.recipients
                    .domains
                    .insert(domain.name.clone(), policy.clone());
            }
            if let Some(mode) = set.sender_checks.get(&domain.name) {
                self.checks.sender_checks.insert(domain.name.clone(), *mode);
            }
            self.provisioned.insert(domain.name.clone());
        }
        (self, clashes)
    }

    /// The config without the provisioned domain `name` (unchanged when `name` is not provisioned).
    pub fn without_provisioned(mut self, name: &str) -> Config {
        if self.provisioned.remove(name) {
            self.domains.retain(|d| d.name != name);
            self.recipients.domains.remove(name);
            self.checks.sender_checks.remove(name);
        }
        self
    }

    /// Whether `name` is one of this config's domains from the config file (not provisioned).
    pub fn defines_in_file(&self, name: &str) -> bool {
        !self.provisioned.contains(name) && self.domains.iter().any(|d| d.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn a_domain_is_checked_like_a_config_table() {
        let (name, stored, set) = domain_from_table(
            "Shop.Example.",
            table("primary = \"mail.shop.example:2525\"\nmax_messages = 10"),
            25,
        )
        .unwrap();
        assert_eq!(name, "shop.example");
        assert_eq!(set.domains[0].primary.as_ref().unwrap().port, 2525);
        assert_eq!(set.domains[0].limits.max_messages, Some(10));
        assert_eq!(stored["name"].as_str(), Some("shop.example"));
        let errors = domain_from_table(
            "a.test",
            table("primary = \"\"\nmax_bytes = -1\nnope = 1"),
            25,
        )
        .unwrap_err();
        let mut keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        keys.sort();
        assert_eq!(keys, ["max_bytes", "nope", "primary"], "{errors:?}");
        let unknown = errors.iter().find(|e| e.key == "nope").unwrap();
        assert!(unknown.message.starts_with("unknown key"), "{errors:?}");
        let renamed = domain_from_table("a.test", table("name = \"b.test\""), 25).unwrap_err();
        assert_eq!(renamed[0].key, "name");
        assert!(domain_from_table("bad domain", toml::Table::new(), 25).is_err());
    }

    #[test]
    fn the_store_renders_and_reads_back() {
        let mut store = ProvisionedDomains::default();
        for (name, text) in [
            ("b.test", "subdomains = true"),
            ("a.test", "primary = \"h:1\""),
        ] {
            let (name, stored, _) = domain_from_table(name, table(text), 25).unwrap();
            store.insert(&name, stored);
        }
        let text = store.render();
        let (read, set) = parse(&text, "domains.toml", 25).unwrap();
        assert_eq!(read, store);
        let names: Vec<&str> = set.domains.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["a.test", "b.test"]);
        let error = parse("[[domain]]\nname = \"a.test\"\nprimary = 5\n", "d.toml", 25)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("d.toml:3: domain[0].primary:"), "{error}");
        assert!(parse("", "d.toml", 25).unwrap().1.domains.is_empty());
    }

    #[test]
    fn the_config_file_wins_a_clash_and_removal_takes_only_provisioned_domains() {
        let config = Config::from_toml_str("[[domain]]\nname = \"a.test\"\n", "t.toml").unwrap();
        let text = "[[domain]]\nname = \"a.test\"\n[[domain]]\nname = \"b.test\"\nsender_checks = \"off\"\n";
        let (_, set) = parse(text, "d.toml", 25).unwrap();
        let (merged, clashes) = config.clone().with_provisioned(&set);
        assert_eq!(clashes, ["a.test"]);
        assert_eq!(merged.domains.len(), 2);
        assert!(merged.defines_in_file("a.test") && !merged.defines_in_file("b.test"));
        assert_eq!(merged.checks.sender_checks_for("b.test"), SenderChecks::Off);
        let back = merged
            .without_provisioned("b.test")
            .without_provisioned("a.test");
        assert_eq!(back, config);
    }
}
