//! The admin listener: the web console, the JSON API, Prometheus metrics and health, reachable only
//! from `[admin] allow`. It acts on the queue only through [`QueueApi`], never on files.
//!
//! Routes: `/healthz` (no token), `/metrics` and `/api/v1/...` (bearer token), and the console's routes
//! from [`ui::routes`]. Every route is behind the allow list.

pub mod access;
mod actions;
pub mod api;
mod api_alerts;
mod api_domains;
mod api_readiness;
mod api_recipients;
mod api_reload;
pub mod audit;
pub mod credentials;
pub mod error;
mod listener;
pub mod metrics;
pub mod password_check;
pub mod throttle;
pub mod ui;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::Config;
use crate::live::Live;
use crate::queue::api::QueueApi;
use audit::{AuditFile, AuditLog};
use credentials::{ADMIN_USER, Credentials};
use password_check::PasswordChecker;
use throttle::{LoginThrottle, ThrottlePolicy};

/// Largest request body the API reads (a list of ids).
const MAX_API_BODY: usize = 1024 * 1024;
/// The audit log's file name, in the state directory.
pub const AUDIT_FILE: &str = "audit.log";

/// What every admin handler can reach.
#[derive(Clone)]
pub struct AdminState {
    pub config: Arc<Config>,
    /// The config in force, for what a reload may change (`[admin] allow`, the domains shown).
    pub live: Live<Config>,
    pub queue: QueueApi,
    /// The API token and the console password's hash.
    pub credentials: Arc<Credentials>,
    /// Admin actions: `audit.record(who, from_ip, action, detail)`, `audit.recent(n)`.
    pub audit: AuditLog,
    /// The console password check, bounded in concurrency and memory.
    pub password: PasswordChecker,
    /// Failed logins per client address and user name, and the locks they caused.
    pub logins: Arc<Mutex<LoginThrottle>>,
    /// `None` when another metrics recorder was installed first.
    pub metrics: Option<PrometheusHandle>,
    /// Asks the daemon to reload the config (`POST /api/v1/reload`); `None`: not offered.
    pub reload: Option<ReloadRequests>,
    /// Recipient validation (issue 7); `None` until [`AdminState::with_recipients`].
    pub recipients: Option<Arc<crate::recipients::RecipientService>>,
    /// The sender checks (issue 15), for the dashboard's refusal counts; `None` until
    /// [`AdminState::with_checks`].
    pub checks: Option<Arc<crate::checks::SenderChecker>>,
    /// Per-domain readiness (issue 17); `None` until [`AdminState::with_readiness`].
    pub readiness: Option<Arc<crate::readiness::ReadinessService>>,
    /// Domain provisioning (issue 16): changes go to the daemon's reload task; `None`: not offered.
    pub domain_changes: Option<crate::provision::DomainRequests>,
    /// Alerts (issue 16): the recent alerts and the test alert; `None` until
    /// [`AdminState::with_alerts`].
    pub alerts: Option<Arc<crate::alerts::AlertService>>,
}

/// Asks the daemon's reload task for a reload; the answer comes back on the oneshot.
pub type ReloadRequests =
    tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<crate::config::reload::ReloadResult>>;

/// Where generated credentials and the audit log are kept: `[admin] state_dir`, else the spool.
pub fn state_dir(config: &Config) -> PathBuf {
    config
        .admin
        .state_dir
        .clone()
        .unwrap_or_else(|| config.spool.dir.clone())
}

impl AdminState {
    /// Resolves the credentials (generating them on first start, and saying so once in the log),
    /// opens the audit log and installs the metrics recorder.
    pub fn new(config: Arc<Config>, queue: QueueApi) -> AdminState {
        let dir = state_dir(&config);
        let credentials = resolve_credentials(&config, &dir);
        let limits = &config.admin.limits;
        let audit_file = AuditFile {
            path: dir.join(AUDIT_FILE),
            max_size: limits.audit_max_size,
            keep: limits.audit_keep,
        };
        AdminState {
            audit: AuditLog::new(Some(audit_file)).with_shared(queue.shared_audit(), queue.node()),
            password: PasswordChecker::new(&credentials.password_hash),
            logins: Arc::new(Mutex::new(LoginThrottle::new(ThrottlePolicy::from_limits(
                limits,
            )))),
            metrics: metrics::install(),
            credentials: Arc::new(credentials),
            live: Live::from_arc(Arc::clone(&config)),
            config,
            queue,
            reload: None,
            recipients: None,
            checks: None,
            readiness: None,
            domain_changes: None,
            alerts: None,
        }
    }

    /// Offers the Alerts page, `GET /api/v1/alerts` and `POST /api/v1/alerts/test`.
    pub fn with_alerts(mut self, alerts: Arc<crate::alerts::AlertService>) -> Self {
        self.alerts = Some(alerts);
        self
    }

    /// Offers `POST /api/v1/reload` (and so `backupmx reload`) through the daemon's reload task.
    pub fn with_reload(mut self, requests: ReloadRequests) -> Self {
        self.reload = Some(requests);
        self
    }

    /// Offers `PUT`/`DELETE /api/v1/domains/{name}` through the daemon's reload task.
    pub fn with_domain_changes(mut self, requests: crate::provision::DomainRequests) -> Self {
        self.domain_changes = Some(requests);
        self
    }

    /// Follows the config a reload puts in force (the daemon's), instead of the start-up one.
    pub fn with_live_config(mut self, live: Live<Config>) -> Self {
        self.live = live;
        self
    }

    /// Shows and manages the recipient cache through the console, the API and the CLI.
    pub fn with_recipients(mut self, recipients: Arc<crate::recipients::RecipientService>) -> Self {
        self.recipients = Some(recipients);
        self
    }

    pub fn with_checks(mut self, checks: Arc<crate::checks::SenderChecker>) -> Self {
        self.checks = Some(checks);
        self
    }

    pub fn with_readiness(mut self, readiness: Arc<crate::readiness::ReadinessService>) -> Self {
        self.readiness = Some(readiness);
        self
    }
}

/// The credentials, announced when just generated (see [`announce_password`]). Should the file be
/// unusable, the listener still runs with throw-away credentials rather than stopping the MX.
fn resolve_credentials(config: &Config, dir: &std::path::Path) -> Credentials {
    let url = console_url(config);
    match Credentials::resolve(&config.admin, dir) {
        Ok(resolved) => {
            if let Some(password) = &resolved.new_password {
                let file = resolved
                    .file
                    .as_ref()
                    .map(|f| f.display().to_string())
                    .unwrap_or_default();
                announce_password(&url, password, &file, dir);
            } else if let Some(file) = &resolved.file {
                tracing::info!(console = %url, user = %ADMIN_USER, credentials = %file.display(),
                    "admin credentials loaded (delete the file and restart to reset the password)");
            }
            resolved.credentials
        }
        Err(e) => {
            let password = format!("{:x}", rand::random::<u128>());
            let token = format!("{:x}{:x}", rand::random::<u128>(), rand::random::<u128>());
            // Neither secret goes to the log; only a terminal sees them.
            if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                eprintln!(
                    "\n  Temporary admin credentials until restart: {url}  user: {ADMIN_USER}  \
                     password: {password}  API token: {token}\n"
                );
            }
            tracing::error!(error = %e, console = %url,
                "cannot use the admin credentials file; the console and API use temporary credentials \
                 (shown only on a terminal) until the file is fixed or deleted and the server restarted");
            let hash = credentials::hash_password(&password).unwrap_or_default();
            Credentials {
                api_token: token,
                password_hash: hash,
            }
        }
    }
}

/// Gives a just-generated console password to the administrator without logging it (the log of a
/// service is the journal, readable by more people and kept for long): on the terminal when stderr is
/// one, else in `<state_dir>/admin-password` (0600), whose path is logged.
fn announce_password(url: &str, password: &str, credentials_file: &str, dir: &std::path::Path) {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        eprintln!(
            "\n  Admin console: {url}  user: {ADMIN_USER}  password: {password}\n  \
             (shown only this once and never logged; delete {credentials_file} and restart for new ones)\n"
        );
        tracing::info!(console = %url, user = %ADMIN_USER, api_token_file = %credentials_file,
            "admin credentials generated (the password was shown on the terminal, not logged)");
        return;
    }
    match credentials::write_first_password(dir, password) {
        Ok(path) => tracing::info!(
            console = %url, user = %ADMIN_USER, password_file = %path.display(), api_token_file = %credentials_file,
            "admin credentials generated; the console password is only in password_file (read it, then delete the file)"
        ),
        Err(e) => tracing::error!(error = %e, credentials = %credentials_file,
            "admin credentials generated, but the password could not be saved: delete the credentials file and restart to generate new ones"),
    }
}

/// Whether the admin listener serves HTTPS (`[admin] tls_cert`; turning it on or off waits for a
/// restart, so the start-up config decides).
pub fn https(config: &Config) -> bool {
    config.admin.tls_cert.is_some()
}

/// The console's address as its administrator types it.
fn console_url(config: &Config) -> String {
    let scheme = if https(config) { "https" } else { "http" };
    format!("{scheme}://{}/", config.admin.listen)
}

/// HSTS on every HTTPS answer: a year, no `includeSubDomains` (the console's host name may share its
/// parent with sites that are not ours to force onto HTTPS).
const HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000");

/// Every admin route, behind the allow list.
pub fn router(state: AdminState) -> Router {
    let hsts = https(&state.config);
    let token = from_fn_with_state(state.clone(), access::require_token);
    let api = api::routes()
        .layer(RequestBodyLimitLayer::new(MAX_API_BODY))
        .layer(axum::middleware::map_response(json_body_too_large))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(token.clone());
    let guarded = Router::new()
        .nest("/api/v1", api)
        .route("/metrics", get(metrics::scrape).layer(token))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(state.clone());
    let app = guarded
        .merge(ui::routes(state.clone()))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ));
    let app = if hsts {
        app.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HSTS,
        ))
    } else {
        app
    };
    app.layer(from_fn_with_state(state, access::allow_list))
}

/// The body limit's own 413 is plain text: give it the API's JSON form and stable code.
async fn json_body_too_large(response: axum::response::Response) -> axum::response::Response {
    use axum::response::IntoResponse;
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE && !json {
        return error::ApiError::body_too_large(MAX_API_BODY).into_response();
    }
    response
}

/// Serves the admin listener until `shutdown` turns true (the accept loop is `listener.rs`); over
/// HTTPS when `tls` is given.
pub async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    state: AdminState,
    shutdown: watch::Receiver<bool>,
) {
    if let Some(handle) = state.metrics.clone() {
        tokio::spawn(metrics::upkeep(handle, shutdown.clone()));
    }
    let (config, live) = (state.config.clone(), state.live.clone());
    listener::run(listener, router(state), tls, &config.admin, live, shutdown).await;
}
