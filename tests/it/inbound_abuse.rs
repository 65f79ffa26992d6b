//! Per-client limits against the real server on loopback: concurrent connections and connection rate
//! (421 4.7.0 at connect), transactions per connection (451 4.7.1 at MAIL), recipients per minute over
//! all connections of a client (452 4.7.1 at RCPT), unknown commands (421 4.7.0), and the exemption.

use crate::support;

use support::inbound::*;

#[tokio::test]
async fn concurrent_connections_per_client_are_limited() {
    let server = start(|c| c.limits.max_connections_per_ip = 2).await;
    let mut first = server.connect().await;
    let mut second = server.connect().await;
    assert_eq!(first.reply().await.unwrap().head(), "220");
    assert_eq!(second.reply().await.unwrap().head(), "220");
    let mut third = server.connect().await;
    let refusal = third.reply().await.unwrap();
    assert_eq!(refusal.head(), "421 4.7.0");
    assert!(refusal.text().contains("from your address"), "{refusal:?}");
    assert!(third.closed().await);
    // The count follows the sessions: one ends, one more gets in.
    assert_eq!(first.cmd("QUIT").await, "221 2.0.0");
    assert!(first.closed().await);
    let mut admitted = false;
    for _ in 0..50 {
        let mut c = server.connect().await;
        if c.reply().await.unwrap().head() == "220" {
            admitted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(admitted, "a slot was freed");
    server.stop().await;
}

#[tokio::test]
async fn connections_per_minute_are_limited() {
    let server = start(|c| c.limits.connections_per_minute = 3).await;
    for _ in 0..3 {
        let mut c = server.connect().await;
        assert_eq!(c.reply().await.unwrap().head(), "220");
        assert_eq!(c.cmd("QUIT").await, "221 2.0.0");
    }
    let mut c = server.connect().await;
    assert_eq!(c.reply().await.unwrap().head(), "421 4.7.0");
    assert!(c.closed().await);
    server.stop().await;
}

#[tokio::test]
async fn messages_per_connection_are_limited() {
    let mut server = start(|c| c.limits.messages_per_connection = 2).await;
    let mut c = server.connect().await;
    c.greeting_and_ehlo().await;
    for n in 0..2 {
        let data = format!("Subject: {n}\r\n\r\nx\r\n.\r\n");
        let reply = c.send_message("a@example.test", data.as_bytes()).await;
        assert_eq!(reply.head(), "250 2.0.0");
    }
    assert_eq!(c.cmd("MAIL FROM:<s@sender.test>").await, "451 4.7.1");
    assert_eq!(c.cmd("QUIT").await, "221 2.0.0");
    // A new connection has a new allowance.
    let mut c = server.connect().await;
    c.greeting_and_ehlo().await;
    let reply = c
        .send_message("a@example.test", b"Subject: 3\r\n\r\nx\r\n.\r\n")
        .await;
    assert_eq!(reply.head(), "250 2.0.0");
    assert_eq!(server.queued().len(), 3);
    server.stop().await;
}

#[tokio::test]
async fn recipients_per_minute_count_over_all_connections_of_a_client() {
    let mut server = start(|c| {
        c.limits.recipients_per_minute = 3;
        c.smtp.max_recipients = 10;
    })
    .await;
    let mut a = server.connect().await;
    a.greeting_and_ehlo().await;
    let mut b = server.connect().await;
    b.greeting_and_ehlo().await;
    assert_eq!(a.cmd("MAIL FROM:<s@sender.test>").await, "250 2.1.0");
    assert_eq!(b.cmd("MAIL FROM:<s@sender.test>").await, "250 2.1.0");
    assert_eq!(a.cmd("RCPT TO:<a1@example.test>").await, "250 2.1.5");
    assert_eq!(a.cmd("RCPT TO:<a2@example.test>").await, "250 2.1.5");
    assert_eq!(b.cmd("RCPT TO:<b1@example.test>").await, "250 2.1.5");
    assert_eq!(b.cmd("RCPT TO:<b2@example.test>").await, "452 4.7.1");
    assert_eq!(a.cmd("RCPT TO:<a3@example.test>").await, "452 4.7.1");
    // The recipients accepted before the limit are delivered.
    assert_eq!(a.cmd("DATA").await, "354");
    a.send(b"Subject: r\r\n\r\nx\r\n.\r\n").await;
    assert_eq!(a.reply().await.unwrap().head(), "250 2.0.0");
    assert_eq!(server.queued()[0].envelope.recipients.len(), 2);
    assert_eq!(b.cmd("QUIT").await, "221 2.0.0");
    server.stop().await;
}

#[tokio::test]
async fn unknown_commands_end_the_session() {
    let server = start(|c| c.limits.max_unknown_commands = 3).await;
    let mut c = server.connect().await;
    assert_eq!(c.reply().await.unwrap().head(), "220");
    c.send(b"GET / HTTP/1.1\r\nHost: mx2.example.net\r\nAccept: */*\r\n")
        .await;
    assert_eq!(c.reply().await.unwrap().head(), "500 5.5.1");
    assert_eq!(c.reply().await.unwrap().head(), "500 5.5.1");
    assert_eq!(c.reply().await.unwrap().head(), "421 4.7.0");
    assert!(c.closed().await);
    server.stop().await;
}

#[tokio::test]
async fn exempt_clients_are_not_counted() {
    let mut server = start(|c| {
        c.limits.max_connections_per_ip = 1;
        c.limits.messages_per_connection = 1;
        c.limits.recipients_per_minute = 1;
        c.limits.exempt = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let mut a = server.connect().await;
    a.greeting_and_ehlo().await;
    let mut b = server.connect().await;
    b.greeting_and_ehlo().await;
    for n in 0..2 {
        assert_eq!(a.cmd("MAIL FROM:<s@sender.test>").await, "250 2.1.0");
        assert_eq!(a.cmd("RCPT TO:<a@example.test>").await, "250 2.1.5");
        assert_eq!(a.cmd("RCPT TO:<b@example.test>").await, "250 2.1.5");
        assert_eq!(a.cmd("DATA").await, "354");
        a.send(format!("Subject: {n}\r\n\r\nx\r\n.\r\n").as_bytes())
            .await;
        assert_eq!(a.reply().await.unwrap().head(), "250 2.0.0");
    }
    assert_eq!(server.queued().len(), 2);
    server.stop().await;
}
