//! The audit log of admin actions (flush, hold, release, delete, bounce, login): who, from where, what,
//! when. Kept in memory (the most recent entries, for the console and `GET /api/v1/audit`), written to
//! the server log, and appended as JSON lines to `<state dir>/audit.log` when a file is given.
//!
//! Bounded on every side (issue 19): an entry's fields are capped in size (a bulk action records its
//! count and first ids, [`summarize_ids`]); failures (failed and locked logins, refused CSRF tokens)
//! are kept apart from actions, so a flood of them cannot push the actions out of view; and the file
//! is rotated by size (`audit.log.1` ... `audit.log.N`).

use std::collections::VecDeque;
use std::fmt::Display;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;

use crate::queue::api::{AuditAction as Action, SharedAudit};

use crate::clock::{Clock, SystemClock, to_unix_ms};
use crate::config::limits::{DEFAULT_AUDIT_KEEP, DEFAULT_AUDIT_MAX_SIZE};

/// How many entries of each kind (actions, failures) stay in memory.
pub const KEPT: usize = 1000;
/// Longest `detail` kept, in bytes; a longer one is cut (and says so).
pub const MAX_DETAIL: usize = 1024;
/// Longest `who` or `action` kept, in bytes.
const MAX_NAME: usize = 64;
/// Ids a bulk action's entry names; the rest are counted.
pub const IDS_NAMED: usize = 20;

/// `who` of a failed login.
pub const LOGIN_FAILED: &str = "login-failed";
/// `who` of a login lock (once per lock).
pub const LOGIN_LOCKED: &str = "login-locked";
/// `action` of a POST refused for its CSRF token or origin.
pub const CSRF_REFUSED: &str = "csrf-refused";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub at_ms: u64,
    /// `api`, `cli`, `admin` (the console user), `login-failed`, `login-locked`.
    pub who: String,
    pub from_ip: String,
    /// `flush`, `hold`, `release`, `delete`, `bounce`, `login`, `logout`, `csrf-refused`, ...
    pub action: String,
    /// What the action applied to: ids, a domain, `all`, and how it went.
    pub detail: String,
    /// In a cluster: the node that received the action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl AuditEntry {
    /// Failed or locked logins and refused CSRF tokens: what an attacker can produce at will.
    pub fn is_failure(&self) -> bool {
        self.who == LOGIN_FAILED || self.who == LOGIN_LOCKED || self.action == CSRF_REFUSED
    }
}

/// Which entries a reader wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    All,
    Actions,
    Failures,
}

/// Where the log is appended, and when it is rotated.
#[derive(Debug, Clone)]
pub struct AuditFile {
    pub path: PathBuf,
    pub max_size: u64,
    pub keep: usize,
}

impl AuditFile {
    /// `path` with the default rotation.
    pub fn new(path: PathBuf) -> AuditFile {
        AuditFile {
            path,
            max_size: DEFAULT_AUDIT_MAX_SIZE,
            keep: DEFAULT_AUDIT_KEEP as usize,
        }
    }
}

#[derive(Default)]
struct Kept {
    actions: VecDeque<AuditEntry>,
    failures: VecDeque<AuditEntry>,
}

/// Cheap to clone; every clone shares the same log.
#[derive(Clone)]
pub struct AuditLog {
    kept: Arc<Mutex<Kept>>,
    /// The file, behind its own lock so that appends and rotations do not interleave.
    file: Option<Arc<Mutex<AuditFile>>>,
    clock: Arc<dyn Clock>,
    /// In a cluster: the shared log every node's actions also go to, and this node's name.
    shared: Option<(SharedAudit, String)>,
}

impl AuditLog {
    /// A log kept in memory and, if `file` is given, appended to it.
    pub fn new(file: Option<AuditFile>) -> AuditLog {
        AuditLog::with_clock(file, Arc::new(SystemClock))
    }

    pub fn with_clock(file: Option<AuditFile>, clock: Arc<dyn Clock>) -> AuditLog {
        AuditLog {
            kept: Arc::default(),
            file: file.map(|f| Arc::new(Mutex::new(f))),
            clock,
            shared: None,
        }
    }

    /// Also stores actions (not login failures) in the cluster's shared log, as node `node`.
    pub fn with_shared(mut self, shared: Option<SharedAudit>, node: &str) -> AuditLog {
        self.shared = shared.map(|s| (s, node.to_string()));
        self
    }

    /// Records one action (each field capped in size).
    pub fn record(&self, who: &str, from_ip: IpAddr, action: &str, detail: &str) {
        let entry = AuditEntry {
            at_ms: to_unix_ms(self.clock.now()),
            who: cap(who, MAX_NAME),
            from_ip: from_ip.to_string(),
            action: cap(action, MAX_NAME),
            detail: cap(detail, MAX_DETAIL),
            node: self.shared.as_ref().map(|(_, node)| node.clone()),
        };
        tracing::info!(who = %entry.who, from = %from_ip, action = %entry.action, detail = %entry.detail, "admin action");
        self.append_to_file(&entry);
        if let Some((shared, node)) = &self.shared
            && !entry.is_failure()
        {
            shared.append(Action {
                at_ms: entry.at_ms,
                node: node.clone(),
                who: entry.who.clone(),
                from_ip: entry.from_ip.clone(),
                action: entry.action.clone(),
                detail: entry.detail.clone(),
            });
        }
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let list = if entry.is_failure() {
            &mut kept.failures
        } else {
            &mut kept.actions
        };
        if list.len() >= KEPT {
            list.pop_front();
        }
        list.push_back(entry);
    }

    /// The `n` most recent entries of `kind`, newest first.
    pub fn recent_of(&self, kind: Kind, n: usize) -> Vec<AuditEntry> {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        match kind {
            Kind::Actions => kept.actions.iter().rev().take(n).cloned().collect(),
            Kind::Failures => kept.failures.iter().rev().take(n).cloned().collect(),
            Kind::All => {
                let mut all: Vec<AuditEntry> = kept
                    .actions
                    .iter()
                    .rev()
                    .take(n)
                    .chain(kept.failures.iter().rev().take(n))
                    .cloned()
                    .collect();
                // Stable: entries of the same millisecond keep their order within each kind.
                all.sort_by_key(|e| std::cmp::Reverse(e.at_ms));
                all.truncate(n);
                all
            }
        }
    }

    /// Like [`AuditLog::recent_of`], with the actions of every node in a cluster (this node's own
    /// when the shared log cannot be read).
    pub async fn recent_everywhere(&self, kind: Kind, n: usize) -> Vec<AuditEntry> {
        let Some((shared, _)) = &self.shared else {
            return self.recent_of(kind, n);
        };
        if kind == Kind::Failures {
            return self.recent_of(kind, n);
        }
        let actions = match shared.recent(n).await {
            Ok(actions) => actions,
            Err(error) => {
                tracing::warn!(%error, "shared audit log unavailable; showing this node's");
                return self.recent_of(kind, n);
            }
        };
        let mut all: Vec<AuditEntry> = actions
            .into_iter()
            .map(|a| AuditEntry {
                at_ms: a.at_ms,
                who: a.who,
                from_ip: a.from_ip,
                action: a.action,
                detail: a.detail,
                node: Some(a.node),
            })
            .collect();
        if kind == Kind::All {
            all.extend(self.recent_of(Kind::Failures, n));
            all.sort_by_key(|e| std::cmp::Reverse(e.at_ms));
            all.truncate(n);
        }
        all
    }

    /// The `n` most recent entries, newest first.
    pub fn recent(&self, n: usize) -> Vec<AuditEntry> {
        self.recent_of(Kind::All, n)
    }

    fn append_to_file(&self, entry: &AuditEntry) {
        let Some(file) = &self.file else { return };
        let file = file.lock().unwrap_or_else(PoisonError::into_inner);
        let written = serde_json::to_string(entry)
            .map_err(std::io::Error::other)
            .and_then(|line| append_rotating(&file, &format!("{line}\n")));
        if let Err(e) = written {
            tracing::warn!(file = %file.path.display(), error = %e, "cannot append to the audit log");
        }
    }
}

/// Appends `line`, first rotating the file when the line would take it past its maximum size.
fn append_rotating(file: &AuditFile, line: &str) -> std::io::Result<()> {
    let size = std::fs::metadata(&file.path).map_or(0, |m| m.len());
    if size > 0 && size + line.len() as u64 > file.max_size {
        rotate(&file.path, file.keep)?;
    }
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file.path)?;
    out.write_all(line.as_bytes())
}

/// `audit.log` → `audit.log.1` → ... → `audit.log.<keep>` (the oldest is overwritten).
fn rotate(path: &Path, keep: usize) -> std::io::Result<()> {
    let numbered = |n: usize| {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    };
    for n in (1..keep.max(1)).rev() {
        match std::fs::rename(numbered(n), numbered(n + 1)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    std::fs::rename(path, numbered(1))
}

/// `text` cut to at most `max` bytes (at a character boundary), saying how much was cut.
pub fn cap(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let note = format!("… ({} bytes cut)", text.len());
    let mut end = max.saturating_sub(note.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{note}", &text[..end])
}

/// A bulk action's ids for the audit log: `count=N ids=a,b,...` naming the first [`IDS_NAMED`].
pub fn summarize_ids<T: Display>(ids: &[T]) -> String {
    let named: Vec<String> = ids.iter().take(IDS_NAMED).map(T::to_string).collect();
    let more = ids.len().saturating_sub(IDS_NAMED);
    let rest = if more > 0 {
        format!(",… (+{more} more)")
    } else {
        String::new()
    };
    format!("count={} ids={}{rest}", ids.len(), named.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip() -> IpAddr {
        "127.0.0.1".parse().unwrap()
    }

    #[test]
    fn recent_is_newest_first_and_bounded() {
        let log = AuditLog::new(None);
        for i in 0..KEPT + 5 {
            log.record("api", ip(), "hold", &i.to_string());
        }
        let recent = log.recent(3);
        assert_eq!(recent.len(), 3);
        assert_eq!(recent[0].detail, (KEPT + 4).to_string());
        assert_eq!(recent[2].detail, (KEPT + 2).to_string());
        assert_eq!(log.recent(usize::MAX).len(), KEPT);
    }

    #[test]
    fn failures_do_not_push_actions_out() {
        let log = AuditLog::new(None);
        log.record("api", ip(), "hold", "count=1 ids=1");
        for _ in 0..5 * KEPT {
            log.record(LOGIN_FAILED, ip(), "login", "user \"admin\"");
        }
        log.record("admin", ip(), CSRF_REFUSED, "/queue/action");
        let actions = log.recent_of(Kind::Actions, 100);
        assert_eq!(actions.len(), 1);
        assert_eq!(actions[0].action, "hold");
        let failures = log.recent_of(Kind::Failures, usize::MAX);
        assert_eq!(failures.len(), KEPT);
        assert_eq!(failures[0].action, CSRF_REFUSED);
        assert_eq!(log.recent(1)[0].action, CSRF_REFUSED);
    }

    #[test]
    fn fields_are_capped() {
        let log = AuditLog::new(None);
        let huge = "é".repeat(100_000);
        log.record(&huge, ip(), &huge, &huge);
        let entry = &log.recent(1)[0];
        assert!(entry.detail.len() <= MAX_DETAIL, "{}", entry.detail.len());
        assert!(entry.detail.ends_with("(200000 bytes cut)"));
        assert!(entry.who.len() <= MAX_NAME && entry.action.len() <= MAX_NAME);
        assert!(serde_json::to_string(entry).unwrap().len() < 4096);
        assert_eq!(cap("short", 10), "short");
    }

    #[test]
    fn bulk_ids_are_summarized() {
        assert_eq!(summarize_ids(&[1, 2]), "count=2 ids=1,2");
        let many: Vec<u32> = (0..5000).collect();
        let text = summarize_ids(&many);
        assert!(text.starts_with("count=5000 ids=0,1,2,"));
        assert!(text.ends_with(",19,… (+4980 more)"), "{text}");
        assert!(text.len() < 200);
    }

    #[test]
    fn entries_are_appended_to_the_file_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::new(Some(AuditFile::new(path.clone())));
        log.record(
            "api",
            "::1".parse().unwrap(),
            "delete",
            "ids=\"x\"\n<script>",
        );
        log.record("admin", ip(), "login", "");
        let text = std::fs::read_to_string(path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(first["detail"], "ids=\"x\"\n<script>");
        assert_eq!(first["from_ip"], "::1");
    }

    #[test]
    fn the_file_is_rotated_by_size_keeping_a_few() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let file = AuditFile {
            path: path.clone(),
            max_size: 1000,
            keep: 2,
        };
        let log = AuditLog::new(Some(file));
        for i in 0..100 {
            log.record("api", ip(), "hold", &format!("count=1 ids={i:04}"));
        }
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let rotated = |n: usize| PathBuf::from(format!("{}.{n}", path.display()));
        assert!(size(&path) <= 1000 && size(&path) > 0);
        assert!(size(&rotated(1)) <= 1000 && size(&rotated(1)) > 0);
        assert!(size(&rotated(2)) > 0);
        assert!(!rotated(3).exists(), "only `keep` old files");
        let last = std::fs::read_to_string(&path).unwrap();
        assert!(last.trim_end().ends_with("\"count=1 ids=0099\"}"), "{last}");
    }
}
