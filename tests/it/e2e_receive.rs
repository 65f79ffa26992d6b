//! End-to-end, receiving (issue 2): the real binary accepts mail for its domain and forwards it byte
//! for byte after its Received header, refuses relaying, and forgets a message cut off mid-DATA.

use crate::support;

use std::time::Duration;

use support::SmtpSink;
use support::config::Settings;
use support::e2e::client::{Client, send_one};
use support::e2e::mail::{message, message_id, strip_first_received, strip_prepended};
use support::server::Server;

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_start_accepts_forwards_identical_bytes_and_refuses_relaying() {
    let sink = SmtpSink::start().await;
    let server = Server::start(Settings::new(Some(sink.addr()))).await;

    let body = message("quick", "someone@example.test");
    let sent = send_one(
        server.smtp_addr(),
        "sender@sender.test",
        &["someone@example.test"],
        &body,
    )
    .await;
    let data = sent.data.expect("DATA sent");
    assert_eq!(data.code, 250, "{data:?}");

    let refused = send_one(
        server.smtp_addr(),
        "sender@sender.test",
        &["someone@elsewhere.test"],
        &message("relay", "someone@elsewhere.test"),
    )
    .await;
    assert_eq!(refused.rcpt[0].code, 550, "{refused:?}");
    assert!(refused.rcpt[0].text.starts_with("550 5.7.1"), "{refused:?}");

    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(got[0].recipients, vec!["someone@example.test".to_owned()]);
    assert_eq!(got[0].sender, "sender@sender.test");
    // The sender checks' results come first (tag, the default), then our Received.
    let data = String::from_utf8_lossy(&got[0].data);
    assert!(
        data.starts_with("Authentication-Results: mx2.example.test;"),
        "{data}"
    );
    let received = String::from_utf8_lossy(strip_prepended(&got[0].data));
    assert!(
        received.starts_with("Received: from client.test ([127.0.0.1])\r\n\tby mx2.example.test"),
        "{received}"
    );
    assert_eq!(strip_first_received(&got[0].data), &body[..]);
    // Nothing for elsewhere.test, and no second copy.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_bit_body_and_pipelined_commands_arrive_intact() {
    let sink = SmtpSink::start().await;
    let server = Server::start(Settings::new(Some(sink.addr()))).await;
    let mut client = Client::connect(server.smtp_addr()).await;
    let body = "Subject: 8bit\r\nMessage-ID: <eight@e2e.test>\r\n\r\nGrüße, naïve café\r\n"
        .as_bytes()
        .to_vec();
    let mut wire = b"MAIL FROM:<sender@sender.test> BODY=8BITMIME\r\n\
                     RCPT TO:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n"
        .to_vec();
    client.write_raw(&wire).await;
    for expected in [250, 250, 250, 354] {
        let reply = client.read_reply().await;
        assert_eq!(reply.code, expected, "{reply:?}");
    }
    wire = body.clone();
    wire.extend_from_slice(b".\r\n");
    client.write_raw(&wire).await;
    assert_eq!(client.read_reply().await.code, 250);
    client.quit().await;

    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(got[0].recipients.len(), 2);
    assert!(got[0].mail_from.contains("BODY=8BITMIME"), "{:?}", got[0]);
    assert_eq!(strip_first_received(&got[0].data), &body[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_mid_data_delivers_nothing() {
    let sink = SmtpSink::start().await;
    let server = Server::start(Settings::new(Some(sink.addr()))).await;

    let mut client = Client::connect(server.smtp_addr()).await;
    assert_eq!(client.cmd("MAIL FROM:<sender@sender.test>").await.code, 250);
    assert_eq!(client.cmd("RCPT TO:<cut@example.test>").await.code, 250);
    assert_eq!(client.cmd("DATA").await.code, 354);
    client
        .write_raw(b"Subject: cut\r\nMessage-ID: <cut@e2e.test>\r\n\r\nhalf a mess")
        .await;
    drop(client);

    // A complete message afterwards: once it is delivered, the cut one would have been too.
    let marker = message("marker", "marker@example.test");
    let sent = send_one(
        server.smtp_addr(),
        "sender@sender.test",
        &["marker@example.test"],
        &marker,
    )
    .await;
    assert_eq!(sent.data.map(|d| d.code), Some(250));
    let got = sink.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ids: Vec<String> = sink
        .messages()
        .iter()
        .map(|m| message_id(&m.data))
        .collect();
    assert_eq!(ids, vec!["marker".to_owned()], "{got:?}");
}
