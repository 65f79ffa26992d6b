//! Cluster nodes for the tests of issue 13: the real binary, several times, on one throwaway
//! PostgreSQL database, each node with its own name, ports and temporary directory, backing up the
//! same domains routed to the same primary.

use std::net::SocketAddr;

use crate::support::config::{Domain, Settings};
use crate::support::e2e::client::Client;
use crate::support::server::Server;

/// The lease the cluster tests run with: short, so a takeover is quick to wait for.
pub const LEASE_SECS: u64 = 3;

/// A node's settings: `domains` relayed to `primary`, the shared queue at `url`.
pub fn node_settings(name: &str, url: &str, primary: SocketAddr, domains: &[&str]) -> Settings {
    let mut settings = Settings::new(Some(primary));
    // Each node greets the primary with its own name, so a test sees who delivered what.
    settings.hostname = format!("{name}.example.test");
    settings.domains = domains
        .iter()
        .map(|d| Domain {
            name: d.to_string(),
            primary: Some(primary.to_string()),
            extra: Vec::new(),
        })
        .collect();
    settings.spool_extra = vec![
        "backend = \"postgres\"".into(),
        format!("postgres_url = {url:?}"),
    ];
    settings.extra_toml = format!("\n[cluster]\nnode = {name:?}\nlease = \"{LEASE_SECS}s\"\n");
    settings
}

/// Starts `n` nodes named `n1`, `n2`, ... with the API token `token`.
pub async fn start_nodes(
    n: usize,
    url: &str,
    primary: SocketAddr,
    domains: &[&str],
    token: &str,
) -> Vec<Server> {
    let mut nodes = Vec::new();
    for i in 1..=n {
        let settings = node_settings(&format!("n{i}"), url, primary, domains);
        nodes.push(Server::with_api_token(settings, token).await);
    }
    nodes
}

/// The reply code `node` gives to `RCPT TO:<address>` (after a MAIL FROM it accepts).
pub async fn rcpt_code(node: &Server, address: &str) -> u16 {
    let mut client = Client::connect(node.smtp_addr()).await;
    assert_eq!(client.cmd("MAIL FROM:<s@sender.test>").await.code, 250);
    let code = client.cmd(&format!("RCPT TO:<{address}>")).await.code;
    client.quit().await;
    code
}
