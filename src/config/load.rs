//! Entry points: read a file (or the embedded default), parse TOML with spans, build and validate.

use std::path::Path;

use toml::de::DeTable;

use super::Config;
use super::build::build_config;
use super::error::ConfigErrors;
use super::reader::{Collector, Section};

/// The embedded default configuration (`src/config/default.toml`).
pub const EMBEDDED_DEFAULT_TOML: &str = include_str!("default.toml");

/// The origin shown in errors about the embedded default.
const EMBEDDED_ORIGIN: &str = "<embedded default>";

impl Config {
    /// Reads and validates the config file at `path`; errors name the file as given.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors::whole_file(&origin, format!("cannot read the config file: {e}"))
        })?;
        Config::from_toml_str(&text, &origin)
    }

    /// Parses and validates TOML text; `origin` is the file name shown in errors.
    /// Reports every syntax error, or (when the syntax is fine) every semantic error.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Config, ConfigErrors> {
        let mut collector = Collector::new(origin, text);
        let (table, syntax_errors) = DeTable::parse_recoverable(text);
        if !syntax_errors.is_empty() {
            // A recovered tree is a guess: checking its meaning would report errors that are not there.
            for error in &syntax_errors {
                collector.error(&error.span().unwrap_or(0..0), "", error.message());
            }
            return Err(ConfigErrors {
                errors: collector.finish(),
            });
        }
        let config = build_config(&Section::root(&table), &mut collector);
        let errors = collector.finish();
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors { errors })
        }
    }

    /// The embedded default; a unit test proves that it is valid.
    pub fn embedded_default() -> Config {
        match Config::from_toml_str(EMBEDDED_DEFAULT_TOML, EMBEDDED_ORIGIN) {
            Ok(config) => config,
            Err(errors) => panic!("the embedded default config is invalid:\n{errors}"),
        }
    }
}
