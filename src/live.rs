//! [`Live`]: a value that a config reload replaces whole (the config in force, the SMTP session
//! settings, the recipient policies). Readers take a snapshot (an `Arc`) and keep it for as long as
//! they need a consistent view: an SMTP session keeps the settings it started with, a request the
//! config it started with; the next reader sees the new value. The lock is held only to clone or swap
//! the `Arc`, never across an `.await`.

use std::sync::{Arc, RwLock};

pub struct Live<T> {
    current: Arc<RwLock<Arc<T>>>,
}

impl<T> Clone for Live<T> {
    fn clone(&self) -> Self {
        Live {
            current: Arc::clone(&self.current),
        }
    }
}

impl<T> Live<T> {
    pub fn new(value: T) -> Live<T> {
        Live::from_arc(Arc::new(value))
    }

    pub fn from_arc(value: Arc<T>) -> Live<T> {
        Live {
            current: Arc::new(RwLock::new(value)),
        }
    }

    /// The value in force now.
    pub fn get(&self) -> Arc<T> {
        // A poisoned lock still holds a whole value: a swap cannot be half done.
        let guard = self.current.read().unwrap_or_else(|e| e.into_inner());
        Arc::clone(&guard)
    }

    /// Replaces the value for every later [`Live::get`]; snapshots already taken keep the old one.
    pub fn set(&self, value: Arc<T>) {
        let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
        *guard = value;
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Live<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Live").field(&self.get()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Live;
    use std::sync::Arc;

    #[test]
    fn a_snapshot_keeps_its_value_after_a_set() {
        let live = Live::new(1);
        let other = live.clone();
        let before = live.get();
        other.set(Arc::new(2));
        assert_eq!(*before, 1);
        assert_eq!(*live.get(), 2);
    }
}
