//! The SMTP client against a real SMTP sink on loopback: exact bytes, per-recipient outcomes,
//! pipelining or not, connection reuse, unreachable hosts and probes.

use crate::support;
use support::client_config;

use backupmx::delivery::client::{Connection, Message, RecipientOutcome, TlsPolicy, probe};
use backupmx::envelope::{BodyType, Envelope, Notify};
use support::{SinkOptions, SmtpSink, WAIT, closed_port, envelope};

async fn open(sink: &SmtpSink) -> Connection {
    Connection::open(
        sink.addr(),
        "sink.test",
        &client_config(TlsPolicy::Opportunistic),
    )
    .await
    .expect("connect to the sink")
}

fn all(env: &Envelope) -> Vec<usize> {
    (0..env.recipients.len()).collect()
}

fn codes(outcomes: &[(usize, RecipientOutcome)]) -> Vec<(&'static str, u16)> {
    outcomes
        .iter()
        .map(|(_, o)| match o {
            RecipientOutcome::Delivered(r) => ("delivered", r.reply.code),
            RecipientOutcome::Deferred(r) => ("deferred", r.reply.code),
            RecipientOutcome::Failed(r) => ("failed", r.reply.code),
        })
        .collect()
}

async fn send_one(conn: &mut Connection, env: &Envelope, body: &[u8]) -> Vec<(&'static str, u16)> {
    let indices = all(env);
    let message = Message {
        envelope: env,
        recipients: &indices,
        size: body.len() as u64,
    };
    codes(&conn.send(&message, body).await.recipients)
}

#[tokio::test]
async fn bytes_arrive_identical_with_dot_lines_and_8bit() {
    let sink = SmtpSink::start().await;
    let mut conn = open(&sink).await;
    assert!(conn.extensions().pipelining && conn.extensions().eight_bit_mime);
    let mut env = envelope("alice@sender.test", &["bob@example.test"]);
    env.body_type = BodyType::EightBitMime;
    let body = "Received: by backup\r\nSubject: dots\r\n\r\n.leading dot\r\n..two\r\n.\r\nGrüße aus Köln\r\n";
    assert_eq!(
        send_one(&mut conn, &env, body.as_bytes()).await,
        [("delivered", 250)]
    );
    conn.quit().await;
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(got[0].data, body.as_bytes());
    assert_eq!(got[0].sender, "alice@sender.test");
    assert_eq!(got[0].recipients, ["bob@example.test"]);
    assert!(
        got[0].mail_from.contains("BODY=8BITMIME"),
        "{}",
        got[0].mail_from
    );
    assert_eq!(got[0].helo, "backup.example.test");
}

#[tokio::test]
async fn a_body_without_final_crlf_gets_one() {
    let sink = SmtpSink::start().await;
    let mut conn = open(&sink).await;
    let env = envelope("", &["bob@example.test"]);
    assert_eq!(
        send_one(&mut conn, &env, b"Subject: x\r\n\r\nno end").await,
        [("delivered", 250)]
    );
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(got[0].data, b"Subject: x\r\n\r\nno end\r\n");
    assert_eq!(got[0].sender, "", "the null sender stays <>");
}

#[tokio::test]
async fn mixed_recipient_results_are_reported_one_by_one() {
    for pipelining in [true, false] {
        let sink = SmtpSink::start_with(SinkOptions {
            pipelining,
            ..SinkOptions::default()
        })
        .await;
        sink.reject("bad@example.test", "550 5.1.1 no such user");
        sink.defer("later@example.test", "451 4.2.0 mailbox busy");
        let mut conn = open(&sink).await;
        let env = envelope(
            "a@sender.test",
            &[
                "good@example.test",
                "bad@example.test",
                "later@example.test",
            ],
        );
        let indices = all(&env);
        let report = conn
            .send(
                &Message {
                    envelope: &env,
                    recipients: &indices,
                    size: 10,
                },
                &b"body\r\n"[..],
            )
            .await;
        assert_eq!(
            codes(&report.recipients),
            [("delivered", 250), ("failed", 550), ("deferred", 451)]
        );
        assert!(report.reusable);
        let RecipientOutcome::Failed(failed) = &report.recipients[1].1 else {
            unreachable!()
        };
        assert!(failed.remote);
        assert_eq!(
            failed.reply.enhanced,
            Some(backupmx_smtp::EnhancedCode(5, 1, 1))
        );
        assert_eq!(
            sink.wait_for(1, WAIT).await[0].recipients,
            ["good@example.test"]
        );
        assert_eq!(sink.pipelining_violations(), 0, "pipelining={pipelining}");
    }
}

#[tokio::test]
async fn all_recipients_refused_sends_no_data() {
    let sink = SmtpSink::start_with(SinkOptions {
        pipelining: false,
        ..SinkOptions::default()
    })
    .await;
    sink.reject("bad@example.test", "550 5.1.1 no such user");
    let mut conn = open(&sink).await;
    let env = envelope("a@sender.test", &["bad@example.test"]);
    assert_eq!(send_one(&mut conn, &env, b"x\r\n").await, [("failed", 550)]);
    assert!(conn.is_reusable());
    let env = envelope("a@sender.test", &["good@example.test"]);
    assert_eq!(
        send_one(&mut conn, &env, b"x\r\n").await,
        [("delivered", 250)]
    );
    assert_eq!(sink.wait_for(1, WAIT).await.len(), 1);
}

#[tokio::test]
async fn permanent_refusal_at_mail_fails_every_recipient() {
    for pipelining in [true, false] {
        let options = SinkOptions {
            pipelining,
            mail_reply: Some("550 5.7.1 sender refused".into()),
            ..SinkOptions::default()
        };
        let sink = SmtpSink::start_with(options).await;
        let mut conn = open(&sink).await;
        let env = envelope("spammer@sender.test", &["a@example.test", "b@example.test"]);
        assert_eq!(
            send_one(&mut conn, &env, b"x\r\n").await,
            [("failed", 550), ("failed", 550)]
        );
        assert!(conn.is_reusable());
        assert!(sink.messages().is_empty());
    }
}

#[tokio::test]
async fn temporary_failure_after_data_defers_every_recipient() {
    let options = SinkOptions {
        data_reply: Some("452 4.3.1 disk full".into()),
        ..SinkOptions::default()
    };
    let sink = SmtpSink::start_with(options).await;
    let mut conn = open(&sink).await;
    let env = envelope("a@sender.test", &["a@example.test", "b@example.test"]);
    assert_eq!(
        send_one(&mut conn, &env, b"x\r\n").await,
        [("deferred", 452), ("deferred", 452)]
    );
}

#[tokio::test]
async fn one_connection_carries_three_messages() {
    let sink = SmtpSink::start().await;
    let mut conn = open(&sink).await;
    for i in 0..3 {
        let env = envelope("a@sender.test", &["bob@example.test"]);
        let body = format!("Subject: {i}\r\n\r\nmessage {i}\r\n");
        assert_eq!(
            send_one(&mut conn, &env, body.as_bytes()).await,
            [("delivered", 250)]
        );
        assert!(conn.is_reusable());
    }
    conn.quit().await;
    let got = sink.wait_for(3, WAIT).await;
    assert_eq!(sink.connections(), 1);
    for (i, message) in got.iter().enumerate() {
        assert_eq!(
            message.data,
            format!("Subject: {i}\r\n\r\nmessage {i}\r\n").as_bytes()
        );
    }
}

#[tokio::test]
async fn helo_fallback_sends_no_extensions() {
    let sink = SmtpSink::start_with(SinkOptions {
        esmtp: false,
        ..SinkOptions::default()
    })
    .await;
    let mut conn = open(&sink).await;
    assert!(!conn.extensions().esmtp);
    let mut env = envelope("a@sender.test", &["bob@example.test"]);
    env.body_type = BodyType::EightBitMime;
    assert_eq!(
        send_one(&mut conn, &env, b"x\r\n").await,
        [("delivered", 250)]
    );
    assert_eq!(sink.wait_for(1, WAIT).await[0].mail_from, "<a@sender.test>");
}

#[tokio::test]
async fn dsn_parameters_reach_a_dsn_server() {
    let sink = SmtpSink::start().await;
    let mut conn = open(&sink).await;
    let mut env = envelope("a@sender.test", &["bob@example.test"]);
    env.envid = Some("QID1".into());
    env.recipients[0].notify = Some(Notify {
        success: false,
        failure: true,
        delay: true,
    });
    env.recipients[0].orcpt = Some("rfc822;bob@example.test".into());
    assert_eq!(
        send_one(&mut conn, &env, b"x\r\n").await,
        [("delivered", 250)]
    );
    let got = sink.wait_for(1, WAIT).await;
    assert!(
        got[0].mail_from.ends_with("ENVID=QID1"),
        "{}",
        got[0].mail_from
    );
    assert_eq!(
        got[0].rcpt_lines[0],
        "RCPT TO:<bob@example.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;bob@example.test"
    );
}

#[tokio::test]
async fn size_and_smtputf8_limits_fail_before_sending() {
    let options = SinkOptions {
        size: Some(100),
        smtputf8: false,
        ..SinkOptions::default()
    };
    let sink = SmtpSink::start_with(options).await;
    let mut conn = open(&sink).await;
    let env = envelope("a@sender.test", &["bob@example.test"]);
    let big = [b'x'; 200];
    let report = conn
        .send(
            &Message {
                envelope: &env,
                recipients: &[0],
                size: 200,
            },
            &big[..],
        )
        .await;
    let RecipientOutcome::Failed(r) = &report.recipients[0].1 else {
        panic!("{report:?}")
    };
    assert_eq!(
        (r.reply.code, r.reply.enhanced, r.remote),
        (552, Some(backupmx_smtp::EnhancedCode(5, 3, 4)), false)
    );
    let mut utf8 = envelope("a@sender.test", &["bob@example.test"]);
    utf8.smtputf8 = true;
    let report = conn
        .send(
            &Message {
                envelope: &utf8,
                recipients: &[0],
                size: 3,
            },
            &b"x\r\n"[..],
        )
        .await;
    let RecipientOutcome::Failed(r) = &report.recipients[0].1 else {
        panic!("{report:?}")
    };
    assert_eq!(r.reply.enhanced, Some(backupmx_smtp::EnhancedCode(5, 6, 7)));
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn refused_connection_is_unreachable() {
    let addr = closed_port().await;
    let error = Connection::open(addr, "down.test", &client_config(TlsPolicy::Opportunistic))
        .await
        .err()
        .expect("refused");
    assert!(error.is_unreachable() && error.is_temporary(), "{error}");
}

#[tokio::test]
async fn a_421_greeting_is_unreachable() {
    let options = SinkOptions {
        greeting: "421 4.3.2 try again later".into(),
        ..SinkOptions::default()
    };
    let sink = SmtpSink::start_with(options).await;
    let error = Connection::open(
        sink.addr(),
        "sink.test",
        &client_config(TlsPolicy::Opportunistic),
    )
    .await
    .err()
    .expect("421");
    assert!(error.is_unreachable(), "{error}");
    assert_eq!(error.to_reply().code, 421);
}

#[tokio::test]
async fn probe_follows_the_sink_down_and_up() {
    let mut sink = SmtpSink::start().await;
    probe(sink.addr(), &client_config(TlsPolicy::Opportunistic))
        .await
        .expect("up");
    sink.stop().await;
    let error = probe(sink.addr(), &client_config(TlsPolicy::Opportunistic))
        .await
        .expect_err("down");
    assert!(error.is_unreachable(), "{error}");
    sink.restart().await;
    probe(sink.addr(), &client_config(TlsPolicy::Opportunistic))
        .await
        .expect("up again");
    assert!(sink.messages().is_empty());
}
