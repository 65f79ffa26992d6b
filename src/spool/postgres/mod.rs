//! The PostgreSQL backend of the spool (issue 13): the queue shared by the nodes of a cluster. The
//! SQL lives in `crate::cluster`; this is the spool's face on it: queue ids with the node's slot, the
//! group commit (250 only after COMMIT), state changes fenced by this node's leases, bodies streamed
//! in and out in chunks, the shared postmaster mailbox, and the claims the queue's cluster loop makes.

mod body;
mod claims;
mod committer;
mod convert;
mod ids;
mod postmaster;
mod updates;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::NoTls;
use tracing::info;

pub use claims::{Arrivals, ClaimRound, Loaded};
pub use convert::{is_not_mine, not_mine};

use super::body::BodyReader;
use super::layout::Layout;
use super::{BodyWriter, SpoolError, SpoolStats, StoredMessage, Update};
use crate::cluster::{db, nodes, schema};
use crate::config::{ClusterConfig, PostgresConfig};
use crate::envelope::{Envelope, QueueId};
use committer::Request;
use ids::IdAllocator;

/// How long a session or a delivery waits for a pooled connection or a new one before the database
/// counts as unreachable (451 4.3.0, never a hang).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const CHANNEL_DEPTH: usize = 65_536;

/// The shared queue as one node sees it.
pub struct PgSpool {
    pool: Pool,
    node: String,
    process: i64,
    lease: Duration,
    ids: IdAllocator,
    tx: Mutex<Option<mpsc::Sender<Request>>>,
    layout: Layout,
    stats: Arc<SpoolStats>,
    url: String,
    password: Option<String>,
}

impl PgSpool {
    /// Connects, checks the schema, registers this node (its slot makes its queue ids unique) and
    /// starts the group committer. `dir` holds only temporary files (bodies too large for memory on
    /// their way in).
    pub async fn open(
        dir: &Path,
        pg: &PostgresConfig,
        cluster: &ClusterConfig,
    ) -> Result<Arc<PgSpool>, SpoolError> {
        let password = pg.password.as_ref().map(|s| s.expose().to_string());
        let client = db::connect(&pg.url, password.as_deref())
            .await
            .map_err(|e| SpoolError::Unavailable(e.to_string()))?;
        schema::check(&client)
            .await
            .map_err(|e| SpoolError::Schema(format!("{e}")))?;
        let process = process_token();
        let slot = nodes::register(
            &client,
            &cluster.node,
            process,
            cluster.lease,
            env!("CARGO_PKG_VERSION"),
        )
        .await
        .map_err(|e| SpoolError::Schema(e.to_string()))?;
        let layout = Layout::new(dir);
        std::fs::create_dir_all(layout.tmp_dir())?;
        let pool = build_pool(&pg.url, password.as_deref(), pg.pool_size)?;
        let stats = Arc::new(SpoolStats::default());
        let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
        tokio::spawn(committer::run(committer::Committer {
            url: pg.url.clone(),
            password: password.clone(),
            node: cluster.node.clone(),
            client: Some(client),
            stats: stats.clone(),
            rx,
        }));
        info!(node = %cluster.node, slot, database = %db::redacted(&pg.url), "shared queue opened");
        Ok(Arc::new(PgSpool {
            pool,
            node: cluster.node.clone(),
            process,
            lease: cluster.lease,
            ids: IdAllocator::new(slot as u64),
            tx: Mutex::new(Some(tx)),
            layout,
            stats,
            url: pg.url.clone(),
            password,
        }))
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// The provisioned domains shared through this database, changed under this node's name.
    pub fn provisioned_domains(&self) -> crate::cluster::domains::SharedDomains {
        crate::cluster::domains::SharedDomains::new(self.pool.clone(), &self.node)
    }

    /// The recipient-verification cache shared through this database, written by this node's name.
    pub fn recipient_cache(&self) -> crate::cluster::verdicts::SharedVerdicts {
        crate::cluster::verdicts::SharedVerdicts::start(self.pool.clone(), &self.node)
    }

    pub(super) fn body_writer(&self) -> BodyWriter {
        BodyWriter::new(self.ids.next(), self.layout.clone())
    }

    /// 250 only after this returns: the message and its body are in a committed transaction.
    pub(super) async fn commit(
        &self,
        envelope: Envelope,
        body: BodyWriter,
    ) -> Result<StoredMessage, SpoolError> {
        let id = body.id;
        let size = body.len();
        let inline = match body.finish().await? {
            super::writer::PendingBody::Memory(bytes) => Some(bytes),
            super::writer::PendingBody::File { tmp, .. } => {
                let stored = self.store_spilled(id, &tmp).await;
                let _ = tokio::fs::remove_file(&tmp).await;
                stored?;
                None
            }
        };
        let message = StoredMessage {
            id,
            envelope,
            attempts: Vec::new(),
            held: false,
            size,
        };
        let (reply, rx) = oneshot::channel();
        self.send(Request::Commit {
            message,
            inline,
            reply,
        })
        .await?;
        rx.await.map_err(|_| SpoolError::Closed)?
    }

    pub(super) async fn update(&self, updates: Vec<Update>) -> Result<(), SpoolError> {
        if updates.is_empty() {
            return Ok(());
        }
        let (reply, rx) = oneshot::channel();
        self.send(Request::Update { updates, reply }).await?;
        rx.await.map_err(|_| SpoolError::Closed)?
    }

    async fn send(&self, request: Request) -> Result<(), SpoolError> {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let tx = tx.ok_or(SpoolError::Closed)?;
        tx.send(request).await.map_err(|_| SpoolError::Closed)
    }

    pub(super) async fn open_body(&self, id: QueueId) -> Result<BodyReader, SpoolError> {
        body::open(self, id).await
    }

    /// A pooled connection, or `Unavailable` within [`CONNECT_TIMEOUT`].
    pub(crate) async fn client(&self) -> Result<Object, SpoolError> {
        self.pool
            .get()
            .await
            .map_err(|e| SpoolError::Unavailable(e.to_string()))
    }

    pub(super) fn stats(&self) -> &SpoolStats {
        &self.stats
    }

    pub(super) fn dir(&self) -> &Path {
        &self.layout.root
    }

    pub(super) fn close(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// The shared queue's row for a message (its envelope in the journal's encoding).
pub(crate) fn new_message_row(
    message: &StoredMessage,
    inline: Option<Vec<u8>>,
) -> crate::cluster::commit::NewMessage {
    convert::new_message(message, inline)
}

/// A message as the shared queue stores it, every recipient with its stored state (for the views).
pub fn decode_listed(loaded: &crate::cluster::load::Loaded) -> Option<StoredMessage> {
    convert::stored_message(loaded, &|_: &str| true)
}

fn build_pool(url: &str, password: Option<&str>, size: usize) -> Result<Pool, SpoolError> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| SpoolError::Unavailable(e.to_string()))?;
    if let Some(password) = password {
        config.password(password);
    }
    config.connect_timeout(CONNECT_TIMEOUT);
    config.keepalives_idle(Duration::from_secs(10));
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(CONNECT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .recycle_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|e| SpoolError::Unavailable(e.to_string()))
}

/// Tells this process from an earlier one under the same node name (pid and start time).
fn process_token() -> i64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    nanos ^ (i64::from(std::process::id()) << 40)
}
