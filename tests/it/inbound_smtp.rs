//! End-to-end SMTP dialogues against the in-process server over TCP: a message accepted and stored
//! byte for byte, pipelining, dot-stuffing, 8-bit bodies, relay refusals, postmaster, ETRN and bad lines.

use crate::support;

use backupmx::envelope::Route;
use backupmx::queue::{FlushScope, QueueCommand};
use support::inbound::*;

#[tokio::test]
async fn message_is_queued_with_received_header_and_exact_body() {
    let mut server = start(|_| {}).await;
    let mut c = server.connect().await;
    let ehlo = c.greeting_and_ehlo().await;
    assert_eq!(ehlo.code, 250);
    for ext in [
        "PIPELINING",
        "SIZE 100000",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "DSN",
    ] {
        assert!(ehlo.lines.iter().any(|l| l == ext), "{ext} in {ehlo:?}");
    }
    assert!(!ehlo.lines.iter().any(|l| l == "STARTTLS"));
    let body = b"Subject: hi\r\n\r\nHello.\r\n";
    let reply = c
        .send_message("user@example.test", &[&body[..], b".\r\n"].concat())
        .await;
    assert_eq!(reply.head(), "250 2.0.0");
    let id = queued_id(&reply);
    assert_eq!(c.cmd("QUIT").await, "221 2.0.0");
    assert!(c.closed().await);

    let queued = server.queued();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].id, id);
    let envelope = &queued[0].envelope;
    assert_eq!(envelope.sender, "sender@sender.test");
    assert_eq!(envelope.recipients[0].address, "user@example.test");
    assert_eq!(
        envelope.recipients[0].route,
        Route::Relay {
            domain: "example.test".into()
        }
    );
    assert_eq!(envelope.helo, "client.example");
    assert_eq!(envelope.client_ip.to_string(), "127.0.0.1");

    let stored = server.body(id).await;
    let text = String::from_utf8_lossy(&stored);
    assert!(
        text.starts_with("Received: from client.example ([127.0.0.1])\r\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "by mx2.example.net (backupmx) with ESMTP id {id}\r\n"
        )),
        "{text}"
    );
    assert!(text.contains("\tfor <user@example.test>;\r\n"), "{text}");
    assert_eq!(strip_received(&stored), body);
    server.stop().await;
}

#[tokio::test]
async fn pipelined_commands_in_one_write() {
    let mut server = start(|_| {}).await;
    let mut c = server.connect().await;
    assert_eq!(c.reply().await.unwrap().head(), "220");
    c.send(
        b"EHLO client.example\r\nMAIL FROM:<s@sender.test>\r\nRCPT TO:<a@example.test>\r\n\
          RCPT TO:<x@elsewhere.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n",
    )
    .await;
    let mut got = Vec::new();
    for _ in 0..6 {
        got.push(c.reply().await.unwrap().head());
    }
    assert_eq!(
        got,
        [
            "250",
            "250 2.1.0",
            "250 2.1.5",
            "550 5.7.1",
            "250 2.1.5",
            "354"
        ]
    );
    // Body, final dot and the next commands in one write too.
    c.send(b"Subject: p\r\n\r\nbody\r\n.\r\nNOOP\r\nQUIT\r\n")
        .await;
    assert_eq!(c.reply().await.unwrap().head(), "250 2.0.0");
    assert_eq!(c.reply().await.unwrap().head(), "250 2.0.0");
    assert_eq!(c.reply().await.unwrap().head(), "221 2.0.0");
    let queued = server.queued();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].envelope.recipients.len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn dot_stuffing_is_removed_and_eight_bit_kept() {
    let mut server = start(|_| {}).await;
    let mut c = server.connect().await;
    c.greeting_and_ehlo().await;
    assert_eq!(
        c.cmd("MAIL FROM:<s@sender.test> BODY=8BITMIME").await,
        "250 2.1.0"
    );
    assert_eq!(c.cmd("RCPT TO:<a@example.test>").await, "250 2.1.5");
    assert_eq!(c.cmd("DATA").await, "354");
    let wire =
        b"Subject: dots\r\n\r\n..leading dot\r\n...\r\n.\xe9t\xc3\xa9 \xff\x80\r\nend\r\n.\r\n";
    c.send(wire).await;
    let reply = c.reply().await.unwrap();
    assert_eq!(reply.head(), "250 2.0.0");
    let stored = server.body(queued_id(&reply)).await;
    assert_eq!(
        strip_received(&stored),
        b"Subject: dots\r\n\r\n.leading dot\r\n..\r\n\xe9t\xc3\xa9 \xff\x80\r\nend\r\n"
    );
    assert_eq!(
        server.queued()[0].envelope.body_type,
        backupmx::envelope::BodyType::EightBitMime
    );
    server.stop().await;
}

#[tokio::test]
async fn relay_is_refused_and_postmaster_accepted() {
    let mut server = start(|_| {}).await;
    let mut c = server.connect().await;
    c.greeting_and_ehlo().await;
    assert_eq!(c.cmd("MAIL FROM:<s@sender.test>").await, "250 2.1.0");
    for rcpt in [
        "<someone@elsewhere.test>",
        "<a@example.test.evil>",
        "<a%elsewhere.test@example.test>",
        "<elsewhere.test!a@example.test>",
        "<@example.test:a@elsewhere.test>",
        "<\"a@elsewhere.test\"@example.test>",
        "<a@[127.0.0.1]>",
    ] {
        assert_eq!(
            c.cmd(&format!("RCPT TO:{rcpt}")).await,
            "550 5.7.1",
            "{rcpt}"
        );
    }
    assert_eq!(c.cmd("DATA").await, "503 5.5.1");
    assert_eq!(c.cmd("RCPT TO:<postmaster>").await, "250 2.1.5");
    assert_eq!(
        c.cmd("RCPT TO:<POSTMASTER@mx2.example.net>").await,
        "250 2.1.5"
    );
    assert_eq!(c.cmd("DATA").await, "354");
    c.send(b"Subject: x\r\n\r\nx\r\n.\r\n").await;
    assert_eq!(c.reply().await.unwrap().head(), "250 2.0.0");
    let queued = server.queued();
    assert_eq!(queued.len(), 1);
    assert!(
        queued[0]
            .envelope
            .recipients
            .iter()
            .all(|r| r.route == Route::Postmaster)
    );
    server.stop().await;
}

#[tokio::test]
async fn etrn_flushes_a_backed_up_domain() {
    let mut server = start(|_| {}).await;
    let mut c = server.connect().await;
    c.greeting_and_ehlo().await;
    assert_eq!(c.cmd("ETRN example.test").await, "250 2.0.0");
    assert_eq!(c.cmd("ETRN elsewhere.test").await, "459 4.7.1");
    assert_eq!(c.cmd("QUIT").await, "221 2.0.0");
    let commands = server.queue_commands();
    assert!(matches!(
        commands.as_slice(),
        [QueueCommand::Flush(FlushScope::Domain(d))] if d == "example.test"
    ));
    server.stop().await;
}

#[tokio::test]
async fn bad_command_lines_get_errors_never_a_crash() {
    let server = start(|_| {}).await;
    let mut c = server.connect().await;
    c.greeting_and_ehlo().await;
    let long = format!("NOOP {}\r\n", "x".repeat(5000));
    c.send(long.as_bytes()).await;
    assert_eq!(c.reply().await.unwrap().head(), "500 5.5.2");
    c.send(b"NOOP\n").await;
    assert_eq!(c.reply().await.unwrap().head(), "500 5.5.2");
    c.send(b"NO\0OP\r\n").await;
    assert_eq!(c.reply().await.unwrap().head(), "500 5.5.2");
    c.send(b"\xff\xfe\xfd\x80\x81garbage\r\n").await;
    assert!(c.reply().await.unwrap().code >= 500);
    for verb in [
        "AUTH PLAIN AGEAYg==",
        "XCLIENT ADDR=10.0.0.1",
        "VRFY root",
        "HELP",
    ] {
        let head = c.cmd(verb).await;
        assert!(["502 5.5.1", "500 5.5.1", "252 2.5.0", "214 2.0.0"].contains(&head.as_str()));
    }
    assert_eq!(c.cmd("NOOP").await, "250 2.0.0");
    server.stop().await;
}

#[tokio::test]
async fn too_many_errors_close_the_session() {
    // Unknown commands have their own, smaller limit (tests/inbound_abuse.rs); this one is about errors.
    let server = start(|c| c.limits.max_unknown_commands = 1000).await;
    let mut c = server.connect().await;
    c.greeting_and_ehlo().await;
    let mut last = String::new();
    for _ in 0..20 {
        last = c.cmd("BOGUS").await;
    }
    assert_eq!(last, "421 4.7.0");
    assert!(c.closed().await);
    server.stop().await;
}
