//! End-to-end, recipient validation (issue 7) with the real binary and an `SmtpSink` primary that
//! knows some addresses: verify while the primary is up (and the cache answering the second time),
//! the cache deciding while it is down, learning from deliveries, list files reloaded on change,
//! monitoring mode. Prints the added RCPT latency (cold and warm cache); nothing asserts timings.

use crate::support;

use std::time::{Duration, Instant};

use support::SmtpSink;
use support::config::Settings;
use support::e2e::client::{Client, Reply, send_one};
use support::e2e::mail::message;
use support::server::Server;

const WAIT: Duration = Duration::from_secs(20);

fn settings(primary: std::net::SocketAddr, domain_keys: &str) -> Settings {
    let mut settings = Settings::new(Some(primary));
    settings.extra_toml = format!(
        "{domain_keys}\n[[domain]]\nname = \"plain.test\"\nprimary = \"{primary}\"\n\n\
         [recipients]\ncallout_timeout = \"2s\"\n"
    );
    settings
}

/// `550 5.1.1` and the like: code and enhanced code of a reply.
fn head(reply: &Reply) -> String {
    reply.text.split(' ').take(2).collect::<Vec<_>>().join(" ")
}

async fn rcpt(client: &mut Client, address: &str) -> String {
    head(&client.cmd(&format!("RCPT TO:<{address}>")).await)
}

async fn transaction(server: &Server) -> Client {
    let mut client = Client::connect(server.smtp_addr()).await;
    assert_eq!(client.cmd("MAIL FROM:<s@sender.test>").await.code, 250);
    client
}

async fn restart_transaction(client: &mut Client) {
    assert_eq!(client.cmd("RSET").await.code, 250);
    assert_eq!(client.cmd("MAIL FROM:<s@sender.test>").await.code, 250);
}

/// Mean time of `rcpt` over `addresses`, in microseconds.
async fn mean_rcpt_micros(client: &mut Client, addresses: &[String], want: &str) -> u128 {
    let started = Instant::now();
    for address in addresses {
        assert_eq!(rcpt(client, address).await, want, "{address}");
    }
    started.elapsed().as_micros() / addresses.len() as u128
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_asks_the_primary_once_then_the_cache_decides_even_when_it_is_down() {
    let mut sink = SmtpSink::start().await;
    sink.reject("bad@example.test", "550 5.1.1 no such user");
    let server = Server::start(settings(sink.addr(), "recipients = \"verify\"")).await;
    let mut client = transaction(&server).await;

    let started = Instant::now();
    assert_eq!(rcpt(&mut client, "good@example.test").await, "250 2.1.5");
    let cold_connect = started.elapsed();
    assert_eq!(rcpt(&mut client, "bad@example.test").await, "550 5.1.1");

    // The primary changes its mind; the cache still answers, so no new callout was made. (A new
    // transaction: a repeated recipient in one transaction is acknowledged without any check.)
    sink.reject("good@example.test", "550 5.1.1 no such user");
    sink.unscript("bad@example.test");
    restart_transaction(&mut client).await;
    assert_eq!(rcpt(&mut client, "good@example.test").await, "250 2.1.5");
    assert_eq!(rcpt(&mut client, "bad@example.test").await, "550 5.1.1");
    assert_eq!(rcpt(&mut client, "GOOD@Example.Test").await, "250 2.1.5");
    assert_eq!(
        rcpt(&mut client, "good+news@example.test").await,
        "250 2.1.5"
    );
    assert_eq!(sink.connections(), 1, "one reused callout connection");

    restart_transaction(&mut client).await;
    let fresh: Vec<String> = (0..50).map(|i| format!("new{i}@example.test")).collect();
    let cold_open = mean_rcpt_micros(&mut client, &fresh, "250 2.1.5").await;
    restart_transaction(&mut client).await;
    let warm = mean_rcpt_micros(&mut client, &fresh, "250 2.1.5").await;
    let plain: Vec<String> = (0..50).map(|i| format!("u{i}@plain.test")).collect();
    let baseline = mean_rcpt_micros(&mut client, &plain, "250 2.1.5").await;
    eprintln!(
        "RCPT latency: accept_all {baseline} us; verify warm cache {warm} us; \
         cold cache on the open callout connection {cold_open} us; \
         cold cache with a new callout connection {} us",
        cold_connect.as_micros()
    );

    // The primary goes down: known answers stand, an unknown address is accepted (the default).
    sink.stop().await;
    let mut client = transaction(&server).await;
    assert_eq!(rcpt(&mut client, "good@example.test").await, "250 2.1.5");
    assert_eq!(rcpt(&mut client, "bad@example.test").await, "550 5.1.1");
    assert_eq!(
        rcpt(&mut client, "stranger@example.test").await,
        "250 2.1.5"
    );
    client.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_addresses_tempfail_while_the_primary_is_down_when_configured() {
    let mut sink = SmtpSink::start().await;
    sink.stop().await;
    let keys = "recipients = \"verify\"\nunknown_when_down = \"tempfail\"";
    let server = Server::start(settings(sink.addr(), keys)).await;
    let mut client = transaction(&server).await;
    assert_eq!(rcpt(&mut client, "someone@example.test").await, "450 4.1.1");
    assert_eq!(rcpt(&mut client, "other@plain.test").await, "250 2.1.5");
    client.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_teach_the_cache() {
    let mut sink = SmtpSink::start().await;
    sink.stop().await;
    sink.reject("gone@example.test", "550 5.1.1 no such user");
    let server = Server::start(settings(sink.addr(), "recipients = \"verify\"")).await;
    let to = ["kept@example.test", "gone@example.test"];
    let sent = send_one(server.smtp_addr(), "", &to, &message("learn", to[0])).await;
    assert_eq!(sent.data.map(|d| d.code), Some(250), "accepted while down");

    sink.restart().await;
    sink.wait_for(1, WAIT).await;
    server
        .wait_log(
            "recipient learnt: gone@example.test is bad (delivery)",
            WAIT,
        )
        .await;
    server
        .wait_log(
            "recipient learnt: kept@example.test is good (delivery)",
            WAIT,
        )
        .await;
    // Opposite scripts: a callout would now give the other answer.
    sink.reject("kept@example.test", "550 5.1.1 no such user");
    sink.unscript("gone@example.test");
    let mut client = transaction(&server).await;
    assert_eq!(rcpt(&mut client, "kept@example.test").await, "250 2.1.5");
    assert_eq!(rcpt(&mut client, "gone@example.test").await, "550 5.1.1");
    client.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_files_decide_and_reload_when_changed() {
    let sink = SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("users.txt");
    std::fs::write(&list, "# users\nalice@example.test\nsales+*@example.test\n").unwrap();
    let keys = format!(
        "recipients = \"list\"\nrecipient_list = {:?}",
        list.display().to_string()
    );
    let server = Server::start(settings(sink.addr(), &keys)).await;
    let mut client = transaction(&server).await;
    assert_eq!(rcpt(&mut client, "Alice@example.test").await, "250 2.1.5");
    assert_eq!(
        rcpt(&mut client, "sales+eu@example.test").await,
        "250 2.1.5"
    );
    assert_eq!(rcpt(&mut client, "bob@example.test").await, "550 5.1.1");

    std::fs::write(&list, "alice@example.test\nbob@example.test\n").unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let answer = rcpt(&mut client, "bob@example.test").await;
        if answer == "250 2.1.5" {
            break;
        }
        assert_eq!(answer, "550 5.1.1");
        assert!(Instant::now() < deadline, "the list was not reloaded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    restart_transaction(&mut client).await;
    assert_eq!(
        rcpt(&mut client, "sales+eu@example.test").await,
        "550 5.1.1"
    );
    assert_eq!(sink.connections(), 0, "list mode never asks the primary");
    client.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_mode_sends_senders_to_the_primary_while_it_is_up() {
    let mut sink = SmtpSink::start().await;
    let keys = "accept_only_when_primary_down = true";
    let server = Server::start(settings(sink.addr(), keys)).await;
    let mut client = transaction(&server).await;
    assert_eq!(rcpt(&mut client, "a@example.test").await, "451 4.7.1");
    assert_eq!(rcpt(&mut client, "b@plain.test").await, "250 2.1.5");
    sink.stop().await;
    assert_eq!(rcpt(&mut client, "a@example.test").await, "250 2.1.5");
    client.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_survives_a_restart() {
    let sink = SmtpSink::start().await;
    sink.reject("bad@example.test", "550 5.1.1 no such user");
    let mut server = Server::start(settings(sink.addr(), "recipients = \"verify\"")).await;
    let mut client = transaction(&server).await;
    assert_eq!(rcpt(&mut client, "good@example.test").await, "250 2.1.5");
    assert_eq!(rcpt(&mut client, "bad@example.test").await, "550 5.1.1");
    client.quit().await;
    assert!(server.terminate(WAIT).await.success());
    assert!(server.spool_dir().join("recipients-cache").exists());

    sink.reject("good@example.test", "550 5.1.1 no such user");
    sink.unscript("bad@example.test");
    server.restart().await;
    let mut client = transaction(&server).await;
    assert_eq!(rcpt(&mut client, "good@example.test").await, "250 2.1.5");
    assert_eq!(rcpt(&mut client, "bad@example.test").await, "550 5.1.1");
    client.quit().await;
}
