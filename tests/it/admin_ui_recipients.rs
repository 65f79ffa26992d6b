//! The console's Recipients page (issue 7) against the real binary: after a verify callout learnt one
//! good and one bad address, the page shows the figures, looks up an address and purges its entry
//! (CSRF-checked, audited). The same page in a real browser is in the `system` test binary.

use crate::support;

use support::SmtpSink;
use support::ui::console::Console;
use support::ui::verifying_server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_looks_up_and_purges() {
    let sink = SmtpSink::start().await;
    let mut server = verifying_server(&sink).await;
    let password = support::ui::admin_password(&mut server).await;
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
