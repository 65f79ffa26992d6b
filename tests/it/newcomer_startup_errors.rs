//! A server that cannot start says why once, on one line, with what to do — no "Caused by" list, no
//! backtrace even with RUST_BACKTRACE set — exits 1, and leaves no spool directory behind. Against the
//! real binary.

use crate::support;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::config::free_port;

/// Bound for the binary to give up.
const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

fn config(smtp_port: u16, admin_port: u16, spool: &Path) -> String {
    format!(
        "hostname = \"mx2.example.test\"\n\
         [smtp]\nlisten = [\"127.0.0.1:{smtp_port}\"]\n\
         [spool]\ndir = \"{}\"\n\
         [[domain]]\nname = \"example.test\"\nprimary = \"127.0.0.1:9\"\n\
         [admin]\nlisten = \"127.0.0.1:{admin_port}\"\n",
        spool.display()
    )
}

/// Runs `serve --config` on `toml`; returns the exit code and stderr.
fn serve(dir: &Path, toml: &str) -> (Option<i32>, String) {
    let file = dir.join("backupmx.toml");
    std::fs::write(&file, toml).expect("write the config");
    let log = dir.join("stderr.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_backupmx"))
        .arg("serve")
        .arg("--config")
        .arg(&file)
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start backupmx");
    let deadline = Instant::now() + EXIT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "backupmx did not exit:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (
        status.code(),
        std::fs::read_to_string(&log).expect("read the log"),
    )
}

/// Exactly one line says why, and nothing repeats it.
fn assert_one_error_line(stderr: &str, expected: &[&str]) {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("cannot start"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("backupmx: cannot start: "), "{stderr}");
    for part in expected {
        assert!(lines[0].contains(part), "{part:?} missing in {stderr}");
    }
    for noise in ["Caused by", "Error:", "backtrace", "panicked"] {
        assert!(!stderr.contains(noise), "{noise:?} in {stderr}");
    }
}

/// Serves with the SMTP (`smtp`) or the admin port held by another socket: the start fails with
/// exit code 1 and leaves no spool. Returns the taken port and the stderr.
fn start_on_a_taken_port(smtp: bool) -> (u16, String) {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let spool = dir.path().join("spool");
    let config = if smtp {
        config(port, free_port(), &spool)
    } else {
        config(free_port(), port, &spool)
    };
    let (code, stderr) = serve(dir.path(), &config);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        !spool.exists(),
        "a failed start created {}",
        spool.display()
    );
    (port, stderr)
}

#[test]
fn smtp_port_in_use() {
    let (port, stderr) = start_on_a_taken_port(true);
    assert_one_error_line(
        &stderr,
        &[
            &format!("cannot listen on 127.0.0.1:{port} ([smtp] listen)"),
            "Address already in use",
            "stop it, or change [smtp] listen",
        ],
    );
}

#[test]
fn admin_port_in_use() {
    let (port, stderr) = start_on_a_taken_port(false);
    assert_one_error_line(
        &stderr,
        &[&format!(
            "cannot listen on 127.0.0.1:{port} ([admin] listen)"
        )],
    );
}

#[test]
fn spool_that_cannot_be_created() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where the spool's parent directory should be: not even root can create it.
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, "").unwrap();
    let spool = file.join("spool");
    let (code, stderr) = serve(dir.path(), &config(free_port(), free_port(), &spool));
    assert_eq!(code, Some(1), "{stderr}");
    assert_one_error_line(
        &stderr,
        &[
            &format!("spool {}", spool.display()),
            "is writable by this user, or change [spool] dir",
        ],
    );
}

#[test]
fn a_plaintext_console_on_a_non_loopback_address_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let text = config(free_port(), free_port(), &spool).replace(
        "[admin]\nlisten = \"127.0.0.1:",
        "[admin]\nlisten = \"0.0.0.0:",
    );
    let (code, stderr) = serve(dir.path(), &text);
    assert_ne!(code, Some(0), "{stderr}");
    assert!(stderr.contains("admin.listen"), "{stderr}");
    assert!(stderr.contains("is not a loopback address"), "{stderr}");
    assert!(stderr.contains("allow_plaintext = true"), "{stderr}");
    assert!(!spool.exists(), "a refused start created the spool");
}

#[test]
fn a_broken_provisioned_domains_file_is_named_with_its_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    let store = spool.join("domains.toml");
    std::fs::write(
        &store,
        "[[domain]]\nname = \"shop.test\"\nmax_bytes = \"lots\"\n",
    )
    .unwrap();
    let (code, stderr) = serve(dir.path(), &config(free_port(), free_port(), &spool));
    assert_eq!(code, Some(1), "{stderr}");
    assert_one_error_line(
        &stderr,
        &[
            &format!(
                "provisioned domains: {}:3: domain[0].max_bytes: ",
                store.display()
            ),
            "domains.toml",
        ],
    );
}
