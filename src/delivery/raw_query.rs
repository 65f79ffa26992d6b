//! One DNS question asked straight to the configured nameservers, bypassing the resolver's cache,
//! /etc/hosts and its built-in answers (hickory answers every 127.0.0.0/8 PTR with `localhost`
//! itself). Used where the answer must be what the rest of the world gets, and where the AD bit
//! matters: TLSA records (DANE) and PTR records (the readiness `fcrdns` check).

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::dns::{DnsError, DnsResolver, fqdn};

/// Per-server time for one question.
const QUERY_TIMEOUT: Duration = Duration::from_secs(3);
/// The EDNS payload size offered (the DNS flag day 2020 value).
const EDNS_PAYLOAD: u16 = 1232;

/// An answer: its records' data, and whether the resolver vouched for them (AD bit).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawAnswer {
    pub records: Vec<RData>,
    pub authenticated: bool,
    /// NXDOMAIN rather than an empty NOERROR.
    pub nx_domain: bool,
}

/// Asks `name`/`record_type` at the resolver's nameservers, in order, with the DO and AD bits
/// set (RFC 6840 §5.7); the first server that answers decides.
pub async fn ask(
    resolver: &DnsResolver,
    name: &str,
    record_type: RecordType,
) -> Result<RawAnswer, DnsError> {
    let mut last = DnsError::Temporary {
        name: name.to_owned(),
        reason: "no nameserver to ask".into(),
    };
    for server in resolver.servers() {
        match ask_one(*server, name, record_type).await {
            Ok(answer) => return Ok(answer),
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn ask_one(
    server: SocketAddr,
    name: &str,
    record_type: RecordType,
) -> Result<RawAnswer, DnsError> {
    let temporary = |reason: String| DnsError::Temporary {
        name: name.to_owned(),
        reason: format!("{server}: {reason}"),
    };
    let mut request = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    request.metadata.recursion_desired = true;
    request.metadata.authentic_data = true;
    let mut edns = Edns::new();
    edns.set_max_payload(EDNS_PAYLOAD).set_dnssec_ok(true);
    request.set_edns(edns);
    request.add_query(Query::query(fqdn(name)?, record_type));
    let bytes = request.to_vec().map_err(|e| temporary(e.to_string()))?;
    let exchange = async {
        let mut response = udp_exchange(server, &bytes).await?;
        if response.metadata.truncation {
            response = tcp_exchange(server, &bytes).await?;
        }
        Ok::<Message, String>(response)
    };
    let response = tokio::time::timeout(QUERY_TIMEOUT, exchange)
        .await
        .map_err(|_| temporary("timeout".into()))?
        .map_err(temporary)?;
    if response.metadata.id != request.metadata.id {
        return Err(temporary("answer with another id".into()));
    }
    let nx_domain = match response.metadata.response_code {
        ResponseCode::NoError => false,
        ResponseCode::NXDomain => true,
        other => return Err(temporary(format!("response code {other}"))),
    };
    Ok(RawAnswer {
        records: response
            .answers
            .iter()
            .filter(|r| r.record_type() == record_type)
            .map(|r| r.data.clone())
            .collect(),
        authenticated: response.metadata.authentic_data,
        nx_domain,
    })
}

async fn udp_exchange(server: SocketAddr, request: &[u8]) -> Result<Message, String> {
    let local = if server.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let socket = UdpSocket::bind(local).await.map_err(|e| e.to_string())?;
    socket.connect(server).await.map_err(|e| e.to_string())?;
    socket.send(request).await.map_err(|e| e.to_string())?;
    let mut buffer = vec![0u8; 65535];
    let n = socket.recv(&mut buffer).await.map_err(|e| e.to_string())?;
    Message::from_vec(&buffer[..n]).map_err(|e| e.to_string())
}

async fn tcp_exchange(server: SocketAddr, request: &[u8]) -> Result<Message, String> {
    let mut stream = TcpStream::connect(server)
        .await
        .map_err(|e| e.to_string())?;
    let length = u16::try_from(request.len()).map_err(|e| e.to_string())?;
    let mut framed = length.to_be_bytes().to_vec();
    framed.extend_from_slice(request);
    stream.write_all(&framed).await.map_err(|e| e.to_string())?;
    let length = stream.read_u16().await.map_err(|e| e.to_string())?;
    let mut buffer = vec![0u8; usize::from(length)];
    stream
        .read_exact(&mut buffer)
        .await
        .map_err(|e| e.to_string())?;
    Message::from_vec(&buffer).map_err(|e| e.to_string())
}
