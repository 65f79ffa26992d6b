//! Alerts (issue 16): webhooks told when a primary goes down and comes back, when the queue grows
//! old or large, when the spool's disk fills, when recovery quarantines something, when the
//! inbound certificate nears its end, and (in a cluster) when a node is lost. docs/alerts.md.
//!
//! Pure cores: `monitor.rs` (facts → one alert per state change), `outbox.rs` (deliveries, retries
//! with backoff), `render.rs` (JSON, Slack, ntfy bodies and the HMAC signature). Shells:
//! `gather.rs` (the facts, through `queue::api`), `webhook.rs` (hyper's HTTP/1 client),
//! `store.rs` (`<state_dir>/alerts.json`, through `durable::replace`), `service.rs` (the loop, the
//! test alert, the views for the admin layer).

pub mod event;
pub mod gather;
pub mod monitor;
pub mod outbox;
pub mod render;
pub mod service;
pub mod store;
pub mod webhook;

pub use gather::Sources;
pub use service::{AlertService, AlertView, DeliveryView, TestResult};
pub use webhook::Poster;
