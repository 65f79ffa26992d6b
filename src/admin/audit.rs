//! The audit log of admin actions (flush, hold, release, delete, bounce, login): who, from where, what,
//! when. Kept in memory (the most recent entries, for the console and `GET /api/v1/audit`), written to
//! the server log, and appended as JSON lines to `<state dir>/audit.log` when a directory is given.

use std::collections::VecDeque;
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;

use crate::clock::{Clock, SystemClock, to_unix_ms};

/// How many entries stay in memory.
const KEPT: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub at_ms: u64,
    /// `api`, `cli`, `admin` (the console user), ...
    pub who: String,
    pub from_ip: String,
    /// `flush`, `hold`, `release`, `delete`, `bounce`, `login`, `login_failed`, ...
    pub action: String,
    /// What the action applied to: ids, a domain, `all`, and how it went.
    pub detail: String,
}

/// Cheap to clone; every clone shares the same log.
#[derive(Clone)]
pub struct AuditLog {
    entries: Arc<Mutex<VecDeque<AuditEntry>>>,
    file: Option<PathBuf>,
    clock: Arc<dyn Clock>,
}

impl AuditLog {
    /// A log kept in memory and, if `file` is given, appended to it.
    pub fn new(file: Option<PathBuf>) -> AuditLog {
        AuditLog::with_clock(file, Arc::new(SystemClock))
    }

    pub fn with_clock(file: Option<PathBuf>, clock: Arc<dyn Clock>) -> AuditLog {
        AuditLog {
            entries: Arc::default(),
            file,
            clock,
        }
    }

    /// Records one action.
    pub fn record(&self, who: &str, from_ip: IpAddr, action: &str, detail: &str) {
        let entry = AuditEntry {
            at_ms: to_unix_ms(self.clock.now()),
            who: who.to_string(),
            from_ip: from_ip.to_string(),
            action: action.to_string(),
            detail: detail.to_string(),
        };
        tracing::info!(who, from = %from_ip, action, detail, "admin action");
        self.append_to_file(&entry);
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() == KEPT {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// The `n` most recent entries, newest first.
    pub fn recent(&self, n: usize) -> Vec<AuditEntry> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.iter().rev().take(n).cloned().collect()
    }

    fn append_to_file(&self, entry: &AuditEntry) {
        let Some(path) = &self.file else { return };
        let written = serde_json::to_string(entry)
            .map_err(std::io::Error::other)
            .and_then(|line| {
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?;
                file.write_all(format!("{line}\n").as_bytes())
            });
        if let Err(e) = written {
            tracing::warn!(file = %path.display(), error = %e, "cannot append to the audit log");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_is_newest_first_and_bounded() {
        let log = AuditLog::new(None);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for i in 0..KEPT + 5 {
            log.record("api", ip, "hold", &i.to_string());
        }
        let recent = log.recent(3);
        assert_eq!(recent.len(), 3);
        assert_eq!(recent[0].detail, (KEPT + 4).to_string());
        assert_eq!(recent[2].detail, (KEPT + 2).to_string());
        assert_eq!(log.recent(usize::MAX).len(), KEPT);
    }

    #[test]
    fn entries_are_appended_to_the_file_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::new(Some(path.clone()));
        log.record(
            "api",
            "::1".parse().unwrap(),
            "delete",
            "ids=\"x\"\n<script>",
        );
        log.record("admin", "127.0.0.1".parse().unwrap(), "login", "");
        let text = std::fs::read_to_string(path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(first["detail"], "ids=\"x\"\n<script>");
        assert_eq!(first["from_ip"], "::1");
    }
}
