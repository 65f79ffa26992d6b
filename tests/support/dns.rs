//! `TestDns`: an in-process authoritative DNS server (hickory-server) on 127.0.0.1, UDP and TCP on
//! one port, serving the MX/A/AAAA/TXT/PTR/TLSA records a test gives it; every other name is
//! NXDOMAIN. Names given to [`TestDns::servfail`] get SERVFAIL instead (a broken authoritative
//! server). The zone can be DNSSEC-signed with a test key ([`TestDns::start_signed`], see
//! `support::dnssec`), for backupmx's own validation (`[dns] dnssec = "validate"`), with forged
//! records for bogus answers ([`TestDns::start_forged`]). Names given to [`TestDns::authenticate`]
//! are answered with the AD bit set, as a DNSSEC-validating resolver answers for a signed zone:
//! the `dnssec = "resolver"` mode (the default), where backupmx trusts its resolver's AD bit.

use std::collections::HashSet;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backupmx::config::{DnsConfig, DnssecMode, TrustAnchor};
use hickory_server::Server;
use hickory_server::dnssec::NxProofKind;
use hickory_server::net::runtime::{Time, TokioRuntimeProvider};
use hickory_server::proto::op::{Metadata, ResponseCode};
use hickory_server::proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use hickory_server::proto::rr::rdata::{A, AAAA, MX, NS, PTR, SOA, TLSA, TXT};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::MessageResponseBuilder;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use tokio::net::{TcpListener, UdpSocket};

use super::dnssec::{self, ZoneKey};

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
    Ptr(String),
    /// usage, selector, matching type, data.
    Tlsa(u8, u8, u8, Vec<u8>),
}

/// `name TXT text`.
pub fn txt(name: &str, text: &str) -> TestRecord {
    TestRecord {
        name: name.to_owned(),
        data: TestData::Txt(text.to_owned()),
    }
}

/// The PTR record of `ip` (in in-addr.arpa / ip6.arpa) pointing to `target`.
pub fn ptr(ip: &str, target: &str) -> TestRecord {
    let ip = IpAddr::from_str(ip).expect("test PTR address");
    TestRecord {
        name: Name::from(ip).to_ascii(),
        data: TestData::Ptr(target.to_owned()),
    }
}

/// `name TLSA usage selector matching data`.
pub fn tlsa(name: &str, usage: u8, selector: u8, matching: u8, data: &[u8]) -> TestRecord {
    TestRecord {
        name: name.to_owned(),
        data: TestData::Tlsa(usage, selector, matching, data.to_vec()),
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
    authenticated: Arc<Mutex<HashSet<String>>>,
}

/// The catalog, except that queries for the names in `servfail` get SERVFAIL, and those for the
/// names in `authenticated` are answered from `records` with the AD bit set.
struct FailingNames {
    catalog: Catalog,
    /// The root zone alone: it answers DS questions, which belong to the parent side of a zone
    /// cut (the catalog would send them to the child zone).
    parents: Catalog,
    servfail: Arc<Mutex<HashSet<String>>>,
    authenticated: Arc<Mutex<HashSet<String>>>,
    records: Vec<Record>,
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
            let signed = request.request_info().ok().and_then(|info| {
                let name = info.query.name().to_string().to_ascii_lowercase();
                let wanted = info.query.query_type();
                self.authenticated.lock().unwrap().contains(&name).then(|| {
                    self.records
                        .iter()
                        .filter(|r| {
                            r.name.to_string().to_ascii_lowercase() == name
                                && r.record_type() == wanted
                        })
                        .collect::<Vec<&Record>>()
                })
            });
            if let Some(answers) = signed {
                let mut metadata = Metadata::response_from_request(&request.metadata);
                metadata.authentic_data = true;
                metadata.recursion_available = true;
                if answers.is_empty() {
                    metadata.response_code = ResponseCode::NXDomain;
                }
                let response = MessageResponseBuilder::new(&request.queries, None)
                    .build(metadata, answers, None, None, None);
                return response_handle
                    .send_response(response)
                    .await
                    .expect("send an authenticated answer");
            }
            if !failing {
                let is_ds = request
                    .request_info()
                    .is_ok_and(|info| info.query.query_type() == RecordType::DS);
                let catalog = if is_ds { &self.parents } else { &self.catalog };
                return catalog
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

/// The root zone holding `records` (with its SOA), and the records as served.
fn zone(
    records: &[TestRecord],
    nx_proof: Option<NxProofKind>,
) -> (InMemoryZoneHandler<TokioRuntimeProvider>, Vec<Record>) {
    let mut zone = InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
        Name::root(),
        ZoneType::Primary,
        AxfrPolicy::Deny,
        nx_proof,
    );
    zone.upsert_mut(Record::from_rdata(Name::root(), TTL, RData::SOA(soa())), 1);
    let mut served = Vec::new();
    for record in records {
        let record = to_record(record);
        // Several TXT or TLSA records at one name form one set.
        zone.upsert_mut(record.clone(), 1);
        served.push(record);
    }
    (zone, served)
}

/// The SOA record every test zone has.
fn soa() -> SOA {
    SOA::new(
        name("ns.test"),
        name("hostmaster.test"),
        1,
        3600,
        600,
        86400,
        TTL,
    )
}

fn to_record(record: &TestRecord) -> Record {
    let data = match &record.data {
        TestData::Mx(preference, exchange) => RData::MX(MX::new(*preference, name(exchange))),
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
        TestData::Ptr(target) => RData::PTR(PTR(name(target))),
        TestData::Tlsa(usage, selector, matching, data) => RData::TLSA(TLSA::new(
            CertUsage::from(*usage),
            Selector::from(*selector),
            Matching::from(*matching),
            data.clone(),
        )),
    };
    Record::from_rdata(name(&record.name), TTL, data)
}

impl TestDns {
    /// Serves `records` from a root zone on 127.0.0.1:<free port>, UDP and TCP.
    pub async fn start(records: &[TestRecord]) -> TestDns {
        let (zone, served) = zone(records, None);
        TestDns::serve(zone, Vec::new(), served).await
    }

    /// Serves `records` from a root zone signed with `key` (DNSKEY, RRSIG, NSEC): a validator
    /// that trusts `key` (its [`ZoneKey::trust_anchor`]) finds every answer secure.
    pub async fn start_signed(records: &[TestRecord], key: &ZoneKey) -> TestDns {
        TestDns::start_forged(records, key, &[]).await
    }

    /// As [`TestDns::start_signed`], then each `forged` record replaces the set of its name and
    /// type, under the signatures made for the original: those answers are bogus.
    pub async fn start_forged(
        records: &[TestRecord],
        key: &ZoneKey,
        forged: &[TestRecord],
    ) -> TestDns {
        let (mut zone, served) = zone(records, dnssec::nx_proof());
        dnssec::sign(&mut zone, key, &Name::root());
        let forged: Vec<Record> = forged.iter().map(to_record).collect();
        dnssec::forge(&mut zone, &forged);
        TestDns::serve(zone, Vec::new(), served).await
    }

    /// `signed` in the root zone signed with `key`, which delegates `child` (NS, no DS: proven
    /// absent by the root's NSEC records) to an unsigned zone holding `unsigned`: an insecure
    /// delegation, as for any unsigned domain under the signed root.
    pub async fn start_delegated(
        signed: &[TestRecord],
        key: &ZoneKey,
        child: &str,
        unsigned: &[TestRecord],
    ) -> TestDns {
        TestDns::delegated(signed, key, child, unsigned, None).await
    }

    /// As [`TestDns::start_delegated`], but the child zone is signed with `child_key` and the
    /// root publishes the DS record of `ds_key` for it: a chain of trust of two zones when the
    /// keys are the same, a broken one (bogus) when they differ.
    pub async fn start_delegated_signed(
        signed: &[TestRecord],
        key: &ZoneKey,
        child: &str,
        child_records: &[TestRecord],
        child_key: &ZoneKey,
        ds_key: &ZoneKey,
    ) -> TestDns {
        TestDns::delegated(signed, key, child, child_records, Some((child_key, ds_key))).await
    }

    async fn delegated(
        signed: &[TestRecord],
        key: &ZoneKey,
        child: &str,
        child_records: &[TestRecord],
        child_signing: Option<(&ZoneKey, &ZoneKey)>,
    ) -> TestDns {
        let origin = name(child);
        let (mut root, mut served) = zone(signed, dnssec::nx_proof());
        root.upsert_mut(
            Record::from_rdata(origin.clone(), TTL, RData::NS(NS(name("ns.test")))),
            1,
        );
        if let Some((_, ds_key)) = child_signing {
            root.upsert_mut(ds_key.ds(&origin, TTL), 1);
        }
        dnssec::sign(&mut root, key, &Name::root());
        let mut child_zone = InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
            origin.clone(),
            ZoneType::Primary,
            AxfrPolicy::Deny,
            child_signing.and(dnssec::nx_proof()),
        );
        child_zone.upsert_mut(
            Record::from_rdata(origin.clone(), TTL, RData::SOA(soa())),
            1,
        );
        child_zone.upsert_mut(
            Record::from_rdata(origin.clone(), TTL, RData::NS(NS(name("ns.test")))),
            1,
        );
        for record in child_records {
            let record = to_record(record);
            child_zone.upsert_mut(record.clone(), 1);
            served.push(record);
        }
        if let Some((child_key, _)) = child_signing {
            dnssec::sign(&mut child_zone, child_key, &origin);
        }
        TestDns::serve(root, vec![(origin, child_zone)], served).await
    }

    async fn serve(
        root: InMemoryZoneHandler<TokioRuntimeProvider>,
        children: Vec<(Name, InMemoryZoneHandler<TokioRuntimeProvider>)>,
        served: Vec<Record>,
    ) -> TestDns {
        let root = Arc::new(root) as Arc<dyn ZoneHandler>;
        let mut catalog = Catalog::new();
        catalog.upsert(Name::root().into(), vec![root.clone()]);
        for (origin, zone) in children {
            catalog.upsert(origin.into(), vec![Arc::new(zone) as Arc<dyn ZoneHandler>]);
        }
        let mut parents = Catalog::new();
        parents.upsert(Name::root().into(), vec![root]);

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
        let authenticated = Arc::new(Mutex::new(HashSet::new()));
        let mut server = Server::new(FailingNames {
            catalog,
            parents,
            servfail: servfail.clone(),
            authenticated: authenticated.clone(),
            records: served,
        });
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 4096);
        TestDns {
            addr,
            server,
            servfail,
            authenticated,
        }
    }

    /// From now on, answers for `name` carry the AD bit (DNSSEC-validated, as a validating
    /// resolver would say for a signed zone).
    pub fn authenticate(&self, name: &str) {
        let absolute = format!("{}.", name.trim_end_matches('.').to_ascii_lowercase());
        self.authenticated.lock().unwrap().insert(absolute);
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
            ..DnsConfig::default()
        }
    }

    /// A `[dns]` configuration that asks only this server and validates DNSSEC itself from the
    /// trust anchor in `anchor_file` (`dnssec = "validate"`).
    pub fn validating_config(&self, anchor_file: &Path) -> DnsConfig {
        DnsConfig {
            nameservers: vec![self.addr],
            dnssec: DnssecMode::Validate {
                trust_anchor: TrustAnchor::File(anchor_file.to_path_buf()),
            },
        }
    }
}

impl Drop for TestDns {
    fn drop(&mut self) {
        self.server.shutdown_token().cancel();
    }
}
