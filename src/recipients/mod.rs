//! Recipient validation without backscatter (issue 7): per-domain policies (`accept_all`, `list`,
//! `verify`, monitoring mode), the verify cache and its persistence, list files, SMTP callouts to the
//! primary, and learning from delivery results.
//!
//! Pure cores: `address` (normalisation), `list` (a list file's look-up; its syntax is
//! `config::recipient_list`), `verdict` (the decision table; the policy types are `config`'s),
//! `cache` (entries, expiry, bound, text form). Shells: `store` (the cache file, replaced through
//! `durable`), `callout` (the SMTP callout client and its per-destination connection), `service`
//! (what inbound, the queue and the admin layer call), `shared` (the changes nodes of a cluster tell
//! each other, and the [`SharedCache`] the cluster layer implements). Depends on `config`, never on `queue`: the
//! queue implements [`PrimaryHealth`] and reports [`DeliveryAnswer`]s. Rules for users:
//! docs/recipients.md.

pub mod address;
pub mod cache;
pub mod callout;
pub mod error;
pub mod list;
mod lists;
mod service;
pub mod shared;
pub mod store;
pub mod verdict;
mod views;

pub use address::AddressKey;
pub use cache::{Cache, Known};
pub use error::{CacheError, ListError, RecipientRefusal};
pub use list::RecipientList;
pub use service::{DeliveryAnswer, DomainUsage, LearningEvent, PrimaryHealth, RecipientService};
pub use shared::{CacheChange, SharedCache, Snapshot};
pub use verdict::{
    CacheState, Decision, DomainPolicy, Mode, PrimaryState, Reason, UnknownWhenDown, Verdict,
    decide,
};
pub use views::{DomainView, LookupView};
