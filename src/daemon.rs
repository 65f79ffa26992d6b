//! The running server: opens the spool, binds the listeners, starts the queue and the SMTP server,
//! reloads the TLS certificate on SIGHUP, and shuts them down in order on SIGTERM/SIGINT (stop
//! accepting, finish sessions, let deliveries finish their message, close the spool).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;

use crate::admin::{self, AdminState};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::delivery::{Deliverer, SetupError};
use crate::inbound::{self, InboundContext, TlsError};
use crate::queue::api::QueueApi;
use crate::queue::{self, QueueContext, QueueHandle, QueueParts, QueueState};
use crate::recipients::RecipientService;
use crate::spool::{Spool, SpoolError};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("spool {dir}: {source}")]
    Spool { dir: String, source: SpoolError },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    #[error("delivery set-up: {0}")]
    Delivery(#[from] SetupError),
    #[error(
        "[admin] tls_cert/tls_key: TLS on the admin listener is not implemented yet; remove them and \
         keep the listener on a trusted address (or behind a TLS proxy)"
    )]
    AdminTlsUnsupported,
}

/// Runs the server until SIGTERM or SIGINT.
pub async fn serve(config: Config) -> Result<(), StartError> {
    raise_open_files_limit(&config);
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        info!("shutdown requested");
        let _ = stop.send(true);
    });
    run(config, stopped).await
}

/// Raises the soft open-files limit to the hard one: each SMTP connection holds a socket (and a spill
/// file while receiving a large message), and a soft limit of 1024 would refuse connections long
/// before `smtp.max_connections`.
fn raise_open_files_limit(config: &Config) {
    // The admin listener has its own cap (`[admin] max_connections`), so it cannot eat this budget.
    let wanted =
        (config.smtp.max_connections as u64) * 2 + config.admin.limits.max_connections as u64 + 256;
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < wanted => tracing::warn!(
            limit,
            wanted,
            "open-files limit is low for smtp.max_connections; raise the hard limit (LimitNOFILE=)"
        ),
        Ok(limit) => info!(limit, "open-files limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the open-files limit"),
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending::<()>().await,
    }
}

/// The `smtp.tls_listen` sockets (port-465 style; the config guarantees a certificate).
async fn bind_implicit_tls(config: &Config) -> Result<Vec<inbound::Listener>, StartError> {
    let mut listeners = Vec::new();
    for addr in &config.smtp.tls_listen {
        let socket = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind {
                addr: *addr,
                source,
            })?;
        info!(addr = %socket.local_addr().unwrap_or(*addr), "SMTP (implicit TLS) listening");
        listeners.push(inbound::Listener {
            socket,
            implicit_tls: true,
        });
    }
    Ok(listeners)
}

/// Runs the server until `shutdown` turns true.
pub async fn run(config: Config, shutdown: watch::Receiver<bool>) -> Result<(), StartError> {
    let config = Arc::new(config);
    let dir = config.spool.dir.clone();
    let (spool, recovered) = Spool::open(&dir).map_err(|source| StartError::Spool {
        dir: dir.display().to_string(),
        source,
    })?;
    let mut listeners = Vec::new();
    for addr in &config.smtp.listen {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind {
                addr: *addr,
                source,
            })?;
        info!(addr = %listener.local_addr().unwrap_or(*addr), "SMTP listening");
        listeners.push(inbound::Listener {
            socket: listener,
            implicit_tls: false,
        });
    }
    listeners.extend(bind_implicit_tls(&config).await?);
    // Serving the console in clear text when TLS was asked for would expose the password: refuse.
    if config.admin.tls_cert.is_some() || config.admin.tls_key.is_some() {
        return Err(StartError::AdminTlsUnsupported);
    }
    let admin_listener = TcpListener::bind(config.admin.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.admin.listen,
            source,
        })?;
    info!(addr = %admin_listener.local_addr().unwrap_or(config.admin.listen), "admin console listening");
    let (tls, tls_reloader) = match (&config.smtp.tls_cert, &config.smtp.tls_key) {
        (Some(cert), Some(key)) => {
            let (acceptor, reloader) = inbound::load_reloadable_tls(cert, key)?;
            (Some(acceptor), Some(reloader))
        }
        _ => (None, None),
    };
    tokio::spawn(inbound::reload_on_sighup(tls_reloader, shutdown.clone()));
    let deliverer = Deliverer::new(&config)?;
    // The live queue comes first: recipient validation asks it whether a primary is down, and the
    // queue's runtime tells recipient validation what the primary said at delivery.
    let queue_state = Arc::new(QueueState::new(&config));
    let recipients = Arc::new(
        RecipientService::new(&config, Arc::new(SystemClock), Some(deliverer.clone()))
            .with_primary_health(queue_state.clone()),
    );
    let (queue, commands) = QueueHandle::new();
    let queue_ctx = Arc::new(QueueContext::new(QueueParts {
        config: config.clone(),
        spool: spool.clone(),
        deliverer,
        clock: Arc::new(SystemClock),
        state: queue_state,
        shutdown: shutdown.clone(),
        recipients: recipients.clone(),
    }));
    let recipients_task = tokio::spawn(recipients.clone().run_persistence(shutdown.clone()));
    let admin_state = AdminState::new(config.clone(), QueueApi::new(queue_ctx.clone()))
        .with_recipients(recipients.clone());
    let admin_task = tokio::spawn(admin::serve(admin_listener, admin_state, shutdown.clone()));
    let queue_task = tokio::spawn(queue::run(queue_ctx, recovered, commands));
    let inbound_ctx = Arc::new(InboundContext {
        config: config.clone(),
        spool: spool.clone(),
        queue,
        tls,
        recipients,
    });
    info!(hostname = %config.hostname, spool = %dir.display(), "backupmx running");
    let options = inbound::ServeOptions::default();
    inbound::serve_listeners(listeners, inbound_ctx, shutdown, options).await;
    let _ = queue_task.await;
    let _ = admin_task.await;
    let _ = recipients_task.await;
    spool.close();
    let stats = spool.stats();
    info!(
        commits = stats.commits.load(std::sync::atomic::Ordering::Relaxed),
        group_commits = stats.batches.load(std::sync::atomic::Ordering::Relaxed),
        fsyncs = stats.fsyncs.load(std::sync::atomic::Ordering::Relaxed),
        "backupmx stopped"
    );
    Ok(())
}
