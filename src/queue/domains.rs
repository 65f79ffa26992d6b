//! The domains the queue delivers for: those of the config in force, and those a config reload
//! removed while mail for them was still queued. A removed domain gets no new mail (the relay
//! policy no longer names it) but keeps its route (a static primary, its TLS policy) until its queue
//! has drained; the console shows it as "removed, draining".

use crate::config::{Config, DomainConfig};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DomainTable {
    pub active: Vec<DomainConfig>,
    /// Removed by a reload; delivered to until restart (or until configured again).
    pub draining: Vec<DomainConfig>,
}

impl DomainTable {
    pub fn new(config: &Config) -> DomainTable {
        DomainTable {
            active: config.domains.clone(),
            draining: Vec::new(),
        }
    }

    /// The settings a destination is delivered with: configured, else draining.
    pub fn find(&self, name: &str) -> Option<&DomainConfig> {
        self.active
            .iter()
            .chain(&self.draining)
            .find(|d| d.name == name)
    }

    pub fn is_draining(&self, name: &str) -> bool {
        self.draining.iter().any(|d| d.name == name)
    }

    /// The table after a reload put `config` in force and removed `removed`: a domain configured
    /// again stops draining.
    pub fn after_reload(&self, config: &Config, removed: &[DomainConfig]) -> DomainTable {
        let configured = |name: &str| config.domains.iter().any(|d| d.name == name);
        let mut draining: Vec<DomainConfig> = Vec::new();
        for domain in self.draining.iter().chain(removed) {
            if !configured(&domain.name) && !draining.iter().any(|d| d.name == domain.name) {
                draining.push(domain.clone());
            }
        }
        DomainTable {
            active: config.domains.clone(),
            draining,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DomainTable;
    use crate::config::Config;

    fn config(domains: &[&str]) -> Config {
        let mut text = String::from("hostname = \"mx.test\"\n");
        for name in domains {
            text.push_str(&format!(
                "[[domain]]\nname = \"{name}\"\nprimary = \"127.0.0.1:2\"\n"
            ));
        }
        Config::from_toml_str(&text, "t.toml").unwrap()
    }

    #[test]
    fn a_removed_domain_keeps_its_route_until_configured_again() {
        let first = config(&["a.test", "b.test"]);
        let table = DomainTable::new(&first);
        let second = config(&["b.test"]);
        let removed = vec![first.domains[0].clone()];
        let table = table.after_reload(&second, &removed);
        assert!(table.is_draining("a.test"));
        assert_eq!(
            table.find("a.test").map(|d| d.primary.is_some()),
            Some(true)
        );
        assert!(!table.is_draining("b.test"));
        // Removed twice: listed once.
        let table = table.after_reload(&second, &removed);
        assert_eq!(table.draining.len(), 1);
        // Configured again: no longer draining.
        let table = table.after_reload(&first, &[]);
        assert!(table.draining.is_empty());
        assert!(table.find("a.test").is_some());
    }
}
