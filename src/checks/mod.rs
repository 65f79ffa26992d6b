//! Sender checks (issue 15): what a primary would check, so the backup MX is no easier a way in.
//!
//! - `dnsbl.rs` (pure): DNSBL/DNSWL query names (IPv4, IPv6 nibbles), postscreen-style scoring, the
//!   per-client verdict cache (TTL-bound, size-bound).
//! - `verdict.rs` (pure): the mode a message follows (strictest among its accepted recipients'
//!   domains) and the `enforce` refusals (550 5.7.23, 550 5.7.1, 451 4.7.x).
//! - `capture.rs` (pure): removes Authentication-Results fields carrying our authserv-id while the
//!   message streams to the spool, and keeps a bounded copy for DKIM/DMARC/ARC.
//! - `arc.rs`: the ARC sealing key and the seal.
//! - `service.rs`: the shell the SMTP driver calls: the DNSBL screen at connect, and the end-of-data
//!   judgement (SPF, DKIM, DMARC, iprev via `mail-auth`, Authentication-Results, ARC set).

mod arc;
pub mod capture;
pub mod dnsbl;
mod service;
pub mod verdict;

pub use capture::Capture;
pub use service::{CheckSetupError, Judgement, RefusedCount, SenderChecker};
