//! End-to-end against a foreign SMTP server: the real backupmx binary delivers to Postfix's
//! `smtp-sink` (package `postfix`, which .ci/run installs), which dumps every message to a file; the
//! message arrives with the same bytes after our Received header. Fails, never skips, when
//! `smtp-sink` is missing.

use crate::support;

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::config::{Settings, free_port};
use support::e2e::client::send_one;
use support::e2e::mail::{message, strip_first_received, strip_prepended};
use support::server::Server;
use tempfile::TempDir;

const SMTP_SINK: &str = "/usr/sbin/smtp-sink";
const WAIT: Duration = Duration::from_secs(20);

/// A running `smtp-sink` dumping one file per transaction under its temporary directory; killed (by
/// its PID) when dropped.
struct PostfixSink {
    addr: SocketAddr,
    dir: TempDir,
    child: Child,
}

impl PostfixSink {
    fn start() -> PostfixSink {
        assert!(
            Path::new(SMTP_SINK).exists(),
            "{SMTP_SINK} is missing: install Debian's `postfix` package (.ci/run does) to run this test"
        );
        let dir = tempfile::tempdir().expect("temporary directory");
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let log = File::create(dir.path().join("smtp-sink.log")).expect("create the log");
        let mut command = Command::new(SMTP_SINK);
        // As root smtp-sink insists on dropping privileges (-u); root keeps the dump dir writable.
        if running_as_root() {
            command.args(["-u", "root"]);
        }
        let template = format!("{}/dumps/%M.", dir.path().display());
        let child = command
            .args(["-d", &template, &addr.to_string(), "100"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {SMTP_SINK}: {e}"));
        let mut sink = PostfixSink { addr, dir, child };
        sink.wait_listening();
        sink
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("smtp-sink.log")).unwrap_or_default()
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("smtp-sink exited ({status}) at start:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "smtp-sink does not listen on {} after {WAIT:?}:\n{}",
                self.addr,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The dump files written so far.
    fn dumps(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.dir.path().join("dumps")) {
            Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(_) => Vec::new(),
        }
    }
}

impl Drop for PostfixSink {
    fn drop(&mut self) {
        // Child::kill signals exactly this PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// One smtp-sink dump: its `X-...` envelope records, then smtp-sink's own three-line Received
/// header, the message as received (LF line ends, dots unstuffed), and one empty line.
#[derive(Debug)]
struct Dump {
    /// `(name, value)` of the `X-Client-Addr`, `X-Helo-Args`, `X-Mail-Args`, `X-Rcpt-Args`... lines.
    records: Vec<(String, String)>,
    /// The message as received, without smtp-sink's Received header and its final empty line.
    message: Vec<u8>,
}

impl Dump {
    /// `None` while the file is not complete (no Received header yet, or no final empty line).
    fn parse(data: &[u8]) -> Option<Dump> {
        let mut records = Vec::new();
        let mut rest = data;
        while !rest.starts_with(b"Received: ") {
            let end = rest.iter().position(|b| *b == b'\n')?;
            let line = String::from_utf8_lossy(&rest[..end]);
            let (name, value) = line.split_once(": ")?;
            records.push((name.to_owned(), value.to_owned()));
            rest = &rest[end + 1..];
        }
        let message = strip_first_received(rest).strip_suffix(b"\n\n")?;
        let mut message = message.to_vec();
        message.push(b'\n');
        Some(Dump { records, message })
    }

    fn values(&self, name: &str) -> Vec<&str> {
        self.records
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// smtp-sink writes LF line ends: the message we sent, as it must appear in a dump.
fn with_lf(message: &[u8]) -> Vec<u8> {
    String::from_utf8(message.to_vec())
        .expect("test message is text")
        .replace("\r\n", "\n")
        .into_bytes()
}

async fn wait_for_dump(sink: &PostfixSink, server: &Server) -> Dump {
    let deadline = Instant::now() + WAIT;
    loop {
        let dumps = sink.dumps();
        assert!(dumps.len() <= 1, "one transaction expected: {dumps:?}");
        if let Some(dump) = dumps
            .first()
            .and_then(|path| std::fs::read(path).ok())
            .and_then(|data| Dump::parse(&data))
        {
            return dump;
        }
        assert!(
            Instant::now() < deadline,
            "no complete dump from smtp-sink after {WAIT:?}\nsmtp-sink log:\n{}\nbackupmx log:\n{}",
            sink.log(),
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_to_postfix_smtp_sink_with_identical_bytes() {
    let _machine = support::exclusive::shared().await;
    let sink = PostfixSink::start();
    let server = Server::start(Settings::new(Some(sink.addr))).await;
    let body = message("postfix-sink", "bob@example.test");
    let recipients = ["bob@example.test", "carol@example.test"];
    let sent = send_one(server.smtp_addr(), "alice@sender.test", &recipients, &body).await;
    assert_eq!(sent.data.map(|d| d.code), Some(250));

    server.wait_log("delivered", WAIT).await;
    let dump = wait_for_dump(&sink, &server).await;
    assert_eq!(dump.values("X-Helo-Args"), ["mx2.example.test"]);
    assert_eq!(dump.values("X-Mail-Args"), ["<alice@sender.test>"]);
    assert_eq!(
        dump.values("X-Rcpt-Args"),
        ["<bob@example.test>", "<carol@example.test>"]
    );
    let after_ours = strip_first_received(&dump.message);
    // Our Authentication-Results (sender checks, `tag` by default), then our Received.
    assert!(
        dump.message
            .starts_with(b"Authentication-Results: mx2.example.test;")
            && strip_prepended(&dump.message).starts_with(b"Received: from client.test "),
        "our Authentication-Results and Received header come first:\n{}",
        String::from_utf8_lossy(&dump.message)
    );
    assert_eq!(
        String::from_utf8_lossy(after_ours),
        String::from_utf8_lossy(&with_lf(&body))
    );
    assert_eq!(after_ours, with_lf(&body));
}
