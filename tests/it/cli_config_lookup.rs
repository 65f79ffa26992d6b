//! The admin CLI finds the running server from any directory: run from `/`, it reads the server's
//! config from `--config`, else from `BACKUPMX_CONFIG`; `--config` wins over the variable; a variable
//! naming a missing file is an error that names it; a refused token says where it came from. (The `/etc/backupmx/backupmx.toml` step and the
//! message listing everything tried are unit tests of the pure lookup, `config::locate`, and of the
//! CLI's error text.)

use crate::support;

use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::SmtpSink;
use support::admin::eventually;
use support::config::{Settings, free_port};
use support::server::Server;

const WAIT: Duration = Duration::from_secs(20);

/// Runs `backupmx ARGS` from `/`, with `BACKUPMX_CONFIG` set to `env` (or removed).
fn cli_from_root(args: &[&str], env: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_backupmx"));
    command
        .args(args)
        .current_dir("/")
        .stdin(Stdio::null())
        .env_remove("BACKUPMX_CONFIG");
    if let Some(value) = env {
        command.env("BACKUPMX_CONFIG", value);
    }
    command.output().expect("run the CLI")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A server with generated credentials (no token in its config): the CLI must find the token in the
/// credentials file beside the server's spool, which only the config file tells it where to look.
async fn server() -> (Server, SmtpSink) {
    let primary = SmtpSink::start().await;
    let settings = Settings::new(Some(primary.addr()));
    let admin_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let server = Server::with_admin(settings, admin_addr, "").await;
    let credentials = server.spool_dir().join("admin-credentials.toml");
    eventually("credentials file", WAIT, || async { credentials.exists() }).await;
    (server, primary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_the_root_directory_with_the_flag_or_the_variable() {
    let (server, _primary) = server().await;
    let config = server.config_path();
    let config = config.to_str().unwrap();

    let out = cli_from_root(&["status", "--config", config], None);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("example.test"), "{stdout}");

    let out = cli_from_root(&["status"], Some(config));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("example.test"), "{stdout}");

    let out = cli_from_root(&["queue", "list"], Some(config));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("0 of 0 messages"), "{stdout}");

    // The flag wins over the variable.
    let out = cli_from_root(
        &["queue", "list", "--config", config],
        Some("/nonexistent/backupmx.toml"),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_variable_naming_a_missing_file_is_an_error_that_names_it() {
    let out = cli_from_root(&["status"], Some("/nonexistent/backupmx.toml"));
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("/nonexistent/backupmx.toml: cannot read the config file"),
        "{stderr}"
    );
    assert!(
        stderr.contains("BACKUPMX_CONFIG=/nonexistent/backupmx.toml"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_does_not_answer_is_named_with_the_config_it_came_from() {
    let (mut server, _primary) = server().await;
    let config = server.config_path();
    let config = config.to_str().unwrap().to_string();
    server.kill9();
    let out = cli_from_root(&["status"], Some(&config));
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("(config: BACKUPMX_CONFIG={config})"))
            && stderr.contains("is the server running?"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_says_where_it_came_from() {
    let (server, _primary) = server().await;
    let config = server.config_path();
    let config = config.to_str().unwrap();
    let out = cli_from_root(&["status", "--config", config, "--token", "wrong"], None);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("401 unauthorized") && stderr.contains("the token came from --token"),
        "{stderr}"
    );
}
