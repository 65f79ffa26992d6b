//! Shared harness of the inbound integration tests: an in-process SMTP server on 127.0.0.1:0 with a real
//! spool in a temporary directory, and a minimal SMTP client (plain or TLS) with bounded waits.
pub mod certs;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use backupmx::clock::SystemClock;
use backupmx::config::Config;
use backupmx::envelope::QueueId;
use backupmx::inbound::{InboundContext, ServeOptions, serve_with_options};
use backupmx::queue::{QueueCommand, QueueHandle};
use backupmx::recipients::RecipientService;
use backupmx::spool::{Spool, StoredMessage};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::support::config::Settings;

/// Every wait in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(10);

/// Bearer token of the admin API of the inbound tests that run the binary.
/// Fake ends of data, as SMTP smuggling uses them; only `<CRLF>.<CRLF>` ends data. The inbound
/// tests follow each with a smuggled second transaction; the outbound ones add a few more variants.
pub const SMUGGLING: [&[u8]; 7] = [
    b"\n.\n",
    b"\r.\r",
    b"\r\n.\n",
    b"\n.\r\n",
    b"\r.\r\n",
    b"\r\n.\r",
    b"\r\n\n.\r\n",
];

pub const API_TOKEN: &str = "inbound-test-token";

/// The in-process server's config, with its spool in `spool_dir`.
pub fn config(spool_dir: &std::path::Path) -> Config {
    Settings::inbound().config(spool_dir)
}

/// A running server and what it hands to the queue.
pub struct TestServer {
    pub addr: SocketAddr,
    pub spool: Spool,
    pub queue: mpsc::UnboundedReceiver<QueueCommand>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

pub async fn start(adjust: impl FnOnce(&mut Config)) -> TestServer {
    start_with(adjust, None, ServeOptions::default()).await
}

pub async fn start_with(
    adjust: impl FnOnce(&mut Config),
    tls: Option<tokio_rustls::TlsAcceptor>,
    options: ServeOptions,
) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    adjust(&mut config);
    let (spool, recovered) = Spool::open(dir.path()).unwrap();
    assert!(recovered.is_empty());
    let (queue, queue_rx) = QueueHandle::recording();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let recipients = RecipientService::in_memory(&config, Arc::new(SystemClock), None);
    let checks = backupmx::checks::SenderChecker::new(&config).expect("sender checks");
    let ctx = Arc::new(InboundContext {
        checks: Arc::new(checks),
        recipients: Arc::new(recipients),
        config: backupmx::live::Live::new(config),
        spool: spool.clone(),
        queue,
        tls,
    });
    let (shutdown, shutdown_rx) = watch::channel(false);
    let task = tokio::spawn(serve_with_options(
        vec![listener],
        ctx,
        shutdown_rx,
        options,
    ));
    TestServer {
        addr,
        spool,
        queue: queue_rx,
        shutdown,
        task,
        _dir: dir,
    }
}

impl TestServer {
    pub async fn connect(&self) -> Client<TcpStream> {
        let stream = timeout(WAIT, TcpStream::connect(self.addr))
            .await
            .unwrap()
            .unwrap();
        Client::new(stream)
    }

    /// The messages submitted to the queue so far.
    pub fn queued(&mut self) -> Vec<StoredMessage> {
        let mut out = Vec::new();
        while let Ok(command) = self.queue.try_recv() {
            if let QueueCommand::Submit(message) = command {
                out.push(message);
            }
        }
        out
    }

    pub fn queue_commands(&mut self) -> Vec<QueueCommand> {
        std::iter::from_fn(|| self.queue.try_recv().ok()).collect()
    }

    pub async fn body(&self, id: QueueId) -> Vec<u8> {
        let mut reader = self.spool.open_body(id).await.unwrap();
        let mut body = Vec::new();
        timeout(WAIT, reader.read_to_end(&mut body))
            .await
            .unwrap()
            .unwrap();
        body
    }

    /// Requests shutdown and waits (bounded) for `serve` to return.
    pub async fn stop(self) {
        self.shutdown.send(true).unwrap();
        timeout(WAIT * 3, self.task)
            .await
            .expect("serve returned")
            .unwrap();
    }

    pub fn request_shutdown(&self) {
        self.shutdown.send(true).unwrap();
    }

    pub async fn wait_stopped(self) {
        timeout(WAIT * 3, self.task)
            .await
            .expect("serve returned")
            .unwrap();
    }
}

/// A reply as read off the wire: code and every line's text (after `NNN-`/`NNN `).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireReply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl WireReply {
    /// `"250 2.1.0"`: the code and the first line's enhanced code (if any).
    pub fn head(&self) -> String {
        let first = self.lines.first().map(String::as_str).unwrap_or("");
        let enhanced = first.split(' ').next().filter(|w| {
            w.split('.').count() == 3
                && w.split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        });
        match enhanced {
            Some(e) => format!("{} {e}", self.code),
            None => self.code.to_string(),
        }
    }
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

pub struct Client<S> {
    pub io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub fn new(stream: S) -> Client<S> {
        Client {
            io: BufReader::new(stream),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        timeout(WAIT, self.io.get_mut().write_all(bytes))
            .await
            .unwrap()
            .unwrap();
    }

    /// Reads one complete reply; None when the server closed the connection.
    pub async fn reply(&mut self) -> Option<WireReply> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = timeout(WAIT, self.io.read_line(&mut line))
                .await
                .expect("reply in time")
                .ok()?;
            if n == 0 {
                return None;
            }
            let line = line.trim_end_matches(['\r', '\n']);
            assert!(line.len() >= 3, "short reply line {line:?}");
            let code: u16 = line[..3].parse().expect("reply code");
            lines.push(line.get(4..).unwrap_or("").to_string());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Some(WireReply { code, lines });
            }
        }
    }

    /// Sends one command line and returns its reply head (`"250 2.1.0"`).
    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await.expect("a reply").head()
    }

    /// True when the server closed the connection (EOF, or reset) within the wait.
    pub async fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(
            timeout(WAIT, self.io.read(&mut byte)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    /// True when the server closes the connection within the wait, whatever it sends first (e.g. a TLS
    /// alert).
    pub async fn closes_eventually(&mut self) -> bool {
        let mut sink = Vec::new();
        timeout(WAIT, self.io.read_to_end(&mut sink)).await.is_ok()
    }

    pub async fn greeting_and_ehlo(&mut self) -> WireReply {
        assert_eq!(self.reply().await.unwrap().head(), "220");
        self.send(b"EHLO client.example\r\n").await;
        self.reply().await.unwrap()
    }

    /// A whole transaction with one recipient; returns the reply to the final dot.
    pub async fn send_message(&mut self, rcpt: &str, data: &[u8]) -> WireReply {
        assert_eq!(
            self.cmd("MAIL FROM:<sender@sender.test>").await,
            "250 2.1.0"
        );
        assert_eq!(self.cmd(&format!("RCPT TO:<{rcpt}>")).await, "250 2.1.5");
        assert_eq!(self.cmd("DATA").await, "354");
        self.send(data).await;
        self.reply().await.expect("a reply to the final dot")
    }
}

/// The stored body without our Received header (its first three or four folded lines).
pub fn strip_received(body: &[u8]) -> &[u8] {
    assert!(
        body.starts_with(b"Received: from "),
        "body starts with our Received header"
    );
    let mut at = 0;
    loop {
        let end = at
            + body[at..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("CRLF")
            + 2;
        at = end;
        if !matches!(body.get(at), Some(b'\t') | Some(b' ')) {
            return &body[at..];
        }
    }
}

/// Queue id from `250 2.0.0 Ok: queued as <id>`.
pub fn queued_id(reply: &WireReply) -> QueueId {
    reply.lines[0].rsplit(' ').next().unwrap().parse().unwrap()
}
