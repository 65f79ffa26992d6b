//! Config errors: every problem found in a file, each with its location and dotted key path.

use std::fmt;

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigError {
    /// The file name (or the origin given to `Config::from_toml_str`).
    pub file: String,
    /// 1-based line; `None` when the problem has no place in the text (e.g. the file is unreadable).
    pub line: Option<usize>,
    /// 1-based column (in characters), when `line` is known.
    pub column: Option<usize>,
    /// Dotted key path such as `domain[1].primary` or `queue.retry[2]`; empty for syntax errors.
    pub key: String,
    pub message: String,
}

impl ConfigError {
    /// `FILE:LINE: KEY: message` (parts that are unknown are left out).
    fn render(&self) -> String {
        let mut out = self.file.clone();
        if let Some(line) = self.line {
            out.push_str(&format!(":{line}"));
        }
        out.push_str(": ");
        if !self.key.is_empty() {
            out.push_str(&self.key);
            out.push_str(": ");
        }
        out.push_str(&self.message);
        out
    }
}

/// Every error found while loading one config; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    /// Sorted by position in the file.
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.errors.iter()
    }

    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Always false for errors returned by the loader; present for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// One error that is not tied to a line, such as an unreadable file.
    pub fn whole_file(file: &str, message: impl Into<String>) -> Self {
        ConfigErrors {
            errors: vec![ConfigError {
                file: file.to_string(),
                line: None,
                column: None,
                key: String::new(),
                message: message.into(),
            }],
        }
    }
}

/// One error per line, `FILE:LINE: KEY: message`.
impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.errors.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}
