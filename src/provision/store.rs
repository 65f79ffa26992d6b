//! The provisioned domains' store file, `<state_dir>/domains.toml`: read at start (through
//! `config::provisioned`, which checks it like the config file), replaced whole and durably on every
//! change (`durable::replace`: temporary file, fsync, rename, fsync of the directory). The only
//! writer of that file.

use std::path::{Path, PathBuf};

use crate::config::ConfigErrors;
use crate::config::provisioned::{DomainSet, ProvisionedDomains, STORE_FILE, load_store};
use crate::durable::{self, WriteError};

/// The store file and what it holds now.
#[derive(Debug)]
pub struct DomainStore {
    path: PathBuf,
    domains: ProvisionedDomains,
}

impl DomainStore {
    /// Reads `<state_dir>/domains.toml` (none yet: an empty store); `default_port` completes a
    /// primary written without a port. Errors name the file, line and key.
    pub fn open(
        state_dir: &Path,
        default_port: u16,
    ) -> Result<(DomainStore, DomainSet), ConfigErrors> {
        let path = state_dir.join(STORE_FILE);
        let (domains, set) = load_store(&path, default_port)?;
        Ok((DomainStore { path, domains }, set))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn domains(&self) -> &ProvisionedDomains {
        &self.domains
    }

    /// Makes `domains` the store's content: on disk first (durably), then in memory. On error the
    /// file and the memory keep the old content.
    pub fn replace(&mut self, domains: ProvisionedDomains) -> Result<(), WriteError> {
        durable::replace(&self.path, domains.render().as_bytes(), 0o600)?;
        self.domains = domains;
        Ok(())
    }
}
