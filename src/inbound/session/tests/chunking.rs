//! Dialogues about BDAT (RFC 3030): sequence, the size limit over all chunks, and mixing with DATA.

use super::*;

#[test]
fn bdat_chunks_then_last_end_the_transaction() {
    let mut s = with_recipient();
    let step = expect(&mut s, "BDAT 100", "250 2.0.0");
    assert_eq!(
        step.action,
        Action::ReceiveChunk {
            size: 100,
            last: false
        }
    );
    assert!(s.receiving_chunks());
    expect(&mut s, "DATA", "503 5.5.1");
    expect(&mut s, "MAIL FROM:<>", "503 5.5.1");
    expect(&mut s, "RCPT TO:<c@example.test>", "503 5.5.1");
    let step = expect(&mut s, "BDAT 0 LAST", "250 2.0.0");
    assert_eq!(
        step.action,
        Action::ReceiveChunk {
            size: 0,
            last: true
        }
    );
    let h = s.received_header(QueueId(3), UNIX_EPOCH);
    assert!(h.contains("for <b@example.test>"), "{h}");
    let envelope = s.end_data(Ok(100), UNIX_EPOCH).unwrap();
    assert_eq!(envelope.recipients.len(), 1);
    assert!(!s.receiving_chunks() && !s.in_transaction());
}

#[test]
fn bdat_out_of_sequence_is_refused_and_its_chunk_discarded() {
    let mut s = greeted();
    let step = expect(&mut s, "BDAT 10 LAST", "503 5.5.1");
    assert_eq!(step.action, Action::DiscardChunk { size: 10 });
    expect(&mut s, "MAIL FROM:<a@sender.test>", "250 2.1.0");
    let step = expect(&mut s, "BDAT 10", "503 5.5.1");
    assert_eq!(step.action, Action::DiscardChunk { size: 10 });
    assert!(s.in_transaction() && !s.receiving_chunks());
}

#[test]
fn bdat_size_limit_counts_every_chunk() {
    let mut s = with_recipient();
    expect(&mut s, "BDAT 6000", "250 2.0.0");
    let step = expect(&mut s, "BDAT 4001 LAST", "552 5.3.4");
    assert_eq!(step.action, Action::DiscardChunk { size: 4001 });
    assert!(!s.in_transaction());
    let step = expect(&mut s, "BDAT 5 LAST", "503 5.5.1");
    assert_eq!(step.action, Action::DiscardChunk { size: 5 });
}

#[test]
fn rset_abandons_a_chunked_transaction() {
    let mut s = with_recipient();
    expect(&mut s, "BDAT 10", "250 2.0.0");
    expect(&mut s, "RSET", "250 2.0.0");
    assert!(!s.receiving_chunks());
    expect(&mut s, "BDAT 10", "503 5.5.1");
}
