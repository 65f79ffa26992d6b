//! Cluster-unique queue ids: `ms << 16 | slot << 10 | counter`. The slot (0–63) is the node's row in
//! `nodes`, so two nodes never hand out the same id; 1,024 ids per millisecond per node.

use std::sync::Mutex;

use crate::clock::{Clock, SystemClock, to_unix_ms};
use crate::envelope::QueueId;

const COUNTER_BITS: u32 = 10;
const COUNTER_MAX: u64 = (1 << COUNTER_BITS) - 1;

pub(super) struct IdAllocator {
    slot: u64,
    /// (milliseconds, counter) of the last id handed out.
    last: Mutex<(u64, u64)>,
}

impl IdAllocator {
    pub(super) fn new(slot: u64) -> IdAllocator {
        IdAllocator {
            slot: slot & 63,
            last: Mutex::new((0, 0)),
        }
    }

    pub(super) fn next(&self) -> QueueId {
        let now = to_unix_ms(SystemClock.now());
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        *last = next_after(*last, now);
        QueueId(compose(last.0, self.slot, last.1))
    }
}

/// The (ms, counter) after `last` at wall time `now_ms`: never going back, even when the clock does.
fn next_after(last: (u64, u64), now_ms: u64) -> (u64, u64) {
    let (ms, counter) = last;
    if now_ms > ms {
        (now_ms, 0)
    } else if counter < COUNTER_MAX {
        (ms, counter + 1)
    } else {
        (ms + 1, 0)
    }
}

fn compose(ms: u64, slot: u64, counter: u64) -> u64 {
    (ms << 16) | (slot << COUNTER_BITS) | counter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_increase_and_carry_the_slot() {
        let a = next_after((0, 0), 1000);
        let b = next_after(a, 1000);
        let c = next_after(b, 999);
        assert_eq!((a, b, c), ((1000, 0), (1000, 1), (1000, 2)));
        assert_eq!(next_after((5, COUNTER_MAX), 5), (6, 0));
        let id = compose(1000, 5, 3);
        assert_eq!(id >> 16, 1000);
        assert_eq!((id >> COUNTER_BITS) & 63, 5);
        assert_eq!(id & COUNTER_MAX, 3);
        assert!(compose(1000, 63, COUNTER_MAX) < compose(1001, 0, 0));
    }
}
