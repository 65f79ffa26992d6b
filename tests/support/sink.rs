//! `SmtpSink`: a real SMTP server on 127.0.0.1 that plays the primary in tests. It records every
//! message (envelope and the exact bytes after dot-unstuffing), advertises configurable extensions,
//! replies to chosen recipients as scripted, and can be stopped and restarted on the same port.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

use super::relisten;

/// What the sink advertises and how it answers.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    /// False: EHLO gets 502 and only HELO works.
    pub esmtp: bool,
    pub pipelining: bool,
    pub eight_bit_mime: bool,
    pub smtputf8: bool,
    pub dsn: bool,
    /// Advertised SIZE (messages over it get 552 after DATA).
    pub size: Option<u64>,
    /// The greeting line, e.g. `421 4.3.2 not now` to refuse sessions.
    pub greeting: String,
    /// Reply to every MAIL FROM instead of 250.
    pub mail_reply: Option<String>,
    /// Reply after the final dot instead of 250 (a non-2xx one means the message is not recorded).
    pub data_reply: Option<String>,
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions {
            esmtp: true,
            pipelining: true,
            eight_bit_mime: true,
            smtputf8: true,
            dsn: true,
            size: None,
            greeting: "220 sink.test ESMTP test sink".into(),
            mail_reply: None,
            data_reply: None,
        }
    }
}

/// One accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub helo: String,
    /// Everything after `MAIL FROM:`, parameters included.
    pub mail_from: String,
    /// The reverse path without brackets.
    pub sender: String,
    /// Accepted recipients (addresses without brackets).
    pub recipients: Vec<String>,
    /// The full RCPT lines of the accepted recipients (to check NOTIFY/ORCPT).
    pub rcpt_lines: Vec<String>,
    /// The message bytes after dot-unstuffing, without the final `.` line.
    pub data: Vec<u8>,
}

#[derive(Default)]
struct SinkState {
    options: Mutex<SinkOptions>,
    scripted: Mutex<HashMap<String, String>>,
    messages: Mutex<Vec<ReceivedMessage>>,
    arrived: Notify,
    connections: AtomicUsize,
    pipelining_violations: AtomicUsize,
    /// (marker, reply): the next message containing the marker gets the reply, once.
    defer_once: Mutex<Vec<(String, String)>>,
    pipelined_after_data: AtomicUsize,
}

/// The running sink; stops when dropped.
pub struct SmtpSink {
    addr: SocketAddr,
    state: Arc<SinkState>,
    accept_loop: Option<JoinHandle<()>>,
}

impl SmtpSink {
    /// A sink with every extension on.
    pub async fn start() -> SmtpSink {
        SmtpSink::start_with(SinkOptions::default()).await
    }

    pub async fn start_with(options: SinkOptions) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sink");
        let addr = listener.local_addr().expect("sink address");
        let state = Arc::new(SinkState {
            options: Mutex::new(options),
            ..SinkState::default()
        });
        let accept_loop = Some(tokio::spawn(accept(listener, state.clone())));
        SmtpSink {
            addr,
            state,
            accept_loop,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers RCPT TO for `address` with `reply` (e.g. `550 5.1.1 no such user`).
    pub fn reject(&self, address: &str, reply: &str) {
        self.script(address, reply);
    }

    /// Same as [`SmtpSink::reject`], named for 4xx replies.
    pub fn defer(&self, address: &str, reply: &str) {
        self.script(address, reply);
    }

    /// Forgets the scripted reply for `address`: its RCPT TO gets 250 again.
    pub fn unscript(&self, address: &str) {
        self.scripted().remove(&address.to_ascii_lowercase());
    }

    fn script(&self, address: &str, reply: &str) {
        let address = address.to_ascii_lowercase();
        self.scripted().insert(address, reply.to_owned());
    }

    fn scripted(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.state.scripted.lock().unwrap()
    }

    /// Changes the options for sessions that start from now on.
    /// The next message whose bytes contain `marker` gets `reply` (non-2xx) after its data, once.
    pub fn refuse_data_once(&self, marker: &str, reply: &str) {
        let entry = (marker.to_owned(), reply.to_owned());
        self.state.defer_once.lock().unwrap().push(entry);
    }

    /// End-of-data lines that arrived with the next commands already behind them (pipelined).
    pub fn pipelined_after_data(&self) -> usize {
        self.state.pipelined_after_data.load(Ordering::SeqCst)
    }

    pub fn set_options(&self, options: SinkOptions) {
        *self.state.options.lock().unwrap() = options;
    }

    pub fn messages(&self) -> Vec<ReceivedMessage> {
        self.state.messages.lock().unwrap().clone()
    }

    /// Sessions accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Commands that arrived before the previous reply was sent although PIPELINING was not
    /// advertised (best effort: detected when they were already in the read buffer).
    pub fn pipelining_violations(&self) -> usize {
        self.state.pipelining_violations.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` messages arrived; panics after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.state.arrived.notified();
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!(
                    "sink got {} of {n} messages within {timeout:?}",
                    messages.len()
                );
            }
        }
    }

    /// Closes the listener and every open session: the port refuses connections once this returns.
    pub async fn stop(&mut self) {
        relisten::stop(&mut self.accept_loop).await;
    }

    /// Listens again on the same port.
    pub async fn restart(&mut self) {
        let listener = relisten::rebind(&mut self.accept_loop, self.addr, "the sink's").await;
        self.accept_loop = Some(tokio::spawn(accept(listener, self.state.clone())));
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(task) = self.accept_loop.take() {
            task.abort();
        }
    }
}

/// Accepts sessions; aborting this task drops the listener and (through the JoinSet) every session.
async fn accept(listener: TcpListener, state: Arc<SinkState>) {
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                state.connections.fetch_add(1, Ordering::SeqCst);
                sessions.spawn(session(stream, state.clone()));
            }
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
}

/// Envelope of the transaction in progress.
#[derive(Default)]
struct Transaction {
    mail_from: Option<String>,
    recipients: Vec<String>,
    rcpt_lines: Vec<String>,
}

async fn session(stream: TcpStream, state: Arc<SinkState>) {
    let options = state.options.lock().unwrap().clone();
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    if reply(&mut write, &options.greeting).await.is_err() || !options.greeting.starts_with('2') {
        return;
    }
    let mut helo = String::new();
    let mut tx = Transaction::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if !options.pipelining && !reader.buffer().is_empty() {
            state.pipelining_violations.fetch_add(1, Ordering::SeqCst);
        }
        let command = String::from_utf8_lossy(&line).trim_end().to_owned();
        let verb = command.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let answer = match verb.as_str() {
            "EHLO" if options.esmtp => {
                helo = command[4..].trim().to_owned();
                ehlo_reply(&options)
            }
            "HELO" => {
                helo = command[4..].trim().to_owned();
                "250 sink.test".to_owned()
            }
            "MAIL" => mail(&options, &command, &mut tx),
            "RCPT" => rcpt(&state, &command, &mut tx),
            "DATA" if tx.recipients.is_empty() => "503 5.5.1 no valid recipients".to_owned(),
            "DATA" => {
                if reply(&mut write, "354 go ahead").await.is_err() {
                    return;
                }
                let Some(data) = read_data(&mut reader).await else {
                    return;
                };
                if !reader.buffer().is_empty() {
                    state.pipelined_after_data.fetch_add(1, Ordering::SeqCst);
                }
                finish(&state, &options, &helo, std::mem::take(&mut tx), data)
            }
            "RSET" => {
                tx = Transaction::default();
                "250 2.0.0 reset".to_owned()
            }
            "NOOP" => "250 2.0.0 ok".to_owned(),
            "QUIT" => {
                let _ = reply(&mut write, "221 2.0.0 bye").await;
                return;
            }
            _ => "502 5.5.2 command not implemented".to_owned(),
        };
        if reply(&mut write, &answer).await.is_err() {
            return;
        }
    }
}

fn ehlo_reply(options: &SinkOptions) -> String {
    let mut lines = vec!["sink.test".to_owned()];
    let flags = [
        (options.pipelining, "PIPELINING"),
        (options.eight_bit_mime, "8BITMIME"),
        (options.smtputf8, "SMTPUTF8"),
        (options.dsn, "DSN"),
    ];
    lines.extend(
        flags
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| name.to_string()),
    );
    if let Some(size) = options.size {
        lines.push(format!("SIZE {size}"));
    }
    let last = lines.len() - 1;
    let formatted: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("250{}{l}", if i == last { ' ' } else { '-' }))
        .collect();
    formatted.join("\r\n")
}

/// The address between `<` and `>` of a MAIL/RCPT line.
fn path(command: &str) -> String {
    let start = command.find('<').map(|i| i + 1).unwrap_or(command.len());
    let end = command.rfind('>').unwrap_or(command.len()).max(start);
    command[start..end].to_owned()
}

fn mail(options: &SinkOptions, command: &str, tx: &mut Transaction) -> String {
    if let Some(reply) = &options.mail_reply {
        return reply.clone();
    }
    *tx = Transaction {
        mail_from: Some(command[10.min(command.len())..].to_owned()),
        ..Transaction::default()
    };
    "250 2.1.0 sender ok".to_owned()
}

fn rcpt(state: &SinkState, command: &str, tx: &mut Transaction) -> String {
    if tx.mail_from.is_none() {
        return "503 5.5.1 MAIL first".to_owned();
    }
    let address = path(command);
    let scripted = state.scripted.lock().unwrap();
    if let Some(reply) = scripted.get(&address.to_ascii_lowercase()) {
        return reply.clone();
    }
    tx.recipients.push(address);
    tx.rcpt_lines.push(command.to_owned());
    "250 2.1.5 recipient ok".to_owned()
}

/// Reads up to the `.` line, unstuffing; `None` if the connection ends first.
async fn read_data(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await.ok()? == 0 {
            return None;
        }
        if line == b".\r\n" {
            return Some(data);
        }
        let unstuffed = if line.starts_with(b".") {
            &line[1..]
        } else {
            &line[..]
        };
        data.extend_from_slice(unstuffed);
    }
}

fn finish(
    state: &SinkState,
    options: &SinkOptions,
    helo: &str,
    tx: Transaction,
    data: Vec<u8>,
) -> String {
    if let Some(limit) = options.size.filter(|l| *l > 0 && data.len() as u64 > *l) {
        return format!("552 5.3.4 message exceeds {limit} bytes");
    }
    if let Some(reply) = options.data_reply.clone().filter(|r| !r.starts_with('2')) {
        return reply;
    }
    let mut once = state.defer_once.lock().unwrap();
    if let Some(at) = once.iter().position(|(m, _)| contains(&data, m.as_bytes())) {
        return once.remove(at).1;
    }
    drop(once);
    let mail_from = tx.mail_from.unwrap_or_default();
    let message = ReceivedMessage {
        helo: helo.to_owned(),
        sender: path(&mail_from),
        mail_from,
        recipients: tx.recipients,
        rcpt_lines: tx.rcpt_lines,
        data,
    };
    state.messages.lock().unwrap().push(message);
    state.arrived.notify_waiters();
    options
        .data_reply
        .clone()
        .unwrap_or_else(|| "250 2.0.0 queued".to_owned())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn reply(write: &mut OwnedWriteHalf, text: &str) -> std::io::Result<()> {
    write.write_all(format!("{text}\r\n").as_bytes()).await
}
