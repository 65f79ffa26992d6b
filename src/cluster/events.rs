//! What nodes tell each other through PostgreSQL's NOTIFY: new mail was committed (`backupmx_arrivals`)
//! and an administrator acted on the queue through some node (`backupmx_admin`): the owner of the
//! affected mail applies it to its scheduler; a node changed the shared recipient cache
//! (`backupmx_recipients`, see `verdicts.rs`); a node saw a destination's health change
//! (`backupmx_health`, see `health.rs`). The payload format is pure and tested here.

use crate::envelope::QueueId;

pub const ADMIN_CHANNEL: &str = "backupmx_admin";

/// An admin action every node applies to what its own scheduler holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminEvent {
    Hold(QueueId),
    Release(QueueId),
    Delete(QueueId),
    /// Return the message to its sender now: done by the node that owns its destination.
    Bounce(QueueId),
    FlushAll,
    FlushDomain(String),
    FlushIds(Vec<QueueId>),
}

/// What a listening node hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Some node committed new mail.
    Arrival,
    Admin(AdminEvent),
    /// A node changed the shared recipient-verification cache (`cluster::verdicts`).
    Recipients {
        node: String,
        change: crate::recipients::CacheChange,
    },
    /// A node saw a destination go up or down (`cluster::health`).
    Health(crate::cluster::health::HealthNotice),
}

impl AdminEvent {
    pub fn payload(&self) -> String {
        match self {
            AdminEvent::Hold(id) => format!("hold {id}"),
            AdminEvent::Release(id) => format!("release {id}"),
            AdminEvent::Delete(id) => format!("delete {id}"),
            AdminEvent::Bounce(id) => format!("bounce {id}"),
            AdminEvent::FlushAll => "flush-all".into(),
            AdminEvent::FlushDomain(d) => format!("flush-domain {d}"),
            AdminEvent::FlushIds(ids) => {
                let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
                format!("flush-ids {}", ids.join(","))
            }
        }
    }

    pub fn parse(payload: &str) -> Option<AdminEvent> {
        let (verb, arg) = payload.split_once(' ').unwrap_or((payload, ""));
        let id = || arg.parse::<QueueId>().ok();
        Some(match verb {
            "hold" => AdminEvent::Hold(id()?),
            "release" => AdminEvent::Release(id()?),
            "delete" => AdminEvent::Delete(id()?),
            "bounce" => AdminEvent::Bounce(id()?),
            "flush-all" => AdminEvent::FlushAll,
            "flush-domain" if !arg.is_empty() => AdminEvent::FlushDomain(arg.to_string()),
            "flush-ids" => AdminEvent::FlushIds(
                arg.split(',')
                    .map(|s| s.parse::<QueueId>().ok())
                    .collect::<Option<Vec<_>>>()?,
            ),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let id = QueueId(0x0123_4567_89AB_CDEF);
        for event in [
            AdminEvent::Hold(id),
            AdminEvent::Release(id),
            AdminEvent::Delete(id),
            AdminEvent::Bounce(id),
            AdminEvent::FlushAll,
            AdminEvent::FlushDomain("example.test".into()),
            AdminEvent::FlushIds(vec![id, QueueId(7)]),
        ] {
            assert_eq!(AdminEvent::parse(&event.payload()), Some(event));
        }
        assert_eq!(AdminEvent::parse("hold nonsense"), None);
        assert_eq!(AdminEvent::parse("flush-domain"), None);
        assert_eq!(AdminEvent::parse("reboot"), None);
    }
}
