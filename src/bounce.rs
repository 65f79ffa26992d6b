//! Bounce building: pure construction of RFC 3464 delivery status notifications (no I/O).
