//! Dialogues of the per-session limits: unknown commands, errors (including refusals by the driver)
//! and transactions per connection, and the exemption.

use super::*;

fn limited(max_messages: u32, max_unknown: u32, exempt: bool) -> Session {
    let mut settings = (*settings(3)).clone();
    settings.max_messages = max_messages;
    settings.max_unknown_commands = max_unknown;
    let mut client = client(false, false);
    client.limits_exempt = exempt;
    let mut s = Session::new(Arc::new(settings), client);
    expect(&mut s, "EHLO client.example", "250");
    s
}

fn transaction(s: &mut Session) {
    expect(s, "MAIL FROM:<a@sender.test>", "250 2.1.0");
    expect(s, "RSET", "250 2.0.0");
}

#[test]
fn unknown_commands_drop_the_session_before_the_error_limit() {
    let mut s = limited(0, 3, false);
    expect(&mut s, "GET / HTTP/1.1", "500 5.5.1");
    expect(&mut s, "Host: mx2.example.net", "500 5.5.1");
    let step = expect(&mut s, "User-Agent: probe", "421 4.7.0");
    assert_eq!(step.action, Action::Close);
    assert!(step.reply.lines[0].contains("unknown commands"));
}

#[test]
fn other_errors_do_not_count_as_unknown_commands() {
    let mut s = limited(0, 2, false);
    for _ in 0..5 {
        expect(&mut s, "RCPT TO:<a@example.test>", "503 5.5.1");
    }
    let step = expect(&mut s, "BOGUS", "500 5.5.1");
    assert_eq!(step.action, Action::Continue);
}

#[test]
fn transactions_per_connection_are_limited() {
    let mut s = limited(2, 10, false);
    transaction(&mut s);
    transaction(&mut s);
    let step = expect(&mut s, "MAIL FROM:<a@sender.test>", "451 4.7.1");
    assert_eq!(step.action, Action::Continue);
    assert!(!s.in_transaction());
    // A refused MAIL is not a transaction: it stays refused.
    expect(&mut s, "MAIL FROM:<a@sender.test>", "451 4.7.1");
    expect(&mut s, "QUIT", "221 2.0.0");
}

#[test]
fn refused_mail_commands_do_not_use_up_the_allowance() {
    let mut s = limited(1, 10, false);
    expect(
        &mut s,
        "MAIL FROM:<a@sender.test> SIZE=99999999",
        "552 5.3.4",
    );
    expect(&mut s, "MAIL FROM:<a@sender.test>", "250 2.1.0");
    expect(&mut s, "RSET", "250 2.0.0");
    expect(&mut s, "MAIL FROM:<a@sender.test>", "451 4.7.1");
}

#[test]
fn exempt_clients_have_no_transaction_limit_but_keep_error_limits() {
    let mut s = limited(1, 2, true);
    for _ in 0..5 {
        transaction(&mut s);
    }
    expect(&mut s, "BOGUS", "500 5.5.1");
    expect(&mut s, "BOGUS", "421 4.7.0");
}

#[test]
fn refusals_by_the_driver_count_as_errors() {
    let mut s = with_recipient();
    for _ in 1..DEFAULT_MAX_ERRORS {
        let step = s.refuse(reply(452, 4, 7, 1, "rate"));
        assert_eq!(head(&step.reply), "452 4.7.1");
    }
    let step = s.refuse(reply(452, 4, 7, 1, "rate"));
    assert_eq!(head(&step.reply), "421 4.7.0");
    assert_eq!(step.action, Action::Close);
}

#[test]
fn recipients_are_expected_only_inside_a_transaction() {
    let mut s = session();
    assert!(!s.expects_recipients());
    expect(&mut s, "EHLO c", "250");
    assert!(!s.expects_recipients());
    expect(&mut s, "MAIL FROM:<>", "250 2.1.0");
    assert!(s.expects_recipients());
    expect(&mut s, "RCPT TO:<a@example.test>", "250 2.1.5");
    expect(&mut s, "DATA", "354");
    assert!(!s.expects_recipients());
}
