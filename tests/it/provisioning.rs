//! Domain provisioning on the real binary (issue 16): `PUT /api/v1/domains/{name}` adds a domain
//! that accepts mail at once and is delivered to its primary, `GET` shows it with its origin, it is
//! still there after a restart (the store file), `DELETE` makes new mail for it refused like any
//! unknown domain's; an invalid body is 400 naming the key, a name of the config file 409, and every
//! change is in the audit log. The CLI's `domains add|show|list|remove` against the same server, and
//! a name both in the file and provisioned: the file wins, and the log says so.

use crate::support;

use std::net::IpAddr;
use std::time::Duration;

use support::SmtpSink;
use support::admin::{api_get, http};
use support::config::{Domain, Settings};
use support::e2e::client::send_codes;
use support::server::Server;

const TOKEN: &str = "provisioning-test-token-0123456789";
const WAIT: Duration = Duration::from_secs(20);
const LOCALHOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

async fn api(
    server: &Server,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> support::admin::Reply {
    http(
        LOCALHOST,
        server.admin_addr(),
        method,
        path,
        Some(TOKEN),
        body,
    )
    .await
}

/// A PUT of `body` for `bad.test`, a domain the refusals never let in.
async fn put_bad(server: &Server, body: &str) -> support::admin::Reply {
    api(server, "PUT", "/api/v1/domains/bad.test", Some(body)).await
}

fn origin_in_list(listing: &serde_json::Value, name: &str) -> serde_json::Value {
    listing["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == name)
        .map(|d| d["origin"].clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provisioned_domain_takes_mail_survives_a_restart_and_drains_when_removed() {
    let sink = SmtpSink::start().await;
    let other = SmtpSink::start().await;
    let mut server = Server::with_api_token(Settings::new(Some(other.addr())), TOKEN).await;
    assert_eq!(send_codes(&server, "before", "user@shop.test").await.0, 550);

    // PUT: added (201), mail accepted at once and delivered to its primary.
    let body = format!(r#"{{"primary": "{}", "max_messages": 100}}"#, sink.addr());
    let put = api(&server, "PUT", "/api/v1/domains/Shop.Test", Some(&body)).await;
    assert_eq!(put.status, 201, "{}", put.text());
    assert_eq!(put.json()["action"], "added");
    assert_eq!(put.json()["origin"], "api");
    assert_eq!(
        send_codes(&server, "first", "user@shop.test").await,
        (250, Some(250))
    );
    let delivered = sink.wait_for(1, WAIT).await;
    assert_eq!(delivered[0].recipients, ["user@shop.test"]);

    // GET: its settings and origin; the list has both kinds.
    let shown = api_get(server.admin_addr(), TOKEN, "/api/v1/domains/shop.test").await;
    assert_eq!(shown["origin"], "api", "{shown}");
    assert_eq!(shown["settings"]["primary"], sink.addr().to_string());
    assert_eq!(shown["settings"]["max_messages"], 100);
    let configured = api_get(server.admin_addr(), TOKEN, "/api/v1/domains/example.test").await;
    assert_eq!(configured["origin"], "config", "{configured}");
    let listing = api_get(server.admin_addr(), TOKEN, "/api/v1/domains").await;
    assert_eq!(origin_in_list(&listing, "shop.test"), "api", "{listing}");
    assert_eq!(origin_in_list(&listing, "example.test"), "config");

    // Refusals: a bad value names its key (the config's own message), a name of the config file is
    // 409, an unknown key is named too.
    let bad = put_bad(&server, r#"{"max_bytes": "lots"}"#).await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert_eq!(bad.error_code(), "invalid_domain");
    let message = bad.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.starts_with("max_bytes: "), "{message}");
    let unknown = put_bad(&server, r#"{"primry": "x"}"#).await;
    assert_eq!(unknown.status, 400);
    assert!(
        unknown.text().contains("primry: unknown key"),
        "{}",
        unknown.text()
    );
    let clash = api(&server, "PUT", "/api/v1/domains/example.test", Some("{}")).await;
    assert_eq!(clash.status, 409, "{}", clash.text());
    assert_eq!(clash.error_code(), "defined_in_config");
    let not_json = put_bad(&server, "{").await;
    assert_eq!(not_json.error_code(), "bad_json");
    assert_eq!(
        api(&server, "GET", "/api/v1/domains/bad.test", None)
            .await
            .status,
        404
    );

    // Audited, refusals too (the API shows what this run recorded).
    let audit = api_get(server.admin_addr(), TOKEN, "/api/v1/audit")
        .await
        .to_string();
    for needle in ["domain_put added", "domain_put refused"] {
        assert!(audit.contains(needle), "{needle} not in {audit}");
    }

    // A restart: still there, still accepting.
    server.restart().await;
    assert!(
        server.last_log().contains("provisioned domains loaded"),
        "{}",
        server.last_log()
    );
    let shown = api_get(server.admin_addr(), TOKEN, "/api/v1/domains/shop.test").await;
    assert_eq!(shown["origin"], "api", "{shown}");
    assert_eq!(
        send_codes(&server, "second", "user@shop.test").await,
        (250, Some(250))
    );
    assert_eq!(sink.wait_for(2, WAIT).await.len(), 2);

    // DELETE: new mail is refused as for a domain never configured.
    let removed = api(&server, "DELETE", "/api/v1/domains/shop.test", None).await;
    assert_eq!(removed.status, 200, "{}", removed.text());
    let unknown_code = send_codes(&server, "never", "user@never.test").await.0;
    assert_eq!(unknown_code, 550);
    assert_eq!(
        send_codes(&server, "third", "user@shop.test").await.0,
        unknown_code
    );
    let again = api(&server, "DELETE", "/api/v1/domains/shop.test", None).await;
    assert_eq!(again.error_code(), "not_provisioned");
    assert_eq!(
        api(&server, "DELETE", "/api/v1/domains/example.test", None)
            .await
            .error_code(),
        "defined_in_config"
    );

    let audit = api_get(server.admin_addr(), TOKEN, "/api/v1/audit")
        .await
        .to_string();
    assert!(audit.contains("domain_remove removed"), "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_while_mail_waits_it_drains_to_its_primary() {
    let sink = SmtpSink::start().await;
    let mut primary = SmtpSink::start().await;
    let primary_addr = primary.addr();
    primary.stop().await;
    let mut settings = Settings::new(Some(sink.addr()));
    settings.retry = vec!["1s".into()];
    let server = Server::with_api_token(settings, TOKEN).await;
    let body = format!(r#"{{"primary": "{primary_addr}"}}"#);
    let put = api(&server, "PUT", "/api/v1/domains/drain.test", Some(&body)).await;
    assert_eq!(put.status, 201, "{}", put.text());
    assert_eq!(
        send_codes(&server, "queued", "user@drain.test").await,
        (250, Some(250))
    );
    let removed = api(&server, "DELETE", "/api/v1/domains/drain.test", None).await;
    assert_eq!(removed.status, 200, "{}", removed.text());
    let listing = api_get(server.admin_addr(), TOKEN, "/api/v1/domains").await;
    let row = listing["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "drain.test")
        .cloned()
        .unwrap_or_default();
    assert_eq!(row["removed"], true, "{listing}");
    assert_eq!(
        send_codes(&server, "refused", "user@drain.test").await.0,
        550
    );
    primary.restart().await;
    let delivered = primary.wait_for(1, WAIT).await;
    assert_eq!(delivered[0].recipients, ["user@drain.test"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_adds_shows_lists_and_removes() {
    let sink = SmtpSink::start().await;
    let server = Server::with_api_token(Settings::new(Some(sink.addr())), TOKEN).await;
    let config = server.config_path();
    let config = config.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec![];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--config", config]);
        let out = server.cli(&all);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let primary = sink.addr().to_string();
    // `domains add cli.test --primary <the sink>` and then `options`.
    let add_cli_test = |options: &[&str]| {
        let mut args = vec!["domains", "add", "cli.test", "--primary", &primary];
        args.extend_from_slice(options);
        run(&args)
    };
    let (code, out, err) = add_cli_test(&["--max-lifetime", "14d"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("cli.test: added"), "{out}");
    assert_eq!(
        send_codes(&server, "cli", "user@cli.test").await,
        (250, Some(250))
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("domain.json");
    std::fs::write(&file, r#"{"subdomains": true, "max_messages": 7}"#).unwrap();
    let (code, out, err) = add_cli_test(&["--json-file", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("cli.test: replaced"), "{out}");

    let (code, out, err) = run(&["domains", "show", "cli.test"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("cli.test (from api)"), "{out}");
    assert!(out.contains("max_messages = 7"), "{out}");
    assert!(out.contains("subdomains = true"), "{out}");
    assert!(!out.contains("max_lifetime"), "replaced whole: {out}");

    let (code, out, _) = run(&["domains", "list"]);
    assert_eq!(code, Some(0));
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line("cli.test").contains("api"), "{out}");
    assert!(line("example.test").contains("config"), "{out}");

    let (code, _, err) = run(&["domains", "add", "bad.test", "--max-lifetime", "forever"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("invalid_domain") && err.contains("max_lifetime: "),
        "{err}"
    );
    let (code, _, err) = run(&["domains", "add", "example.test"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("409 defined_in_config"), "{err}");

    let (code, out, err) = run(&["domains", "remove", "cli.test"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("cli.test: removed"), "{out}");
    assert_eq!(send_codes(&server, "gone", "user@cli.test").await.0, 550);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_both_in_the_file_and_provisioned_is_reported_and_the_file_wins() {
    let file_primary = SmtpSink::start().await;
    let api_primary = SmtpSink::start().await;
    let mut server = Server::with_api_token(Settings::new(Some(file_primary.addr())), TOKEN).await;
    let body = format!(r#"{{"primary": "{}"}}"#, api_primary.addr());
    let put = api(&server, "PUT", "/api/v1/domains/both.test", Some(&body)).await;
    assert_eq!(put.status, 201, "{}", put.text());

    // The file now names it too: at reload and at start, an error; the file's settings are in force.
    server.settings.domains.push(Domain {
        name: "both.test".into(),
        primary: Some(file_primary.addr().to_string()),
        extra: Vec::new(),
    });
    server.write_config();
    server.hangup();
    server.wait_log("config reloaded", WAIT).await;
    let needle = "domain both in the config file and provisioned through the API";
    assert!(server.log().contains(needle), "{}", server.log());
    let shown = api_get(server.admin_addr(), TOKEN, "/api/v1/domains/both.test").await;
    assert_eq!(shown["origin"], "config", "{shown}");
    assert_eq!(
        shown["settings"]["primary"],
        file_primary.addr().to_string()
    );
    server.restart().await;
    assert!(server.last_log().contains(needle), "{}", server.last_log());
    assert_eq!(
        send_codes(&server, "both", "user@both.test").await,
        (250, Some(250))
    );
    assert_eq!(file_primary.wait_for(1, WAIT).await.len(), 1);
    assert!(api_primary.messages().is_empty());

    // Resolved by removing the stored entry: the file's domain stays in force, the clash is gone.
    let removed = api(&server, "DELETE", "/api/v1/domains/both.test", None).await;
    assert_eq!(removed.status, 200, "{}", removed.text());
    let shown = api_get(server.admin_addr(), TOKEN, "/api/v1/domains/both.test").await;
    assert_eq!(shown["origin"], "config", "{shown}");
    server.restart().await;
    assert!(!server.last_log().contains(needle), "{}", server.last_log());
    assert_eq!(
        send_codes(&server, "after", "user@both.test").await,
        (250, Some(250))
    );
}
