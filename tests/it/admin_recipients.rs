//! Recipient validation through the admin layer of the real binary (issue 7): the JSON API's domain
//! figures and look-up, the CLI's `recipients lookup | import | purge`, and the metric
//! `backupmx_recipients_total{domain,result,reason}`.

use crate::support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Output;

use support::SmtpSink;
use support::admin::http;
use support::config::{Settings, free_port};
use support::e2e::client::Client;
use support::server::{Server, run_cli};

const TOKEN: &str = "recipients-token";

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn get(admin: SocketAddr, path: &str) -> support::admin::Reply {
    http(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        admin,
        "GET",
        path,
        Some(TOKEN),
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_cli_and_metrics_show_and_manage_the_cache() {
    let sink = SmtpSink::start().await;
    sink.reject("bad@example.test", "550 5.1.1 no such user");
    let mut settings = Settings::new(Some(sink.addr()));
    settings.extra_toml = "recipients = \"verify\"\n".into();
    let admin_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let server =
        Server::with_admin(settings, admin_addr, &format!("api_token = \"{TOKEN}\"\n")).await;

    let mut client = Client::connect(server.settings.smtp_addr()).await;
    assert_eq!(client.cmd("MAIL FROM:<s@sender.test>").await.code, 250);
    assert_eq!(client.cmd("RCPT TO:<good@example.test>").await.code, 250);
    assert_eq!(client.cmd("RCPT TO:<bad@example.test>").await.code, 550);
    client.quit().await;

    let domains = get(admin_addr, "/api/v1/recipients").await.json();
    let d = &domains["domains"][0];
    assert_eq!(d["domain"], "example.test");
    assert_eq!(d["policy"], "verify");
    assert_eq!(
        (d["cache_good"].as_u64(), d["cache_bad"].as_u64()),
        (Some(1), Some(1))
    );

    let config = server.config_path();
    let config = config.to_str().unwrap();
    let lookup = stdout(&run_cli(&[
        "recipients",
        "lookup",
        "Good+x@Example.test",
        "--config",
        config,
    ]));
    assert!(
        lookup.contains("known: good") && lookup.contains("cache entry: good@example.test"),
        "{lookup}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("known.txt");
    std::fs::write(
        &file,
        "# from the primary\nalice@example.test\nbad mallory@example.test\n",
    )
    .unwrap();
    let import = run_cli(&[
        "recipients",
        "import",
        file.to_str().unwrap(),
        "--config",
        config,
    ]);
    assert_eq!(stdout(&import).trim(), "imported 2 addresses", "{import:?}");
    let json = get(
        admin_addr,
        "/api/v1/recipients/lookup?address=mallory@example.test",
    )
    .await
    .json();
    assert_eq!(json["state"], "bad");

    let purge = stdout(&run_cli(&[
        "recipients",
        "purge",
        "good@example.test",
        "--config",
        config,
    ]));
    assert_eq!(purge.trim(), "good@example.test: purged");
    let lookup = stdout(&run_cli(&[
        "recipients",
        "lookup",
        "good@example.test",
        "--config",
        config,
    ]));
    assert!(lookup.contains("known: unknown"), "{lookup}");

    let metrics = get(admin_addr, "/metrics").await.text();
    let refused = metrics.lines().any(|l| {
        l.starts_with("backupmx_recipients_total{")
            && l.contains("domain=\"example.test\"")
            && l.contains("result=\"refused\"")
            && l.contains("reason=\"known_bad\"")
    });
    assert!(refused, "{metrics}");
}
