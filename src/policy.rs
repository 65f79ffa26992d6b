//! Relay policy: pure decisions on which recipients we accept (configured domains only, never an open
//! relay).
