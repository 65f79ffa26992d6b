//! End-to-end harness: writes a config TOML into a temporary directory, starts the real `backupmx`
//! binary with `serve --config`, waits for its SMTP port, captures its stderr to a file, and can
//! SIGTERM/SIGKILL and restart it on the same spool. Every process it starts is killed when dropped.
//!
//! Use from a test file with `mod e2e_support;` (next to `mod support;`).

// Each test binary uses a different part of this module.
#![allow(dead_code)]

pub mod client;
pub mod dsn;
pub mod mail;

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Bound for the server to start listening or to exit.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A free loopback port: bound on 127.0.0.1:0, read, released.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// One `[[domain]]`: `primary` is a static route (`"127.0.0.1:PORT"`), `None` for an MX look-up.
#[derive(Debug, Clone)]
pub struct Domain {
    pub name: String,
    pub primary: Option<String>,
    /// Further `key = value` lines of this `[[domain]]` (e.g. `tls = "require"`).
    pub extra: Vec<String>,
}

/// The settings a test varies; [`Settings::toml`] renders the whole file.
#[derive(Debug, Clone)]
pub struct Settings {
    pub hostname: String,
    pub smtp_port: u16,
    pub admin_port: u16,
    pub nameservers: Vec<SocketAddr>,
    pub delivery_port: u16,
    pub retry: Vec<String>,
    pub max_lifetime: String,
    pub probe_interval: String,
    pub etrn_allow: Vec<String>,
    pub domains: Vec<Domain>,
    /// `[delivery] command_timeout`.
    pub delivery_command_timeout: String,
    /// Further `key = value` lines of `[delivery]` (e.g. `tls_ca_file = "..."`).
    pub delivery_extra: Vec<String>,
    /// Further `key = value` lines of `[queue]` (e.g. `max_parallel = 7`).
    pub queue_extra: Vec<String>,
    /// Appended verbatim to the file; keys before any table header belong to the last `[[domain]]`.
    pub extra_toml: String,
}

impl Settings {
    /// Quick retries for `example.test` (routed by `primary`, or by MX when `None`).
    pub fn new(primary: Option<SocketAddr>) -> Settings {
        Settings {
            hostname: "mx2.example.test".into(),
            smtp_port: free_port(),
            admin_port: free_port(),
            nameservers: Vec::new(),
            delivery_port: 25,
            retry: vec!["1s".into()],
            max_lifetime: "1d".into(),
            probe_interval: "200ms".into(),
            etrn_allow: Vec::new(),
            domains: vec![Domain {
                name: "example.test".into(),
                primary: primary.map(|a| a.to_string()),
                extra: Vec::new(),
            }],
            delivery_command_timeout: "10s".into(),
            delivery_extra: Vec::new(),
            queue_extra: Vec::new(),
            extra_toml: String::new(),
        }
    }

    pub fn smtp_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.smtp_port))
    }

    pub fn toml(&self, spool: &std::path::Path) -> String {
        let list = |items: &[String]| {
            let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
            format!("[{}]", quoted.join(", "))
        };
        let lines = |items: &[String]| items.iter().map(|l| format!("{l}\n")).collect::<String>();
        let nameservers: Vec<String> = self.nameservers.iter().map(|a| a.to_string()).collect();
        let mut out = format!(
            "hostname = {:?}\n\n[smtp]\nlisten = [\"127.0.0.1:{}\"]\ncommand_timeout = \"10s\"\n\
             etrn_allow = {}\n\n[spool]\ndir = {:?}\n\n[dns]\nnameservers = {}\n\n\
             [delivery]\nport = {}\nconnect_timeout = \"2s\"\ncommand_timeout = {:?}\n{}\n\
             [queue]\nretry = {}\nmax_lifetime = {:?}\nprobe_interval = {:?}\n{}\n\
             [admin]\nlisten = \"127.0.0.1:{}\"\n",
            self.hostname,
            self.smtp_port,
            list(&self.etrn_allow),
            spool.display().to_string(),
            list(&nameservers),
            self.delivery_port,
            self.delivery_command_timeout,
            lines(&self.delivery_extra),
            list(&self.retry),
            self.max_lifetime,
            self.probe_interval,
            lines(&self.queue_extra),
            self.admin_port,
        );
        for domain in &self.domains {
            out.push_str(&format!("\n[[domain]]\nname = {:?}\n", domain.name));
            if let Some(primary) = &domain.primary {
                out.push_str(&format!("primary = {primary:?}\n"));
            }
            out.push_str(&lines(&domain.extra));
        }
        out.push_str(&self.extra_toml);
        out
    }
}

/// The running binary and its files (config, spool, stderr log) in one temporary directory.
pub struct Server {
    pub settings: Settings,
    dir: TempDir,
    child: Option<Child>,
    /// Incremented per start, so each run's stderr goes to its own file.
    runs: usize,
}

impl Server {
    /// Writes the config and starts the server; returns once its SMTP port accepts.
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

    pub fn smtp_addr(&self) -> SocketAddr {
        self.settings.smtp_addr()
    }

    /// The server's spool directory (for tests that check what the spool keeps, e.g. the postmaster
    /// mailbox).
    pub fn spool_dir(&self) -> std::path::PathBuf {
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

    /// (Re)starts the binary on the same spool with the current settings.
    async fn spawn(&mut self) {
        assert!(self.child.is_none(), "server already running");
        let spool = self.dir.path().join("spool");
        let config = self.dir.path().join("backupmx.toml");
        std::fs::write(&config, self.settings.toml(&spool)).expect("write the config");
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
        self.wait_listening().await;
    }

    async fn wait_listening(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&self.smtp_addr(), Duration::from_millis(200)).is_ok() {
                return;
            }
            let child = self.child.as_mut().expect("server running");
            if let Ok(Some(status)) = child.try_wait() {
                panic!("backupmx exited ({status}) at start:\n{}", self.log());
            }
            if Instant::now() > deadline {
                panic!(
                    "backupmx does not listen after {START_TIMEOUT:?}:\n{}",
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
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
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

    /// Starts the binary again on the same spool (after [`Server::kill9`] or [`Server::terminate`]).
    pub async fn restart(&mut self) {
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
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!("--- backupmx stderr ---\n{}", self.log());
        }
    }
}

/// DNS records routing `sender.test` (the senders' domain, where DSNs go) to 127.0.0.1.
pub fn sender_domain_records() -> Vec<crate::support::dns::TestRecord> {
    vec![
        crate::support::mx("sender.test", 10, "mx.sender.test"),
        crate::support::addr("mx.sender.test", "127.0.0.1"),
    ]
}

/// Settings for `example.test` statically routed to `primary`, with DSNs to `sender.test` going
/// through `dns` to the delivery port `sender_sink`.
pub fn settings_with_sender_sink(
    primary: SocketAddr,
    dns: SocketAddr,
    sender_sink: SocketAddr,
) -> Settings {
    let mut settings = Settings::new(Some(primary));
    settings.nameservers = vec![dns];
    settings.delivery_port = sender_sink.port();
    settings
}
