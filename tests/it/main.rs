//! The integration tests that need nothing but loopback: one test binary, one module per subject,
//! sharing `tests/support` (the real-binary harness, the config builder, DNS, SMTP sinks, clients).
//! Tests that need root, Chromium or Postfix's tools, or load the whole machine, are in
//! `tests/system`. How to add a test file: ARCHITECTURE.md, "Tests".

// Both test binaries share the support tree; each uses a different part of it.
#[allow(dead_code)]
#[path = "../support/mod.rs"]
mod support;

mod admin_api;
mod admin_attack;
mod admin_attack_limits;
mod admin_cli;
mod admin_credentials;
mod admin_recipients;
mod admin_ui_http;
mod admin_ui_recipients;
mod alerts;
mod architecture;
mod cli_check_config;
mod cli_config_lookup;
mod config_reload;
mod dane_dnssec;
mod delivery_client;
mod delivery_client_reset;
mod delivery_dns;
mod delivery_dns_failures;
mod delivery_timeouts;
mod delivery_tls;
mod delivery_tls_policy;
mod domain_quota;
mod e2e_bounce;
mod e2e_delivery;
mod e2e_dns_failures;
mod e2e_mta_sts;
mod e2e_nagle_primary;
mod e2e_pipelined_drain;
mod e2e_postmaster;
mod e2e_primary_faults;
mod e2e_receive;
mod e2e_recipients;
mod e2e_recovery;
mod e2e_routing;
mod e2e_smuggling_out;
mod e2e_spool_damage;
mod e2e_tls_policy;
mod fuzz_corpus;
mod inbound_abuse;
mod inbound_chunking;
mod inbound_data;
mod inbound_limit_metrics;
mod inbound_limits;
mod inbound_sighup;
mod inbound_smtp;
mod inbound_tls;
mod inbound_tls_hardening;
mod newcomer_check_dns;
mod newcomer_startup_errors;
mod provisioning;
mod readiness;
mod sender_checks;
