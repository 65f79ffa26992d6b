//! `TlsFront`: STARTTLS in front of an [`super::SmtpSink`] (which speaks clear text only). It adds
//! STARTTLS to the sink's EHLO reply and, on STARTTLS, either terminates TLS with a given
//! certificate and relays the decrypted session to the sink, or breaks the handshake. `TestCa`: an
//! rcgen certificate authority issuing server certificates for chosen names.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A test certificate authority.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

impl TestCa {
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "backupmx test CA");
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        TestCa { issuer }
    }

    /// The CA certificate as PEM, for `[delivery] tls_ca_file`.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// The SHA-256 of the CA's SubjectPublicKeyInfo, as Chromium's `--ignore-certificate-errors-spki-list`
    /// takes it (base64): Chromium then accepts chains that contain this CA.
    pub fn spki_sha256_base64(&self) -> String {
        let der = self.issuer.der();
        let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
        let spki = cert.tbs_certificate.subject_pki.raw;
        let digest = ring::digest::digest(&ring::digest::SHA256, spki);
        crate::support::ui::webdriver::base64_encode(digest.as_ref())
    }

    /// Writes the CA certificate to `dir/ca.pem` and returns its path.
    pub fn write_pem(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, self.pem()).unwrap();
        path
    }

    /// A server configuration with a certificate for `names` (DNS names or IP addresses) issued by
    /// this CA.
    pub fn acceptor(&self, names: &[&str]) -> TlsAcceptor {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        acceptor(cert.der().clone(), &key)
    }
}

/// A certificate and its key, as PEM and DER.
#[derive(Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl Issued {
    /// A server configuration presenting this certificate.
    pub fn acceptor(&self) -> TlsAcceptor {
        let key = KeyPair::try_from(self.key_der.as_slice()).unwrap();
        acceptor(self.der.clone(), &key)
    }

    /// The pair as the files the real binary reads.
    pub fn certificate(&self) -> crate::support::config::Certificate {
        crate::support::config::Certificate {
            cert_pem: self.cert_pem.clone(),
            key_pem: self.key_pem.clone(),
        }
    }
}

impl TestCa {
    /// A certificate for `names` issued by this CA, valid from `not_before` to `not_after`
    /// (seconds from now, negative in the past).
    pub fn issue_valid(&self, names: &[&str], not_before: i64, not_after: i64) -> Issued {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        params.not_before = date(now + not_before);
        params.not_after = date(now + not_after);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }

    /// A certificate for `names` valid from yesterday for a year.
    pub fn issue(&self, names: &[&str]) -> Issued {
        self.issue_valid(names, -86_400, 365 * 86_400)
    }
}

/// A self-signed certificate for `names` (no CA vouches for it).
pub fn self_signed(names: &[&str]) -> Issued {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let certified = rcgen::generate_simple_self_signed(names).unwrap();
    Issued {
        cert_pem: certified.cert.pem(),
        key_pem: certified.signing_key.serialize_pem(),
        der: certified.cert.der().clone(),
        key_der: certified.signing_key.serialize_der(),
    }
}

/// `seconds` since the epoch as rcgen takes it.
fn date(seconds: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(seconds).unwrap()
}

/// A server configuration with a self-signed certificate for `names` (no CA vouches for it).
pub fn self_signed_acceptor(names: &[&str]) -> TlsAcceptor {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let certified = rcgen::generate_simple_self_signed(names).unwrap();
    acceptor(certified.cert.der().clone(), &certified.signing_key)
}

fn acceptor(cert: CertificateDer<'static>, key: &KeyPair) -> TlsAcceptor {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

/// What the front does after its `220` to STARTTLS.
#[derive(Clone)]
pub enum FrontTls {
    /// A real handshake with this certificate; the session then continues with the sink.
    Terminate(TlsAcceptor),
    /// Sends a line of text where the TLS ServerHello should be, and closes.
    Garbage,
    /// Closes the connection.
    Close,
}

#[derive(Default)]
struct Counters {
    connections: AtomicUsize,
    starttls: AtomicUsize,
    /// Handshakes that completed.
    tls_sessions: AtomicUsize,
}

/// The running front; stops when dropped.
pub struct TlsFront {
    addr: SocketAddr,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsFront {
    /// Listens on 127.0.0.1:<free port>; each session is relayed to a new session with `upstream`.
    pub async fn start(upstream: SocketAddr, mode: FrontTls) -> TlsFront {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counters = Arc::new(Counters::default());
        let shared = counters.clone();
        let task = tokio::spawn(async move {
            let mut sessions = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let (counters, mode) = (shared.clone(), mode.clone());
                sessions.spawn(async move {
                    let _ = front_session(stream, upstream, mode, &counters).await;
                });
            }
        });
        TlsFront {
            addr,
            counters,
            task,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn connections(&self) -> usize {
        self.counters.connections.load(Ordering::SeqCst)
    }
    pub fn starttls(&self) -> usize {
        self.counters.starttls.load(Ordering::SeqCst)
    }
    pub fn tls_sessions(&self) -> usize {
        self.counters.tls_sessions.load(Ordering::SeqCst)
    }
}

async fn read_line<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> std::io::Result<String> {
    let mut line = String::new();
    let n = tokio::time::timeout(READ_TIMEOUT, reader.read_line(&mut line))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    if n == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(line)
}

/// Every line of one (multi-line) reply, without the `NNN-` prefixes.
async fn read_reply<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> std::io::Result<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let line = read_line(reader).await?;
        let line = line.trim_end();
        lines.push(line.get(4..).unwrap_or("").to_owned());
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(lines);
        }
    }
}

fn with_starttls(mut ehlo: Vec<String>) -> String {
    ehlo.push("STARTTLS".into());
    let last = ehlo.len() - 1;
    ehlo.iter()
        .enumerate()
        .map(|(i, text)| format!("250{}{text}\r\n", if i == last { ' ' } else { '-' }))
        .collect()
}

async fn front_session(
    client: TcpStream,
    upstream: SocketAddr,
    mode: FrontTls,
    counters: &Counters,
) -> std::io::Result<()> {
    let mut client = BufReader::new(client);
    let mut sink = BufReader::new(TcpStream::connect(upstream).await?);
    let greeting = read_line(&mut sink).await?;
    client.get_mut().write_all(greeting.as_bytes()).await?;
    let ehlo = read_line(&mut client).await?;
    sink.get_mut().write_all(ehlo.as_bytes()).await?;
    let reply = with_starttls(read_reply(&mut sink).await?);
    client.get_mut().write_all(reply.as_bytes()).await?;
    let next = read_line(&mut client).await?;
    if !next.trim_end().eq_ignore_ascii_case("STARTTLS") {
        // No TLS: the sink talks to the client directly (pipelined leftovers first).
        sink.get_mut().write_all(next.as_bytes()).await?;
        sink.get_mut().write_all(client.buffer()).await?;
        client.get_mut().write_all(sink.buffer()).await?;
        let (mut client, mut sink) = (client.into_inner(), sink.into_inner());
        tokio::io::copy_bidirectional(&mut client, &mut sink).await?;
        return Ok(());
    }
    counters.starttls.fetch_add(1, Ordering::SeqCst);
    client
        .get_mut()
        .write_all(b"220 2.0.0 go ahead\r\n")
        .await?;
    let acceptor = match mode {
        FrontTls::Terminate(acceptor) => acceptor,
        FrontTls::Garbage => {
            client.get_mut().write_all(b"this is not TLS\r\n").await?;
            return client.get_mut().shutdown().await;
        }
        FrontTls::Close => return client.get_mut().shutdown().await,
    };
    let mut tls = acceptor.accept(client.into_inner()).await?;
    counters.tls_sessions.fetch_add(1, Ordering::SeqCst);
    // The client says EHLO again over TLS; the sink answers it without STARTTLS, as it should.
    let mut sink = sink.into_inner();
    tokio::io::copy_bidirectional(&mut tls, &mut sink).await?;
    Ok(())
}
