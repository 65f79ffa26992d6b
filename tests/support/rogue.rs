//! `RoguePrimary`: a primary that misbehaves on cue. Each new connection takes the next scripted
//! [`Fault`]; it then plays a minimal SMTP server that answers normally up to the fault's stage and
//! misbehaves there (421, garbage, stall, drop). It never answers 250 to a message, so nothing is
//! lost inside it. When the script is empty, connections are relayed untouched to `upstream` (an
//! [`super::SmtpSink`]), which records what is finally delivered.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How long a stalled or garbage-sending session waits for the client to give up.
const HOLD: Duration = Duration::from_secs(60);

/// Where in the session the fault happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Instead of the 220 greeting.
    Greeting,
    /// In reply to EHLO/HELO.
    Ehlo,
    /// In reply to MAIL FROM.
    Mail,
    /// In reply to the first RCPT TO.
    Rcpt,
    /// In reply to DATA (instead of 354).
    Data,
    /// After 354, once the first bytes of the message arrived.
    InData,
    /// In reply to the final dot (the whole message was sent).
    EndOfData,
}

/// What the fault is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// `421 4.3.2` and close.
    Reply421,
    /// A line that is not an SMTP reply, then wait for the client to close.
    Garbage,
    /// Say nothing; wait for the client to time out and close.
    Stall,
    /// Close the connection at once.
    Drop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub stage: Stage,
    pub act: Act,
}

pub fn fault(stage: Stage, act: Act) -> Fault {
    Fault { stage, act }
}

#[derive(Default)]
struct Script {
    faults: Mutex<VecDeque<Fault>>,
    connections: AtomicUsize,
    faults_played: AtomicUsize,
}

/// The running rogue; stops when dropped.
pub struct RoguePrimary {
    addr: SocketAddr,
    script: Arc<Script>,
    task: JoinHandle<()>,
}

impl Drop for RoguePrimary {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RoguePrimary {
    /// Listens on 127.0.0.1:<free port>; sessions without a fault go to `upstream`.
    pub async fn start(upstream: SocketAddr, faults: &[Fault]) -> RoguePrimary {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Script {
            faults: Mutex::new(faults.iter().copied().collect()),
            ..Script::default()
        });
        let shared = script.clone();
        let task = tokio::spawn(async move {
            let mut sessions = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let next = shared.faults.lock().unwrap().pop_front();
                if next.is_some() {
                    shared.faults_played.fetch_add(1, Ordering::SeqCst);
                }
                sessions.spawn(async move {
                    let _ = match next {
                        Some(fault) => rogue_session(stream, fault).await,
                        None => relay(stream, upstream).await,
                    };
                });
            }
        });
        RoguePrimary { addr, script, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn connections(&self) -> usize {
        self.script.connections.load(Ordering::SeqCst)
    }

    /// Faults not yet played.
    pub fn faults_left(&self) -> usize {
        self.script.faults.lock().unwrap().len()
    }

    /// Adds faults for the next connections.
    pub fn push(&self, faults: &[Fault]) {
        self.script
            .faults
            .lock()
            .unwrap()
            .extend(faults.iter().copied());
    }
}

async fn relay(mut client: TcpStream, upstream: SocketAddr) -> std::io::Result<()> {
    let mut sink = TcpStream::connect(upstream).await?;
    tokio::io::copy_bidirectional(&mut client, &mut sink).await?;
    Ok(())
}

async fn rogue_session(stream: TcpStream, fault: Fault) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    if fault.stage == Stage::Greeting {
        return misbehave(fault.act, &mut reader, &mut write).await;
    }
    write.write_all(b"220 rogue.test ESMTP\r\n").await?;
    let mut line = String::new();
    loop {
        line.clear();
        let n = tokio::time::timeout(HOLD, reader.read_line(&mut line))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        if n == 0 {
            return Ok(());
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let (stage, answer) = match verb.as_str() {
            "EHLO" | "HELO" => (Stage::Ehlo, "250 rogue.test"),
            "MAIL" => (Stage::Mail, "250 2.1.0 ok"),
            "RCPT" => (Stage::Rcpt, "250 2.1.5 ok"),
            "DATA" => (Stage::Data, "354 go ahead"),
            "QUIT" => return write.write_all(b"221 2.0.0 bye\r\n").await,
            "RSET" | "NOOP" => {
                write.write_all(b"250 2.0.0 ok\r\n").await?;
                continue;
            }
            _ => {
                write.write_all(b"502 5.5.2 unknown\r\n").await?;
                continue;
            }
        };
        if stage == fault.stage {
            return misbehave(fault.act, &mut reader, &mut write).await;
        }
        write.write_all(format!("{answer}\r\n").as_bytes()).await?;
        if stage == Stage::Data {
            return during_data(fault, &mut reader, &mut write).await;
        }
    }
}

/// After 354: the fault is in the data or at its end (an earlier one would have fired already).
async fn during_data(
    fault: Fault,
    reader: &mut BufReader<OwnedReadHalf>,
    write: &mut OwnedWriteHalf,
) -> std::io::Result<()> {
    if fault.stage == Stage::InData {
        let mut first = [0u8; 16];
        let _ = reader.read(&mut first).await?;
        return misbehave(fault.act, reader, write).await;
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        if line == b".\r\n" {
            return misbehave(fault.act, reader, write).await;
        }
    }
}

async fn misbehave(
    act: Act,
    reader: &mut BufReader<OwnedReadHalf>,
    write: &mut OwnedWriteHalf,
) -> std::io::Result<()> {
    match act {
        Act::Drop => return Ok(()),
        Act::Reply421 => {
            write
                .write_all(b"421 4.3.2 rogue.test closing the session\r\n")
                .await?;
            return write.shutdown().await;
        }
        Act::Garbage => {
            write
                .write_all(b"*** hello, this is not SMTP ***\r\n")
                .await?;
        }
        Act::Stall => {}
    }
    // Wait for the client to give up (EOF), discarding whatever it sends.
    let mut discard = [0u8; 4096];
    let _ = tokio::time::timeout(HOLD, async {
        while reader.read(&mut discard).await.unwrap_or(0) > 0 {}
    })
    .await;
    Ok(())
}
