//! `backupmx check-dns` through the real binary, against the in-process DNS server: the example of
//! docs/deploy.md (a backup MX at preference 20 behind the primary at 10) gets an OK verdict and the
//! report names the resolver it asked; NXDOMAIN ("the resolver says the domain does not exist") is
//! told apart from a resolver that does not answer (SERVFAIL, or nothing listening).

use crate::support;

use support::{SmtpSink, TestDns, addr, mx};

/// Writes a config for mx2.example.net backing up example.com, asking `nameserver`, delivering to
/// `delivery_port`; runs `check-dns DOMAIN --config FILE` and returns (exit code, stdout).
async fn check_dns(nameserver: &str, delivery_port: u16, domain: &str) -> (i32, String) {
    // The config and the spool it names live only for this run.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backupmx.toml");
    let toml = format!(
        "hostname = \"mx2.example.net\"\n\
         [smtp]\nlisten = [\"127.0.0.1:2525\"]\n\
         [spool]\ndir = \"{}\"\n\
         [dns]\nnameservers = [\"{nameserver}\"]\n\
         [delivery]\nport = {delivery_port}\nconnect_timeout = \"5s\"\n\
         [[domain]]\nname = \"example.com\"\n",
        dir.path().join("spool").display()
    );
    std::fs::write(&file, toml).expect("write the config");
    support::server::check_dns(domain, &file, false).await
}

async fn example_zone() -> TestDns {
    TestDns::start(&[
        mx("example.com", 10, "mail.example.com"),
        mx("example.com", 20, "mx2.example.net"),
        addr("mail.example.com", "127.0.0.1"),
        addr("mx2.example.net", "127.0.0.1"),
    ])
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_guides_example_is_ok_and_names_the_resolver() {
    let dns = example_zone().await;
    let primary = SmtpSink::start().await;
    let server = dns.addr().to_string();
    let (code, out) = check_dns(&server, primary.addr().port(), "example.com").await;
    // The routing is right, but the readiness is broken (no certificate, no PTR record): exit 4.
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains("BROKEN: example.com (fcrdns, certificate)"),
        "{out}"
    );
    assert!(
        out.contains(&format!("Resolver: {server} (from [dns] nameservers)")),
        "{out}"
    );
    assert!(
        out.contains("   10 mail.example.com (127.0.0.1)\n"),
        "{out}"
    );
    assert!(
        out.contains("   20 mx2.example.net (127.0.0.1)   <- this host\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "  mail.example.com port {}\n    127.0.0.1:{}: answers SMTP\n",
            primary.addr().port(),
            primary.addr().port()
        )),
        "{out}"
    );
    assert!(
        out.contains("OK: mx2.example.net is a backup for mail.example.com\n"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nxdomain_is_the_resolvers_word_not_a_timeout() {
    let dns = example_zone().await;
    let server = dns.addr().to_string();
    let (code, out) = check_dns(&server, 25, "missing.example.com").await;
    // The `mx` readiness check fails with the routing: broken, exit 4.
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains(&format!(
            "WRONG: the domain does not exist (NXDOMAIN), says the resolver {server} (from [dns] nameservers)"
        )),
        "{out}"
    );
    assert!(
        out.contains("NOTE: missing.example.com is not one of the configured domains"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolver_that_fails_or_does_not_answer_gives_unknown() {
    let dns = example_zone().await;
    dns.servfail("example.com");
    let server = dns.addr().to_string();
    let (code, out) = check_dns(&server, 25, "example.com").await;
    // Broken all the same: no certificate is configured.
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains("UNKNOWN: the resolver did not answer ("),
        "{out}"
    );
    assert!(
        out.contains(&format!("resolver: {server} (from [dns] nameservers)")),
        "{out}"
    );
    assert!(!out.contains("WRONG"), "{out}");

    // Nothing listens at all (UDP and TCP refused).
    let silent = support::closed_port().await.to_string();
    let (code, out) = check_dns(&silent, 25, "example.com").await;
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains("UNKNOWN: the resolver did not answer ("),
        "{out}"
    );
    assert!(out.contains(&format!("resolver: {silent} (from")), "{out}");
}
