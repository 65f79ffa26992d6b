//! The syntax of recipient list files (`recipients = "list"`), pure: one entry a line — an address
//! (`user@example.test`), a whole domain (`@example.test`), or a local-part prefix pattern ending in
//! `*` (`sales+*@example.test`). `#` starts a comment (at the start of a line or after white space);
//! blank lines are ignored. A list file is an operator's settings file like the config itself, so
//! its syntax lives here: the config checks it at load time (`FILE:LINE` errors in `check-config`),
//! and `recipients::list` builds its look-up from the same entries when it (re)loads the file.

use crate::envelope::normalise_domain;

/// One line's meaning; local parts and domains lower-cased, domains without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListEntry {
    Address {
        local: String,
        domain: String,
    },
    Domain(String),
    /// (local-part prefix, domain)
    Prefix(String, String),
}

/// The first line that is not an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSyntaxError {
    /// 1-based.
    pub line: usize,
    pub message: String,
}

/// Parses a whole list file.
pub fn parse(text: &str) -> Result<Vec<ListEntry>, ListSyntaxError> {
    let mut entries = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        let entry = parse_entry(line).map_err(|message| ListSyntaxError {
            line: index + 1,
            message,
        })?;
        entries.push(entry);
    }
    Ok(entries)
}

/// Drops a `#` comment that starts the line or follows white space (a `#` inside an address stays).
fn strip_comment(line: &str) -> &str {
    let mut previous_blank = true;
    for (index, c) in line.char_indices() {
        if c == '#' && previous_blank {
            return &line[..index];
        }
        previous_blank = c.is_whitespace();
    }
    line
}

fn parse_entry(line: &str) -> Result<ListEntry, String> {
    if line.chars().any(char::is_whitespace) {
        return Err(format!("one entry a line expected, found {line:?}"));
    }
    let Some((local, domain)) = line.rsplit_once('@') else {
        return Err(format!(
            "{line:?} is not an address, @domain or local*@domain pattern"
        ));
    };
    let domain = normalise_domain(domain);
    if domain.is_empty() || domain.contains('*') || domain.starts_with('.') {
        return Err(format!("bad domain in {line:?}"));
    }
    if local.is_empty() {
        return Ok(ListEntry::Domain(domain));
    }
    let local = local.to_lowercase();
    match local.find('*') {
        None => Ok(ListEntry::Address { local, domain }),
        Some(star) if star + 1 == local.len() => {
            Ok(ListEntry::Prefix(local[..star].to_string(), domain))
        }
        Some(_) => Err(format!("'*' may only end the local part, in {line:?}")),
    }
}
