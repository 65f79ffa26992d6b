//! The console in a real browser (headless Chromium through chromedriver), against the real binary:
//! log in, see mail waiting for a domain whose primary is down, start the primary, click Flush, watch
//! the queue drain to 0 and the dashboard turn the primary "up" without a reload. With
//! `BACKUPMX_SCREENSHOT=docs/console.png` it also saves the dashboard (mail waiting, primary down).
//! Fails, never skips, when chromedriver is missing.

use crate::support;

use std::time::Duration;

use support::SmtpSink;
use support::config::Settings;
use support::e2e::client::send_one;
use support::server::Server;
use support::ui::screenshot_path;
use support::ui::webdriver::Browser;

const DOMAIN_ROW: &str = "#domains tr[data-domain=\"example.test\"]";
const QUEUED: usize = 4;

fn cell(field: &str) -> String {
    format!("{DOMAIN_ROW} [data-field=\"{field}\"]")
}

fn message(i: usize, to: &str) -> Vec<u8> {
    let subjects = [
        "Invoice 2291 for March",
        "Re: quarterly numbers",
        "<script>alert('spam')</script> WIN",
        "Meeting notes",
    ];
    format!(
        "From: Sender <sender@sender.test>\r\nTo: <{to}>\r\nSubject: {}\r\nMessage-ID: <ui-{i}@e2e.test>\r\n\
         Date: Thu, 1 Jan 2026 00:00:00 +0000\r\n\r\nHello {i}.\r\n",
        subjects[i % subjects.len()]
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushing_from_the_dashboard_drains_the_queue() {
    let _machine = support::exclusive::shared().await;
    let browser = Browser::start();
    // The primary's port is known but closed: the first attempts find it down.
    let mut primary = SmtpSink::start().await;
    primary.stop().await;
    let mut settings = Settings::new(Some(primary.addr()));
    // Only the Flush button may bring the mail out: no retry or probe within the test.
    settings.retry = vec!["1h".into()];
    settings.probe_interval = "1h".into();
    let mut server = Server::start(settings).await;
    for (i, to) in [
        "alice@example.test",
        "bob@example.test",
        "carol@example.test",
        "alice@example.test",
    ]
    .iter()
    .enumerate()
    .take(QUEUED)
    {
        let sent = send_one(
            server.smtp_addr(),
            "sender@sender.test",
            &[to],
            &message(i, to),
        )
        .await;
        assert_eq!(sent.data.expect("DATA reply").code, 250);
    }
    let password = support::ui::admin_password(&mut server).await;
    let base = format!("http://127.0.0.1:{}", server.settings.admin_port);

    let browser = tokio::task::spawn_blocking(move || {
        browser.goto(&format!("{base}/"));
        assert!(
            browser.current_url().ends_with("/login"),
            "not sent to the login page"
        );
        browser.send_keys(&browser.find("#password"), &password);
        browser.click(&browser.find("#login"));
        browser.find("#domains");
        browser.wait_text(&cell("messages"), WAIT, |t| t == QUEUED.to_string());
        browser.wait_text(&cell("state"), WAIT, |t| t == "down");
        let state = browser.text(&browser.find(&cell("state_text")));
        assert!(state.starts_with("since "), "{state}");
        if let Some(path) = screenshot_path() {
            std::fs::write(&path, browser.screenshot()).expect("write the screenshot");
        }
        browser
    })
    .await
    .expect("browser steps");

    primary.restart().await;

    let browser = tokio::task::spawn_blocking(move || {
        browser.click(&browser.find(&format!("{DOMAIN_ROW} button.flush")));
        browser.find("#flush-progress");
        browser.wait_text("#flush-remaining", WAIT, |t| t == "0");
        browser.wait_text("#flush-status", WAIT, |t| t.contains("done"));
        // The dashboard follows without a reload: no mail, primary up.
        browser.wait_text(&cell("messages"), WAIT, |t| t == "0");
        // The primary is shown up (a configured domain keeps its last known state when empty).
        let state = browser.wait_text(&cell("state"), WAIT, |t| t == "up");
        let text = browser.text(&browser.find(&cell("state_text")));
        assert!(!text.starts_with("since"), "{state}: {text}");
        browser.wait_text("#total-messages", WAIT, |t| t == "0");
        browser.goto(&format!("{}/audit", browser_base(&browser)));
        let audit = browser.wait_text("#audit", WAIT, |t| t.contains("flush"));
        assert!(audit.contains("example.test"), "{audit}");
        assert!(audit.contains("login"), "{audit}");
        browser
    })
    .await
    .expect("browser steps");
    drop(browser);

    let delivered = primary.wait_for(QUEUED, WAIT).await;
    assert_eq!(delivered.len(), QUEUED);
}

const WAIT: Duration = Duration::from_secs(20);

fn browser_base(browser: &Browser) -> String {
    let url = browser.current_url();
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |i| after_scheme + i);
    url[..end].to_string()
}
