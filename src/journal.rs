//! Logging to the systemd journal: when stderr is connected to the journal (systemd sets
//! `JOURNAL_STREAM` to its device and inode), events go through journald's native protocol, one entry
//! per event, with every field of the event as a journal field (`ID`, `DOMAIN`, `PEER`, ...), so
//! `journalctl -u backupmx DOMAIN=example.com` finds a domain's events and `ID=...` a message's.

use std::os::unix::fs::MetadataExt;

/// The journald layer, when stderr is the journal and journald answers; `None` otherwise (then the
/// caller logs text lines to stderr).
pub fn layer_if_stderr_is_journal() -> Option<tracing_journald::Layer> {
    let stream = std::env::var("JOURNAL_STREAM").ok()?;
    let stderr = std::fs::metadata("/proc/self/fd/2").ok()?;
    if !is_journal_stream(&stream, stderr.dev(), stderr.ino()) {
        return None;
    }
    // Field names as the code writes them, upper-cased (`id` → `ID`), without the crate's "F" prefix:
    // none of ours collides with a journal field of its own (those start with `_` or are
    // MESSAGE, PRIORITY, CODE_*, SYSLOG_*).
    let layer = tracing_journald::layer().ok()?;
    Some(
        layer
            .with_field_prefix(None)
            .with_syslog_identifier("backupmx".into()),
    )
}

/// `JOURNAL_STREAM` is "DEVICE:INODE" of the stream systemd connected stdout/stderr to; it names
/// stderr only when both match (a child of a service inherits the variable, not always the stream).
pub fn is_journal_stream(variable: &str, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = variable.split_once(':') else {
        return false;
    };
    d.parse::<u64>().ok() == Some(dev) && i.parse::<u64>().ok() == Some(ino)
}

#[cfg(test)]
mod tests {
    use super::is_journal_stream;

    #[test]
    fn journal_stream_must_name_stderrs_device_and_inode() {
        assert!(is_journal_stream("8:12345", 8, 12345));
        assert!(!is_journal_stream("8:12345", 8, 12346));
        assert!(!is_journal_stream("9:12345", 8, 12345));
        assert!(!is_journal_stream("8", 8, 12345));
        assert!(!is_journal_stream("", 8, 12345));
        assert!(!is_journal_stream("a:b", 8, 12345));
    }
}
