//! Client timeouts against a slow primary: the reply to the final dot gets `[delivery]
//! data_timeout` (RFC 5321 §4.5.3.2.6: 10 minutes by default), every other reply
//! `command_timeout`. A primary slower than that is given up on and the recipient deferred.

use crate::support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use backupmx::config::{Config, DeliveryConfig};
use backupmx::delivery::client::{ClientConfig, Connection, Message, RecipientOutcome, TlsPolicy};
use support::envelope;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A primary that answers everything at once except the final dot, which it answers after `delay`.
async fn slow_after_dot(delay: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        let _ = write.write_all(b"220 slow.test\r\n").await;
        let mut in_data = false;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let answer = if in_data {
                if line != ".\r\n" {
                    continue;
                }
                in_data = false;
                tokio::time::sleep(delay).await;
                "250 2.0.0 finally"
            } else if line.starts_with("DATA") {
                in_data = true;
                "354 go on"
            } else if line.starts_with("QUIT") {
                "221 bye"
            } else {
                "250 ok"
            };
            if write
                .write_all(format!("{answer}\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    });
    addr
}

fn client(command_timeout: Duration, data_timeout: Duration) -> ClientConfig {
    let delivery = DeliveryConfig {
        port: 25,
        connect_timeout: Duration::from_secs(2),
        command_timeout,
        data_timeout,
        tls_ca_file: None,
        mta_sts_port: 443,
    };
    ClientConfig::new("backup.example.test", &delivery, TlsPolicy::None).unwrap()
}

async fn deliver_through(addr: SocketAddr, config: &ClientConfig) -> RecipientOutcome {
    let mut conn = Connection::open(addr, "slow.test", config).await.unwrap();
    let env = envelope("alice@sender.test", &["bob@example.test"]);
    let body = b"Subject: slow\r\n\r\nbody\r\n";
    let message = Message {
        envelope: &env,
        recipients: &[0],
        size: body.len() as u64,
    };
    let mut report = conn.send(&message, &body[..]).await;
    report.recipients.remove(0).1
}

#[tokio::test]
async fn the_final_reply_may_take_longer_than_a_command() {
    let addr = slow_after_dot(Duration::from_millis(1500)).await;
    let config = client(Duration::from_secs(1), Duration::from_secs(5));
    let outcome = deliver_through(addr, &config).await;
    assert!(
        matches!(outcome, RecipientOutcome::Delivered(_)),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_final_reply_later_than_data_timeout_defers() {
    let addr = slow_after_dot(Duration::from_secs(4)).await;
    let config = client(Duration::from_secs(5), Duration::from_secs(1));
    let started = Instant::now();
    let outcome = deliver_through(addr, &config).await;
    let RecipientOutcome::Deferred(response) = &outcome else {
        panic!("{outcome:?}");
    };
    assert!(!response.remote, "a local timeout, not the primary's reply");
    assert!(
        response.reply.to_one_line().contains("timeout"),
        "{outcome:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "data_timeout used"
    );
}

#[test]
fn rfc_5321_defaults() {
    let config = Config::from_toml_str("[[domain]]\nname = \"example.test\"\n", "t.toml").unwrap();
    assert_eq!(config.delivery.command_timeout, Duration::from_secs(5 * 60));
    assert_eq!(config.delivery.data_timeout, Duration::from_secs(10 * 60));
}
