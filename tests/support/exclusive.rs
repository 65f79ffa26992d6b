//! Tests that load the whole machine (the crash loop's SIGKILL loop under load) must not share it
//! with another test of their binary: on 2 cores a browser or a 1,000-connection test beside them
//! would turn their bounded waits into failures. Such a test holds [`whole_machine`]; every other
//! test of the `system` binary holds [`shared`], so the heavy one runs alone and the rest as usual.

use std::sync::LazyLock;

use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

// An async lock: each test has its own runtime and holds the guard across its awaits.
static MACHINE: LazyLock<RwLock<()>> = LazyLock::new(|| RwLock::new(()));

/// Held for the whole of a test that must run alone in its binary.
pub async fn whole_machine() -> RwLockWriteGuard<'static, ()> {
    MACHINE.write().await
}

/// Held for the whole of a test that may run beside others but never beside a [`whole_machine`] one.
pub async fn shared() -> RwLockReadGuard<'static, ()> {
    MACHINE.read().await
}
