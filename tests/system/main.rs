//! The integration tests that need more than loopback: root (a tmpfs mount), headless Chromium
//! through chromedriver, Postfix's `smtp-sink`, Debian's PostgreSQL server (a throwaway instance per
//! test, `support::postgres`), or the whole machine (the SIGKILL crash loop under
//! load, 1,000 idle connections). They fail loudly when what they need is missing. The crash loop
//! runs alone (`support::exclusive`); the others beside each other as usual.

// Both test binaries share the support tree; each uses a different part of it.
#[allow(dead_code)]
#[path = "../support/mod.rs"]
mod support;

mod acme_pebble;
mod admin_https;
mod admin_ui_browser;
mod admin_ui_recipients;
mod alerts_cluster;
mod cluster_db;
mod cluster_domains;
mod cluster_faults;
mod cluster_health;
mod cluster_leases;
mod cluster_moving_in;
mod cluster_nodes;
mod cluster_recipients;
mod cluster_store;
mod e2e_crash_loop;
mod e2e_full_disk;
mod e2e_postfix_sink;
mod inbound_slow;
mod package_deb;
