//! The one place that writes a test configuration: [`Settings`] holds what tests vary and renders the
//! whole TOML file. The real binary reads that file ([`crate::support::server::Server`]); in-process
//! tests get the same text through the real loader ([`Settings::config`]), so a test config is never
//! written out field by field and a new config key needs no change here unless a test sets it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;

use backupmx::config::Config;

use crate::support::inbound::API_TOKEN;

/// A free loopback port: bound on 127.0.0.1:0, read, released.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// One `[[domain]]`: `primary` is a static route (`"127.0.0.1:PORT"`), `None` for an MX look-up.
#[derive(Debug, Clone)]
pub struct Domain {
    pub name: String,
    pub primary: Option<String>,
    /// Further `key = value` lines of this `[[domain]]` (e.g. `tls = "require"`).
    pub extra: Vec<String>,
}

impl Domain {
    /// A domain routed by its MX records.
    pub fn by_mx(name: &str) -> Domain {
        Domain {
            name: name.into(),
            primary: None,
            extra: Vec::new(),
        }
    }
}

/// A certificate and key (PEM) for STARTTLS and the implicit-TLS listener; the server harness writes
/// them next to the config as `cert.pem` and `key.pem`.
#[derive(Debug, Clone)]
pub struct Certificate {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The settings a test varies; [`Settings::toml`] renders the whole file.
#[derive(Debug, Clone)]
pub struct Settings {
    pub hostname: String,
    pub smtp_port: u16,
    /// `[smtp] command_timeout`.
    pub smtp_command_timeout: String,
    /// Further `key = value` lines of `[smtp]` (e.g. `max_recipients = 3`).
    pub smtp_extra: Vec<String>,
    /// With a certificate: STARTTLS, and an implicit-TLS listener on `tls_listen_port`.
    pub certificate: Option<Certificate>,
    pub tls_listen_port: u16,
    pub admin_ip: IpAddr,
    pub admin_port: u16,
    /// Further `key = value` lines of `[admin]` (e.g. `api_token = "..."`).
    pub admin_extra: String,
    pub nameservers: Vec<SocketAddr>,
    /// Further `key = value` lines of `[dns]` (e.g. `dnssec = "validate"`).
    pub dns_extra: Vec<String>,
    pub delivery_port: u16,
    /// `[delivery] connect_timeout`.
    pub delivery_connect_timeout: String,
    pub retry: Vec<String>,
    pub max_lifetime: String,
    pub probe_interval: String,
    /// Further `key = value` lines of `[queue]` (e.g. `delay_warning = "0s"`).
    pub queue_extra: Vec<String>,
    pub etrn_allow: Vec<String>,
    pub domains: Vec<Domain>,
    /// `[delivery] command_timeout`.
    pub delivery_command_timeout: String,
    /// Further `key = value` lines of `[delivery]` (e.g. `tls_ca_file = "..."`).
    pub delivery_extra: Vec<String>,
    /// Further `key = value` lines of `[spool]` (e.g. `backend = "postgres"`).
    pub spool_extra: Vec<String>,
    /// Appended verbatim to the file; keys before any table header belong to the last `[[domain]]`.
    pub extra_toml: String,
}

impl Settings {
    /// The real binary with quick retries for `example.test` (routed by `primary`, or by MX when
    /// `None`).
    pub fn new(primary: Option<SocketAddr>) -> Settings {
        Settings {
            hostname: "mx2.example.test".into(),
            smtp_port: free_port(),
            smtp_command_timeout: "10s".into(),
            smtp_extra: Vec::new(),
            certificate: None,
            tls_listen_port: free_port(),
            admin_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            admin_port: free_port(),
            admin_extra: String::new(),
            nameservers: Vec::new(),
            dns_extra: Vec::new(),
            delivery_port: 25,
            delivery_connect_timeout: "2s".into(),
            retry: vec!["1s".into()],
            max_lifetime: "1d".into(),
            probe_interval: "200ms".into(),
            queue_extra: Vec::new(),
            etrn_allow: Vec::new(),
            domains: vec![Domain {
                name: "example.test".into(),
                primary: primary.map(|a| a.to_string()),
                extra: Vec::new(),
            }],
            delivery_command_timeout: "10s".into(),
            delivery_extra: Vec::new(),
            spool_extra: Vec::new(),
            extra_toml: String::new(),
        }
    }

    /// The real binary for the inbound tests that need a process (signals, /metrics): `mx2.example.net`
    /// backing up `example.test` with a primary nobody answers for, the admin API behind [`API_TOKEN`],
    /// TLS when given a certificate, `extra` appended.
    pub fn inbound_process(certificate: Option<Certificate>, extra: &str) -> Settings {
        let mut settings = Settings::new(Some(SocketAddr::from(([127, 0, 0, 1], 9))));
        settings.hostname = "mx2.example.net".into();
        settings.smtp_command_timeout = "5m".into();
        settings.certificate = certificate;
        settings.admin_extra = format!("api_token = {API_TOKEN:?}\n");
        settings.extra_toml = extra.into();
        settings
    }

    /// The in-process inbound server's settings (`mx2.example.net`, small limits, ETRN from
    /// 127.0.0.1, slow retries: nothing is delivered in those tests).
    pub fn inbound() -> Settings {
        let mut settings = Settings::new(None);
        settings.hostname = "mx2.example.net".into();
        settings.smtp_command_timeout = "30s".into();
        settings.smtp_extra = lines(&[
            "max_message_size = 100000",
            "max_recipients = 3",
            "max_connections = 20",
            "data_timeout = \"30s\"",
            "session_timeout = \"600s\"",
        ]);
        settings.etrn_allow = vec!["127.0.0.1/32".into()];
        settings.admin_port = 0;
        settings.delivery_connect_timeout = "5s".into();
        settings.delivery_command_timeout = "5s".into();
        settings.delivery_extra = lines(&["data_timeout = \"5s\""]);
        settings.retry = vec!["60s".into()];
        settings.max_lifetime = "5d".into();
        settings.probe_interval = "60s".into();
        settings.queue_extra = lines(&["delay_warning = \"0s\""]);
        settings
    }

    /// The deliverer's settings: `hostname`, listening on `listen` (127.0.0.1), asking `nameservers`
    /// (empty: the system resolver), delivering to port `delivery_port`, backing up `domains` by MX.
    /// Short timeouts.
    pub fn delivery(
        hostname: &str,
        listen: SocketAddr,
        nameservers: &[SocketAddr],
        delivery_port: u16,
        domains: &[&str],
    ) -> Settings {
        assert_eq!(
            listen.ip(),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            "listen on 127.0.0.1"
        );
        let mut settings = Settings::new(None);
        settings.hostname = hostname.into();
        settings.smtp_port = listen.port();
        settings.smtp_command_timeout = "5s".into();
        settings.smtp_extra = lines(&[
            "max_message_size = 10485760",
            "max_recipients = 100",
            "max_connections = 50",
            "data_timeout = \"30s\"",
            "session_timeout = \"600s\"",
        ]);
        settings.admin_port = 0;
        settings.nameservers = nameservers.to_vec();
        settings.delivery_port = delivery_port;
        settings.delivery_command_timeout = "5s".into();
        settings.delivery_extra = lines(&["data_timeout = \"5s\""]);
        settings.max_lifetime = "5d".into();
        settings.queue_extra = lines(&["delay_warning = \"0s\""]);
        settings.domains = domains.iter().map(|name| Domain::by_mx(name)).collect();
        settings
    }

    pub fn smtp_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.smtp_port))
    }

    pub fn admin_addr(&self) -> SocketAddr {
        SocketAddr::new(self.admin_ip, self.admin_port)
    }

    pub fn implicit_tls_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.tls_listen_port))
    }

    /// The config an in-process test uses: the same text as the binary's, read by the real loader.
    pub fn config(&self, spool: &Path) -> Config {
        let text = self.toml(spool, spool);
        Config::from_toml_str(&text, "test.toml")
            .unwrap_or_else(|e| panic!("the test config is invalid: {e}\n{text}"))
    }

    /// The whole file, with the spool in `spool` and the certificate files (if any) in `files`.
    pub fn toml(&self, spool: &Path, files: &Path) -> String {
        let nameservers: Vec<String> = self.nameservers.iter().map(|a| a.to_string()).collect();
        let mut out = format!(
            "hostname = {:?}\n\n[smtp]\nlisten = [\"127.0.0.1:{}\"]\ncommand_timeout = {:?}\n\
             etrn_allow = {}\n{}",
            self.hostname,
            self.smtp_port,
            self.smtp_command_timeout,
            list(&self.etrn_allow),
            joined(&self.smtp_extra),
        );
        if self.certificate.is_some() {
            out.push_str(&format!(
                "tls_cert = {:?}\ntls_key = {:?}\ntls_listen = [\"{}\"]\n",
                files.join("cert.pem"),
                files.join("key.pem"),
                self.implicit_tls_addr(),
            ));
        }
        out.push_str(&format!(
            "\n[spool]\ndir = {:?}\n{}\n[dns]\nnameservers = {}\n{}\n\
             [delivery]\nport = {}\nconnect_timeout = {:?}\ncommand_timeout = {:?}\n{}\n\
             [queue]\nretry = {}\nmax_lifetime = {:?}\nprobe_interval = {:?}\n{}\n\
             [admin]\nlisten = \"{}\"\n{}",
            spool.display().to_string(),
            joined(&self.spool_extra),
            list(&nameservers),
            joined(&self.dns_extra),
            self.delivery_port,
            self.delivery_connect_timeout,
            self.delivery_command_timeout,
            joined(&self.delivery_extra),
            list(&self.retry),
            self.max_lifetime,
            self.probe_interval,
            joined(&self.queue_extra),
            self.admin_addr(),
            self.admin_extra,
        ));
        for domain in &self.domains {
            out.push_str(&format!("\n[[domain]]\nname = {:?}\n", domain.name));
            if let Some(primary) = &domain.primary {
                out.push_str(&format!("primary = {primary:?}\n"));
            }
            out.push_str(&joined(&domain.extra));
        }
        out.push_str(&self.extra_toml);
        out
    }
}

/// A TOML array of strings.
fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

/// Lines, each ended by a newline.
fn joined(items: &[String]) -> String {
    items.iter().map(|l| format!("{l}\n")).collect()
}

fn lines(items: &[&str]) -> Vec<String> {
    items.iter().map(|l| l.to_string()).collect()
}
