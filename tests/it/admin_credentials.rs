//! Generated admin credentials against the real binary: with no token or password hash configured, the
//! first start creates `<spool>/admin-credentials.toml` (0600, the password only hashed), keeps the
//! password only in `<spool>/admin-password` (0600; stderr is not a terminal here) and logs where it is,
//! never the password itself; later starts reuse the file.

use crate::support;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use support::SmtpSink;
use support::admin::{eventually, http, token_from_file};
use support::config::{Settings, free_port};
use support::server::Server;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_credentials_are_kept_beside_the_spool_and_announced_once() {
    use std::os::unix::fs::PermissionsExt;
    let primary = SmtpSink::start().await;
    let settings = Settings::new(Some(primary.addr()));
    let admin_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut server = Server::with_admin(settings, admin_addr, "").await;
    let file = server.spool_dir().join("admin-credentials.toml");
    eventually("credentials file", WAIT, || async { file.exists() }).await;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let log = server.log();
    assert!(
        log.contains("admin credentials generated") && log.contains("user=admin"),
        "{log}"
    );
    assert!(log.contains(&format!("http://{admin_addr}/")), "{log}");
    // Not a terminal: the password is not logged, only kept in <spool>/admin-password (0600).
    let password_file = server.spool_dir().join("admin-password");
    assert!(
        log.contains(&format!("password_file={}", password_file.display())),
        "{log}"
    );
    let mode = std::fs::metadata(&password_file)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let password = std::fs::read_to_string(&password_file)
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(password.len(), 20, "{password}");
    assert!(
        !log.contains(&password),
        "the password is not logged: {log}"
    );
    assert!(!std::fs::read_to_string(&file).unwrap().contains(&password));
    let token = token_from_file(&file);
    let local = IpAddr::from([127, 0, 0, 1]);
    let reply = http(
        local,
        admin_addr,
        "GET",
        "/api/v1/domains",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["domains"][0]["domain"], "example.test");

    server.restart().await;
    let second = server.last_log();
    assert!(second.contains("admin credentials loaded"), "{second}");
    assert!(
        !second.contains(&password),
        "the password is shown only once"
    );
    assert_eq!(token_from_file(&file), token);
    let reply = http(
        local,
        admin_addr,
        "GET",
        "/api/v1/queue",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(reply.status, 200);
}
