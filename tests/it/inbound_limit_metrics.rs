//! Limit hits are observable on the real binary: each one logs `client limit reached` with its
//! `limit` and counts in `backupmx_limit_hits_total{limit=...}` on the admin listener's /metrics.

use crate::support;

use std::time::Duration;

use support::config::Settings;
use support::inbound::API_TOKEN;
use support::inbound::Client;
use support::server::Server;
use tokio::net::TcpStream;

async fn connect(server: &Server) -> Client<TcpStream> {
    Client::new(TcpStream::connect(server.smtp_addr()).await.unwrap())
}

#[tokio::test]
async fn limit_hits_are_logged_and_counted() {
    let extra = "[limits]\nconnections_per_minute = 3\nmax_unknown_commands = 2\n";
    let server = Server::start(Settings::inbound_process(None, extra)).await;
    let mut c = connect(&server).await;
    assert_eq!(c.reply().await.unwrap().head(), "220");
    assert_eq!(c.cmd("GET / HTTP/1.0").await, "500 5.5.1");
    assert_eq!(c.cmd("GET / HTTP/1.0").await, "421 4.7.0");
    let mut c = connect(&server).await;
    assert_eq!(c.reply().await.unwrap().head(), "220");
    let mut c = connect(&server).await;
    assert_eq!(c.reply().await.unwrap().head(), "220");
    let mut refused = connect(&server).await;
    assert_eq!(refused.reply().await.unwrap().head(), "421 4.7.0");
    drop(c);

    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = server.metrics(API_TOKEN);
        if metrics.contains("connections_per_minute") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let count = |limit: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with("backupmx_limit_hits_total") && l.contains(limit))
            .and_then(|l| l.rsplit(' ').next())
            .map(str::to_string)
    };
    assert_eq!(
        count("\"unknown_commands\"").as_deref(),
        Some("1"),
        "{metrics}"
    );
    assert_eq!(
        count("\"connections_per_minute\"").as_deref(),
        Some("1"),
        "{metrics}"
    );
    let log = server.log();
    let logged = |limit: &str| {
        log.lines()
            .any(|l| l.contains("client limit reached") && l.contains(limit))
    };
    assert!(logged("unknown_commands"), "{log}");
    assert!(logged("connections_per_minute"), "{log}");
    // The server raised its own soft open-files limit at start.
    assert!(log.contains("open-files limit"), "{log}");
}
