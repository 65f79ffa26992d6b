//! Harness for the admin tests: starts the real binary with an `[admin]` section of the test's choice
//! (the shared `Settings` render the rest), and a minimal HTTP/1.1 client whose source address can be
//! chosen (127.0.0.1, 127.0.0.3, ...) to exercise `[admin] allow`.
//!
//! Use from a test file with `mod admin_support;` (next to `mod e2e_support;` and `mod support;`).

#![allow(dead_code)]

use std::fs::File;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

use crate::e2e_support::Settings;

const START_TIMEOUT: Duration = Duration::from_secs(20);
const HTTP_TIMEOUT: Duration = Duration::from_secs(20);

/// The running binary, its config file, spool and stderr log.
pub struct AdminServer {
    pub settings: Settings,
    pub admin_addr: SocketAddr,
    admin_toml: String,
    dir: TempDir,
    child: Option<Child>,
    runs: usize,
}

impl AdminServer {
    /// `admin_toml` is the body of the `[admin]` section without `listen` (set from `admin_addr`).
    pub async fn start(
        settings: Settings,
        admin_addr: SocketAddr,
        admin_toml: &str,
    ) -> AdminServer {
        let mut server = AdminServer {
            settings,
            admin_addr,
            admin_toml: admin_toml.to_string(),
            dir: tempfile::tempdir().expect("temporary directory"),
            child: None,
            runs: 0,
        };
        server.spawn().await;
        server
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("backupmx.toml")
    }

    pub fn spool(&self) -> PathBuf {
        self.dir.path().join("spool")
    }

    fn log_path(&self, run: usize) -> PathBuf {
        self.dir.path().join(format!("stderr-{run}.log"))
    }

    pub fn log(&self) -> String {
        (1..=self.runs)
            .map(|r| std::fs::read_to_string(self.log_path(r)).unwrap_or_default())
            .collect()
    }

    /// The log of the latest run only.
    pub fn last_log(&self) -> String {
        std::fs::read_to_string(self.log_path(self.runs)).unwrap_or_default()
    }

    fn toml(&self) -> String {
        let base = self.settings.toml(&self.spool());
        let default_admin = format!(
            "[admin]\nlisten = \"127.0.0.1:{}\"\n",
            self.settings.admin_port
        );
        assert!(
            base.contains(&default_admin),
            "Settings::toml changed its [admin] section"
        );
        let admin = format!(
            "[admin]\nlisten = \"{}\"\n{}\n",
            self.admin_addr, self.admin_toml
        );
        base.replace(&default_admin, &admin)
    }

    async fn spawn(&mut self) {
        std::fs::write(self.config_path(), self.toml()).expect("write the config");
        self.runs += 1;
        let log = File::create(self.log_path(self.runs)).expect("stderr log");
        let child = Command::new(env!("CARGO_BIN_EXE_backupmx"))
            .arg("serve")
            .arg("--config")
            .arg(self.config_path())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start backupmx");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        // The admin listener is bound after the SMTP one.
        while TcpStream::connect_timeout(&self.admin_addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = self.child.as_mut().expect("running").try_wait() {
                panic!("backupmx exited ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "admin listener not up:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The running server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// Runs the CLI (`backupmx ARGS...`) to completion.
    pub fn cli(&self, args: &[&str]) -> Output {
        run_cli(args)
    }
}

pub fn run_cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_backupmx"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run the CLI")
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- backupmx stderr ---\n{}", self.log());
        }
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The stable error code of a JSON error body.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// One request from `source` (port chosen by the system) with `Connection: close`.
pub async fn http(
    source: IpAddr,
    to: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Reply {
    let exchange = async {
        let socket = TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::new(source, 0))
            .expect("bind the source address");
        let mut stream = socket
            .connect(to)
            .await
            .expect("connect to the admin listener");
        let mut request =
            format!("{method} {path} HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n");
        if let Some(token) = token {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        let body = body.unwrap_or("");
        if !body.is_empty() {
            request.push_str("Content-Type: application/json\r\n");
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send the request");
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .await
            .expect("read the response");
        parse_response(&raw)
    };
    tokio::time::timeout(HTTP_TIMEOUT, exchange)
        .await
        .expect("HTTP exchange timed out")
}

fn parse_response(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = String::from_utf8_lossy(&data[..line_end]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .expect("chunk size");
        if size == 0 {
            return out;
        }
        let start = line_end + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
}

/// Waits until `check` holds; panics with `what` after `timeout`.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The token from a generated credentials file.
pub fn token_from_file(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("credentials file");
    let value: toml::Value = toml::from_str(&text).expect("credentials TOML");
    value["api_token"].as_str().expect("api_token").to_string()
}
