//! The running server: binds the listeners, opens the spool, starts the queue and the SMTP server,
//! reloads the TLS certificate on SIGHUP, and shuts them down in order on SIGTERM/SIGINT (stop
//! accepting, finish sessions, let deliveries finish their message, close the spool).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;
use tracing::info;

use crate::acme::{Acme, AcmeError};
use crate::admin::{self, AdminState};
use crate::alerts::{self, AlertService};
use crate::checks::{CheckSetupError, SenderChecker};
use crate::clock::SystemClock;
use crate::config::{Config, SpoolBackend};
use crate::delivery::{Deliverer, SetupError};
use crate::inbound::{self, InboundContext, TlsError, TlsReloader};
use crate::live::Live;
use crate::provision::DomainStore;
use crate::queue::api::QueueApi;
use crate::queue::{self, QueueContext, QueueHandle, QueueParts, QueueState};
use crate::readiness::{Gatherer, ReadinessService};
use crate::recipients::RecipientService;
use crate::spool::{Spool, SpoolError, StoredMessage};

mod notify;
mod reload;
mod sockets;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("spool {dir}: {source}")]
    Spool { dir: String, source: SpoolError },
    #[error("cannot listen on {addr} ({key}): {source}")]
    Bind {
        addr: SocketAddr,
        /// The config key that names the address.
        key: &'static str,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    #[error("delivery set-up: {0}")]
    Delivery(#[from] SetupError),
    #[error("sender checks: {0}")]
    Checks(#[from] CheckSetupError),
    #[error("readiness check set-up: {0}")]
    Readiness(String),
    #[error("alerts set-up: {0}")]
    Alerts(String),
    #[error("{0}")]
    Acme(#[from] AcmeError),
    #[error("[admin] TLS: {0}")]
    AdminTls(TlsError),
    #[error("provisioned domains: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Provisioned(crate::config::ConfigErrors),
}

impl StartError {
    /// What the administrator can do about it, for the one line `serve` prints.
    pub fn remedy(&self) -> String {
        match self {
            StartError::Spool {
                source: SpoolError::Locked(_),
                ..
            } => "stop the other backupmx, or give this one its own [spool] dir".into(),
            StartError::Spool {
                source: SpoolError::Unavailable(_),
                ..
            } => "start PostgreSQL or correct [spool] postgres_url / postgres_password_file".into(),
            StartError::Spool {
                source: SpoolError::Schema(_),
                ..
            } => "run `backupmx db migrate --url URL` with this binary, or give each node its own [cluster] node".into(),
            StartError::Spool { dir, .. } => format!(
                "check that {dir} (or its parent) exists and is writable by this user, or change [spool] dir"
            ),
            StartError::Bind { addr, key, source } => match source.kind() {
                std::io::ErrorKind::AddrInUse => format!(
                    "another program (another backupmx?) listens on {addr}: stop it, or change {key}"
                ),
                std::io::ErrorKind::PermissionDenied if addr.port() < 1024 => format!(
                    "port {} needs root or the CAP_NET_BIND_SERVICE capability (see docs/deploy.md)",
                    addr.port()
                ),
                std::io::ErrorKind::AddrNotAvailable => {
                    format!("{} is not an address of this host: fix {key}", addr.ip())
                }
                _ => format!("fix {key} in the config"),
            },
            StartError::Tls(_) => {
                "check [smtp] tls_cert and tls_key (PEM files readable by this user)".into()
            }
            StartError::Delivery(_) => {
                "check [dns] nameservers (or /etc/resolv.conf), [dns] trust_anchor and [delivery] tls_ca_file".into()
            }
            StartError::Checks(_) => {
                "check [dns] nameservers (or /etc/resolv.conf) and [arc] key_file".into()
            }
            StartError::Provisioned(_) => format!(
                "fix the file named above (written by the provisioning API; `{}` in the state \
                 directory), or move it away to start without the provisioned domains",
                crate::config::provisioned::STORE_FILE
            ),
            StartError::AdminTls(_) => {
                "check [admin] tls_cert and tls_key (PEM files readable by this user)".into()
            }
            StartError::Readiness(_) | StartError::Alerts(_) => {
                "check [delivery] tls_ca_file (PEM CA certificates)".into()
            }
            StartError::Acme(_) => "check [acme] directory and names (each name must resolve to this host, and [acme] http_listen must be reachable on port 80 from the CA)".into(),
        }
    }
}

/// Runs the server until SIGTERM or SIGINT, on a config that cannot be reloaded (the embedded default).
pub async fn serve(config: Config) -> Result<(), StartError> {
    serve_file(config, None).await
}

/// Runs the server until SIGTERM or SIGINT; `file` is read again on SIGHUP and `backupmx reload`.
pub async fn serve_file(config: Config, file: Option<PathBuf>) -> Result<(), StartError> {
    raise_open_files_limit(&config);
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        info!("shutdown requested");
        notify::stopping();
        let _ = stop.send(true);
    });
    run_file(config, file, stopped).await
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

/// With `[acme]`: answers HTTP-01 challenges from now on, and obtains the first certificate before
/// the listeners start when none is stored (bounded by `acme::ORDER_TIMEOUT`).
async fn start_acme(
    config: &Config,
    shutdown: &watch::Receiver<bool>,
) -> Result<Option<Acme>, StartError> {
    let Some(settings) = &config.acme else {
        return Ok(None);
    };
    let acme = Acme::new(settings, &admin::state_dir(config));
    let listener = sockets::listen(sockets::reserve(
        settings.http_listen,
        "[acme] http_listen",
    )?)?;
    info!(addr = %settings.http_listen, "ACME http-01 responder listening");
    tokio::spawn(crate::acme::http01::serve(
        listener,
        acme.challenges(),
        shutdown.clone(),
    ));
    if !acme.has_certificate() {
        info!(names = %settings.names.join(","), "ACME: no stored certificate; ordering one before start");
        acme.obtain().await?;
    }
    Ok(Some(acme))
}

/// `[admin] tls_cert` / `tls_key`: the console's acceptor and the handle a reload swaps its pair
/// through (the same resolver as the SMTP side's, so open connections keep theirs).
fn load_admin_tls(
    config: &Config,
) -> Result<(Option<tokio_rustls::TlsAcceptor>, Option<TlsReloader>), StartError> {
    match (&config.admin.tls_cert, &config.admin.tls_key) {
        (Some(cert), Some(key)) => {
            let (acceptor, reloader) =
                inbound::load_reloadable_tls(cert, key).map_err(StartError::AdminTls)?;
            Ok((Some(acceptor), Some(reloader)))
        }
        _ => Ok((None, None)),
    }
}

/// The local spool (recovering what it holds), or the cluster's shared queue (whose mail the queue's
/// cluster loop loads as this node claims destinations).
async fn open_spool(config: &Config) -> Result<(Spool, Vec<StoredMessage>), StartError> {
    let dir = &config.spool.dir;
    match &config.spool.backend {
        SpoolBackend::Local => Spool::open(dir).map_err(|source| StartError::Spool {
            dir: dir.display().to_string(),
            source,
        }),
        SpoolBackend::Postgres(pg) => Spool::open_shared(dir, pg, &config.cluster)
            .await
            .map(|spool| (spool, Vec::new()))
            .map_err(|source| StartError::Spool {
                dir: crate::cluster::db::redacted(&pg.url),
                source,
            }),
    }
}

/// Runs the server until `shutdown` turns true.
pub async fn run(config: Config, shutdown: watch::Receiver<bool>) -> Result<(), StartError> {
    run_file(config, None, shutdown).await
}

/// Runs the server until `shutdown` turns true; `file` is what a reload reads.
pub async fn run_file(
    config: Config,
    file: Option<PathBuf>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), StartError> {
    // The provisioned domains sit beside the file's from the start (read only: a failed start
    // writes nothing).
    let (store, provisioned) = DomainStore::open(&admin::state_dir(&config), config.delivery.port)
        .map_err(StartError::Provisioned)?;
    let (config, clashes) = config.with_provisioned(&provisioned);
    reload::log_clashes(&clashes);
    if !provisioned.domains.is_empty() {
        info!(
            file = %store.path().display(),
            domains = provisioned.domains.len() - clashes.len(),
            "provisioned domains loaded"
        );
    }
    let config = Arc::new(config);
    // The config in force: replaced whole by a reload, read by new connections and the admin layer.
    let live = Live::from_arc(Arc::clone(&config));
    // Everything that can fail for a wrong config (ports, certificates, resolver) is tried before the
    // spool is opened, so a failed start leaves no spool directory behind.
    let mut reserved = Vec::new();
    for addr in &config.smtp.listen {
        reserved.push((sockets::reserve(*addr, "[smtp] listen")?, false));
    }
    // `smtp.tls_listen`: port-465 style; the config guarantees a certificate.
    for addr in &config.smtp.tls_listen {
        reserved.push((sockets::reserve(*addr, "[smtp] tls_listen")?, true));
    }
    // The console's certificate is read before anything is created, like the SMTP one.
    let (admin_tls, admin_tls_reloader) = load_admin_tls(&config)?;
    let admin_reserved = sockets::reserve(config.admin.listen, "[admin] listen")?;
    let acme = start_acme(&config, &shutdown).await?;
    let files = match (&acme, &config.smtp.tls_cert, &config.smtp.tls_key) {
        (Some(acme), _, _) => Some((acme.store().cert_path(), acme.store().key_path())),
        (None, Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
        _ => None,
    };
    let (tls, tls_reloader) = match files {
        Some((cert, key)) => {
            let (acceptor, reloader) = inbound::load_reloadable_tls(&cert, &key)?;
            (Some(acceptor), Some(reloader))
        }
        None => (None, None),
    };
    if let (Some(acme), Some(reloader)) = (acme, &tls_reloader) {
        tokio::spawn(acme.run(reloader.clone(), shutdown.clone()));
    }
    let deliverer = Deliverer::new(&config)?;
    let checks = Arc::new(SenderChecker::new(&config)?);
    let readiness = Arc::new(ReadinessService::new(
        Gatherer::new(&config, deliverer.clone()).map_err(StartError::Readiness)?,
        tls_reloader.clone(),
    ));
    let alert_tls =
        crate::delivery::client::verified_config(config.delivery.tls_ca_file.as_deref())
            .map_err(StartError::Alerts)?;
    let dir = config.spool.dir.clone();
    let (spool, recovered) = open_spool(&config).await?;
    let mut listeners = Vec::new();
    for (socket, implicit_tls) in reserved {
        let socket = sockets::listen(socket)?;
        let addr = socket
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        match implicit_tls {
            false => info!(%addr, "SMTP listening"),
            true => info!(%addr, "SMTP (implicit TLS) listening"),
        }
        listeners.push(inbound::Listener {
            socket,
            implicit_tls,
        });
    }
    // The live queue comes first: recipient validation asks it whether a primary is down, and the
    // queue's runtime tells recipient validation what the primary said at delivery.
    let queue_state = Arc::new(QueueState::new(&config));
    let mut recipients =
        RecipientService::new(&config, Arc::new(SystemClock), Some(deliverer.clone()))
            .with_primary_health(queue_state.clone())
            .with_usage(queue_state.clone());
    if let Some(shared) = spool.shared() {
        // The cluster's table replaces the cache file; the copy arrives once the node listens.
        recipients = recipients.with_shared_cache(Arc::new(shared.recipient_cache()));
    }
    let recipients = Arc::new(recipients);
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
    let (reload_requests, reload_inbox) = tokio::sync::mpsc::channel(4);
    let (domain_requests, domain_inbox) = tokio::sync::mpsc::channel(16);
    let reloader = reload::Reloader {
        file,
        live: live.clone(),
        recipients: recipients.clone(),
        queue: queue_ctx.clone(),
        tls: tls_reloader.clone(),
        admin_tls: admin_tls_reloader,
        store: std::sync::Mutex::new(store),
        shared: spool.shared().map(|pg| pg.provisioned_domains()),
    };
    tokio::spawn(reload::run(
        reloader,
        reload_inbox,
        domain_inbox,
        shutdown.clone(),
    ));
    let alerts = Arc::new(AlertService::new(
        live.clone(),
        alerts::Sources {
            queue: QueueApi::new(queue_ctx.clone()),
            tls: tls_reloader.clone(),
            spool_dir: dir.clone(),
        },
        &admin::state_dir(&config),
        alerts::Poster::new(alert_tls),
        Arc::new(SystemClock),
    ));
    let admin_state = AdminState::new(config.clone(), QueueApi::new(queue_ctx.clone()))
        .with_recipients(recipients.clone())
        .with_checks(checks.clone())
        .with_readiness(readiness.clone())
        .with_live_config(live.clone())
        .with_reload(reload_requests)
        .with_domain_changes(domain_requests)
        .with_alerts(alerts.clone());
    tokio::spawn(readiness.run(shutdown.clone()));
    tokio::spawn(alerts.run(shutdown.clone()));
    // Listening only now: once the console accepts, its credentials are resolved (and announced).
    let admin_listener = sockets::listen(admin_reserved)?;
    let admin_addr = admin_listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    info!(addr = %admin_addr, "admin console listening");
    let admin_task = tokio::spawn(admin::serve(
        admin_listener,
        admin_tls,
        admin_state,
        shutdown.clone(),
    ));
    let queue = QueueHandle::new(queue_ctx.clone());
    let queue_task = tokio::spawn(queue::run(queue_ctx, recovered));
    let inbound_ctx = Arc::new(InboundContext {
        config: live,
        spool: spool.clone(),
        queue,
        tls,
        recipients,
        checks,
    });
    info!(hostname = %config.hostname, spool = %dir.display(), "backupmx running");
    // The spool was recovered by `Spool::open` and every listener accepts (the kernel queues
    // connections until the accept loops below take them): tell systemd.
    notify::ready("accepting mail");
    notify::spawn_watchdog(shutdown.clone());
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
