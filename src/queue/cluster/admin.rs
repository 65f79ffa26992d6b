//! Admin actions announced by any node (`cluster::events`), applied to what this node's scheduler
//! holds. The node that received the request already changed the shared rows (hold, release, delete);
//! here only the in-memory copy follows. A bounce is done here when this node holds the message.

use tracing::info;

use super::super::FlushScope;
use super::super::context::QueueContext;
use crate::cluster::events::AdminEvent;

pub(super) async fn apply(ctx: &std::sync::Arc<QueueContext>, event: AdminEvent) {
    match event {
        AdminEvent::Hold(id) => {
            let _ = ctx.set_held(id, true);
        }
        AdminEvent::Release(id) => {
            let _ = ctx.set_held(id, false);
        }
        AdminEvent::Delete(id) => {
            // In flight: the attempt finishes; its results find no rows to change.
            let _ = ctx.delete(id);
        }
        AdminEvent::Bounce(id) => {
            let reply = "550 5.0.0 returned to the sender by the administrator";
            if let Ok((message, consequences)) = ctx.bounce_now(id, reply) {
                info!(%id, "returned to the sender at an administrator's request");
                super::super::outcome::apply(ctx, &message, consequences).await;
            }
        }
        AdminEvent::FlushAll => flush(ctx, FlushScope::All),
        AdminEvent::FlushDomain(domain) => flush(ctx, FlushScope::Domain(domain)),
        AdminEvent::FlushIds(ids) => flush(ctx, FlushScope::Ids(ids)),
    }
}

fn flush(ctx: &QueueContext, scope: FlushScope) {
    let n = ctx.flush(&scope);
    if n > 0 {
        info!(
            ?scope,
            messages = n,
            "queue flushed at another node's request"
        );
    }
    ctx.wake();
}
