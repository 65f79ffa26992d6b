//! End-to-end DATA tests: SMTP smuggling variants, NUL bytes, the size limit and clients that vanish
//! mid-DATA. In every refused case nothing is queued and the server keeps serving.

use crate::support;

use support::inbound::*;

#[tokio::test]
async fn smuggled_end_of_data_refuses_the_message() {
    let mut server = start(|_| {}).await;
    for fake_end in SMUGGLING {
        let mut c = server.connect().await;
        c.greeting_and_ehlo().await;
        let mut data = b"Subject: first\r\n\r\nhello".to_vec();
        data.extend_from_slice(fake_end);
        data.extend_from_slice(
            b"MAIL FROM:<evil@sender.test>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\n\
              Subject: smuggled\r\n\r\nx\r\n.\r\n",
        );
        let reply = c.send_message("a@example.test", &data).await;
        assert_eq!(reply.head(), "550 5.6.0", "{fake_end:?}: {reply:?}");
        // The smuggled commands were data: the next reply answers our NOOP.
        assert_eq!(c.cmd("NOOP").await, "250 2.0.0", "{fake_end:?}");
        assert!(server.queued().is_empty(), "{fake_end:?}: nothing queued");
    }
    server.stop().await;
}

#[tokio::test]
async fn nul_in_data_refuses_the_message() {
    let mut server = start(|_| {}).await;
    let mut c = server.connect().await;
    c.greeting_and_ehlo().await;
    let reply = c
        .send_message("a@example.test", b"Subject: n\r\n\r\na\0b\r\n.\r\n")
        .await;
    assert_eq!(reply.head(), "550 5.6.0");
    assert!(server.queued().is_empty());
    let reply = c
        .send_message("a@example.test", b"Subject: ok\r\n\r\nfine\r\n.\r\n")
        .await;
    assert_eq!(reply.head(), "250 2.0.0");
    assert_eq!(server.queued().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn overlong_text_line_refuses_the_message() {
    let mut server = start(|_| {}).await;
    let mut c = server.connect().await;
    c.greeting_and_ehlo().await;
    let data = format!("Subject: l\r\n\r\n{}\r\n.\r\n", "y".repeat(1200));
    let reply = c.send_message("a@example.test", data.as_bytes()).await;
    assert_eq!(reply.head(), "550 5.6.0");
    assert!(server.queued().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn size_limits_at_mail_and_at_end_of_data() {
    let mut server = start(|c| c.smtp.max_message_size = 10_000).await;
    let mut c = server.connect().await;
    c.greeting_and_ehlo().await;
    assert_eq!(
        c.cmd("MAIL FROM:<s@sender.test> SIZE=10001").await,
        "552 5.3.4"
    );
    // Lie about the size: the data itself is cut at the limit and refused at the end.
    let line = format!("{}\r\n", "z".repeat(98));
    let mut data = b"Subject: big\r\n\r\n".to_vec();
    for _ in 0..200 {
        data.extend_from_slice(line.as_bytes());
    }
    data.extend_from_slice(b".\r\n");
    let reply = c.send_message("a@example.test", &data).await;
    assert_eq!(reply.head(), "552 5.3.4");
    assert!(server.queued().is_empty());
    // Just under the limit is fine, and the session goes on.
    let mut data = b"Subject: ok\r\n\r\n".to_vec();
    for _ in 0..90 {
        data.extend_from_slice(line.as_bytes());
    }
    data.extend_from_slice(b".\r\n");
    assert_eq!(
        c.send_message("a@example.test", &data).await.head(),
        "250 2.0.0"
    );
    assert_eq!(server.queued().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn disconnect_mid_data_queues_nothing() {
    let mut server = start(|_| {}).await;
    {
        let mut c = server.connect().await;
        c.greeting_and_ehlo().await;
        assert_eq!(c.cmd("MAIL FROM:<s@sender.test>").await, "250 2.1.0");
        assert_eq!(c.cmd("RCPT TO:<a@example.test>").await, "250 2.1.5");
        assert_eq!(c.cmd("DATA").await, "354");
        c.send(b"Subject: cut\r\n\r\nhalf a message\r\n").await;
    } // dropped: the connection closes before the final dot
    // The server still serves, and the next message is the only one queued.
    let mut c = server.connect().await;
    c.greeting_and_ehlo().await;
    let reply = c
        .send_message("a@example.test", b"Subject: whole\r\n\r\nx\r\n.\r\n")
        .await;
    assert_eq!(reply.head(), "250 2.0.0");
    let queued = server.queued();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].id, queued_id(&reply));
    server.stop().await;
}

#[tokio::test]
async fn large_body_arrives_in_many_reads() {
    let mut server = start(|c| c.smtp.max_message_size = 5_000_000).await;
    let mut c = server.connect().await;
    c.greeting_and_ehlo().await;
    let mut body = b"Subject: large\r\n\r\n".to_vec();
    for i in 0..40_000 {
        body.extend_from_slice(format!("{i:08} .line with some text in it\r\n").as_bytes());
    }
    let reply = c
        .send_message("a@example.test", &[&body[..], b".\r\n"].concat())
        .await;
    assert_eq!(reply.head(), "250 2.0.0");
    let stored = server.body(queued_id(&reply)).await;
    assert_eq!(strip_received(&stored), &body[..]);
    assert_eq!(server.queued().len(), 1);
    server.stop().await;
}
