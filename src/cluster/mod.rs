//! The cluster backend's groundwork (issue 13, design in docs/cluster-design.md): the shared queue's
//! schema and migrations, the connection to PostgreSQL, node membership, the leases' SQL, the pure
//! lease core, the group commit, chunked bodies, fenced results, and
//! loading a destination's pending mail when new mail is announced. The server does not use these yet; `backupmx db migrate|check` does.

pub mod bodies;
pub mod commit;
pub mod db;
pub mod events;
pub mod lease;
pub mod lease_store;
pub mod load;
pub mod nodes;
pub mod results;
pub mod schema;
pub mod view;
