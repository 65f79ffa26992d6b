//! The one harness that starts the real `backupmx` binary: writes the [`Settings`]' config (and
//! certificate files) into a temporary directory, runs `serve --config` with its stderr in a file per
//! run, waits until its listeners accept (the admin one is bound last), and can SIGHUP, SIGTERM,
//! SIGKILL and restart it on the same spool. The process is killed when dropped; a failing test prints its log.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::support::config::{Certificate, Settings, free_port};

/// Bound for the server to start listening or to exit.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The running binary and its files (config, spool, certificates, stderr logs) in one directory.
pub struct Server {
    pub settings: Settings,
    dir: TempDir,
    child: Option<Child>,
    /// Incremented per start, so each run's stderr goes to its own file.
    runs: usize,
}

impl Server {
    /// Writes the config and starts the server; returns once its listeners accept.
    pub async fn start(settings: Settings) -> Server {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut server = Server {
            settings,
            dir,
            child: None,
            runs: 0,
        };
        server.spawn().await;
        server
    }

    /// Starts the server with its admin listener on `admin_addr` (any 127.0.0.0/8 address) and the
    /// further `[admin]` lines `admin_toml`.
    pub async fn with_admin(
        mut settings: Settings,
        admin_addr: SocketAddr,
        admin_toml: &str,
    ) -> Server {
        settings.admin_ip = admin_addr.ip();
        settings.admin_port = admin_addr.port();
        settings.admin_extra = format!("{admin_toml}\n");
        Server::start(settings).await
    }

    /// Starts the server with its admin listener on a free 127.0.0.1 port and `token` as the API
    /// token.
    pub async fn with_api_token(settings: Settings, token: &str) -> Server {
        let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
        Server::with_admin(settings, admin, &format!("api_token = \"{token}\"\n")).await
    }

    pub fn smtp_addr(&self) -> SocketAddr {
        self.settings.smtp_addr()
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.settings.admin_addr()
    }

    /// The implicit-TLS listener (served only with a certificate).
    pub fn implicit_tls_addr(&self) -> SocketAddr {
        self.settings.implicit_tls_addr()
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("backupmx.toml")
    }

    /// The server's spool directory (for tests that check what the spool keeps).
    pub fn spool_dir(&self) -> PathBuf {
        self.dir.path().join("spool")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    fn log_path(&self, run: usize) -> PathBuf {
        self.dir.path().join(format!("stderr-{run}.log"))
    }

    /// Everything the server wrote to stderr, over all runs.
    pub fn log(&self) -> String {
        (1..=self.runs)
            .map(|run| std::fs::read_to_string(self.log_path(run)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The log of the latest run only.
    pub fn last_log(&self) -> String {
        std::fs::read_to_string(self.log_path(self.runs)).unwrap_or_default()
    }

    /// Replaces the certificate files (as an operator would before a SIGHUP).
    pub fn write_certificate(&self, certificate: &Certificate) {
        std::fs::write(self.dir.path().join("cert.pem"), &certificate.cert_pem)
            .expect("write cert.pem");
        std::fs::write(self.dir.path().join("key.pem"), &certificate.key_pem)
            .expect("write key.pem");
    }

    /// (Re)starts the binary on the same spool with the current settings.
    async fn spawn(&mut self) {
        assert!(self.child.is_none(), "server already running");
        if let Some(certificate) = &self.settings.certificate {
            self.write_certificate(certificate);
        }
        let config = self.config_path();
        let text = self.settings.toml(&self.spool_dir(), self.dir.path());
        std::fs::write(&config, text).expect("write the config");
        self.runs += 1;
        let log = File::create(self.log_path(self.runs)).expect("create the stderr log");
        let child = Command::new(env!("CARGO_BIN_EXE_backupmx"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start backupmx");
        self.child = Some(child);
        // The admin listener is bound last at start-up: once it accepts, so do the SMTP listeners.
        // Probing the admin port, not the SMTP one, keeps the probe out of the SMTP limits a test
        // may be counting (connections per minute).
        self.wait_accepting(self.admin_addr()).await;
    }

    async fn wait_accepting(&mut self, addr: SocketAddr) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            let child = self.child.as_mut().expect("server running");
            if let Ok(Some(status)) = child.try_wait() {
                panic!("backupmx exited ({status}) at start:\n{}", self.log());
            }
            if Instant::now() > deadline {
                panic!(
                    "backupmx does not listen on {addr} after {START_TIMEOUT:?}:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL (no chance to clean up), then reaps the process.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM; waits up to `timeout` for the exit and returns its status (SIGKILL and panic after).
    pub async fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("server running");
        signal(&child, "-TERM");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().expect("wait for backupmx") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "backupmx still running {timeout:?} after SIGTERM:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Writes the config file again from the current settings (before a SIGHUP or `backupmx reload`).
    pub fn write_config(&self) {
        let text = self.settings.toml(&self.spool_dir(), self.dir.path());
        std::fs::write(self.config_path(), text).expect("write the config");
    }

    /// SIGHUP: the server reloads its config (and certificate).
    pub fn hangup(&self) {
        signal(self.child.as_ref().expect("server running"), "-HUP");
    }

    /// Starts the binary again on the same spool (SIGKILL first if it still runs).
    pub async fn restart(&mut self) {
        self.kill9();
        self.spawn().await;
    }

    /// Waits until the log contains `needle`; panics after `timeout`.
    pub async fn wait_log(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.log().contains(needle) {
            if Instant::now() > deadline {
                panic!(
                    "{needle:?} not in the log after {timeout:?}:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The Prometheus page of the admin listener, asked with `token`.
    pub fn metrics(&self, token: &str) -> String {
        let mut stream =
            TcpStream::connect(self.admin_addr()).expect("connect to the admin listener");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("set a read timeout");
        let request = format!(
            "GET /metrics HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n",
            self.admin_addr()
        );
        stream
            .write_all(request.as_bytes())
            .expect("send the request");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("read the response");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        response
    }

    /// Runs the CLI (`backupmx ARGS...`) to completion.
    pub fn cli(&self, args: &[&str]) -> Output {
        run_cli(args)
    }
}

/// Runs the binary's CLI (`backupmx ARGS...`) to completion.
pub fn run_cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_backupmx"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run the CLI")
}

/// Runs `backupmx check-dns DOMAIN --config FILE [--json]` off the async runtime and prints what it
/// wrote: (exit status, stdout).
pub async fn check_dns(domain: &str, config: &Path, json: bool) -> (i32, String) {
    let config = config.display().to_string();
    let mut args = vec![
        "check-dns".to_owned(),
        domain.to_owned(),
        "--config".to_owned(),
        config,
    ];
    if json {
        args.push("--json".to_owned());
    }
    let output = tokio::task::spawn_blocking(move || {
        run_cli(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    println!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    (output.status.code().expect("an exit status"), stdout)
}

/// Sends `signal` (`-TERM`, `-HUP`) to exactly this child, by PID.
fn signal(child: &Child, signal: &str) {
    let sent = Command::new("kill")
        .arg(signal)
        .arg(child.id().to_string())
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill {signal} failed");
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!("--- backupmx stderr ---\n{}", self.log());
        }
    }
}
