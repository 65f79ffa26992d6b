//! The `[limits]` section: per-client abuse limits (connections, rates, messages per connection, error
//! counts) and the networks exempt from them.

use super::LimitsConfig;
use super::build::count;
use super::limits::*;
use super::reader::{Collector, Section, parsed};
use super::syntax::parse_cidr;

const LIMITS_KEYS: &[&str] = &[
    "max_connections_per_ip",
    "connections_per_minute",
    "messages_per_connection",
    "recipients_per_minute",
    "max_errors",
    "max_unknown_commands",
    "exempt",
];

impl Default for LimitsConfig {
    /// The defaults of docs/config.md, with nothing exempt.
    fn default() -> Self {
        LimitsConfig {
            max_connections_per_ip: small(DEFAULT_MAX_CONNECTIONS_PER_IP),
            connections_per_minute: small(DEFAULT_CONNECTIONS_PER_MINUTE),
            messages_per_connection: small(DEFAULT_MESSAGES_PER_CONNECTION),
            recipients_per_minute: small(DEFAULT_RECIPIENTS_PER_MINUTE),
            max_errors: small(DEFAULT_MAX_ERRORS),
            max_unknown_commands: small(DEFAULT_MAX_UNKNOWN_COMMANDS),
            exempt: Vec::new(),
        }
    }
}

pub(super) fn build_limits(section: &Section, c: &mut Collector) -> LimitsConfig {
    section.check_keys(c, LIMITS_KEYS);
    let mut limit =
        |key: &str, default: u64| small(count(section, c, key, default, CLIENT_LIMIT_BOUNDS));
    let max_connections_per_ip = limit("max_connections_per_ip", DEFAULT_MAX_CONNECTIONS_PER_IP);
    let connections_per_minute = limit("connections_per_minute", DEFAULT_CONNECTIONS_PER_MINUTE);
    let messages_per_connection = limit("messages_per_connection", DEFAULT_MESSAGES_PER_CONNECTION);
    let recipients_per_minute = limit("recipients_per_minute", DEFAULT_RECIPIENTS_PER_MINUTE);
    let mut error_limit =
        |key: &str, default: u64| small(count(section, c, key, default, ERROR_LIMIT_BOUNDS));
    LimitsConfig {
        max_connections_per_ip,
        connections_per_minute,
        messages_per_connection,
        recipients_per_minute,
        max_errors: error_limit("max_errors", DEFAULT_MAX_ERRORS),
        max_unknown_commands: error_limit("max_unknown_commands", DEFAULT_MAX_UNKNOWN_COMMANDS),
        exempt: section
            .list(c, "exempt", parsed(parse_cidr))
            .map_or_else(Vec::new, |f| f.value),
    }
}

/// The bounds keep every value far below `u32::MAX`.
fn small(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}
