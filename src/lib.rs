//! backupmx: a backup MX server. This library holds every module; `main.rs` is the thin CLI edge.
//! See ARCHITECTURE.md for the map and the invariants.

pub mod acme;
pub mod admin;
pub mod alerts;
pub mod bounce;
pub mod checks;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod daemon;
pub mod delivery;
pub mod durable;
pub mod envelope;
pub mod inbound;
pub mod journal;
pub mod live;
pub mod policy;
pub mod provision;
pub mod queue;
pub mod readiness;
pub mod recipients;
pub mod spool;
