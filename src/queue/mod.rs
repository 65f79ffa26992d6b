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

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::envelope::QueueId;
use crate::spool::StoredMessage;

/// Which messages a flush concerns. ETRN flushes through [`QueueHandle::flush`], the console, the API and the CLI through [`api::QueueApi::flush`]; both end in the
/// scheduler's one `flush`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlushScope {
    All,
    /// A backed-up domain (normalised: lower case, no trailing dot).
    Domain(String),
    Ids(Vec<QueueId>),
}

/// What a [`QueueHandle::recording`] handle passes on instead of queueing.
#[derive(Debug)]
pub enum QueueCommand {
    /// A message was just committed to the spool.
    Submit(StoredMessage),
    /// Attempt the matching messages now, ignoring backoff timers.
    Flush(FlushScope),
}

/// The queue's inbox for sessions and ETRN: cheap to clone, never blocks the caller for longer than
/// the scheduler's lock. A submitted message is in the scheduler before the session answers 250, so
/// the API, the console and the per-domain quotas see it at once; the run loop is woken to act on it.
#[derive(Clone)]
pub struct QueueHandle {
    target: Target,
}

#[derive(Clone)]
enum Target {
    Queue(Arc<QueueContext>),
    /// The inbound layer run without a queue (its tests): commands go to a channel.
    Recording(mpsc::UnboundedSender<QueueCommand>),
}

impl QueueHandle {
    pub fn new(ctx: Arc<QueueContext>) -> QueueHandle {
        QueueHandle {
            target: Target::Queue(ctx),
        }
    }

    /// A handle that queues nothing and passes every command to the returned receiver.
    pub fn recording() -> (QueueHandle, mpsc::UnboundedReceiver<QueueCommand>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = QueueHandle {
            target: Target::Recording(tx),
        };
        (handle, rx)
    }

    /// Hands a committed message to the scheduler. If the queue is shutting down the message is still
    /// safe in the spool and will be recovered at the next start.
    pub fn submit(&self, message: StoredMessage) {
        match &self.target {
            Target::Queue(ctx) => {
                ctx.submit(message);
                ctx.wake();
            }
            Target::Recording(tx) => {
                let _ = tx.send(QueueCommand::Submit(message));
            }
        }
    }

    /// Attempts the matching messages now, ignoring backoff timers (ETRN).
    pub fn flush(&self, scope: FlushScope) {
        match &self.target {
            Target::Queue(ctx) => {
                let n = ctx.flush(&scope);
                tracing::info!(?scope, messages = n, "queue flushed");
                ctx.wake();
            }
            Target::Recording(tx) => {
                let _ = tx.send(QueueCommand::Flush(scope));
            }
        }
    }
}
