//! The CLI's HTTP client for the admin JSON API: where the server is (config, credentials file, or
//! `--url`/`--token`), and one request → JSON or a typed error that knows its exit code. An HTTPS
//! listener (`[admin] tls_cert`, or an `https://` `--url`) is verified against `--ca FILE`, else
//! against the configured `[admin] tls_cert` itself (`trust.rs`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use backupmx::admin::credentials::{CREDENTIALS_FILE, stored_token};
use backupmx::admin::state_dir;
use backupmx::config::Config;
use backupmx::config::locate::{ConfigSource, locate};
use serde_json::Value;
use ureq::tls::{RootCerts, TlsConfig};

use super::trust;

/// Exit codes.
pub const EXIT_REFUSED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_UNREACHABLE: u8 = 3;

const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad arguments or config (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The server could not be reached (exit 3).
    #[error(
        "cannot reach the backupmx admin API at {url} (config: {config_from}): {message}; is the server running? \
         If it runs with another config, give --config FILE or set BACKUPMX_CONFIG"
    )]
    Unreachable {
        url: String,
        config_from: String,
        message: String,
    },
    /// The server answered with an error (exit 1).
    #[error("{status} {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Unreachable { .. } => EXIT_UNREACHABLE,
            CliError::Refused { .. } => EXIT_REFUSED,
        }
    }
}

/// A connection to the running server's API.
pub struct ApiClient {
    agent: ureq::Agent,
    /// e.g. `http://127.0.0.1:8025` (no trailing slash).
    base: String,
    token: String,
    /// Where the URL and token came from, for the error when the server does not answer.
    source: String,
    /// Where the token came from, for the error when the server refuses it.
    token_from: String,
}

/// The server's admin URL from `[admin] listen` (an unspecified address means this host), `https`
/// when `[admin] tls_cert` is set.
pub fn url_from_config(config: &Config) -> String {
    let mut addr = config.admin.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            [127, 0, 0, 1].into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let scheme = if config.admin.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{addr}")
}

/// The roots an HTTPS request trusts: `--ca`, else the server's own `[admin] tls_cert`, else the
/// Mozilla roots (a `--url https://...` of a server whose config says nothing of TLS).
fn roots(ca: Option<&Path>, config: &Config) -> Result<RootCerts, CliError> {
    let file = ca.or(config.admin.tls_cert.as_deref());
    let Some(file) = file else {
        return Ok(RootCerts::WebPki);
    };
    let anchors = trust::anchors(file).map_err(|e| {
        let hint = if ca.is_some() {
            "give a readable PEM file with --ca"
        } else {
            "the CLI trusts [admin] tls_cert by default; give the CA that issued it with --ca FILE"
        };
        CliError::Usage(format!("{e}; {hint}"))
    })?;
    Ok(RootCerts::Specific(Arc::new(anchors)))
}

impl ApiClient {
    /// From the flags, else the config ([`locate`]: `--config`, `BACKUPMX_CONFIG`, /etc, the embedded
    /// default) and its credentials file.
    pub fn new(
        config_file: Option<&Path>,
        url: Option<String>,
        token: Option<String>,
        ca: Option<&Path>,
    ) -> Result<ApiClient, CliError> {
        let source = locate(config_file.map(Path::to_path_buf));
        let config = source.load().map_err(|errors| {
            CliError::Usage(format!(
                "{errors}
(config from {source})"
            ))
        })?;
        let base = url
            .unwrap_or_else(|| url_from_config(&config))
            .trim_end_matches('/')
            .to_string();
        let (token, token_from) = match (token, config.admin.api_token.clone()) {
            (Some(token), _) => (token, "--token".to_string()),
            (None, Some(token)) => (token, format!("[admin] api_token of {source}")),
            (None, None) => {
                let dir = state_dir(&config);
                let token = stored_token(&dir)
                    .map_err(|e| CliError::Usage(e.to_string()))?
                    .ok_or_else(|| CliError::Usage(no_token(&source, &dir)))?;
                let file = dir.join(CREDENTIALS_FILE);
                (token, format!("{}, by {source}", file.display()))
            }
        };
        let mut agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT));
        if base.starts_with("https://") {
            let tls = TlsConfig::builder().root_certs(roots(ca, &config)?).build();
            agent = agent.tls_config(tls);
        }
        let agent = agent.build().new_agent();
        Ok(ApiClient {
            agent,
            base,
            token,
            source: source.to_string(),
            token_from,
        })
    }

    pub fn get(&self, path: &str) -> Result<Value, CliError> {
        let url = format!("{}{path}", self.base);
        let request = self
            .agent
            .get(&url)
            .header("Authorization", &format!("Bearer {}", self.token));
        self.answer(&url, request.call())
    }

    pub fn post(&self, path: &str, body: Option<Value>) -> Result<Value, CliError> {
        let url = format!("{}{path}", self.base);
        let request = self
            .agent
            .post(&url)
            .header("Authorization", &format!("Bearer {}", self.token));
        let response = match body {
            Some(body) => request.send_json(body),
            None => request.send_empty(),
        };
        self.answer(&url, response)
    }

    pub fn put(&self, path: &str, body: Value) -> Result<Value, CliError> {
        let url = format!("{}{path}", self.base);
        let request = self
            .agent
            .put(&url)
            .header("Authorization", &format!("Bearer {}", self.token));
        self.answer(&url, request.send_json(body))
    }

    pub fn delete(&self, path: &str) -> Result<Value, CliError> {
        let url = format!("{}{path}", self.base);
        let request = self
            .agent
            .delete(&url)
            .header("Authorization", &format!("Bearer {}", self.token));
        self.answer(&url, request.call())
    }

    fn answer(
        &self,
        url: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, CliError> {
        let unreachable = |e: ureq::Error| CliError::Unreachable {
            url: url.to_string(),
            config_from: self.source.clone(),
            message: e.to_string(),
        };
        let mut response = response.map_err(unreachable)?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().map_err(unreachable)?;
        let json: Option<Value> = serde_json::from_str(&text).ok();
        if (200..300).contains(&status) {
            return json.ok_or_else(|| CliError::Refused {
                status,
                code: "bad_response".into(),
                message: format!("not JSON: {}", text.chars().take(200).collect::<String>()),
            });
        }
        let error = json.as_ref().and_then(|j| j.get("error"));
        let field = |name: &str| {
            error
                .and_then(|e| e.get(name))
                .and_then(Value::as_str)
                .map(String::from)
        };
        let mut message =
            field("message").unwrap_or_else(|| text.trim().chars().take(200).collect());
        if status == 401 {
            // Most often the token of another server's config (e.g. /etc's while trying the quick start).
            message.push_str(&format!(
                "; the token came from {}: give the config of the server at {} with --config FILE, or --token",
                self.token_from, self.base
            ));
        }
        Err(CliError::Refused {
            status,
            code: field("code").unwrap_or_else(|| "http_error".into()),
            message,
        })
    }
}

/// The error when neither the flags, the config nor its credentials file give a token: what was tried,
/// and the flags that fix it.
fn no_token(source: &ConfigSource, state_dir: &Path) -> String {
    let file = state_dir.join(CREDENTIALS_FILE);
    let fix = match source {
        ConfigSource::EmbeddedDefault => {
            "give --config FILE (the config the server runs with; or set BACKUPMX_CONFIG), run this \
             where the server was started, or give --token TOKEN"
        }
        _ => "start the server once with this config (it creates the file), or give --token TOKEN",
    };
    format!(
        "no API token: tried {}, which has no [admin] api_token, and {} does not exist; {fix}",
        source.tried(),
        file.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_missing_token_error_names_what_was_tried_and_the_flag() {
        let text = no_token(
            &ConfigSource::EmbeddedDefault,
            Path::new("./backupmx-spool"),
        );
        assert!(text.contains("--config (not given), BACKUPMX_CONFIG (not set), /etc/backupmx/backupmx.toml (not found)"), "{text}");
        assert!(
            text.contains("./backupmx-spool/admin-credentials.toml does not exist"),
            "{text}"
        );
        assert!(text.contains("give --config FILE"), "{text}");
        assert!(!text.contains("yet"), "{text}");
        let text = no_token(
            &ConfigSource::Flag("/srv/a.toml".into()),
            Path::new("/var/spool/x"),
        );
        assert!(text.contains("tried --config /srv/a.toml"), "{text}");
        assert!(text.contains("--token TOKEN"), "{text}");
    }
}
