//! The console's login and redirects under attack, against the real binary (issue 19): a burst of
//! 300 concurrent wrong logins leaves the resident memory where it was; quick wrong passwords lock the
//! client out with 429 and `Retry-After`, audited once per lock, and the right password works once
//! the lock is over; a hostile `back` field sends the browser to a fixed local page.

use crate::support;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use support::admin::http;
use support::config::{Settings, free_port};
use support::e2e::client::send_one;
use support::e2e::mail::message;
use support::server::Server;
use support::ui::console::{Console, form_body};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "attack-token-0c41";
const PASSWORD: &str = "correct horse battery staple";
const LOCALHOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
/// The bound on what a burst may leave behind.
const RSS_SLACK_KIB: u64 = 64 * 1024;

fn password_hash() -> String {
    backupmx::admin::credentials::hash_password(PASSWORD).expect("hash")
}

/// A server whose primary is down (mail stays queued) with `extra` in `[admin]`.
async fn start(extra: &str) -> Server {
    let primary = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let settings = Settings::new(Some(primary));
    let admin_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let admin = format!(
        "allow = [\"127.0.0.0/8\"]\napi_token = \"{TOKEN}\"\npassword_hash = \"{}\"\n{extra}",
        password_hash()
    );
    Server::with_admin(settings, admin_addr, &admin).await
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

/// One `POST /login` on its own connection: the status and the `Retry-After` header.
async fn login(to: SocketAddr, user: &str, password: &str) -> (u16, Option<u64>) {
    let body = form_body(&[("user", user), ("password", password)]);
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(to).await.expect("connect");
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read");
        raw
    };
    let raw = tokio::time::timeout(Duration::from_secs(60), exchange)
        .await
        .expect("a login answer within 60 s");
    let head = String::from_utf8_lossy(&raw).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let retry_after = head
        .lines()
        .find_map(|l| l.strip_prefix("retry-after: "))
        .and_then(|v| v.trim().parse().ok());
    (status, retry_after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_concurrent_wrong_logins_leaves_memory_where_it_was() {
    // No connection cap or lock in the way: every one of the 300 reaches the password check.
    let server = start(
        "max_connections = 1000\nmax_connections_per_client = 1000\nlogin_max_failures = 1000\n",
    )
    .await;
    let pid = server.pid();
    let to = server.admin_addr();
    let start_kib = rss_kib(pid);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(240);
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            tokio::spawn(async move {
                // A client told to come back (429) comes back, until its password was checked.
                let mut busy = 0u32;
                loop {
                    let (status, retry_after) = login(to, "admin", &format!("wrong {i}")).await;
                    match status {
                        401 => return busy,
                        429 => {
                            assert!(retry_after.is_some(), "429 without Retry-After");
                            busy += 1;
                        }
                        other => panic!("wrong login answered {other}"),
                    }
                    assert!(Instant::now() < deadline, "login {i} never checked");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        })
        .collect();
    let mut peak_kib = start_kib;
    let mut busy_answers = 0;
    for task in tasks {
        while !task.is_finished() {
            peak_kib = peak_kib.max(rss_kib(pid));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        busy_answers += task.await.expect("login task");
    }
    let burst = started.elapsed();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after_kib = rss_kib(pid);
    eprintln!(
        "RSS: start {start_kib} KiB, peak {peak_kib} KiB, 10 s after {after_kib} KiB; \
         300 wrong logins checked in {burst:?}, {busy_answers} answers 429 on the way"
    );
    assert!(
        after_kib <= start_kib + RSS_SLACK_KIB,
        "RSS {after_kib} KiB 10 s after the burst, started at {start_kib} KiB"
    );
    assert!(busy_answers > 0, "300 at once must exceed the check queue");
    // Still serving, and the right password still works (no lock was configured to trigger).
    let mut console = Console::new(&format!("http://{to}"));
    let page = tokio::task::spawn_blocking(move || console.login(PASSWORD))
        .await
        .expect("login");
    assert_eq!(page.status, 303, "{}", page.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_wrong_passwords_lock_and_the_lock_expires() {
    let server =
        start("login_max_failures = 5\nlogin_lock = \"2s\"\nlogin_lock_max = \"4s\"\n").await;
    let to = server.admin_addr();
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..30 {
        let (status, retry) = login(to, "admin", &format!("guess {i}")).await;
        statuses.push(status);
        retry_after = retry_after.or(retry);
    }
    assert_eq!(&statuses[..5], [401; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    let retry_after = retry_after.expect("Retry-After on 429");
    assert!((1..=2).contains(&retry_after), "Retry-After: {retry_after}");
    // Locked: even the right password waits.
    assert_eq!(login(to, "admin", PASSWORD).await.0, 429);

    // Audited: each failure that was checked, and each lock once (the address and the user).
    let audit = http(
        LOCALHOST,
        to,
        "GET",
        "/api/v1/audit?kind=failures&limit=1000",
        Some(TOKEN),
        None,
    )
    .await
    .json();
    let entries = audit["entries"].as_array().expect("entries");
    let count = |who: &str| entries.iter().filter(|e| e["who"] == who).count();
    assert_eq!(count("login-failed"), 5, "{audit}");
    assert_eq!(count("login-locked"), 2, "{audit}");

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, _) = login(to, "admin", PASSWORD).await;
    assert_eq!(status, 303, "the right password after the lock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_back_goes_to_a_fixed_local_page() {
    let server = start("").await;
    let sent = send_one(
        server.settings.smtp_addr(),
        "a@sender.test",
        &["u@example.test"],
        &message("back-1", "u@example.test"),
    )
    .await;
    assert_eq!(sent.data.as_ref().map(|d| d.code), Some(250), "{sent:?}");
    // The queue lists the message once its submission has gone through.
    let mut id = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while id.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the message never showed in the queue"
        );
        let listed = http(
            LOCALHOST,
            server.admin_addr(),
            "GET",
            "/api/v1/queue",
            Some(TOKEN),
            None,
        )
        .await
        .json();
        id = listed["messages"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let base = format!("http://{}", server.admin_addr());
    tokio::task::spawn_blocking(move || {
        let mut console = Console::new(&base);
        assert_eq!(console.login(PASSWORD).status, 303);
        let csrf = console.csrf();
        for back in [
            "/\t/evil.test",
            "//evil.test",
            "/\\evil.test",
            "/queue\r\nSet-Cookie: x=1",
            "/\n",
            "https://evil.test/",
            "/ /evil.test",
        ] {
            let page = console.post(
                "/queue/action",
                &[
                    ("csrf", &csrf),
                    ("action", "flush"),
                    ("id", &id),
                    ("back", back),
                ],
            );
            assert_eq!(
                (page.status, page.header("location")),
                (303, Some("/queue")),
                "back = {back:?}"
            );
        }
        let fine = console.post(
            "/queue/action",
            &[
                ("csrf", &csrf),
                ("action", "flush"),
                ("id", &id),
                ("back", "/queue?page=2"),
            ],
        );
        assert_eq!(fine.header("location"), Some("/queue?page=2"));
        // Ids the API refuses, the console refuses too.
        for bad in ["+1", &format!("{}{id}", "0".repeat(2000))] {
            let page = console.post(
                "/queue/action",
                &[("csrf", &csrf), ("action", "hold"), ("id", bad)],
            );
            assert_eq!(page.status, 400, "{bad:.20}");
        }
        // A page number beyond any is bounded: the last page, not an overflow or a wrap.
        let page = console.get("/queue?page=9223372036854775809");
        assert_eq!(page.status, 200);
        assert!(
            page.body.contains(&format!("href=\"/queue/{id}\"")),
            "{}",
            page.body
        );
        assert!(page.body.contains("page 1 of 1"), "{}", page.body);
        // A refused CSRF token is audited.
        assert_eq!(
            console
                .post(
                    "/queue/action",
                    &[("csrf", "0"), ("action", "hold"), ("id", &id)]
                )
                .status,
            403
        );
        assert!(console.get("/audit").body.contains("csrf-refused"));
    })
    .await
    .expect("console scenario");
}
