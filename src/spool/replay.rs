//! Journal replay, pure: walks the CRC frames of a journal's bytes and applies each record to the live
//! state. No I/O: recovery (recover.rs) reads the file and decides what an ending means (a torn tail
//! of the newest journal is cut off, any other damage quarantines the file).

use super::codec::{self, Frame};
use super::layout::JOURNAL_MAGIC;
use super::live::Live;
use super::record;

/// How the records of a journal end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalEnd {
    /// Every byte belongs to an intact record.
    Intact,
    /// The bytes end inside a record (a torn write) at `offset`.
    Torn { offset: usize },
    /// A frame is damaged (checksum, absurd length) at `offset`.
    Damaged { offset: usize, reason: &'static str },
}

/// A damaged stretch of a journal that replay stepped over to the next intact record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub from: usize,
    pub to: usize,
    pub reason: &'static str,
}

/// What replaying a journal's bytes did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// Records applied to the live state.
    pub applied: usize,
    /// Intact frames whose payload could not be decoded: offset and reason (skipped, reported).
    pub undecodable: Vec<(usize, &'static str)>,
    /// Damaged stretches with intact records after them: the records after the damage still count.
    pub skipped: Vec<Skip>,
    /// How the journal ends: a damaged or torn frame with nothing intact after it ends the replay.
    pub end: JournalEnd,
}

/// Applies every intact record of `bytes[start..]` to `live`, in order. A damaged frame is stepped
/// over to the next intact record (an intact record further on means damage, not a torn tail); a
/// damaged or torn frame with nothing intact after it ends the replay.
pub(super) fn replay_records(bytes: &[u8], start: usize, live: &mut Live) -> Replay {
    let mut replay = empty_replay();
    let mut offset = start;
    while let Some(rest) = bytes.get(offset..).filter(|rest| !rest.is_empty()) {
        match codec::unframe(rest) {
            Frame::Record(payload, used) => {
                match record::decode(payload) {
                    Ok(rec) => {
                        live.apply(rec);
                        replay.applied += 1;
                    }
                    Err(reason) => replay.undecodable.push((offset, reason)),
                }
                offset += used;
            }
            frame @ (Frame::Truncated | Frame::Damaged(_)) => {
                let reason = match frame {
                    Frame::Damaged(reason) => reason,
                    _ => "length runs past the end of the journal",
                };
                match resync(bytes, offset + 1) {
                    Some(next) => {
                        replay.skipped.push(Skip {
                            from: offset,
                            to: next,
                            reason,
                        });
                        offset = next;
                    }
                    None => {
                        replay.end = match frame {
                            Frame::Truncated => JournalEnd::Torn { offset },
                            _ => JournalEnd::Damaged { offset, reason },
                        };
                        break;
                    }
                }
            }
        }
    }
    replay
}

fn empty_replay() -> Replay {
    Replay {
        applied: 0,
        undecodable: Vec::new(),
        skipped: Vec::new(),
        end: JournalEnd::Intact,
    }
}

/// Records longer than this are not looked for when resynchronising after damage: envelopes are a
/// few hundred bytes, and the bound keeps the scan cheap on a large journal.
const RESYNC_MAX_RECORD: usize = 1024 * 1024;

/// The first offset at or after `from` where an intact frame holding a decodable record starts.
/// A false match needs a CRC-32 collision and a valid record, so it is not a practical concern.
fn resync(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len()).find(|&at| {
        let rest = &bytes[at..];
        let plausible = rest.len() >= codec::FRAME_HEADER
            && (u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize)
                .checked_add(codec::FRAME_HEADER)
                .is_some_and(|end| end > codec::FRAME_HEADER + 8 && end <= rest.len().min(RESYNC_MAX_RECORD));
        plausible
            && matches!(codec::unframe(rest), Frame::Record(payload, _) if record::decode(payload).is_ok())
    })
}

/// What a whole journal file's bytes hold, as recovery would read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalCheck {
    /// False when the file does not start with the journal header.
    pub header_ok: bool,
    /// The replay of the records after the header (empty when the header is wrong).
    pub replay: Replay,
    /// Messages left queued once every record is applied.
    pub live_messages: usize,
}

/// Replays a journal file's bytes into an empty live state, as recovery does; used by the fuzz target
/// for the record decoder and by tools that inspect a spool. Never panics on any input.
pub fn check_journal_bytes(bytes: &[u8]) -> JournalCheck {
    let mut live = Live::default();
    let header_ok = bytes.starts_with(JOURNAL_MAGIC);
    let replay = if header_ok {
        replay_records(bytes, JOURNAL_MAGIC.len(), &mut live)
    } else {
        empty_replay()
    };
    JournalCheck {
        header_ok,
        replay,
        live_messages: live.messages.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::QueueId;
    use crate::spool::Update;
    use crate::spool::record::Record;

    fn journal(records: &[Record]) -> Vec<u8> {
        let mut bytes = JOURNAL_MAGIC.to_vec();
        for rec in records {
            codec::frame(&record::encode(rec), &mut bytes);
        }
        bytes
    }

    fn removal(id: u64) -> Record {
        Record::Change(Update::Remove { id: QueueId(id) })
    }

    #[test]
    fn intact_journal_applies_every_record() {
        let check = check_journal_bytes(&journal(&[removal(1), removal(2)]));
        assert!(check.header_ok);
        assert_eq!(check.replay.applied, 2);
        assert_eq!(check.replay.end, JournalEnd::Intact);
        assert!(check.replay.undecodable.is_empty());
    }

    #[test]
    fn torn_tail_is_reported_at_the_start_of_the_torn_record() {
        let whole = journal(&[removal(1), removal(2)]);
        let first_end = journal(&[removal(1)]).len();
        let check = check_journal_bytes(&whole[..whole.len() - 3]);
        assert_eq!(check.replay.applied, 1);
        assert_eq!(check.replay.end, JournalEnd::Torn { offset: first_end });
    }

    #[test]
    fn damage_stops_the_replay_and_names_the_offset() {
        let mut bytes = journal(&[removal(1), removal(2)]);
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let check = check_journal_bytes(&bytes);
        assert_eq!(check.replay.applied, 1);
        assert!(matches!(check.replay.end, JournalEnd::Damaged { .. }));
    }

    #[test]
    fn damage_in_the_middle_is_stepped_over_to_the_next_intact_record() {
        let first_end = journal(&[removal(1)]).len();
        let mut bytes = journal(&[removal(1), removal(2), removal(3)]);
        bytes[first_end + codec::FRAME_HEADER] ^= 0xff;
        let check = check_journal_bytes(&bytes);
        assert_eq!(check.replay.applied, 2);
        assert_eq!(check.replay.end, JournalEnd::Intact);
        assert_eq!(check.replay.skipped.len(), 1);
        assert_eq!(check.replay.skipped[0].from, first_end);
        assert_eq!(
            check.replay.skipped[0].to,
            journal(&[removal(1), removal(2)]).len()
        );
    }

    #[test]
    fn an_undecodable_payload_in_an_intact_frame_is_skipped_and_reported() {
        let mut bytes = JOURNAL_MAGIC.to_vec();
        codec::frame(&[0xee, 1, 2], &mut bytes);
        codec::frame(&record::encode(&removal(3)), &mut bytes);
        let check = check_journal_bytes(&bytes);
        assert_eq!(check.replay.applied, 1);
        assert_eq!(check.replay.undecodable.len(), 1);
        assert_eq!(check.replay.undecodable[0].0, JOURNAL_MAGIC.len());
    }

    #[test]
    fn a_wrong_header_replays_nothing() {
        let check = check_journal_bytes(b"NOTAJOURNAL");
        assert!(!check.header_ok);
        assert_eq!(check.replay.applied, 0);
        assert_eq!(check.live_messages, 0);
    }
}
