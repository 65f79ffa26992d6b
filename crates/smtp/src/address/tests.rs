//! Tests of mailbox parsing, relay-trick refusal and domain keys.

use super::*;

fn ok(text: &str) -> Mailbox {
    Mailbox::parse(text).unwrap_or_else(|e| panic!("{text:?} refused: {e}"))
}

fn err(text: &str) -> AddressError {
    match Mailbox::parse(text) {
        Ok(m) => panic!("{text:?} accepted as {m:?}"),
        Err(e) => e,
    }
}

#[test]
fn plain_addresses_parse() {
    let m = ok("user@example.test");
    assert_eq!(m.local_part, "user");
    assert_eq!(m.domain, "example.test");
    for text in [
        "first.last@example.test",
        "a+tag@sub.example.test",
        "x@localhost",
        "#$&'*+-/=?^_`{|}~@example.test",
        "o'brien@example.test",
        "user@example.test.",
        "user@xn--bcher-kva.example",
        "user@1.2.3.4",
        "user@a-b.example",
        "UPPER@EXAMPLE.TEST",
    ] {
        assert_eq!(ok(text).to_wire(), text);
    }
}

#[test]
fn utf8_addresses_parse() {
    let m = ok("jösé@bücher.example");
    assert_eq!(m.local_part, "jösé");
    assert_eq!(m.domain, "bücher.example");
    assert!(!m.is_ascii());
    assert!(ok("user@example.test").is_ascii());
    ok("用户@例子.测试");
}

#[test]
fn quoted_local_parts_keep_their_quotes() {
    let m = ok("\"john doe\"@example.test");
    assert_eq!(m.local_part, "\"john doe\"");
    assert_eq!(m.to_wire(), "\"john doe\"@example.test");
    assert_eq!(ok("\"a\\\"b\"@example.test").local_part, "\"a\\\"b\"");
    assert_eq!(ok("\"a.\\\\.b\"@example.test").local_part, "\"a.\\\\.b\"");
    ok("\"\"@example.test");
    ok("\"a..b\"@example.test");
    ok("\"a<b>c\"@example.test");
}

#[test]
fn relay_tricks_are_refused() {
    assert_eq!(
        err("user%other.test@example.test"),
        AddressError::PercentHack
    );
    assert_eq!(err("other.test!user@example.test"), AddressError::BangPath);
    assert_eq!(
        err("\"user@other.test\"@example.test"),
        AddressError::QuotedAt
    );
    assert_eq!(
        err("\"user\\@other.test\"@example.test"),
        AddressError::QuotedAt
    );
    assert_eq!(
        err("\"user%other.test\"@example.test"),
        AddressError::PercentHack
    );
    assert_eq!(err("\"other!user\"@example.test"), AddressError::BangPath);
    assert_eq!(err("user@[192.0.2.1]"), AddressError::IpLiteral);
    assert_eq!(err("user@[IPv6:2001:db8::1]"), AddressError::IpLiteral);
    assert_eq!(err("user@[garbage"), AddressError::IpLiteral);
    for e in [
        AddressError::SourceRoute,
        AddressError::PercentHack,
        AddressError::BangPath,
        AddressError::QuotedAt,
        AddressError::IpLiteral,
    ] {
        assert!(e.is_relay_trick(), "{e:?}");
    }
    assert!(!AddressError::Syntax.is_relay_trick());
    assert!(!AddressError::TooLong.is_relay_trick());
}

#[test]
fn malformed_addresses_are_syntax_errors() {
    for text in [
        "",
        "@",
        "user",
        "user@",
        "@example.test",
        ".user@example.test",
        "user.@example.test",
        "us..er@example.test",
        "us er@example.test",
        "us\"er@example.test",
        "user@@example.test",
        "user@exa@mple.test",
        "user@example..test",
        "user@.example.test",
        "user@.",
        "user@example.test..",
        "user@-example.test",
        "user@example-.test",
        "user@exa_mple.test",
        "user@exa mple.test",
        "user@exa\tmple.test",
        "us\u{7f}er@example.test",
        "us\u{85}er@example.test",
        "us(er)@example.test",
        "us,er@example.test",
        "us:er@example.test",
        "us;er@example.test",
        "us<er@example.test",
        "us[er]@example.test",
        "us\\er@example.test",
        "\"unterminated",
        "\"user\"example.test",
        "\"user\"x@example.test",
        "\"us\ter\"@example.test",
        "\"user\\",
        "user@example.test\u{a0}",
        "user@exa\u{0}mple.test",
    ] {
        assert_eq!(err(text), AddressError::Syntax, "{text:?}");
    }
}

#[test]
fn lengths_are_limited() {
    let local64 = "a".repeat(64);
    ok(&format!("{local64}@example.test"));
    assert_eq!(
        err(&format!("{}@example.test", "a".repeat(65))),
        AddressError::TooLong
    );
    assert_eq!(
        err(&format!("\"{}\"@example.test", "a".repeat(63))),
        AddressError::TooLong
    );

    let label63 = "b".repeat(63);
    ok(&format!("u@{label63}.test"));
    assert_eq!(
        err(&format!("u@{}.test", "b".repeat(64))),
        AddressError::Syntax
    );

    // 4 labels of 63 + 3 dots = 255 octets: a valid domain, but the mailbox is then too long.
    let domain255 = [label63.as_str(); 4].join(".");
    assert_eq!(domain255.len(), 255);
    assert_eq!(err(&format!("u@{domain255}")), AddressError::TooLong);
    assert_eq!(err(&format!("u@{domain255}x")), AddressError::TooLong);
    let domain256 = format!("{}.{}", domain255, "c");
    assert_eq!(err(&format!("u@{domain256}")), AddressError::TooLong);

    let domain = format!("{}.{}.{}.{}", label63, label63, label63, "c".repeat(60));
    let at_limit = format!("{}@{}", "a".repeat(254 - 1 - domain.len()), domain);
    assert_eq!(at_limit.len(), 254);
    ok(&at_limit);
    assert_eq!(err(&format!("a{at_limit}")), AddressError::TooLong);
}

#[test]
fn domain_key_lowercases_and_strips_one_dot() {
    assert_eq!(ok("User@Example.TEST.").domain_key(), "example.test");
    assert_eq!(ok("u@example.test").domain_key(), "example.test");
    assert_eq!(ok("u@BÜCHER.example").domain_key(), "bÜcher.example");
}

#[test]
fn helo_names_tolerate_underscores() {
    assert_eq!(check_domain("exa_mple.test", DomainRules::HeloName), Ok(()));
    assert_eq!(
        check_domain("exa_mple.test", DomainRules::Mailbox),
        Err(AddressError::Syntax)
    );
    assert_eq!(
        check_domain("[1.2.3.4]", DomainRules::HeloName),
        Err(AddressError::IpLiteral)
    );
}
