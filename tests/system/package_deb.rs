//! The Debian package (issue 16): built with `debian/build-deb.sh` (cargo deb), its file list and
//! control files, the binary's debug info, the unit checked by `systemd-analyze verify` and scored by
//! `systemd-analyze security --offline=true` (exposure 2.0 or lower), and the packaged server run under
//! the unit's restrictions (`support::package::sandbox`: no systemd runs here), where it must tell
//! "systemd" READY=1 once it accepts, ping the watchdog, log to the journal with the message id and
//! domain as fields, take mail on a port below 1024 as the unprivileged `backupmx` user, and say
//! STOPPING=1 on SIGTERM.

use crate::support;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use support::SmtpSink;
use support::config::free_port;
use support::e2e::client::send_one;
use support::e2e::mail::message;
use support::package::sandbox::Sandbox;
use support::package::{Package, run};

/// One build for the tests of this file (a release build takes minutes).
fn built() -> &'static Path {
    static DEB: OnceLock<PathBuf> = OnceLock::new();
    DEB.get_or_init(support::package::build)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_package_holds_the_binary_conffile_unit_man_pages_and_completions() {
    let _machine = support::exclusive::whole_machine().await;
    let package = Package::unpack(built());
    let files = package.file_list();
    for expected in [
        "./usr/bin/backupmx",
        "./etc/backupmx/backupmx.toml",
        "./usr/lib/systemd/system/backupmx.service",
        "./usr/share/man/man8/backupmx.8.gz",
        "./usr/share/man/man8/backupmx-serve.8.gz",
        "./usr/share/man/man8/backupmx-queue-list.8.gz",
        "./usr/share/bash-completion/completions/backupmx",
        "./usr/share/zsh/vendor-completions/_backupmx",
        "./usr/share/fish/vendor_completions.d/backupmx.fish",
        "./usr/share/doc/backupmx/install.md",
        "./usr/share/doc/backupmx/config.md",
    ] {
        assert!(
            files.iter().any(|f| f == expected),
            "{expected} missing from {files:#?}"
        );
    }
    assert_eq!(
        package.control_file("conffiles").trim(),
        "/etc/backupmx/backupmx.toml"
    );
    let postinst = package.control_file("postinst");
    assert!(postinst.contains("useradd --system"), "{postinst}");
    assert!(
        !postinst.contains("#DEBHELPER#"),
        "cargo deb fills in the systemd part: {postinst}"
    );

    // The conffile as shipped is valid and listens on loopback only.
    let conffile = package.root().join("etc/backupmx/backupmx.toml");
    let binary = package.root().join("usr/bin/backupmx");
    let checked = run(Command::new(&binary).arg("check-config").arg(&conffile));
    assert!(checked.contains(": OK"), "{checked}");
    let text = std::fs::read_to_string(&conffile).expect("the conffile");
    let listens: Vec<&str> = text.lines().filter(|l| l.starts_with("listen")).collect();
    assert!(!listens.is_empty());
    for line in listens {
        assert!(
            line.contains("127.0.0.1") || line.contains("[::1]"),
            "not loopback: {line}"
        );
        assert!(
            !line.contains("0.0.0.0") && !line.contains("[::]"),
            "not loopback: {line}"
        );
    }

    // No debug info, but the symbol table a backtrace names functions with.
    let sections = run(Command::new("readelf").arg("-S").arg("-W").arg(&binary));
    assert!(
        !sections.contains(".debug_info"),
        "debug info in the packaged binary"
    );
    assert!(
        sections.contains(".symtab"),
        "no symbol table: backtraces would be anonymous"
    );

    // The man page is the one generated from the CLI.
    let man =
        run(Command::new("zcat").arg(package.root().join("usr/share/man/man8/backupmx.8.gz")));
    assert!(man.contains(".TH backupmx 8"), "{man}");
    assert!(man.contains("check\\-config"), "{man}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unit_verifies_and_its_sandbox_scores_2_or_lower() {
    let _machine = support::exclusive::whole_machine().await;
    let package = Package::unpack(built());
    let unit = package
        .root()
        .join("usr/lib/systemd/system/backupmx.service");
    let text = std::fs::read_to_string(&unit).expect("the unit");
    for line in [
        "Type=notify",
        "WatchdogSec=",
        "User=backupmx",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "StateDirectory=backupmx",
        "ProtectSystem=strict",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(line)),
            "{line} missing:\n{text}"
        );
    }

    // verify --root: the unit as installed, so its commands are the package's. The root also needs
    // the targets the unit orders itself after and /bin/kill (ExecReload): the host's, copied in.
    let root = package.root();
    run(Command::new("cp")
        .args(["-a", "-n", "/usr/lib/systemd/system/."])
        .arg(root.join("usr/lib/systemd/system")));
    std::fs::create_dir_all(root.join("bin")).expect("bin");
    run(Command::new("cp")
        .arg("/bin/kill")
        .arg(root.join("bin/kill")));
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        // The man page is checked above, in the package: `man` would look on the host.
        .arg("--man=no")
        .arg("/usr/lib/systemd/system/backupmx.service")
        .output()
        .expect("systemd-analyze (package systemd)");
    let said = String::from_utf8_lossy(&verify.stderr).to_string()
        + &String::from_utf8_lossy(&verify.stdout);
    println!("systemd-analyze verify: {said}");
    assert!(
        verify.status.success(),
        "systemd-analyze verify failed: {said}"
    );
    assert!(
        !said.contains("backupmx.service:"),
        "warnings about the unit: {said}"
    );

    let security = run(Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit));
    let overall = security
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no overall exposure in:\n{security}"));
    println!("{overall}");
    let exposure: f64 = overall
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the exposure of {overall:?}"));
    assert!(exposure <= 2.0, "exposure {exposure} > 2.0:\n{security}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_packaged_server_runs_under_the_units_restrictions() {
    let _machine = support::exclusive::whole_machine().await;
    let package = Package::unpack(built());
    let sink = SmtpSink::start().await;
    let smtp_port = free_privileged_port();
    let admin_port = free_port();
    let config = edited_conffile(&package, smtp_port, admin_port, sink.addr().port());
    let journal_dir = package.scratch("journal");
    let journal = listen_datagrams(&journal_dir.join("socket"));
    let notify = listen_datagrams(&journal_dir.join("notify"));
    let sandbox = Sandbox {
        package: &package,
        config,
        journal_dir: journal_dir.clone(),
        watchdog_usec: 1_000_000,
    };
    let log = package.scratch("log").join("stderr");
    let mut guard = KillOnDrop(
        sandbox
            .command(&["serve", "--config", "/etc/backupmx/backupmx.toml"], &log)
            .spawn()
            .expect("unshare"),
    );
    let child = &mut guard.0;
    let pid = child.id();
    let show_log = || std::fs::read_to_string(&log).unwrap_or_default();

    let ready = wait_for_datagram(&notify, |d| d.contains("READY=1"), child, &show_log);
    println!("notify: {ready}");
    // READY=1 means the listener accepts now.
    let smtp = std::net::SocketAddr::from(([127, 0, 0, 1], smtp_port));
    std::net::TcpStream::connect_timeout(&smtp, Duration::from_secs(2)).unwrap_or_else(|e| {
        panic!(
            "READY=1 before port {smtp_port} accepts: {e}\n{}",
            show_log()
        )
    });

    // The process: the package's user, only the one capability, no new privileges.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("its status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    let uid = field("Uid:");
    assert!(!uid.starts_with("0 "), "runs as root: {status}");
    assert_eq!(field("CapAmb:"), "0000000000000400", "{status}");
    assert_eq!(field("CapEff:"), "0000000000000400", "{status}");
    assert_eq!(field("CapBnd:"), "0000000000000400", "{status}");
    assert_eq!(field("NoNewPrivs:"), "1", "{status}");
    // Its state directory, seen through its own root: owned by it, 0700.
    let state = std::fs::metadata(format!("/proc/{pid}/root/var/lib/backupmx")).expect("state dir");
    assert_eq!(state.permissions().mode() & 0o777, 0o700);

    // Mail on port < 1024 is taken and delivered.
    let sent = send_one(
        smtp,
        "sender@sender.test",
        &["user@example.test"],
        &message("package-1", "user@example.test"),
    )
    .await;
    let data = sent.data.expect("DATA was sent");
    assert_eq!(data.code, 250, "{data:?}\n{}", show_log());
    let delivered = sink.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(delivered.len(), 1, "{}", show_log());

    // The journal got the events, with the message id and the domain as fields.
    let queued = wait_for_entry(&journal, "message queued", child, &show_log);
    println!("journal: {queued:?}");
    let id = queued.get("ID").cloned().unwrap_or_default();
    assert_eq!(id.len(), 16, "no queue id in {queued:?}");
    assert_eq!(
        queued.get("DOMAIN").map(String::as_str),
        Some("example.test")
    );
    assert_eq!(
        queued.get("SYSLOG_IDENTIFIER").map(String::as_str),
        Some("backupmx")
    );
    let delivered = wait_for_entry(&journal, "delivered", child, &show_log);
    assert_eq!(delivered.get("ID"), Some(&id), "{delivered:?}");
    assert_eq!(
        delivered.get("DOMAIN").map(String::as_str),
        Some("example.test")
    );
    // The watchdog is pinged (every 0.5 s for WatchdogSec=1s).
    wait_for_datagram(&notify, |d| d.contains("WATCHDOG=1"), child, &show_log);

    run(Command::new("kill").args(["-TERM", &pid.to_string()]));
    wait_for_datagram(&notify, |d| d.contains("STOPPING=1"), child, &show_log);
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "no exit after SIGTERM\n{}",
            show_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit}\n{}", show_log());
}

/// The sandboxed server, killed (by its PID) when a failing test unwinds.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The package's conffile with the test's ports and a domain whose primary is the sink: the edits an
/// administrator makes, on the file as shipped.
fn edited_conffile(package: &Package, smtp: u16, admin: u16, primary: u16) -> String {
    let shipped = std::fs::read_to_string(package.root().join("etc/backupmx/backupmx.toml"))
        .expect("the conffile");
    let edits = [
        (
            "listen = [\"127.0.0.1:2525\", \"[::1]:2525\"]",
            format!("listen = [\"127.0.0.1:{smtp}\"]"),
        ),
        (
            "name = \"example.invalid\"",
            format!("name = \"example.test\"\nprimary = \"127.0.0.1:{primary}\""),
        ),
        (
            "listen = \"127.0.0.1:8025\"",
            format!("listen = \"127.0.0.1:{admin}\""),
        ),
    ];
    let mut config = shipped.clone();
    for (from, to) in edits {
        assert!(
            config.contains(from),
            "the conffile has no {from:?}:\n{shipped}"
        );
        config = config.replace(from, &to);
    }
    config
}

/// A free port below 1024 (binding it needs the capability the unit grants).
fn free_privileged_port() -> u16 {
    let start = 600 + (std::process::id() % 300) as u16;
    (start..1000)
        .chain(600..start)
        .find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .expect("a free port below 1024")
}

/// A datagram socket at `path` that the sandboxed user may send to (journald's is 0666 too).
fn listen_datagrams(path: &Path) -> UnixDatagram {
    let socket = UnixDatagram::bind(path).expect("bind a datagram socket");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    if let Some(dir) = path.parent() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    socket
}

/// The first journal entry whose MESSAGE is `message`, as its fields.
fn wait_for_entry(
    socket: &UnixDatagram,
    message: &str,
    child: &mut std::process::Child,
    log: &dyn Fn() -> String,
) -> HashMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buffer = vec![0u8; 64 * 1024];
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the sandboxed server exited ({status}):\n{}", log());
        }
        if let Ok(n) = socket.recv(&mut buffer) {
            let fields = journal_fields(&buffer[..n]);
            if fields.get("MESSAGE").map(String::as_str) == Some(message) {
                return fields;
            }
        }
    }
    panic!("no journal entry {message:?} within 30 s:\n{}", log());
}

/// journald's native protocol: `NAME=value\n`, or `NAME\n` + 64-bit little-endian length + value +
/// `\n` (what tracing-journald sends).
fn journal_fields(mut data: &[u8]) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    while !data.is_empty() {
        let Some(end) = data.iter().position(|b| *b == b'=' || *b == b'\n') else {
            break;
        };
        let name = String::from_utf8_lossy(&data[..end]).into_owned();
        let value;
        if data[end] == b'=' {
            let rest = &data[end + 1..];
            let stop = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
            value = &rest[..stop];
            data = rest.get(stop + 1..).unwrap_or_default();
        } else {
            let rest = &data[end + 1..];
            let Some(length) = rest.get(..8) else { break };
            let length = u64::from_le_bytes(length.try_into().expect("8 bytes")) as usize;
            let Some(v) = rest.get(8..8 + length) else {
                break;
            };
            value = v;
            data = rest.get(8 + length + 1..).unwrap_or_default();
        }
        fields.insert(name, String::from_utf8_lossy(value).into_owned());
    }
    fields
}

/// The first datagram (as text) that `wanted` accepts, within 30 s; panics with the server's log when
/// none comes or the server exits.
fn wait_for_datagram(
    socket: &UnixDatagram,
    wanted: impl Fn(&str) -> bool,
    child: &mut std::process::Child,
    log: &dyn Fn() -> String,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buffer = vec![0u8; 64 * 1024];
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the sandboxed server exited ({status}):\n{}", log());
        }
        if let Ok(n) = socket.recv(&mut buffer) {
            let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
            if wanted(&text) {
                return text;
            }
        }
    }
    panic!("no such datagram within 30 s:\n{}", log());
}
