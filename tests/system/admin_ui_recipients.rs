//! The console's Recipients page (issue 7) in a real browser (headless Chromium), against the real
//! binary, after a verify callout learnt one good and one bad address; with
//! `BACKUPMX_SCREENSHOT=docs/recipients-console.png` it saves the page. The same page over plain
//! HTTP is in the `it` test binary.

use crate::support;

use std::time::Duration;

use support::SmtpSink;
use support::ui::webdriver::Browser;
use support::ui::{screenshot_path, verifying_server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_in_a_browser() {
    let _machine = support::exclusive::shared().await;
    let browser = Browser::start();
    let sink = SmtpSink::start().await;
    let mut server = verifying_server(&sink).await;
    let password = support::ui::admin_password(&mut server).await;
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
