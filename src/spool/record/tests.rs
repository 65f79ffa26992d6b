//! Round trips of every record kind through the journal encoding, and clean failures on truncated records.

use super::*;

pub(crate) fn sample_message(id: u64) -> StoredMessage {
    StoredMessage {
        id: QueueId(id),
        envelope: Envelope {
            sender: "alice@sender.test".into(),
            recipients: vec![
                Recipient {
                    address: "\"john doe\"@example.test".into(),
                    route: Route::Relay {
                        domain: "example.test".into(),
                    },
                    notify: Some(Notify {
                        success: false,
                        failure: true,
                        delay: true,
                    }),
                    orcpt: Some("rfc822;john@example.test".into()),
                    status: RecipientStatus::Pending,
                },
                Recipient {
                    address: "postmaster".into(),
                    route: Route::Postmaster,
                    notify: None,
                    orcpt: None,
                    status: RecipientStatus::Delivered {
                        at_ms: 5,
                        reply: "250 ok".into(),
                    },
                },
            ],
            body_type: BodyType::EightBitMime,
            smtputf8: true,
            ret: Some(Ret::Headers),
            envid: Some("env-1".into()),
            client_ip: "::1".parse().unwrap(),
            helo: "client.test".into(),
            received_at_ms: 1_700_000_000_000,
            auth: None,
        },
        attempts: vec![Attempt {
            at_ms: 9,
            host: "mx1".into(),
            result: "421 busy".into(),
        }],
        held: true,
        size: 4096,
    }
}

#[test]
fn every_record_kind_round_trips() {
    let id = QueueId(42);
    let records = vec![
        Record::Message {
            message: sample_message(42),
            body: BodyLocation::Segment {
                segment: 3,
                offset: 100,
                len: 4096,
            },
        },
        Record::Message {
            message: sample_message(43),
            body: BodyLocation::File { len: 4096 },
        },
        Record::Change(Update::Recipient {
            id,
            index: 1,
            status: RecipientStatus::Failed {
                at_ms: 1,
                reply: "550 5.1.1 no".into(),
            },
        }),
        Record::Change(Update::Attempt {
            id,
            attempt: Attempt {
                at_ms: 2,
                host: "h".into(),
                result: "r".into(),
            },
        }),
        Record::Change(Update::Hold { id, held: false }),
        Record::Change(Update::Remove { id }),
    ];
    for r in records {
        assert_eq!(decode(&encode(&r)), Ok(r));
    }
}

#[test]
fn truncated_records_fail_cleanly() {
    let bytes = encode(&Record::Message {
        message: sample_message(1),
        body: BodyLocation::File { len: 4096 },
    });
    for cut in 0..bytes.len() {
        assert!(decode(&bytes[..cut]).is_err());
    }
}

#[test]
fn the_auth_stamp_round_trips_and_records_without_it_still_decode() {
    let body = BodyLocation::File { len: 4096 };
    let mut message = sample_message(7);
    let old_form = encode_message(&message, &body);
    message.envelope.auth = Some(Box::new(AuthStamp {
        prepend: "Authentication-Results: mx2.test; spf=pass\r\n".into(),
        results: vec![
            ("spf".into(), "pass".into()),
            ("dkim".into(), "none".into()),
        ],
    }));
    let new_form = encode_message(&message, &body);
    assert_eq!(
        &new_form[..old_form.len()],
        &old_form[..],
        "a trailing section only"
    );
    match decode(&new_form).unwrap() {
        Record::Message { message: got, .. } => assert_eq!(got, message),
        other => panic!("{other:?}"),
    }
    match decode(&old_form).unwrap() {
        Record::Message { message: got, .. } => assert_eq!(got.envelope.auth, None),
        other => panic!("{other:?}"),
    }
    for cut in old_form.len() + 1..new_form.len() {
        assert!(decode(&new_form[..cut]).is_err(), "cut at {cut}");
    }
}
