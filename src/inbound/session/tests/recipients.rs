//! RCPT with a recipient policy: the session asks the driver, then turns the decision into the reply.

use super::*;
use crate::config::DomainRecipients;
use crate::recipients::{Decision, DomainPolicy, Mode, Reason, Verdict};

/// `base` with `example.test` verified at the primary.
fn verify_example(base: Arc<SessionSettings>) -> SessionSettings {
    let mut settings = (*base).clone();
    settings.recipients.domains.insert(
        "example.test".into(),
        DomainRecipients {
            policy: DomainPolicy {
                mode: Mode::Verify,
                ..DomainPolicy::default()
            },
            list: None,
        },
    );
    settings
}

fn verifying() -> Session {
    let settings = verify_example(settings(3));
    let mut s = Session::new(Arc::new(settings), client(false, true));
    dialogue(
        &mut s,
        &[
            ("EHLO c.test", "250"),
            ("MAIL FROM:<a@sender.test>", "250 2.1.0"),
        ],
    );
    s
}

fn decision(verdict: Verdict) -> Decision {
    Decision {
        verdict,
        reason: Reason::KnownGood,
    }
}

fn ask(s: &mut Session, line: &str) {
    let step = send(s, line);
    assert!(
        matches!(&step.action, Action::CheckRecipient { domain, .. } if domain == "example.test"),
        "{step:?}"
    );
}

#[test]
fn accepted_recipient_joins_the_transaction() {
    let mut s = verifying();
    ask(&mut s, "RCPT TO:<Good@Example.test>");
    let step = s.recipient_checked(decision(Verdict::Accept));
    assert_eq!(head(&step.reply), "250 2.1.5");
    expect(&mut s, "DATA", "354");
}

#[test]
fn refusals_keep_the_transaction_without_the_recipient() {
    let mut s = verifying();
    for (verdict, want) in [
        (Verdict::Refuse550, "550 5.1.1"),
        (Verdict::Tempfail450, "450 4.1.1"),
        (Verdict::TryPrimary451, "451 4.7.1"),
    ] {
        ask(&mut s, "RCPT TO:<x@example.test>");
        assert_eq!(head(&s.recipient_checked(decision(verdict)).reply), want);
    }
    expect(&mut s, "DATA", "503 5.5.1");
}

#[test]
fn other_domains_and_postmaster_are_not_checked() {
    let mut s = verifying();
    expect(&mut s, "RCPT TO:<x@corp.test>", "250 2.1.5");
    expect(&mut s, "RCPT TO:<postmaster>", "250 2.1.5");
}

#[test]
fn the_pending_reply_is_not_an_error_but_refusals_are() {
    let mut settings = verify_example(settings(100));
    settings.max_errors = 3;
    let mut s = Session::new(Arc::new(settings), client(false, true));
    dialogue(
        &mut s,
        &[("EHLO c.test", "250"), ("MAIL FROM:<>", "250 2.1.0")],
    );
    for _ in 0..2 {
        ask(&mut s, "RCPT TO:<x@example.test>");
        assert_eq!(
            head(&s.recipient_checked(decision(Verdict::Refuse550)).reply),
            "550 5.1.1"
        );
    }
    ask(&mut s, "RCPT TO:<x@example.test>");
    let step = s.recipient_checked(decision(Verdict::Refuse550));
    assert_eq!(step.action, Action::Close);
}

#[test]
fn an_answer_without_a_question_is_refused() {
    let mut s = verifying();
    assert_eq!(
        head(&s.recipient_checked(decision(Verdict::Accept)).reply),
        "503 5.5.1"
    );
}

#[test]
fn a_quota_domain_is_checked_and_over_quota_gets_452_4_2_2() {
    let mut settings = (*settings(3)).clone();
    settings.quota_domains.insert("example.test".into());
    let mut s = Session::new(Arc::new(settings), client(false, true));
    dialogue(
        &mut s,
        &[
            ("EHLO c.test", "250"),
            ("MAIL FROM:<a@sender.test>", "250 2.1.0"),
        ],
    );
    ask(&mut s, "RCPT TO:<bob@example.test>");
    let over = Decision {
        verdict: Verdict::OverQuota452,
        reason: Reason::OverQuota,
    };
    assert_eq!(head(&s.recipient_checked(over).reply), "452 4.2.2");
    // Under the quota, the same check accepts.
    ask(&mut s, "RCPT TO:<carol@example.test>");
    assert_eq!(
        head(&s.recipient_checked(decision(Verdict::Accept)).reply),
        "250 2.1.5"
    );
}
