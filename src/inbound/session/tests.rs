//! Dialogue tests of the session state machine.
