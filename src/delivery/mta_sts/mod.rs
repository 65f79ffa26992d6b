//! MTA-STS (RFC 8461) for delivery and the readiness check: the pure policy and record parser
//! (`policy.rs`), the HTTPS fetch (`fetch.rs`) and the cache that decides which policy applies
//! (`cache.rs`).

pub mod cache;
pub mod fetch;
pub mod policy;

pub use cache::{Discovery, MtaSts};
pub use fetch::{FetchError, PolicyFetcher};
pub use policy::{Mode, Policy, PolicyError};
