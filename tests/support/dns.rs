//! `TestDns`: an in-process authoritative DNS server (hickory-server) on 127.0.0.1, UDP and TCP on
//! one port, serving the MX/A/AAAA/TXT records a test gives it; every other name is NXDOMAIN. Names
//! given to [`TestDns::servfail`] get SERVFAIL instead (a broken authoritative server).

use std::collections::HashSet;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backupmx::config::DnsConfig;
use hickory_server::Server;
use hickory_server::net::runtime::{Time, TokioRuntimeProvider};
use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::rdata::{A, AAAA, MX, SOA, TXT};
use hickory_server::proto::rr::{Name, RData, Record};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::MessageResponseBuilder;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use tokio::net::{TcpListener, UdpSocket};

/// One resource record to serve.
#[derive(Debug, Clone)]
pub struct TestRecord {
    pub name: String,
    pub data: TestData,
}

#[derive(Debug, Clone)]
pub enum TestData {
    Mx(u16, String),
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    /// One TXT record (SPF, DKIM key, DMARC policy), split into 255-byte strings as needed.
    Txt(String),
}

/// `name TXT "text"`.
pub fn txt(name: &str, text: &str) -> TestRecord {
    TestRecord {
        name: name.to_owned(),
        data: TestData::Txt(text.to_owned()),
    }
}

/// `name MX preference exchange`.
pub fn mx(name: &str, preference: u16, exchange: &str) -> TestRecord {
    TestRecord {
        name: name.to_owned(),
        data: TestData::Mx(preference, exchange.to_owned()),
    }
}

/// `name A ip` or `name AAAA ip`, by the address family.
pub fn addr(name: &str, ip: &str) -> TestRecord {
    let data = match IpAddr::from_str(ip).expect("test record address") {
        IpAddr::V4(v4) => TestData::A(v4),
        IpAddr::V6(v6) => TestData::Aaaa(v6),
    };
    TestRecord {
        name: name.to_owned(),
        data,
    }
}

/// The running server; stops when dropped.
pub struct TestDns {
    addr: SocketAddr,
    server: Server<FailingNames>,
    servfail: Arc<Mutex<HashSet<String>>>,
}

/// The catalog, except that queries for the names in `servfail` get SERVFAIL.
struct FailingNames {
    catalog: Catalog,
    servfail: Arc<Mutex<HashSet<String>>>,
}

// The trait is declared with `#[async_trait]`: this is its expanded form (no extra dependency).
impl RequestHandler for FailingNames {
    fn handle_request<'life0, 'life1, 'async_trait, R, T>(
        &'life0 self,
        request: &'life1 Request,
        mut response_handle: R,
    ) -> Pin<Box<dyn Future<Output = ResponseInfo> + Send + 'async_trait>>
    where
        R: ResponseHandler + 'async_trait,
        T: Time + 'async_trait,
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            let failing = request.request_info().is_ok_and(|info| {
                let name = info.query.name().to_string().to_ascii_lowercase();
                self.servfail.lock().unwrap().contains(&name)
            });
            if !failing {
                return self
                    .catalog
                    .handle_request::<R, T>(request, response_handle)
                    .await;
            }
            let response = MessageResponseBuilder::new(&request.queries, None)
                .error_msg(&request.metadata, ResponseCode::ServFail);
            response_handle
                .send_response(response)
                .await
                .expect("send SERVFAIL")
        })
    }
}

const TTL: u32 = 60;

fn name(s: &str) -> Name {
    let absolute = if s.ends_with('.') {
        s.to_owned()
    } else {
        format!("{s}.")
    };
    Name::from_str(&absolute).expect("test record name")
}

impl TestDns {
    /// Serves `records` from a root zone on 127.0.0.1:<free port>, UDP and TCP.
    pub async fn start(records: &[TestRecord]) -> TestDns {
        let mut zone = InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
            Name::root(),
            ZoneType::Primary,
            AxfrPolicy::Deny,
        );
        let soa = SOA::new(
            name("ns.test"),
            name("hostmaster.test"),
            1,
            3600,
            600,
            86400,
            TTL,
        );
        zone.upsert_mut(Record::from_rdata(Name::root(), TTL, RData::SOA(soa)), 1);
        for record in records {
            let data = match &record.data {
                TestData::Mx(preference, exchange) => {
                    RData::MX(MX::new(*preference, name(exchange)))
                }
                TestData::A(ip) => RData::A(A(*ip)),
                TestData::Aaaa(ip) => RData::AAAA(AAAA(*ip)),
                TestData::Txt(text) => {
                    let strings = text
                        .as_bytes()
                        .chunks(255)
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect::<Vec<_>>();
                    RData::TXT(TXT::new(strings))
                }
            };
            assert!(
                zone.upsert_mut(Record::from_rdata(name(&record.name), TTL, data), 1),
                "record {record:?}"
            );
        }
        let mut catalog = Catalog::new();
        catalog.upsert(
            Name::root().into(),
            vec![Arc::new(zone) as Arc<dyn ZoneHandler>],
        );

        // UDP and TCP on the same port: a free UDP port can be taken on TCP, so try a few.
        let mut sockets = None;
        for _ in 0..50 {
            let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind DNS UDP");
            let addr = udp.local_addr().expect("DNS UDP address");
            if let Ok(tcp) = TcpListener::bind(addr).await {
                sockets = Some((udp, addr, tcp));
                break;
            }
        }
        let (udp, addr, tcp) = sockets.expect("a loopback port free on both UDP and TCP");
        let servfail = Arc::new(Mutex::new(HashSet::new()));
        let mut server = Server::new(FailingNames {
            catalog,
            servfail: servfail.clone(),
        });
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 4096);
        TestDns {
            addr,
            server,
            servfail,
        }
    }

    /// From now on, queries for `name` (any type) get SERVFAIL.
    pub fn servfail(&self, name: &str) {
        let absolute = format!("{}.", name.trim_end_matches('.').to_ascii_lowercase());
        self.servfail.lock().unwrap().insert(absolute);
    }

    /// Queries for `name` are answered from the records again.
    pub fn heal(&self, name: &str) {
        let absolute = format!("{}.", name.trim_end_matches('.').to_ascii_lowercase());
        self.servfail.lock().unwrap().remove(&absolute);
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A `[dns]` configuration that asks only this server.
    pub fn config(&self) -> DnsConfig {
        DnsConfig {
            nameservers: vec![self.addr],
        }
    }
}

impl Drop for TestDns {
    fn drop(&mut self) {
        self.server.shutdown_token().cancel();
    }
}
