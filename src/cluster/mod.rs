//! The cluster backend's groundwork (issue 13, docs/cluster.md): the shared queue's
//! schema and migrations, the connection to PostgreSQL, node membership, the leases' SQL, the pure
//! lease core, the group commit, chunked bodies, fenced results, the destinations' shared health, and
//! loading a destination's pending mail when new mail is announced. The spool (`spool/postgres/`) and the queue (`queue/cluster/`, `queue/api/cluster.rs`) use them.

pub mod audit;
pub mod bodies;
pub mod commit;
pub mod db;
pub mod domains;
pub mod events;
pub mod health;
pub mod lease;
pub mod lease_store;
pub mod load;
pub mod nodes;
pub mod results;
pub mod schema;
pub mod verdicts;
pub mod view;
