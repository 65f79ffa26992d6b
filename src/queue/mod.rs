//! The queue: live state of every spooled message, the pure scheduling core (due times, order, retry
//! schedule) and the run loop that hands messages to delivery.
//!
//! Outside this module only four things are visible: [`QueueHandle`] (sessions and ETRN submit and
//! flush), [`api::QueueApi`] (the admin layer), and for start-up [`QueueState`], [`QueueContext`] and
//! [`run`]. The scheduler itself is private: [`context::QueueContext`] owns it and is the only way in.

pub mod api;
mod bounces;
mod cluster;
mod context;
mod domains;
mod order;
mod outcome;
mod retry;
mod runner;
mod scheduler;
mod sender;
mod state;
mod store;
mod worker;

pub use context::{QueueContext, QueueParts};
pub use runner::run;
pub use state::QueueState;

use tokio::sync::mpsc;

use crate::envelope::QueueId;
use crate::spool::StoredMessage;

/// Which messages a flush concerns. ETRN flushes through [`QueueHandle::flush`] (a command to the run
/// loop), the console, the API and the CLI through [`api::QueueApi::flush`]; both end in the
/// scheduler's one `flush`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlushScope {
    All,
    /// A backed-up domain (normalised: lower case, no trailing dot).
    Domain(String),
    Ids(Vec<QueueId>),
}

/// Commands to the queue's run loop.
#[derive(Debug)]
pub enum QueueCommand {
    /// A message was just committed to the spool: schedule it.
    Submit(StoredMessage),
    /// Attempt the matching messages now, ignoring backoff timers.
    Flush(FlushScope),
}

/// The queue's inbox: cheap to clone, never blocks the caller.
#[derive(Clone, Debug)]
pub struct QueueHandle {
    tx: mpsc::UnboundedSender<QueueCommand>,
}

impl QueueHandle {
    pub fn new() -> (QueueHandle, mpsc::UnboundedReceiver<QueueCommand>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (QueueHandle { tx }, rx)
    }

    /// Hands a committed message to the scheduler. If the run loop is gone (shutdown) the message is
    /// still safe in the spool and will be recovered at the next start.
    pub fn submit(&self, message: StoredMessage) {
        let _ = self.tx.send(QueueCommand::Submit(message));
    }

    pub fn flush(&self, scope: FlushScope) {
        let _ = self.tx.send(QueueCommand::Flush(scope));
    }
}
