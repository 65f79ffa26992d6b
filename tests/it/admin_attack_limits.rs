//! The admin listener's resource bounds against the real binary (issue 19): idle sockets from outside
//! `[admin] allow` are closed at once; idle allowed sockets after `idle_timeout`; a client sending its
//! request head a byte at a time after `header_read_timeout`, its body after `body_read_timeout`; the per-client connection cap; bulk
//! requests capped at 10,000 ids (413) with one short audit line for a big one.

use crate::support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use support::admin::http;
use support::config::{Settings, free_port};
use support::server::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const TOKEN: &str = "limits-token-77e2";
const ALLOWED: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const OUTSIDE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9));

async fn start(extra: &str) -> Server {
    let settings = Settings::new(Some(SocketAddr::from(([127, 0, 0, 1], free_port()))));
    let admin_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let admin = format!("allow = [\"127.0.0.1/32\"]\napi_token = \"{TOKEN}\"\n{extra}");
    Server::with_admin(settings, admin_addr, &admin).await
}

async fn connect_from(source: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(source, 0))
        .expect("bind the source");
    socket.connect(to).await.expect("connect")
}

/// Waits up to `limit` for the server to close `stream` (EOF or reset); `None` if it stays open.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
        }
    }
}

/// Opens `n` idle sockets from `source`; returns how long the server took to close each.
async fn idle_sockets(
    n: usize,
    source: IpAddr,
    to: SocketAddr,
    limit: Duration,
) -> Vec<Option<Duration>> {
    let mut streams = Vec::new();
    for _ in 0..n {
        streams.push(connect_from(source, to).await);
    }
    let waits = streams
        .into_iter()
        .map(|mut s| tokio::spawn(async move { closed_within(&mut s, limit).await }));
    let mut closed = Vec::new();
    for wait in waits.collect::<Vec<_>>() {
        closed.push(wait.await.expect("watcher"));
    }
    closed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_from_outside_allow_are_closed_at_once() {
    let server = start("").await;
    let closed = idle_sockets(50, OUTSIDE, server.admin_addr(), Duration::from_secs(2)).await;
    let open = closed.iter().filter(|c| c.is_none()).count();
    assert_eq!(open, 0, "{open} of 50 refused sockets still open after 2 s");
    let slowest = closed.iter().flatten().max().copied().unwrap_or_default();
    eprintln!("50 refused sockets: slowest closed after {slowest:?}");
    assert!(
        server.log().contains("not in [admin] allow"),
        "{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_allowed_sockets_are_closed_after_the_idle_timeout() {
    let server = start(
        "idle_timeout = \"2s\"\nheader_read_timeout = \"4s\"\nmax_connections_per_client = 60\n",
    )
    .await;
    let started = Instant::now();
    let closed = idle_sockets(50, ALLOWED, server.admin_addr(), Duration::from_secs(8)).await;
    let times: Vec<Duration> = closed
        .iter()
        .map(|c| c.expect("every idle socket is closed within 8 s"))
        .collect();
    let (first, last) = (times.iter().min().unwrap(), times.iter().max().unwrap());
    eprintln!(
        "50 idle allowed sockets closed between {first:?} and {last:?} ({:?} in all)",
        started.elapsed()
    );
    assert!(
        *first >= Duration::from_millis(1500),
        "closed before the idle timeout: {first:?}"
    );
    // A connection still serves normally before that.
    let health = http(ALLOWED, server.admin_addr(), "GET", "/healthz", None, None).await;
    assert_eq!(health.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_at_a_time_is_cut_off_by_the_header_read_timeout() {
    let server = start("idle_timeout = \"2s\"\nheader_read_timeout = \"3s\"\n").await;
    let mut stream = connect_from(ALLOWED, server.admin_addr()).await;
    let started = Instant::now();
    let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let mut sent = 0;
    // One byte every 400 ms keeps the socket busy (never idle for 2 s), never ending the head.
    let cut = loop {
        assert!(started.elapsed() < Duration::from_secs(10), "never cut off");
        let byte = [head.get(sent).copied().unwrap_or(b'a')];
        if stream.write_all(&byte).await.is_err() {
            break started.elapsed();
        }
        sent += 1;
        if let Some(after) = closed_within(&mut stream, Duration::from_millis(400)).await {
            break started.elapsed().max(after);
        }
    };
    eprintln!("slow header cut off after {cut:?}");
    assert!(
        cut >= Duration::from_millis(2500),
        "cut off too early: {cut:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_is_cut_off_by_the_body_read_timeout() {
    let server = start("idle_timeout = \"2s\"\nbody_read_timeout = \"3s\"\n").await;
    let mut stream = connect_from(ALLOWED, server.admin_addr()).await;
    let head = format!(
        "POST /api/v1/hold HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let started = Instant::now();
    let mut answer = Vec::new();
    // One byte every 400 ms: never idle, never complete.
    let cut = loop {
        assert!(started.elapsed() < Duration::from_secs(10), "never cut off");
        if stream.write_all(b" ").await.is_err() {
            break started.elapsed();
        }
        let mut buf = [0u8; 1024];
        match tokio::time::timeout(Duration::from_millis(400), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break started.elapsed(),
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    };
    let answer = String::from_utf8_lossy(&answer);
    eprintln!(
        "trickled body cut off after {cut:?}: {:?}",
        answer.lines().next()
    );
    assert!(
        cut >= Duration::from_millis(2500),
        "cut off too early: {cut:?}"
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    let log = std::fs::read_to_string(server.spool_dir().join("audit.log")).unwrap_or_default();
    assert!(log.is_empty(), "nothing was done: {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_client_are_capped() {
    let server = start("max_connections_per_client = 4\nidle_timeout = \"30s\"\n").await;
    // The harness's readiness probe may still hold a slot until the accept loop has seen it close.
    let health = http(ALLOWED, server.admin_addr(), "GET", "/healthz", None, None).await;
    assert_eq!(health.status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut kept = Vec::new();
    for _ in 0..4 {
        kept.push(connect_from(ALLOWED, server.admin_addr()).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut fifth = connect_from(ALLOWED, server.admin_addr()).await;
    assert!(
        closed_within(&mut fifth, Duration::from_secs(2))
            .await
            .is_some(),
        "the fifth connection is closed"
    );
    for stream in &mut kept {
        assert!(
            closed_within(stream, Duration::from_millis(200))
                .await
                .is_none()
        );
    }
    drop(kept);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let health = http(ALLOWED, server.admin_addr(), "GET", "/healthz", None, None).await;
    assert_eq!(health.status, 200, "slots come back when connections close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_requests_are_capped_and_audited_briefly() {
    let server = start("").await;
    let ids = |n: usize| {
        let ids: Vec<String> = (1..=n).map(|i| format!("{i:x}")).collect();
        serde_json::json!({ "ids": ids }).to_string()
    };
    // 200,000 one-digit ids: 800 KB, under the 1 MiB body limit, so the id cap is what refuses it.
    let many = serde_json::json!({ "ids": vec!["1"; 200_000] }).to_string();
    let huge = http(
        ALLOWED,
        server.admin_addr(),
        "POST",
        "/api/v1/hold",
        Some(TOKEN),
        Some(&many),
    )
    .await;
    assert_eq!(
        (huge.status, huge.error_code().as_str()),
        (413, "too_many_ids"),
        "{}",
        huge.text()
    );

    let big = http(
        ALLOWED,
        server.admin_addr(),
        "POST",
        "/api/v1/hold",
        Some(TOKEN),
        Some(&ids(5_000)),
    )
    .await;
    assert_eq!(big.status, 200, "{}", big.text());
    assert_eq!(
        big.json()["failed"].as_array().map(Vec::len),
        Some(5_000),
        "none of them exists"
    );

    let log = std::fs::read_to_string(server.spool_dir().join("audit.log")).expect("audit.log");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "one line for the one hold that ran: {log:.300}"
    );
    eprintln!(
        "audit line for a hold of 5,000 ids: {} bytes",
        lines[0].len()
    );
    assert!(lines[0].len() < 4096, "{} bytes", lines[0].len());
    assert!(lines[0].contains("count=5000"), "{}", lines[0]);

    let actions = http(
        ALLOWED,
        server.admin_addr(),
        "GET",
        "/api/v1/audit?kind=actions",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(actions.json()["entries"][0]["action"], "hold");
}
