//! Connection slots of the admin listener: at most `max_total` open connections, and at most
//! `max_per_client` from one address, so that one client (or all of them) cannot use up the process's
//! file descriptors, which the SMTP listener needs. A [`Slot`] gives its place back when dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Why a connection was not given a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The listener's cap (`[admin] max_connections`).
    Listener,
    /// This client's cap (`[admin] max_connections_per_client`).
    Client,
}

impl Full {
    /// The `reason` label of `backupmx_admin_refused_total`.
    pub fn name(self) -> &'static str {
        match self {
            Full::Listener => "max_connections",
            Full::Client => "max_connections_per_client",
        }
    }
}

/// The counts, without I/O.
#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// Shared between the accept loop and the connections' slots.
#[derive(Clone)]
pub struct Slots {
    counts: Arc<Mutex<Counts>>,
    max_total: usize,
    max_per_client: usize,
}

/// One open connection's place; released on drop.
pub struct Slot {
    counts: Arc<Mutex<Counts>>,
    ip: IpAddr,
}

impl Slots {
    pub fn new(max_total: usize, max_per_client: usize) -> Slots {
        Slots {
            counts: Arc::default(),
            max_total,
            max_per_client,
        }
    }

    /// A slot for a connection from `ip`, if both caps allow one more.
    pub fn admit(&self, ip: IpAddr) -> Result<Slot, Full> {
        let ip = ip.to_canonical();
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if counts.total >= self.max_total {
            return Err(Full::Listener);
        }
        let mine = counts.per_client.entry(ip).or_insert(0);
        if *mine >= self.max_per_client {
            return Err(Full::Client);
        }
        *mine += 1;
        counts.total += 1;
        Ok(Slot {
            counts: self.counts.clone(),
            ip,
        })
    }

    /// Open connections now.
    #[cfg(test)]
    pub fn open(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_client.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.per_client.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn per_client_and_total_caps_and_release_on_drop() {
        let slots = Slots::new(3, 2);
        let a1 = slots.admit(ip("10.0.0.1")).unwrap();
        let _a2 = slots.admit(ip("::ffff:10.0.0.1")).unwrap();
        assert_eq!(slots.admit(ip("10.0.0.1")).err(), Some(Full::Client));
        let _b1 = slots.admit(ip("10.0.0.2")).unwrap();
        assert_eq!(slots.admit(ip("10.0.0.3")).err(), Some(Full::Listener));
        assert_eq!(slots.open(), 3);
        drop(a1);
        assert_eq!(slots.open(), 2);
        assert!(slots.admit(ip("10.0.0.1")).is_ok());
        assert_eq!(slots.open(), 2, "the temporary slot was dropped again");
        assert!(slots.counts.lock().unwrap().per_client.len() <= 2);
    }
}
