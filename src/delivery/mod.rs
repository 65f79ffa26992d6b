//! Delivery: MX look-up, choice of the hosts more preferred than us, and the SMTP client that hands
//! messages to the primary with per-recipient results.

pub mod client;
pub mod dns;
pub mod route;
