//! End-to-end SMTP smuggling, the outbound half: for every known fake end-of-data variant sent in by
//! a client (with a second transaction smuggled behind it), the primary sees exactly one message per
//! message we accepted, byte-identical, and never the smuggled one. The primary here is an
//! [`SmtpSink`], which, like many real servers, is lenient: it splits lines at a bare LF, so a
//! `<LF>.<CRLF>` we let through unchanged would end data there and start an extra message.

use crate::support;

use std::time::Duration;

use backupmx::delivery::client::DotStuffer;
use support::SmtpSink;
use support::config::Settings;
use support::e2e::client::Client;
use support::e2e::mail::{dot_stuff, strip_first_received};
use support::inbound::SMUGGLING;
use support::server::Server;

const WAIT: Duration = Duration::from_secs(20);

/// The variants tests/inbound_data.rs refuses on the way in, and a few more.
fn fake_ends() -> impl Iterator<Item = &'static [u8]> {
    const MORE: [&[u8]; 3] = [b"\n..\n", b"\r\n.\x00\r\n", b"\r\n.\r\r\n"];
    SMUGGLING.into_iter().chain(MORE)
}

const SMUGGLED: &[u8] = b"MAIL FROM:<evil@sender.test>\r\nRCPT TO:<victim@example.test>\r\n\
    DATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n";

/// Sends `wire` (already in DATA form, terminator included) as one message; the reply code.
async fn send_raw(client: &mut Client, wire: &[u8]) -> u16 {
    assert_eq!(client.cmd("MAIL FROM:<sender@sender.test>").await.code, 250);
    assert_eq!(client.cmd("RCPT TO:<user@example.test>").await.code, 250);
    assert_eq!(client.cmd("DATA").await.code, 354);
    client.write_raw(wire).await;
    client.read_reply().await.code
}

/// Legitimate messages whose content looks like protocol: they must arrive unchanged.
fn tricky_but_valid() -> Vec<Vec<u8>> {
    let mut smuggle_as_data = b"Subject: quoted\r\n\r\nbefore\r\n.\r\n".to_vec();
    smuggle_as_data.extend_from_slice(SMUGGLED);
    vec![
        smuggle_as_data,
        b"Subject: dots\r\n\r\n.\r\n..\r\n...\r\n. \r\n.x\r\n".to_vec(),
        b"Subject: last line is a dot\r\n\r\nbody\r\n.\r\n".to_vec(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_message_in_exactly_one_message_out_byte_identical() {
    let sink = SmtpSink::start().await;
    let server = Server::start(Settings::new(Some(sink.addr()))).await;
    let mut expected: Vec<Vec<u8>> = Vec::new();
    let mut client = Client::connect(server.smtp_addr()).await;

    for (i, fake_end) in fake_ends().enumerate() {
        let mut content = format!("Subject: variant {i}\r\n\r\nhello").into_bytes();
        content.extend_from_slice(fake_end);
        content.extend_from_slice(SMUGGLED);
        // `content` ends with the real <CRLF>.<CRLF>; what we would store is everything before it.
        let code = send_raw(&mut client, &content).await;
        match code {
            250 => expected.push(content[..content.len() - 3].to_vec()),
            550 | 554 => {}
            other => panic!("{fake_end:?}: unexpected reply {other}"),
        }
        // Whatever happened, the smuggled commands were data: the session is in sync.
        assert_eq!(client.cmd("NOOP").await.code, 250, "{fake_end:?}");
    }
    for content in tricky_but_valid() {
        let mut wire = dot_stuff(&content);
        wire.extend_from_slice(b".\r\n");
        assert_eq!(send_raw(&mut client, &wire).await, 250);
        expected.push(content);
    }
    client.quit().await;

    let got = sink.wait_for(expected.len(), WAIT).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let got_now = sink.messages();
    assert_eq!(got_now.len(), expected.len(), "{got_now:?}");
    for m in &got {
        assert_eq!(m.recipients, ["user@example.test"], "nothing smuggled");
        assert_eq!(m.sender, "sender@sender.test");
    }
    let mut delivered: Vec<Vec<u8>> = got
        .iter()
        .map(|m| strip_first_received(&m.data).to_vec())
        .collect();
    delivered.sort();
    expected.sort();
    assert_eq!(delivered, expected, "byte-identical, once each");
}

/// Where a lenient primary (lines split at LF, a line of just `.` before CR/LF ends data) would see
/// the end of data in `wire`: the index just after that line.
fn lenient_end_of_data(wire: &[u8]) -> Option<usize> {
    let mut start = 0;
    for line in wire.split_inclusive(|b| *b == b'\n') {
        start += line.len();
        let text: &[u8] = line
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .unwrap_or(line);
        if text == b"." && line.ends_with(b"\n") {
            return Some(start);
        }
    }
    None
}

/// Defence in depth: even if a stored body held a bare-LF variant (inbound refuses them all), the
/// dot-stuffing on the way out leaves a lenient primary exactly one end of data: the real one.
#[test]
fn dot_stuffing_leaves_a_lenient_primary_one_end_of_data() {
    for fake_end in fake_ends() {
        let mut body = b"Subject: s\r\n\r\nhello".to_vec();
        body.extend_from_slice(fake_end);
        body.extend_from_slice(b"MAIL FROM:<evil@sender.test>\r\n");
        let mut wire = Vec::new();
        let mut stuffer = DotStuffer::new();
        stuffer.stuff(&body, &mut wire);
        stuffer.finish(&mut wire);
        assert_eq!(
            lenient_end_of_data(&wire),
            Some(wire.len()),
            "{fake_end:?}: {:?}",
            String::from_utf8_lossy(&wire)
        );
    }
}
