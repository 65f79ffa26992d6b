//! The console's Recipients page (issue 7) against the real binary: after a verify callout learnt one
//! good and one bad address, the page shows the figures, looks up an address and purges its entry
//! (CSRF-checked, audited). In a real browser too (headless Chromium); with
//! `BACKUPMX_SCREENSHOT=docs/recipients-console.png` it saves the page.

mod admin_ui_support;
mod e2e_support;
mod support;

use std::path::PathBuf;
use std::time::Duration;

use admin_ui_support::console::Console;
use admin_ui_support::webdriver::Browser;
use e2e_support::client::Client;
use e2e_support::{Server, Settings};
use support::SmtpSink;

async fn verifying_server(sink: &SmtpSink) -> Server {
    sink.reject("bad@example.test", "550 5.1.1 no such user");
    let mut settings = Settings::new(Some(sink.addr()));
    settings.extra_toml = "recipients = \"verify\"\nunknown_when_down = \"tempfail\"\n".into();
    let server = Server::start(settings).await;
    let mut client = Client::connect(server.smtp_addr()).await;
    assert_eq!(client.cmd("MAIL FROM:<s@sender.test>").await.code, 250);
    for (to, code) in [
        ("good@example.test", 250),
        ("Alice+news@example.test", 250),
        ("bad@example.test", 550),
    ] {
        assert_eq!(
            client.cmd(&format!("RCPT TO:<{to}>")).await.code,
            code,
            "{to}"
        );
    }
    client.quit().await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_looks_up_and_purges() {
    let sink = SmtpSink::start().await;
    let mut server = verifying_server(&sink).await;
    let password = admin_ui_support::admin_password(&mut server).await;
    let base = format!("http://127.0.0.1:{}", server.settings.admin_port);
    tokio::task::spawn_blocking(move || {
        let mut console = Console::new(&base);
        assert_eq!(
            Console::new(&base).get("/recipients").status,
            303,
            "login first"
        );
        console.login(&password);
        let page = console.get("/recipients");
        assert_eq!(page.status, 200);
        assert!(
            page.body.contains("verify (unknown when down: tempfail)"),
            "{}",
            page.body
        );
        assert!(
            page.body
                .contains("<td class=\"num\">2</td><td class=\"num\">1</td>"),
            "{}",
            page.body
        );

        let page = console.get("/recipients?address=BAD%40example.test");
        assert!(
            page.body.contains("<tr><th>Known</th><td>bad</td></tr>"),
            "{}",
            page.body
        );
        let csrf = page.csrf();
        let refused = console.post("/recipients/purge", &[("address", "bad@example.test")]);
        assert_eq!(refused.status, 403);
        let done = console.post(
            "/recipients/purge",
            &[("csrf", &csrf), ("address", "bad@example.test")],
        );
        assert_eq!(done.status, 303);
        let page = console.get("/recipients?address=bad%40example.test");
        assert!(page.body.contains("<td>unknown</td>"), "{}", page.body);
        assert!(console.get("/audit").body.contains("recipients-purge"));
    })
    .await
    .expect("console steps");
}

/// Where to save the screenshot, if asked (relative paths are from the package root).
fn screenshot_path() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os("BACKUPMX_SCREENSHOT")?);
    Some(if path.is_relative() {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
    } else {
        path
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_in_a_browser() {
    let browser = Browser::start();
    let sink = SmtpSink::start().await;
    let mut server = verifying_server(&sink).await;
    let password = admin_ui_support::admin_password(&mut server).await;
    let base = format!("http://127.0.0.1:{}", server.settings.admin_port);
    tokio::task::spawn_blocking(move || {
        browser.goto(&format!("{base}/recipients"));
        browser.send_keys(&browser.find("#password"), &password);
        browser.click(&browser.find("#login"));
        // Let the login's redirect land before navigating on: a navigation started while the
        // login form is still being submitted can cancel it (seen on a loaded CI machine).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while browser.current_url().ends_with("/login") {
            assert!(
                std::time::Instant::now() < deadline,
                "the login did not complete"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        browser.goto(&format!(
            "{base}/recipients?address=alice%2Bnews%40example.test"
        ));
        let table = browser.wait_text("#recipient-domains", Duration::from_secs(10), |t| {
            t.contains("example.test")
        });
        assert!(table.contains("verify"), "{table}");
        let lookup = browser.text(&browser.find("#lookup"));
        assert!(
            lookup.contains("alice+news@example.test") && lookup.contains("good"),
            "{lookup}"
        );
        if let Some(path) = screenshot_path() {
            std::fs::write(&path, browser.screenshot()).expect("write the screenshot");
        }
    })
    .await
    .expect("browser steps");
}
