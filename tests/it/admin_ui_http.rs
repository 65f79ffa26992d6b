//! The console over plain HTTP against the real binary: login and sessions, the security headers on
//! every response, CSRF on every POST, escaping of hostile mail, the actions' effects on the queue,
//! the .eml download, and the audit log.

use crate::support;

use support::SmtpSink;
use support::config::Settings;
use support::e2e::client::send_one;
use support::server::Server;
use support::ui::console::{Console, Page};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const HOSTILE_SUBJECT: &str = "<script>alert(1)</script> cheap pills";

fn assert_secure_headers(page: &Page, what: &str) {
    assert_eq!(
        page.header("content-security-policy"),
        Some(CSP),
        "CSP on {what}"
    );
    assert_eq!(
        page.header("x-content-type-options"),
        Some("nosniff"),
        "nosniff on {what}"
    );
    assert_eq!(
        page.header("referrer-policy"),
        Some("no-referrer"),
        "referrer policy on {what}"
    );
}

/// The ids listed on a queue page, in order.
fn listed_ids(page: &Page) -> Vec<String> {
    page.body
        .split("<tr data-id=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

/// Only our own script tags, never one from mail.
fn assert_no_foreign_script(page: &Page, what: &str) {
    for (i, _) in page.body.match_indices("<script") {
        assert!(
            page.body[i..].starts_with("<script src=\"/static/"),
            "foreign script on {what}"
        );
    }
}

/// A server whose primary is down (closed port, no retry during the test), with three messages:
/// one with a hostile subject and sender display name.
async fn server_with_mail() -> (Server, SmtpSink) {
    let mut primary = SmtpSink::start().await;
    primary.stop().await;
    let mut settings = Settings::new(Some(primary.addr()));
    settings.retry = vec!["1h".into()];
    settings.probe_interval = "1h".into();
    let server = Server::start(settings).await;
    let hostile = format!(
        "From: \"<img src=x onerror=alert(2)>\" <spam@sender.test>\r\nTo: <a@example.test>\r\n\
         Subject: {HOSTILE_SUBJECT}\r\nMessage-ID: <hostile@e2e.test>\r\n\r\n<html><body><script>alert(3)</script></body></html>\r\n"
    );
    let sent = send_one(
        server.smtp_addr(),
        "spam&co@sender.test",
        &["a@example.test"],
        hostile.as_bytes(),
    )
    .await;
    assert_eq!(
        sent.data.map(|r| r.code),
        Some(250),
        "hostile message accepted (sender {:?})",
        sent.mail
    );
    for i in 0..2 {
        let body = support::e2e::mail::message(&format!("plain-{i}"), "b@example.test");
        send_one(
            server.smtp_addr(),
            "sender@sender.test",
            &["b@example.test"],
            &body,
        )
        .await;
    }
    (server, primary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_sessions_headers_csrf_escaping_and_actions() {
    let (mut server, _primary) = server_with_mail().await;
    let password = support::ui::admin_password(&mut server).await;
    let base = format!("http://127.0.0.1:{}", server.settings.admin_port);
    tokio::task::spawn_blocking(move || run_scenario(&base, &password))
        .await
        .expect("scenario");
}

/// Waits (bounded) until the first attempts have found the primary down.
fn wait_until_down(console: &Console) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let view: serde_json::Value =
            serde_json::from_str(&console.get("/ui/domains.json").body).expect("JSON");
        let down = view["domains"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| d["domain"] == "example.test" && d["state"] == "down");
        if down {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the primary never showed as down: {view}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn run_scenario(base: &str, password: &str) {
    let mut console = Console::new(base);

    // Without a session everything leads to the login page; the headers are there all the same.
    for path in [
        "/",
        "/queue",
        "/ui/domains.json",
        "/audit",
        "/postmaster",
        "/queue/0000000000000001",
    ] {
        let page = console.get(path);
        assert_eq!(
            (page.status, page.header("location")),
            (303, Some("/login")),
            "{path}"
        );
        assert_secure_headers(&page, path);
    }
    let login = console.get("/login");
    assert_eq!(login.status, 200);
    assert_secure_headers(&login, "/login");
    assert_eq!(
        console.post("/flush", &[("csrf", "x")]).status,
        303,
        "POST without a session"
    );

    // A wrong password: 401, no cookie. A forged cross-site login: refused.
    let failed = console.login("wrong password");
    assert_eq!(failed.status, 401);
    assert!(failed.header("set-cookie").is_none());
    assert!(console.cookie.is_none());

    let ok = console.login(password);
    assert_eq!((ok.status, ok.header("location")), (303, Some("/")));
    let cookie = ok.header("set-cookie").expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "no TLS here: {cookie}");

    let dashboard = console.get("/");
    assert_eq!(dashboard.status, 200);
    assert_secure_headers(&dashboard, "/");
    assert!(dashboard.body.contains("data-domain=\"example.test\""));
    let csrf = dashboard.csrf();
    wait_until_down(&console);
    let json = console.get("/ui/domains.json");
    assert_eq!(json.status, 200);
    let view: serde_json::Value = serde_json::from_str(&json.body).expect("JSON");
    let domain = view["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "example.test")
        .unwrap()
        .clone();
    assert_eq!(domain["messages"], 3);
    for asset in [
        "/static/app.css",
        "/static/dashboard.js",
        "/static/queue.js",
    ] {
        let page = console.get(asset);
        assert_eq!(page.status, 200, "{asset}");
        assert_secure_headers(&page, asset);
    }

    // Hostile mail stays text everywhere it is shown.
    let queue = console.get("/queue");
    assert_no_foreign_script(&queue, "/queue");
    let ids = listed_ids(&queue);
    assert_eq!(ids.len(), 3, "{}", queue.body);
    let hostile_id = ids[0].clone();
    let message = console.get(&format!("/queue/{hostile_id}"));
    assert_eq!(message.status, 200);
    assert_secure_headers(&message, "message page");
    assert_no_foreign_script(&message, "message page");
    assert!(
        message
            .body
            .contains("&lt;script&gt;alert(1)&lt;/script&gt; cheap pills"),
        "{}",
        message.body
    );
    assert!(message.body.contains("&lt;img src=x onerror=alert(2)&gt;"));
    assert!(!message.body.contains("<img"));
    assert!(
        message
            .body
            .contains("&lt;script&gt;alert(3)&lt;/script&gt;")
    );
    let eml = console.get(&format!("/queue/{hostile_id}/eml"));
    assert_eq!(eml.header("content-type"), Some("message/rfc822"));
    assert!(
        eml.header("content-disposition")
            .unwrap_or("")
            .contains(&format!("{hostile_id}.eml"))
    );
    assert!(eml.body.contains(&format!("Subject: {HOSTILE_SUBJECT}")));
    assert!(eml.body.starts_with("Received: "));

    // CSRF: a POST without the token or with another one changes nothing.
    for token in ["", "0000"] {
        let refused = console.post(
            "/queue/action",
            &[("csrf", token), ("action", "hold"), ("id", &hostile_id)],
        );
        assert_eq!(refused.status, 403);
        assert_secure_headers(&refused, "refused POST");
        assert_eq!(console.post("/flush", &[("csrf", token)]).status, 403);
        assert_eq!(console.post("/logout", &[("csrf", token)]).status, 403);
    }
    assert!(listed_ids(&console.get("/queue?status=held")).is_empty());

    // Hold, then release, per row.
    let held = console.post(
        "/queue/action",
        &[
            ("csrf", &csrf),
            ("row", &format!("hold:{hostile_id}")),
            ("back", "/queue"),
        ],
    );
    assert_eq!(
        (held.status, held.header("location")),
        (303, Some("/queue"))
    );
    assert_eq!(
        listed_ids(&console.get("/queue?status=held")),
        vec![hostile_id.clone()]
    );
    console.post(
        "/queue/action",
        &[("csrf", &csrf), ("action", "release"), ("id", &hostile_id)],
    );
    assert!(listed_ids(&console.get("/queue?status=held")).is_empty());

    // Delete asks first; only the confirmed form deletes.
    let confirm = console.post(
        "/queue/action",
        &[("csrf", &csrf), ("action", "delete"), ("id", &hostile_id)],
    );
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("name=\"confirm\" value=\"yes\""));
    assert_eq!(
        console.get(&format!("/queue/{hostile_id}")).status,
        200,
        "not deleted before confirmation"
    );
    let deleted = console.post(
        "/queue/action",
        &[
            ("csrf", &csrf),
            ("action", "delete"),
            ("id", &hostile_id),
            ("confirm", "yes"),
            ("back", &format!("/queue/{hostile_id}")),
        ],
    );
    assert_eq!(
        (deleted.status, deleted.header("location")),
        (303, Some("/queue"))
    );
    assert_eq!(console.get(&format!("/queue/{hostile_id}")).status, 404);
    assert_eq!(listed_ids(&console.get("/queue")).len(), 2);

    // Filters and sort order.
    let newest_first = listed_ids(&console.get("/queue?sort=newest"));
    let oldest_first = listed_ids(&console.get("/queue"));
    assert_eq!(
        newest_first.iter().rev().collect::<Vec<_>>(),
        oldest_first.iter().collect::<Vec<_>>()
    );
    assert!(listed_ids(&console.get("/queue?recipient=nobody")).is_empty());
    assert_eq!(
        listed_ids(&console.get("/queue?domain=example.test")).len(),
        2
    );
    assert!(listed_ids(&console.get("/queue?domain=other.test")).is_empty());
    assert_eq!(
        listed_ids(&console.get("/queue?sender=SENDER.test")).len(),
        2
    );

    // Flush all: answered with the dashboard and its progress banner.
    let flushed = console.post("/flush", &[("csrf", &csrf)]);
    assert_eq!(
        (flushed.status, flushed.header("location")),
        (303, Some("/?flush=all&n=2"))
    );
    assert!(
        console
            .get("/?flush=all&n=2")
            .body
            .contains("id=\"flush-progress\"")
    );

    // Everything is in the audit log, failed login included.
    let audit = console.get("/audit");
    for needle in [
        "login-failed",
        "hold",
        "release",
        "delete",
        "flush",
        "download",
        "127.0.0.1",
    ] {
        assert!(
            audit.body.contains(needle),
            "{needle} in the audit log:\n{}",
            audit.body
        );
    }
    assert!(
        console
            .get("/postmaster")
            .body
            .contains("The mailbox is empty.")
    );

    // Logout ends the session for good.
    let out = console.post("/logout", &[("csrf", &csrf)]);
    assert_eq!((out.status, out.header("location")), (303, Some("/login")));
    assert!(out.header("set-cookie").unwrap_or("").contains("Max-Age=0"));
    assert_eq!(console.get("/").status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_login_is_refused() {
    let (mut server, _primary) = server_with_mail().await;
    let password = support::ui::admin_password(&mut server).await;
    let base = format!("http://127.0.0.1:{}", server.settings.admin_port);
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let body = support::ui::console::form_body(&[("user", "admin"), ("password", &password)]);
        let response = agent
            .post(format!("{base}/login"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Origin", "https://evil.test")
            .send(body)
            .expect("an answer");
        assert_eq!(response.status().as_u16(), 403);
        assert!(response.headers().get("set-cookie").is_none());
    })
    .await
    .expect("scenario");
}
