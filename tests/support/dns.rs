//! `TestDns`: an in-process authoritative DNS server (hickory-server) on 127.0.0.1, UDP and TCP on
//! one port, serving the MX/A/AAAA records a test gives it; every other name is NXDOMAIN.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use backupmx::config::DnsConfig;
use hickory_server::Server;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::proto::rr::rdata::{A, AAAA, MX, SOA};
use hickory_server::proto::rr::{Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
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
    server: Server<Catalog>,
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
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 4096);
        TestDns { addr, server }
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
