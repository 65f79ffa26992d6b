//! The properties each fuzz target checks, shared by the cargo-fuzz targets (fuzz_targets/) and the
//! corpus replay in the regular test suite (tests/fuzz_corpus.rs), so both check the same things.

use backupmx::config::Config;
use backupmx::delivery::client::DotStuffer;
use backupmx::spool::check_journal_bytes;
use backupmx_smtp::{DataError, DataProgress, DataScanner, LineFramer, Mailbox, ReplyParser};

/// The command path as a client drives it: the whole input as one command line, then as a byte
/// stream cut into lines by the framer, as the server reads it. Never panics.
pub fn command(data: &[u8]) {
    let _ = backupmx_smtp::parse_command(data);
    let mut framer = LineFramer::new();
    framer.push(data);
    while let Some(line) = framer.next_line() {
        if let Ok(line) = line {
            let _ = backupmx_smtp::parse_command(&line);
        }
    }
}

const MAX_SIZE: u64 = 1 << 20;

type Scan = (Vec<u8>, usize, bool, Result<u64, DataError>);

fn scan(chunks: &[&[u8]]) -> Scan {
    let mut scanner = DataScanner::new(MAX_SIZE);
    let mut out = Vec::new();
    let mut consumed = 0;
    for chunk in chunks {
        let DataProgress {
            consumed: used,
            done,
        } = scanner.feed(chunk, &mut out);
        consumed += used;
        if done {
            break;
        }
    }
    (out, consumed, scanner.is_done(), scanner.finish())
}

/// The DATA scanner: any split of the input gives the same result, and a message it accepts survives
/// the outbound dot-stuffing unchanged (one message in, one message out, byte-identical). The first
/// byte chooses the split point.
pub fn data_scanner(data: &[u8]) {
    let Some((&split_seed, input)) = data.split_first() else {
        return;
    };
    let whole = scan(&[input]);
    let split = usize::from(split_seed) % (input.len() + 1);
    let (head, tail) = input.split_at(split);
    assert_eq!(
        whole,
        scan(&[head, tail]),
        "the result depends on where the input was split"
    );

    let (message, _, done, verdict) = whole;
    if done && verdict.is_ok() {
        let mut wire = Vec::new();
        let mut stuffer = DotStuffer::new();
        stuffer.stuff(&message, &mut wire);
        stuffer.finish(&mut wire);
        let (again, consumed, again_done, again_verdict) = scan(&[&wire]);
        assert!(again_done, "the stuffed message has no end of data");
        assert_eq!(
            consumed,
            wire.len(),
            "bytes after the end of data on the way out"
        );
        assert_eq!(again_verdict, verdict);
        assert_eq!(
            again, message,
            "the message changed between the way in and the way out"
        );
    }
}

/// Mailbox parsing: a parsed mailbox written back in wire form parses to the same mailbox (what we
/// relay is what we accepted).
pub fn address(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Mailbox::parse(text) {
        Err(error) => {
            let _ = error.is_relay_trick();
        }
        Ok(mailbox) => {
            let _ = mailbox.domain_key();
            let wire = mailbox.to_wire();
            let again = Mailbox::parse(&wire);
            assert_eq!(
                again.as_ref(),
                Ok(&mailbox),
                "wire form {wire:?} does not parse back"
            );
        }
    }
}

/// The journal header, so the fuzzer spends its time on the records behind it.
const JOURNAL_MAGIC: &[u8] = b"BMXJ0001";

/// The spool journal decoder as recovery runs it (frames, records, applying them to the live state):
/// any bytes on disk are read without a panic, with and without a valid header in front.
pub fn spool_journal(data: &[u8]) {
    let _ = check_journal_bytes(data);
    let mut journal = JOURNAL_MAGIC.to_vec();
    journal.extend_from_slice(data);
    assert!(check_journal_bytes(&journal).header_ok);
}

/// The config loader (TOML syntax, then every key's validation): any text gives a config or a list of
/// errors, never a panic.
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Err(errors) = Config::from_toml_str(text, "fuzz.toml")
    {
        let _ = errors.to_string();
    }
}

/// The reply parser the delivery client runs on whatever a primary answers.
pub fn reply(data: &[u8]) {
    let mut parser = ReplyParser::new();
    parser.push(data);
    while let Some(reply) = parser.next_reply() {
        if let Ok(reply) = reply {
            let _ = reply.to_one_line();
            let _ = reply.is_transient();
        }
    }
}
