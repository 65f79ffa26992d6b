//! Tests of the pure parts of a transaction: commands, parameters and pre-checks.

use super::*;
use crate::envelope::Notify;
use crate::envelope::samples::{self, recipient};

fn envelope() -> Envelope {
    samples::envelope("bob@example.test", 0)
}

fn all() -> Extensions {
    Extensions {
        esmtp: true,
        pipelining: true,
        size: Some(1000),
        eight_bit_mime: true,
        smtputf8: true,
        starttls: false,
        dsn: true,
    }
}

fn message(env: &Envelope, size: u64) -> Message<'_> {
    Message {
        envelope: env,
        recipients: &[0],
        size,
    }
}

#[test]
fn plain_mail_from_without_extensions() {
    let mut env = envelope();
    env.body_type = BodyType::EightBitMime;
    env.ret = Some(Ret::Full);
    assert_eq!(
        mail_command(&env, 10, &Extensions::default()),
        "MAIL FROM:<alice@sender.test>"
    );
}

#[test]
fn null_sender_keeps_empty_brackets() {
    let mut env = envelope();
    env.sender.clear();
    assert_eq!(
        mail_command(
            &env,
            5,
            &Extensions {
                esmtp: true,
                ..Extensions::default()
            }
        ),
        "MAIL FROM:<>"
    );
}

#[test]
fn mail_from_with_every_supported_parameter() {
    let mut env = envelope();
    env.body_type = BodyType::EightBitMime;
    env.smtputf8 = true;
    env.ret = Some(Ret::Headers);
    env.envid = Some("id+1=x".into());
    assert_eq!(
        mail_command(&env, 123, &all()),
        "MAIL FROM:<alice@sender.test> SIZE=123 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=id+2B1+3Dx"
    );
}

#[test]
fn eight_bit_body_to_a_server_without_8bitmime_is_sent_without_body_param() {
    let mut env = envelope();
    env.body_type = BodyType::EightBitMime;
    let ext = Extensions {
        eight_bit_mime: false,
        ..all()
    };
    assert_eq!(
        mail_command(&env, 1, &ext),
        "MAIL FROM:<alice@sender.test> SIZE=1"
    );
    assert_eq!(precheck(&message(&env, 1), &ext), None);
}

#[test]
fn dsn_parameters_only_when_the_server_supports_dsn() {
    let mut rcpt = recipient("bob@example.test");
    rcpt.notify = Some(Notify {
        success: true,
        failure: true,
        delay: false,
    });
    rcpt.orcpt = Some("rfc822;bob+tag@example.test".into());
    assert_eq!(
        rcpt_command(&rcpt, &all()),
        "RCPT TO:<bob@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob+2Btag@example.test"
    );
    let no_dsn = Extensions {
        dsn: false,
        ..all()
    };
    assert_eq!(rcpt_command(&rcpt, &no_dsn), "RCPT TO:<bob@example.test>");
    rcpt.notify = Some(Notify::default());
    rcpt.orcpt = None;
    assert_eq!(
        rcpt_command(&rcpt, &all()),
        "RCPT TO:<bob@example.test> NOTIFY=NEVER"
    );
}

#[test]
fn xtext_encodes_plus_equals_space_and_non_ascii() {
    assert_eq!(xtext("a+b=c d"), "a+2Bb+3Dc+20d");
    assert_eq!(xtext("é"), "+C3+A9");
    assert_eq!(xtext("plain!~"), "plain!~");
}

#[test]
fn smtputf8_message_to_a_server_without_it_fails_5_6_7() {
    let mut env = envelope();
    env.smtputf8 = true;
    let ext = Extensions {
        smtputf8: false,
        ..all()
    };
    let reply = precheck(&message(&env, 1), &ext).unwrap();
    assert_eq!(
        (reply.code, reply.enhanced),
        (554, Some(EnhancedCode(5, 6, 7)))
    );
    let mut utf8_address = envelope();
    utf8_address.recipients = vec![recipient("jöran@example.test")];
    assert!(precheck(&message(&utf8_address, 1), &ext).is_some());
    assert_eq!(precheck(&message(&env, 1), &all()), None);
}

#[test]
fn size_over_the_servers_limit_fails_5_3_4() {
    let env = envelope();
    let reply = precheck(&message(&env, 1001), &all()).unwrap();
    assert_eq!(
        (reply.code, reply.enhanced),
        (552, Some(EnhancedCode(5, 3, 4)))
    );
    assert_eq!(precheck(&message(&env, 1000), &all()), None);
    let unlimited = Extensions {
        size: Some(0),
        ..all()
    };
    assert_eq!(precheck(&message(&env, u64::MAX), &unlimited), None);
}
