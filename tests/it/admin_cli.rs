//! The admin CLI against the real, running binary: `hash-password`, `status` and `queue ...` with the
//! URL and token from the config file, `--json`, and the exit codes (0 ok, 1 refused or partial,
//! 2 usage/config, 3 unreachable).

use crate::support;

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::SmtpSink;
use support::admin::eventually;
use support::config::{Settings, free_port};
use support::e2e::client::send_one;
use support::e2e::mail::message;
use support::server::{Server, run_cli};

const WAIT: Duration = Duration::from_secs(20);

fn hash_password(password: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_backupmx"))
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run hash-password");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_talks_to_the_running_server() {
    let hash = hash_password("correct horse");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let mut primary = SmtpSink::start().await;
    primary.stop().await;
    let mut settings = Settings::new(Some(primary.addr()));
    settings.retry = vec!["1h".into()];
    settings.probe_interval = "1h".into();
    let admin_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let admin = format!("api_token = \"cli-token\"\npassword_hash = \"{hash}\"\n");
    let server = Server::with_admin(settings, admin_addr, &admin).await;
    assert!(
        !server.spool_dir().join("admin-credentials.toml").exists(),
        "configured credentials need no file"
    );
    let to = "someone@example.test";
    let sent = send_one(
        server.settings.smtp_addr(),
        "a@sender.test",
        &[to],
        &message("cli", to),
    )
    .await;
    assert_eq!(sent.data.map(|d| d.code), Some(250));
    let config = server.config_path();
    let config = config.to_str().unwrap();
    eventually("the message deferred", WAIT, || async {
        stdout(&run_cli(&["queue", "list", "--config", config])).contains("deferred")
    })
    .await;

    let status = run_cli(&["status", "--config", config]);
    assert_eq!(code(&status), 0, "{status:?}");
    let text = stdout(&status);
    assert!(
        text.contains("DOMAIN") && text.contains("example.test") && text.contains("down"),
        "{text}"
    );
    assert!(text.contains("total: 1 messages"), "{text}");
    let json: serde_json::Value =
        serde_json::from_slice(&run_cli(&["status", "--json", "--config", config]).stdout).unwrap();
    assert_eq!(json["totals"]["messages"], 1);

    let listing: serde_json::Value =
        serde_json::from_slice(&run_cli(&["queue", "list", "--json", "--config", config]).stdout)
            .unwrap();
    let id = listing["messages"][0]["id"].as_str().unwrap().to_string();
    let list = stdout(&run_cli(&[
        "queue",
        "list",
        "--domain",
        "example.test",
        "--config",
        config,
    ]));
    assert!(
        list.contains(&id) && list.contains("a@sender.test") && list.contains("1 of 1 messages"),
        "{list}"
    );
    let show = run_cli(&["queue", "show", &id, "--config", config]);
    assert_eq!(code(&show), 0);
    assert!(stdout(&show).contains(to), "{}", stdout(&show));

    // The server says no: unknown id, partial failure, wrong token.
    assert_eq!(
        code(&run_cli(&["queue", "show", "FFFFFF", "--config", config])),
        1
    );
    let partial = run_cli(&["queue", "hold", &id, "FFFFFF", "--config", config]);
    assert_eq!(code(&partial), 1);
    assert!(
        stdout(&partial).contains(&format!("{id}: held")),
        "{partial:?}"
    );
    let held = stdout(&run_cli(&[
        "queue", "list", "--status", "held", "--config", config,
    ]));
    assert!(held.contains(&id), "{held}");
    assert_eq!(
        code(&run_cli(&["queue", "release", &id, "--config", config])),
        0
    );
    let wrong = run_cli(&["status", "--config", config, "--token", "nope"]);
    assert_eq!(code(&wrong), 1);
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("unauthorized"));

    // Usage and config errors; an unreachable server.
    assert_eq!(
        code(&run_cli(&[
            "status",
            "--config",
            "/nonexistent/backupmx.toml"
        ])),
        2
    );
    assert_eq!(code(&run_cli(&["queue", "hold"])), 2);
    let closed = format!("http://127.0.0.1:{}", free_port());
    assert_eq!(
        code(&run_cli(&["status", "--url", &closed, "--token", "x"])),
        3
    );

    // The primary is back: flush the domain, the queue drains, delete of a gone id fails.
    primary.restart().await;
    let flush = run_cli(&[
        "queue",
        "flush",
        "--domain",
        "example.test",
        "--config",
        config,
    ]);
    assert_eq!(code(&flush), 0, "{flush:?}");
    assert!(stdout(&flush).contains("flushed 1"), "{}", stdout(&flush));
    primary.wait_for(1, WAIT).await;
    eventually("an empty queue", WAIT, || async {
        stdout(&run_cli(&["status", "--config", config])).contains("total: 0 messages")
    })
    .await;
    assert_eq!(
        code(&run_cli(&["queue", "delete", &id, "--config", config])),
        1
    );
}
