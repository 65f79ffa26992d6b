//! Which config file the admin commands (`status`, `queue`, `recipients`, `check-dns`) read to find the
//! running server, so they work from any directory: `--config`, then `BACKUPMX_CONFIG`, then
//! `/etc/backupmx/backupmx.toml`, then the embedded default (whose spool is `./backupmx-spool`, relative
//! to the current directory). The order is the pure [`choose`]; [`locate`] reads the environment.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use super::{Config, ConfigErrors};

/// The environment variable naming the config file.
pub const CONFIG_ENV: &str = "BACKUPMX_CONFIG";
/// Where a system install (the package, docs/deploy.md) keeps the config.
pub const SYSTEM_CONFIG: &str = "/etc/backupmx/backupmx.toml";

/// Where the config came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// `--config FILE`.
    Flag(PathBuf),
    /// `BACKUPMX_CONFIG=FILE`.
    Env(PathBuf),
    /// [`SYSTEM_CONFIG`], which exists.
    System(PathBuf),
    /// None of the above: the embedded default.
    EmbeddedDefault,
}

impl ConfigSource {
    /// The file to read (`None` for the embedded default).
    pub fn path(&self) -> Option<&Path> {
        match self {
            ConfigSource::Flag(p) | ConfigSource::Env(p) | ConfigSource::System(p) => Some(p),
            ConfigSource::EmbeddedDefault => None,
        }
    }

    /// Reads and validates the config this source names.
    pub fn load(&self) -> Result<Config, ConfigErrors> {
        match self.path() {
            Some(path) => Config::load(path),
            None => Ok(Config::embedded_default()),
        }
    }

    /// What was looked at, in order, to get here: shown when the server cannot be found through it.
    pub fn tried(&self) -> String {
        match self {
            ConfigSource::Flag(_) => format!("{self}"),
            ConfigSource::Env(_) => format!("--config (not given), then {self}"),
            ConfigSource::System(_) => {
                format!("--config (not given), {CONFIG_ENV} (not set), then {self}")
            }
            ConfigSource::EmbeddedDefault => format!(
                "--config (not given), {CONFIG_ENV} (not set), {SYSTEM_CONFIG} (not found), then {self}"
            ),
        }
    }
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::Flag(p) => write!(f, "--config {}", p.display()),
            ConfigSource::Env(p) => write!(f, "{CONFIG_ENV}={}", p.display()),
            ConfigSource::System(p) => write!(f, "{}", p.display()),
            ConfigSource::EmbeddedDefault => write!(
                f,
                "the embedded default (spool ./backupmx-spool in the current directory)"
            ),
        }
    }
}

/// The lookup order. `env` is `BACKUPMX_CONFIG` (an empty value counts as unset); `system_exists` tells
/// whether [`SYSTEM_CONFIG`] exists.
pub fn choose(flag: Option<PathBuf>, env: Option<OsString>, system_exists: bool) -> ConfigSource {
    if let Some(path) = flag {
        return ConfigSource::Flag(path);
    }
    if let Some(value) = env.filter(|v| !v.is_empty()) {
        return ConfigSource::Env(PathBuf::from(value));
    }
    if system_exists {
        return ConfigSource::System(PathBuf::from(SYSTEM_CONFIG));
    }
    ConfigSource::EmbeddedDefault
}

/// [`choose`] with this process's environment and file system.
pub fn locate(flag: Option<PathBuf>) -> ConfigSource {
    choose(
        flag,
        std::env::var_os(CONFIG_ENV),
        Path::new(SYSTEM_CONFIG).exists(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag() -> Option<PathBuf> {
        Some(PathBuf::from("/srv/a.toml"))
    }

    fn env() -> Option<OsString> {
        Some(OsString::from("/srv/b.toml"))
    }

    #[test]
    fn the_flag_wins_over_everything() {
        for e in [None, env()] {
            for system in [false, true] {
                assert_eq!(
                    choose(flag(), e.clone(), system),
                    ConfigSource::Flag("/srv/a.toml".into())
                );
            }
        }
    }

    #[test]
    fn then_the_environment_then_etc_then_the_embedded_default() {
        for system in [false, true] {
            assert_eq!(
                choose(None, env(), system),
                ConfigSource::Env("/srv/b.toml".into())
            );
        }
        assert_eq!(
            choose(None, None, true),
            ConfigSource::System(SYSTEM_CONFIG.into())
        );
        assert_eq!(choose(None, None, false), ConfigSource::EmbeddedDefault);
    }

    #[test]
    fn an_empty_environment_value_counts_as_unset() {
        assert_eq!(
            choose(None, Some(OsString::new()), false),
            ConfigSource::EmbeddedDefault
        );
    }

    #[test]
    fn each_source_says_what_was_tried_and_names_the_flag() {
        let tried = ConfigSource::EmbeddedDefault.tried();
        assert!(tried.starts_with("--config (not given), BACKUPMX_CONFIG (not set), /etc/backupmx/backupmx.toml (not found), then the embedded default"), "{tried}");
        assert!(tried.contains("./backupmx-spool"), "{tried}");
        let tried = ConfigSource::Env("/srv/b.toml".into()).tried();
        assert_eq!(
            tried,
            "--config (not given), then BACKUPMX_CONFIG=/srv/b.toml"
        );
        assert_eq!(
            ConfigSource::Flag("/srv/a.toml".into()).tried(),
            "--config /srv/a.toml"
        );
        assert!(
            ConfigSource::System(SYSTEM_CONFIG.into())
                .tried()
                .ends_with("then /etc/backupmx/backupmx.toml")
        );
    }

    #[test]
    fn the_embedded_default_loads() {
        assert!(ConfigSource::EmbeddedDefault.load().is_ok());
    }
}
