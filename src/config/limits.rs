//! Named defaults and bounds for every configuration key (the single place docs/config.md mirrors).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::ops::RangeInclusive;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);
const HOUR: Duration = Duration::from_secs(3600);

/// Used when a file has no `hostname`; deterministic so tests and the embedded default agree.
pub const DEFAULT_HOSTNAME: &str = "backupmx.localhost";

pub const DEFAULT_SMTP_LISTEN: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 2525));
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 52_428_800;
pub const MAX_MESSAGE_SIZE_BOUNDS: RangeInclusive<u64> = 1024..=2 * 1024 * 1024 * 1024;
pub const DEFAULT_MAX_RECIPIENTS: u64 = 1000;
pub const MAX_RECIPIENTS_BOUNDS: RangeInclusive<u64> = 1..=100_000;
pub const DEFAULT_MAX_CONNECTIONS: u64 = 1000;
pub const MAX_CONNECTIONS_BOUNDS: RangeInclusive<u64> = 1..=100_000;
pub const DEFAULT_SMTP_COMMAND_TIMEOUT: Duration = Duration::from_secs(5 * 60);
pub const SMTP_COMMAND_TIMEOUT_BOUNDS: RangeInclusive<Duration> = SECOND..=HOUR;

pub const DEFAULT_SPOOL_DIR: &str = "./backupmx-spool";

/// Port assumed for a nameserver written without one.
pub const DEFAULT_DNS_PORT: u16 = 53;

pub const DEFAULT_DELIVERY_PORT: u16 = 25;
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
pub const CONNECT_TIMEOUT_BOUNDS: RangeInclusive<Duration> = SECOND..=Duration::from_secs(10 * 60);
pub const DEFAULT_DELIVERY_COMMAND_TIMEOUT: Duration = Duration::from_secs(5 * 60);
pub const DELIVERY_COMMAND_TIMEOUT_BOUNDS: RangeInclusive<Duration> = SECOND..=HOUR;
/// RFC 5321 §4.5.3.2.6: wait at least 10 minutes for the reply to the final dot (the primary may be
/// scanning the message; giving up earlier risks a duplicate when it did accept).
pub const DEFAULT_DELIVERY_DATA_TIMEOUT: Duration = Duration::from_secs(10 * 60);
pub const DELIVERY_DATA_TIMEOUT_BOUNDS: RangeInclusive<Duration> = SECOND..=HOUR;

/// Postfix-like backoff: about 5 minutes first, at most an hour between attempts.
pub const DEFAULT_RETRY: [Duration; 5] = [
    Duration::from_secs(5 * 60),
    Duration::from_secs(10 * 60),
    Duration::from_secs(20 * 60),
    Duration::from_secs(40 * 60),
    HOUR,
];
/// Each retry interval; the low end is small so tests can run whole schedules quickly.
pub const RETRY_BOUNDS: RangeInclusive<Duration> =
    Duration::from_millis(100)..=Duration::from_secs(7 * 86_400);
pub const MAX_RETRY_ENTRIES: usize = 100;
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(5 * 86_400);
pub const MAX_LIFETIME_BOUNDS: RangeInclusive<Duration> =
    SECOND..=Duration::from_secs(365 * 86_400);
pub const DEFAULT_DELAY_WARNING: Duration = Duration::from_secs(4 * 3600);
/// Bounds for a non-zero delay warning (zero turns warnings off).
pub const DELAY_WARNING_BOUNDS: RangeInclusive<Duration> =
    SECOND..=Duration::from_secs(365 * 86_400);
/// How often a down destination is probed (connect, EHLO, QUIT): once a second keeps the first message
/// to a recovered primary within about a second of it answering, at the cost of one small connection.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(1);
pub const PROBE_INTERVAL_BOUNDS: RangeInclusive<Duration> = Duration::from_millis(100)..=HOUR;
/// Connections per destination: a drain of K mailboxes uses min(K, this) connections, each carrying
/// one message per round trip; 20 is what Postfix opens by default (bench/RESULTS.md, issue 14).
pub const DEFAULT_MAX_PARALLEL: u64 = 20;
pub const MAX_PARALLEL_BOUNDS: RangeInclusive<u64> = 1..=100;

pub const DEFAULT_ADMIN_LISTEN: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8025));
pub const DEFAULT_ADMIN_ALLOW: [&str; 2] = ["127.0.0.1/32", "::1/128"];
/// `[admin]` resource bounds (issue 19): an admin console needs a handful of connections and no slow
/// clients; the login locks make a guessing attack take years, not seconds.
pub const DEFAULT_ADMIN_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
pub const ADMIN_HEADER_READ_TIMEOUT_BOUNDS: RangeInclusive<Duration> =
    SECOND..=Duration::from_secs(300);
pub const DEFAULT_ADMIN_BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);
pub const ADMIN_BODY_READ_TIMEOUT_BOUNDS: RangeInclusive<Duration> = SECOND..=HOUR;
pub const DEFAULT_ADMIN_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
pub const ADMIN_IDLE_TIMEOUT_BOUNDS: RangeInclusive<Duration> = SECOND..=HOUR;
pub const DEFAULT_ADMIN_MAX_CONNECTIONS: u64 = 64;
pub const DEFAULT_ADMIN_MAX_CONNECTIONS_PER_CLIENT: u64 = 16;
pub const ADMIN_CONNECTIONS_BOUNDS: RangeInclusive<u64> = 1..=10_000;
pub const DEFAULT_LOGIN_MAX_FAILURES: u64 = 5;
pub const LOGIN_MAX_FAILURES_BOUNDS: RangeInclusive<u64> = 1..=1000;
pub const DEFAULT_LOGIN_LOCK: Duration = Duration::from_secs(60);
pub const DEFAULT_LOGIN_LOCK_MAX: Duration = Duration::from_secs(15 * 60);
pub const LOGIN_LOCK_BOUNDS: RangeInclusive<Duration> = SECOND..=Duration::from_secs(7 * 86_400);
pub const DEFAULT_AUDIT_MAX_SIZE: u64 = 10 * 1024 * 1024;
pub const AUDIT_MAX_SIZE_BOUNDS: RangeInclusive<u64> = 4096..=1024 * 1024 * 1024;
pub const DEFAULT_AUDIT_KEEP: u64 = 3;
pub const AUDIT_KEEP_BOUNDS: RangeInclusive<u64> = 1..=100;

pub const DEFAULT_GREETING_DELAY: Duration = Duration::ZERO;
pub const GREETING_DELAY_BOUNDS: RangeInclusive<Duration> =
    Duration::ZERO..=Duration::from_secs(60);
pub const DEFAULT_DATA_TIMEOUT: Duration = Duration::from_secs(5 * 60);
pub const DATA_TIMEOUT_BOUNDS: RangeInclusive<Duration> = SECOND..=HOUR;
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(30 * 60);
pub const SESSION_TIMEOUT_BOUNDS: RangeInclusive<Duration> =
    SECOND..=Duration::from_secs(24 * 3600);

/// `[limits]`: generous enough for a big provider's outbound host, tight enough to stop a flood.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: u64 = 50;
pub const DEFAULT_CONNECTIONS_PER_MINUTE: u64 = 600;
pub const DEFAULT_MESSAGES_PER_CONNECTION: u64 = 1000;
pub const DEFAULT_RECIPIENTS_PER_MINUTE: u64 = 6000;
pub const DEFAULT_MAX_ERRORS: u64 = 20;
pub const DEFAULT_MAX_UNKNOWN_COMMANDS: u64 = 10;
/// Bounds of the counting limits (0 = off).
pub const CLIENT_LIMIT_BOUNDS: RangeInclusive<u64> = 0..=1_000_000;
/// Bounds of the error limits (never off: a client looping on errors must end).
pub const ERROR_LIMIT_BOUNDS: RangeInclusive<u64> = 1..=10_000;

/// `[checks]` (issue 15): postscreen's default threshold; weights stay small so sums never overflow.
pub const DEFAULT_DNSBL_THRESHOLD: i64 = 1;
pub const DNSBL_WEIGHT_LIMIT: i64 = 1000;
/// Messages up to this size are verified (DKIM, DMARC) and ARC-sealed from memory: 4 MiB covers
/// nearly all real mail and bounds what one session holds.
pub const DEFAULT_MAX_VERIFY_SIZE: u64 = 4 * 1024 * 1024;
pub const MAX_VERIFY_SIZE_BOUNDS: RangeInclusive<u64> = 0..=64 * 1024 * 1024;
