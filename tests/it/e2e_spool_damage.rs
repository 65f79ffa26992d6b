//! Spool damage against the real binary: with the server stopped, flip bytes in the middle of one
//! journal record, truncate one body file and delete another; after the restart the server runs,
//! delivers every other message, logs each item it set aside, and lists them in the JSON API
//! (`GET /api/v1/quarantine`), the CLI (`backupmx queue quarantined`) and on the console's dashboard.

use crate::support;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::SmtpSink;
use support::config::Settings;
use support::e2e::mail::message_id;
use support::fault::{Outcome, Session, sized_message};
use support::server::Server;
use support::ui::console::Console;

const WAIT: Duration = Duration::from_secs(20);
const LARGE: usize = 300_000;

/// (id, recipient, size): three victims and the messages that must get through.
const MESSAGES: [(&str, &str, usize); 9] = [
    ("ok-0", "a@example.test", 2_000),
    ("victim-journal", "victim-j@example.test", 2_000),
    ("ok-1", "b@example.test", 2_000),
    ("victim-trunc", "victim-t@example.test", LARGE),
    ("ok-2", "c@example.test", 2_000),
    ("ok-big", "a@example.test", LARGE),
    ("victim-gone", "victim-g@example.test", LARGE),
    ("ok-3", "b@example.test", 2_000),
    ("ok-4", "c@example.test", 2_000),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_journal_record_and_bodies_are_quarantined_and_the_rest_delivered() {
    let mut sink = SmtpSink::start().await;
    sink.stop().await;
    let mut settings = Settings::new(Some(sink.addr()));
    settings.retry = vec!["1h".into()];
    let mut server = Server::start(settings).await;
    let mut session = Session::open(server.smtp_addr()).await.expect("a session");
    for (id, to, size) in MESSAGES {
        let outcome = session
            .send("sender@sender.test", to, &sized_message(id, to, size))
            .await;
        assert_eq!(outcome, Outcome::Acknowledged, "{id}");
    }
    session.quit().await;
    server.terminate(Duration::from_secs(10)).await;

    let spool = server.spool_dir();
    flip_bytes_in_record_of(&spool, b"victim-j@example.test");
    let truncated = body_file_of(&spool, "victim-trunc");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&truncated)
        .unwrap();
    file.set_len(LARGE as u64 / 2).unwrap();
    std::fs::remove_file(body_file_of(&spool, "victim-gone")).unwrap();

    sink.restart().await;
    server.restart().await;
    let good: BTreeSet<&str> = MESSAGES
        .iter()
        .map(|m| m.0)
        .filter(|id| id.starts_with("ok"))
        .collect();
    sink.wait_for(good.len(), WAIT).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let delivered: Vec<String> = sink
        .messages()
        .iter()
        .map(|m| message_id(&m.data))
        .collect();
    let delivered_set: BTreeSet<&str> = delivered.iter().map(String::as_str).collect();
    assert_eq!(delivered.len(), good.len(), "once each: {delivered:?}");
    assert_eq!(delivered_set, good, "the rest of the queue is delivered");

    let log = server.log();
    assert!(log.contains("journal damaged"), "{log}");
    assert_eq!(log.matches("message quarantined").count(), 2, "{log}");

    let items = api_quarantine(&server).await;
    println!(
        "spool damage: delivered {} of {}, quarantined {items:?}",
        delivered.len(),
        MESSAGES.len()
    );
    assert_eq!(items.len(), 3, "{items:?}");
    assert!(
        items.iter().any(|i| i.contains(".log: damaged at offset")),
        "{items:?}"
    );
    assert_eq!(
        items.iter().filter(|i| i.contains("body ")).count(),
        2,
        "{items:?}"
    );

    let cli = cli_quarantined(&server);
    assert!(cli.contains("3 item(s) quarantined"), "{cli}");
    assert!(cli.contains(".log: damaged at offset"), "{cli}");

    let password = support::ui::admin_password(&mut server).await;
    let base = format!("http://127.0.0.1:{}", server.settings.admin_port);
    let dashboard = tokio::task::spawn_blocking(move || {
        let mut console = Console::new(&base);
        console.login(&password);
        console.get("/")
    })
    .await
    .expect("console");
    assert_eq!(dashboard.status, 200);
    assert!(
        dashboard.body.contains("id=\"quarantine\""),
        "{}",
        dashboard.body
    );
    for item in &items {
        assert!(
            dashboard.body.contains(item.as_str()),
            "{item} on the dashboard"
        );
    }
}

/// Flips three bytes in the middle of the first record of the newest journal that contains `needle`.
fn flip_bytes_in_record_of(spool: &Path, needle: &[u8]) {
    let mut journals: Vec<PathBuf> = std::fs::read_dir(spool.join("journal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    journals.sort();
    let path = journals.pop().expect("a journal");
    let mut bytes = std::fs::read(&path).unwrap();
    let mut at = 8;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let payload = at + 8..at + 8 + len;
        if bytes[payload.clone()]
            .windows(needle.len())
            .any(|w| w == needle)
        {
            let middle = payload.start + len / 2;
            for b in &mut bytes[middle..middle + 3] {
                *b ^= 0x5a;
            }
            std::fs::write(&path, &bytes).unwrap();
            return;
        }
        at = payload.end;
    }
    panic!(
        "no record for {:?} in {}",
        String::from_utf8_lossy(needle),
        path.display()
    );
}

/// The `body/<queue-id>.eml` file holding the message with Message-ID `<id@e2e.test>`.
fn body_file_of(spool: &Path, id: &str) -> PathBuf {
    std::fs::read_dir(spool.join("body"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| message_id(&std::fs::read(p).unwrap()) == id)
        .unwrap_or_else(|| panic!("no body file for {id}"))
}

async fn api_quarantine(server: &Server) -> Vec<String> {
    let token = support::admin::token_from_file(&server.spool_dir().join("admin-credentials.toml"));
    let admin = SocketAddr::from(([127, 0, 0, 1], server.settings.admin_port));
    let reply = support::admin::http(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        admin,
        "GET",
        "/api/v1/quarantine",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|v| v.as_str().expect("a line").to_string())
        .collect()
}

fn cli_quarantined(server: &Server) -> String {
    let config = server.spool_dir().parent().unwrap().join("backupmx.toml");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_backupmx"))
        .args(["queue", "quarantined", "--config"])
        .arg(&config)
        .output()
        .expect("run the CLI");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
