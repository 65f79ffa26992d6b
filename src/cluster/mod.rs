//! The cluster backend's groundwork (issue 13, design in docs/cluster-design.md): the shared queue's
//! schema and migrations, the connection to PostgreSQL, node membership, the leases' SQL and the pure
//! lease core. The server does not use these yet; `backupmx db migrate|check` does.

pub mod db;
pub mod lease;
pub mod lease_store;
pub mod nodes;
pub mod schema;
