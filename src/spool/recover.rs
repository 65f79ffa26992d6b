//! Start-up recovery: replays the journals into the live state, cuts torn tails, quarantines damage,
//! and sweeps files that no live message references (crash leftovers).

use std::fs;
use std::path::Path;

use tracing::{error, warn};

use super::SpoolError;
use super::codec;
use super::layout::{JOURNAL_MAGIC, Layout, list_ids, list_seq};
use super::live::Live;
use super::record::{self, BodyLocation, Record};
use super::replay::{JournalEnd, replay_records};
use crate::envelope::QueueId;

pub struct Recovered {
    pub live: Live,
    pub journals: Vec<u64>,
    pub segments: Vec<u64>,
    /// One line per item set aside (damaged journal, message with a missing body).
    pub quarantined: Vec<String>,
    /// The newest journal and the length of its intact records (a torn tail lies beyond): where to
    /// go on appending when a fresh journal cannot be written (full disk).
    pub last_journal: Option<(u64, u64)>,
}

pub fn recover(layout: &Layout) -> Result<Recovered, SpoolError> {
    let journals = list_seq(&layout.journal_dir(), "log")?;
    let segments = list_seq(&layout.data_dir(), "dat")?;
    let mut live = Live::default();
    let mut quarantined = Vec::new();
    let mut last_journal = None;
    for (i, &seq) in journals.iter().enumerate() {
        let is_last = i + 1 == journals.len();
        let intact = replay_journal(layout, seq, is_last, &mut live, &mut quarantined)?;
        if is_last {
            last_journal = intact.map(|len| (seq, len));
        }
    }
    check_bodies(layout, &mut live, &mut quarantined)?;
    Ok(Recovered {
        live,
        journals,
        segments,
        quarantined,
        last_journal,
    })
}

fn replay_journal(
    layout: &Layout,
    seq: u64,
    is_last: bool,
    live: &mut Live,
    quarantined: &mut Vec<String>,
) -> Result<Option<u64>, SpoolError> {
    let path = layout.journal(seq);
    let bytes = fs::read(&path)?;
    if bytes.len() < JOURNAL_MAGIC.len() {
        // A journal whose header never reached the disk holds nothing.
        return Ok(None);
    }
    if &bytes[..JOURNAL_MAGIC.len()] != JOURNAL_MAGIC {
        quarantine_file(layout, &path, "unknown journal header", quarantined)?;
        return Ok(None);
    }
    let replay = replay_records(&bytes, JOURNAL_MAGIC.len(), live);
    for (offset, reason) in &replay.undecodable {
        let what = format!("{}: record at {offset}: {reason}", path.display());
        error!(%what, "undecodable spool record skipped");
        quarantined.push(what);
    }
    for skip in &replay.skipped {
        let why = format!(
            "damaged at offset {}: {}; bytes {}..{} skipped, the records after them were kept",
            skip.from, skip.reason, skip.from, skip.to
        );
        quarantine_file(layout, &path, &why, quarantined)?;
    }
    match replay.end {
        JournalEnd::Intact => Ok(Some(bytes.len() as u64)),
        JournalEnd::Torn { offset } if is_last => {
            warn!(file = %path.display(), offset, "torn write at the end of the journal cut off");
            Ok(Some(offset as u64))
        }
        JournalEnd::Torn { offset } => {
            let why = format!(
                "damaged at offset {offset}: length runs past the end of the journal; nothing intact after it"
            );
            quarantine_file(layout, &path, &why, quarantined)?;
            Ok(None)
        }
        JournalEnd::Damaged { offset, reason } => {
            let why = format!("damaged at offset {offset}: {reason}; nothing intact after it");
            quarantine_file(layout, &path, &why, quarantined)?;
            Ok(None)
        }
    }
}

/// Sets a message aside when its body is missing or short: it can never be delivered complete.
fn check_bodies(
    layout: &Layout,
    live: &mut Live,
    quarantined: &mut Vec<String>,
) -> Result<(), SpoolError> {
    let mut bad: Vec<(QueueId, String)> = Vec::new();
    for (id, entry) in &live.messages {
        let (path, needed) = match entry.body {
            BodyLocation::Segment {
                segment,
                offset,
                len,
            } => (layout.data(segment), offset + len),
            BodyLocation::File { len } => (layout.body(*id), len),
        };
        let have = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if have < needed {
            bad.push((
                *id,
                format!("body {} has {have} of {needed} bytes", path.display()),
            ));
        }
    }
    for (id, why) in bad {
        if let Some(entry) = live.messages.get(&id) {
            let rec = Record::Message {
                message: entry.message.to_message(),
                body: entry.body,
            };
            let mut framed = Vec::new();
            codec::frame(&record::encode(&rec), &mut framed);
            fs::write(
                layout.quarantine_dir().join(format!("{id}.envelope")),
                framed,
            )?;
        }
        live.apply(Record::Change(super::Update::Remove { id }));
        let what = format!("message {id}: {why}");
        error!(%what, "message quarantined");
        quarantined.push(what);
    }
    Ok(())
}

fn quarantine_file(
    layout: &Layout,
    path: &Path,
    why: &str,
    quarantined: &mut Vec<String>,
) -> Result<(), SpoolError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    fs::copy(path, layout.quarantine_dir().join(&name))?;
    let what = format!("{}: {why}", path.display());
    error!(%what, "journal damaged; a copy was quarantined, the intact records were kept");
    quarantined.push(what);
    Ok(())
}

/// Removes what no live message references: data segments, body files and temporary files, and the
/// old journals when `keep_journal` names a fresh compacted one (`None`: the spool goes on appending
/// to its old journals, which all still count).
pub fn sweep(
    layout: &Layout,
    live: &Live,
    keep_journal: Option<u64>,
    keep_segment: u64,
) -> Result<(), SpoolError> {
    if let Some(keep) = keep_journal {
        for seq in list_seq(&layout.journal_dir(), "log")? {
            if seq != keep {
                fs::remove_file(layout.journal(seq))?;
            }
        }
    }
    for seq in list_seq(&layout.data_dir(), "dat")? {
        if seq != keep_segment && !live.segment_refs.contains_key(&seq) {
            fs::remove_file(layout.data(seq))?;
        }
    }
    for id in list_ids(&layout.body_dir())? {
        if !live.messages.contains_key(&id) {
            fs::remove_file(layout.body(id))?;
        }
    }
    for entry in fs::read_dir(layout.tmp_dir())? {
        fs::remove_file(entry?.path())?;
    }
    Ok(())
}
