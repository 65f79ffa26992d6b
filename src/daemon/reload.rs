//! Config reload without a restart (SIGHUP, `systemctl reload`, `backupmx reload` through the API):
//! reads the config file again; a file that fails validation is refused with every
//! `FILE:LINE: KEY: message` in the log and the running config stays. Otherwise the reload plan
//! (`config::reload::plan`) is applied: the config in force is replaced (new SMTP connections, the
//! admin allow-list), recipient validation and the queue's domain table are reconfigured (a removed
//! domain gets no new mail and drains), the TLS certificate is read again, and what waits for a
//! restart is named. Open sessions and queued mail are untouched.
//!
//! The same task applies the domain changes of the provisioning API (`provision`), so a change and a
//! reload never interleave: a change is checked (`provision::plan_change`), written to the store,
//! and put in force through the same plan as a reload. A reload merges the store's domains beside
//! the file's; a name in both is logged as an error and the file's `[[domain]]` stays in force.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot, watch};

use super::notify;
use crate::config::Config;
use crate::config::reload::{ReloadReport, ReloadResult, plan};
use crate::inbound::TlsReloader;
use crate::live::Live;
use crate::provision::{ChangeError, ChangeResult, DomainChange, DomainInbox, DomainStore};
use crate::queue::QueueContext;
use crate::recipients::RecipientService;

mod shared;

/// Everything a reload touches.
pub struct Reloader {
    /// `None`: the server runs on the embedded default; there is nothing to read again.
    pub file: Option<PathBuf>,
    pub live: Live<Config>,
    pub recipients: Arc<RecipientService>,
    pub queue: Arc<QueueContext>,
    pub tls: Option<TlsReloader>,
    /// The admin console's certificate (`[admin] tls_cert`), when it is served over HTTPS.
    pub admin_tls: Option<TlsReloader>,
    /// The provisioned domains (`<state_dir>/domains.toml`).
    pub store: Mutex<DomainStore>,
    /// In a cluster: the provisioned domains every node follows (`shared.rs`).
    pub shared: Option<crate::cluster::domains::SharedDomains>,
}

impl Reloader {
    /// Reads the file and applies what may change; logs the outcome either way.
    pub fn reload(&self) -> ReloadResult {
        notify::reloading();
        let result = self.reload_file();
        match &result {
            Ok(report) => {
                tracing::info!(summary = %report.summary, "config reloaded");
                if !report.restart_needed.is_empty() {
                    tracing::warn!(
                        settings = %report.restart_needed.join("; "),
                        "config reload: these changed settings keep their running value until a restart"
                    );
                }
                notify::reloaded("accepting mail (config reloaded)");
            }
            Err(errors) => {
                for line in errors.lines() {
                    tracing::error!("config reload refused, the running config stays: {line}");
                }
                notify::reloaded("accepting mail (config reload refused, see the log)");
            }
        }
        result
    }

    fn reload_file(&self) -> ReloadResult {
        let Some(file) = &self.file else {
            return Err("no config file: the server runs on the embedded default".to_string());
        };
        let loaded = Config::load(file).map_err(|errors| errors.to_string())?;
        let running = self.live.get();
        let loaded = {
            let store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
            let set = store
                .domains()
                .validate(&store.path().display().to_string(), loaded.delivery.port)
                .map_err(|errors| errors.to_string())?;
            let (merged, clashes) = loaded.with_provisioned(&set);
            log_clashes(&clashes);
            merged
        };
        let plan = plan(&running, loaded);
        let apply = Arc::new(plan.apply.clone());
        self.reload_certificate(&apply);
        self.reload_admin_certificate(&apply);
        self.put_in_force(apply, &plan.removed);
        Ok(ReloadReport {
            summary: plan.summary(),
            restart_needed: plan.need_restart,
        })
    }

    /// The live parts follow `config`; `removed` domains drain.
    fn put_in_force(&self, config: Arc<Config>, removed: &[crate::config::DomainConfig]) {
        self.recipients.reconfigure(&config);
        self.queue.reconfigure(&config, removed);
        self.live.set(config);
    }

    /// A provisioning change: checked, written to the store (durably; in a cluster first to the
    /// shared table), then put in force like a reload's domain changes. Nothing changes when any
    /// step fails.
    pub async fn provision(&self, change: &DomainChange) -> ChangeResult {
        let running = self.live.get();
        let planned = {
            let store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
            crate::provision::plan_change(&running, store.domains(), change)?
        };
        if let Some(shared) = &self.shared {
            let name = &planned.report.name;
            let settings = planned.store.table_text(name);
            shared
                .write(name, settings.as_deref())
                .await
                .map_err(|e| ChangeError::Store(e.to_string()))?;
        }
        self.store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(planned.store)
            .map_err(|e| ChangeError::Store(e.to_string()))?;
        let plan = plan(&running, planned.config);
        self.put_in_force(Arc::new(plan.apply.clone()), &plan.removed);
        tracing::info!(
            domain = %planned.report.name,
            action = planned.report.action,
            summary = %plan.summary(),
            "provisioned domains changed"
        );
        Ok(planned.report)
    }

    /// A certificate that cannot be read is logged and the current one kept (the rest still applies).
    fn reload_certificate(&self, config: &Config) {
        let (Some(tls), Some(cert), Some(key)) =
            (&self.tls, &config.smtp.tls_cert, &config.smtp.tls_key)
        else {
            return;
        };
        match tls.reload_from(cert, key) {
            Ok(()) => tracing::info!(cert = %cert.display(), "TLS certificate and key reloaded"),
            Err(error) => {
                tracing::warn!(%error, "TLS reload failed, keeping the current certificate")
            }
        }
    }
}

impl Reloader {
    /// The console's pair, like the SMTP one: an unreadable pair is logged and the current one kept.
    fn reload_admin_certificate(&self, config: &Config) {
        let (Some(tls), Some(cert), Some(key)) = (
            &self.admin_tls,
            &config.admin.tls_cert,
            &config.admin.tls_key,
        ) else {
            return;
        };
        match tls.reload_from(cert, key) {
            Ok(()) => {
                tracing::info!(cert = %cert.display(), "admin console TLS certificate and key reloaded")
            }
            Err(error) => tracing::warn!(
                %error,
                "admin console TLS reload failed, keeping the current certificate"
            ),
        }
    }
}

/// One step of the reload task.
enum Work {
    Hangup,
    Request(oneshot::Sender<ReloadResult>),
    Change(DomainChange, oneshot::Sender<ChangeResult>),
    Follow,
}

/// How often a node of a cluster reads the shared provisioned domains.
const FOLLOW_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// A domain both in the config file and provisioned: said loudly, at start and at every reload.
pub fn log_clashes(clashes: &[String]) {
    for name in clashes {
        tracing::error!(
            domain = %name,
            "domain both in the config file and provisioned through the API: the config file's \
             [[domain]] is in force and the provisioned one is ignored; remove one of them \
             (`backupmx domains remove {name}`, or the [[domain]] in the file)"
        );
    }
}

/// Reloads on every SIGHUP and every request until shutdown. The SIGHUP handler is installed when
/// this is called, so a SIGHUP right after start-up cannot end the process.
pub fn run(
    reloader: Reloader,
    mut requests: mpsc::Receiver<oneshot::Sender<ReloadResult>>,
    mut changes: DomainInbox,
    mut shutdown: watch::Receiver<bool>,
) -> impl Future<Output = ()> + Send + 'static {
    let hangups = signal(SignalKind::hangup());
    async move {
        reloader.seed_shared().await;
        let mut follow = tokio::time::interval(FOLLOW_INTERVAL);
        let mut hangups = match hangups {
            Ok(hangups) => Some(hangups),
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGHUP: reload only through the API");
                None
            }
        };
        loop {
            let hangup = async {
                match hangups.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            // What to do is chosen first and done after the select, so no waiting future (the
            // shutdown watch's guard among them) is held across the work's own awaits.
            let next = tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                received = hangup => {
                    if received.is_none() {
                        return;
                    }
                    Work::Hangup
                }
                request = requests.recv() => {
                    let Some(reply) = request else { return };
                    Work::Request(reply)
                }
                change = changes.recv() => {
                    let Some((change, reply)) = change else { return };
                    Work::Change(change, reply)
                }
                _ = follow.tick(), if reloader.shared.is_some() => Work::Follow,
            };
            match next {
                Work::Hangup => {
                    tracing::info!("SIGHUP: reloading the config");
                    let _ = reloader.reload();
                }
                Work::Request(reply) => {
                    tracing::info!("reload requested through the admin API");
                    let _ = reply.send(reloader.reload());
                }
                Work::Change(change, reply) => {
                    let _ = reply.send(reloader.provision(&change).await);
                }
                Work::Follow => reloader.follow_shared().await,
            }
        }
    }
}
