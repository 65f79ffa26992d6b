//! Inbound SMTP: listeners, TLS, connection limits, and the session that turns a client's commands into
//! spool commits. Never opens message files itself.
