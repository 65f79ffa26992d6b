//! Harness for inbound tests that need the real binary (signals, the metrics endpoint): a config with
//! free loopback ports in a temporary directory, optional certificate files, and the process, killed
//! when dropped.
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::net::TcpStream;

/// Bearer token of the admin API in these tests.
pub const API_TOKEN: &str = "inbound-test-token";

pub use crate::support::inbound::certs::{Pair, pair};

fn free_addr() -> SocketAddr {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn write_pair(dir: &Path, pair: &Pair) {
    std::fs::write(dir.join("cert.pem"), &pair.cert_pem).unwrap();
    std::fs::write(dir.join("key.pem"), &pair.key_pem).unwrap();
}

pub struct Server {
    child: Child,
    pub smtp: SocketAddr,
    /// The implicit-TLS listener (only served when started with a certificate).
    pub implicit_tls: SocketAddr,
    pub admin: SocketAddr,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the binary (with STARTTLS and an implicit-TLS listener when `tls` is given, and
    /// `extra` appended to the config); returns once it listens.
    pub async fn start(tls: Option<&Pair>, extra: &str) -> Server {
        let (smtp, implicit_tls, admin) = (free_addr(), free_addr(), free_addr());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path();
        let mut config = format!("hostname = \"mx2.example.net\"\n[smtp]\nlisten = [\"{smtp}\"]\n");
        if let Some(pair) = tls {
            write_pair(path, pair);
            config.push_str(&format!(
                "tls_cert = {:?}\ntls_key = {:?}\ntls_listen = [\"{implicit_tls}\"]\n",
                path.join("cert.pem"),
                path.join("key.pem"),
            ));
        }
        config.push_str(&format!(
            "[spool]\ndir = {:?}\n[[domain]]\nname = \"example.test\"\nprimary = \"127.0.0.1:9\"\n\
             [admin]\nlisten = \"{admin}\"\napi_token = \"{API_TOKEN}\"\n{extra}",
            path.join("spool"),
        ));
        std::fs::write(path.join("backupmx.toml"), config).unwrap();
        let log = std::fs::File::create(path.join("stderr.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_backupmx"))
            .arg("serve")
            .arg("--config")
            .arg(path.join("backupmx.toml"))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut server = Server {
            child,
            smtp,
            implicit_tls,
            admin,
            dir,
        };
        // The last listener bound at start-up is the admin one.
        for _ in 0..200 {
            if TcpStream::connect(server.admin).await.is_ok() {
                return server;
            }
            assert!(
                server.child.try_wait().unwrap().is_none(),
                "{}",
                server.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("backupmx does not listen:\n{}", server.log());
    }

    pub fn write_pair(&self, pair: &Pair) {
        write_pair(self.dir.path(), pair);
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    pub fn hangup(&self) {
        let status = Command::new("kill")
            .arg("-HUP")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The Prometheus page of the admin listener.
    pub fn metrics(&self) -> String {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(self.admin).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let request = format!(
            "GET /metrics HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {API_TOKEN}\r\nConnection: close\r\n\r\n",
            self.admin
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        response
    }
}
