//! Per-client abuse limits, pure: concurrent connections, connections per minute and recipients per
//! minute for each client address (IPv4 address, or IPv6 /64: one subscriber's usual allocation).
//! Rates are sliding-window counters (this window's count plus the previous window's, weighted by how
//! much of it still overlaps), so memory is constant per client. Time is always an argument.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, SystemTime};

/// The length of a rate window: limits are "per minute".
pub const RATE_WINDOW: Duration = Duration::from_secs(60);

/// The limits the [`Limiter`] enforces; 0 turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientLimits {
    pub max_connections: u32,
    pub connections_per_minute: u32,
    pub recipients_per_minute: u32,
}

/// Which limit a client ran into; its name is the `limit` label of `backupmx_limit_hits_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    /// Concurrent connections from one client address.
    Connections,
    ConnectionRate,
    RecipientRate,
    /// Transactions in one connection.
    Messages,
    /// Error replies in one session.
    Errors,
    UnknownCommands,
    /// Sent bytes before the (delayed) greeting.
    EarlyTalker,
    /// The total session time cap.
    SessionTime,
}

impl LimitHit {
    pub fn name(self) -> &'static str {
        match self {
            LimitHit::Connections => "connections_per_ip",
            LimitHit::ConnectionRate => "connections_per_minute",
            LimitHit::RecipientRate => "recipients_per_minute",
            LimitHit::Messages => "messages_per_connection",
            LimitHit::Errors => "errors",
            LimitHit::UnknownCommands => "unknown_commands",
            LimitHit::EarlyTalker => "early_talker",
            LimitHit::SessionTime => "session_time",
        }
    }
}

/// A sliding-window event counter.
#[derive(Debug, Clone, Copy)]
struct RateWindow {
    /// Start of the current window.
    start: SystemTime,
    current: u32,
    previous: u32,
}

impl RateWindow {
    fn new(now: SystemTime) -> RateWindow {
        RateWindow {
            start: now,
            current: 0,
            previous: 0,
        }
    }

    /// Moves the window forward to `now`. A clock that went backwards counts as no time passing.
    fn roll(&mut self, now: SystemTime) {
        let elapsed = now.duration_since(self.start).unwrap_or(Duration::ZERO);
        if elapsed >= RATE_WINDOW * 2 {
            *self = RateWindow::new(now);
        } else if elapsed >= RATE_WINDOW {
            self.previous = self.current;
            self.current = 0;
            self.start += RATE_WINDOW;
        }
    }

    /// Counts one event if that keeps the estimated rate within `limit` (0: no limit).
    fn try_count(&mut self, now: SystemTime, limit: u32) -> bool {
        self.roll(now);
        if limit > 0 {
            let window = RATE_WINDOW.as_millis();
            let into = now
                .duration_since(self.start)
                .unwrap_or(Duration::ZERO)
                .as_millis()
                .min(window);
            // previous × (remaining overlap) + current × window, all in milliseconds: exact integers.
            let weighted =
                u128::from(self.previous) * (window - into) + u128::from(self.current) * window;
            if weighted + window > u128::from(limit) * window {
                return false;
            }
        }
        self.current = self.current.saturating_add(1);
        true
    }

    fn is_idle(&mut self, now: SystemTime) -> bool {
        self.roll(now);
        self.current == 0 && self.previous == 0
    }
}

#[derive(Debug, Clone, Copy)]
struct ClientCounts {
    active: u32,
    connections: RateWindow,
    recipients: RateWindow,
}

/// The counts of every client seen recently.
#[derive(Debug)]
pub struct Limiter {
    limits: ClientLimits,
    clients: HashMap<IpAddr, ClientCounts>,
    last_sweep: SystemTime,
}

impl Limiter {
    pub fn new(limits: ClientLimits, now: SystemTime) -> Limiter {
        Limiter {
            limits,
            clients: HashMap::new(),
            last_sweep: now,
        }
    }

    /// A new connection from `ip`: counted (and must later be [`Limiter::disconnect`]ed) unless refused.
    /// A refused attempt is not counted, so a client that waits gets in again.
    /// New limits from a config reload; the counts so far stay (a client over a lowered limit is
    /// refused from its next connection or recipient on).
    pub fn set_limits(&mut self, limits: ClientLimits) {
        self.limits = limits;
    }

    pub fn connect(&mut self, ip: IpAddr, now: SystemTime) -> Result<(), LimitHit> {
        self.sweep(now);
        let limits = self.limits;
        let counts = self.counts(ip, now);
        if limits.max_connections > 0 && counts.active >= limits.max_connections {
            return Err(LimitHit::Connections);
        }
        if !counts
            .connections
            .try_count(now, limits.connections_per_minute)
        {
            return Err(LimitHit::ConnectionRate);
        }
        counts.active += 1;
        Ok(())
    }

    /// A connection counted by [`Limiter::connect`] ended.
    pub fn disconnect(&mut self, ip: IpAddr) {
        if let Some(counts) = self.clients.get_mut(&client_key(ip)) {
            counts.active = counts.active.saturating_sub(1);
        }
    }

    /// One RCPT command from `ip`.
    pub fn recipient(&mut self, ip: IpAddr, now: SystemTime) -> Result<(), LimitHit> {
        let limit = self.limits.recipients_per_minute;
        if limit == 0 {
            return Ok(());
        }
        let counts = self.counts(ip, now);
        if counts.recipients.try_count(now, limit) {
            Ok(())
        } else {
            Err(LimitHit::RecipientRate)
        }
    }

    /// How many client addresses are tracked (bounded by the sweep).
    pub fn tracked(&self) -> usize {
        self.clients.len()
    }

    fn counts(&mut self, ip: IpAddr, now: SystemTime) -> &mut ClientCounts {
        self.clients
            .entry(client_key(ip))
            .or_insert_with(|| ClientCounts {
                active: 0,
                connections: RateWindow::new(now),
                recipients: RateWindow::new(now),
            })
    }

    /// Once a window, forgets clients with no connection and nothing counted in two windows.
    fn sweep(&mut self, now: SystemTime) {
        let since = now
            .duration_since(self.last_sweep)
            .unwrap_or(Duration::ZERO);
        if since < RATE_WINDOW {
            return;
        }
        self.last_sweep = now;
        self.clients.retain(|_, counts| {
            counts.active > 0 || !counts.connections.is_idle(now) || !counts.recipients.is_idle(now)
        });
    }
}

/// The address limits are counted under: IPv4 (also IPv4-mapped IPv6) as is, IPv6 by its /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = v6.to_bits() & !u128::from(u64::MAX);
            IpAddr::V6(Ipv6Addr::from_bits(prefix))
        }
    }
}

#[cfg(test)]
mod tests;
