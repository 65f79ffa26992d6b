//! End-to-end BDAT (RFC 3030 CHUNKING): chunks pipelined with their commands, content stored exactly
//! (a `.` line is content, not an end), bad content refused, refused chunks discarded, size limit.

use crate::support;

use support::inbound::*;

async fn open_transaction(server: &TestServer) -> Client<tokio::net::TcpStream> {
    let mut c = server.connect().await;
    let ehlo = c.greeting_and_ehlo().await;
    assert!(ehlo.lines.iter().any(|l| l == "CHUNKING"), "{ehlo:?}");
    assert_eq!(c.cmd("MAIL FROM:<s@sender.test>").await, "250 2.1.0");
    assert_eq!(c.cmd("RCPT TO:<a@example.test>").await, "250 2.1.5");
    c
}

fn bdat(chunk: &[u8], last: bool) -> Vec<u8> {
    let verb = if last {
        format!("BDAT {} LAST\r\n", chunk.len())
    } else {
        format!("BDAT {}\r\n", chunk.len())
    };
    [verb.as_bytes(), chunk].concat()
}

#[tokio::test]
async fn chunks_are_stored_exactly() {
    let mut server = start(|_| {}).await;
    let mut c = open_transaction(&server).await;
    let first: &[u8] = b"Subject: chunks\r\n\r\nline one\r\n.\r\n";
    let second: &[u8] = b"..two dots stay\r\n\xc3\xa9\r\n";
    // Both chunks and a NOOP in one write (pipelining).
    c.send(&[bdat(first, false), bdat(second, true), b"NOOP\r\n".to_vec()].concat())
        .await;
    assert_eq!(c.reply().await.unwrap().head(), "250 2.0.0");
    let reply = c.reply().await.unwrap();
    assert_eq!(reply.head(), "250 2.0.0");
    assert!(reply.lines[0].contains("queued as"), "{reply:?}");
    assert_eq!(c.reply().await.unwrap().head(), "250 2.0.0");
    let stored = server.body(queued_id(&reply)).await;
    assert_eq!(strip_received(&stored), [first, second].concat());
    assert_eq!(server.queued().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn missing_final_crlf_is_added() {
    let mut server = start(|_| {}).await;
    let mut c = open_transaction(&server).await;
    c.send(&bdat(b"Subject: t\r\n\r\nno newline", true)).await;
    let reply = c.reply().await.unwrap();
    assert_eq!(reply.head(), "250 2.0.0");
    let stored = server.body(queued_id(&reply)).await;
    assert_eq!(strip_received(&stored), b"Subject: t\r\n\r\nno newline\r\n");
    assert_eq!(server.queued().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn bare_line_ends_in_chunks_refuse_the_message() {
    let mut server = start(|_| {}).await;
    let mut c = open_transaction(&server).await;
    c.send(&bdat(
        b"Subject: s\r\n\r\nhello\n.\nMAIL FROM:<x@y.test>\r\n",
        true,
    ))
    .await;
    assert_eq!(c.reply().await.unwrap().head(), "550 5.6.0");
    assert_eq!(c.cmd("NOOP").await, "250 2.0.0");
    assert!(server.queued().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn refused_bdat_chunk_is_discarded_not_executed() {
    let mut server = start(|_| {}).await;
    let mut c = server.connect().await;
    c.greeting_and_ehlo().await;
    // Without MAIL: refused, and the chunk (which looks like commands) is swallowed.
    c.send(&bdat(
        b"MAIL FROM:<evil@x.test>\r\nRCPT TO:<a@example.test>\r\n",
        true,
    ))
    .await;
    assert_eq!(c.reply().await.unwrap().head(), "503 5.5.1");
    assert_eq!(c.cmd("RCPT TO:<a@example.test>").await, "503 5.5.1");
    assert!(server.queued().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn chunks_over_the_size_limit_get_552() {
    let mut server = start(|c| c.smtp.max_message_size = 1000).await;
    let mut c = open_transaction(&server).await;
    let chunk = vec![b'x'; 600];
    let mut first = chunk.clone();
    first.extend_from_slice(b"\r\n");
    c.send(&bdat(&first, false)).await;
    assert_eq!(c.reply().await.unwrap().head(), "250 2.0.0");
    c.send(&bdat(&first, true)).await;
    assert_eq!(c.reply().await.unwrap().head(), "552 5.3.4");
    assert_eq!(c.cmd("NOOP").await, "250 2.0.0");
    assert!(server.queued().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn disconnect_between_chunks_queues_nothing() {
    let mut server = start(|_| {}).await;
    {
        let mut c = open_transaction(&server).await;
        c.send(&bdat(b"Subject: cut\r\n\r\n", false)).await;
        assert_eq!(c.reply().await.unwrap().head(), "250 2.0.0");
        c.send(b"BDAT 100 LAST\r\nonly part").await;
    }
    let mut c = open_transaction(&server).await;
    c.send(&bdat(b"Subject: whole\r\n\r\nx\r\n", true)).await;
    assert_eq!(c.reply().await.unwrap().head(), "250 2.0.0");
    assert_eq!(server.queued().len(), 1);
    server.stop().await;
}
