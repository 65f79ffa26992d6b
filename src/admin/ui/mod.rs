//! The web console (server-rendered HTML): dashboard, queue, message pages, postmaster mailbox, audit
//! log, login.
