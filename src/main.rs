//! The backupmx binary: command-line parsing and process set-up only; everything else is in the library.

mod cli;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use backupmx::config::Config;
use backupmx::config::locate::locate;
use clap::{CommandFactory, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Exit status for an invalid or unreadable config file.
const EXIT_BAD_CONFIG: u8 = 2;
/// Exit status when the server cannot start (or another command fails at the edge).
const EXIT_FAILED: u8 = 1;
/// `check-dns`: the readiness verdict is `warning` (senders may not use this host for some mail).
const EXIT_READINESS_WARNING: u8 = 3;
/// `check-dns`: the readiness verdict is `broken` (senders will not hand this host the mail).
const EXIT_READINESS_BROKEN: u8 = 4;

#[derive(Parser)]
#[command(
    name = "backupmx",
    version,
    about = "A backup MX server: accepts, spools and forwards mail for the domains it backs up"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (on the embedded default config when --config is not given).
    Serve {
        /// The TOML config file.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Validate a config file: prints "FILE: OK" (exit 0) or every error with file, line and key (exit 2);
    /// then the domains provisioned through the admin API (`<state_dir>/domains.toml`), if any.
    CheckConfig {
        /// The TOML config file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Diagnose a domain's MX records (which entry is us, where we would deliver, a verdict) and
    /// its readiness: mx, address, fcrdns, certificate, mta_sts and dane checks. The exit status
    /// follows the readiness verdict, with or without --json: 0 ready, 3 warning, 4 broken (2 for
    /// a bad config, 1 when the check cannot run).
    #[command(after_help = "Exit status:\n  \
        0  ready: every readiness check passed (or was skipped)\n  \
        1  the check could not run (e.g. an unreadable certificate file)\n  \
        2  the config file is invalid or unreadable\n  \
        3  warning: at least one check warns, none fails\n  \
        4  broken: at least one check fails (a WRONG routing fails the mx check; a resolver that\n     does not answer makes it warn)")]
    CheckDns {
        /// The backed-up domain.
        #[arg(value_name = "DOMAIN")]
        domain: String,
        /// Print only the readiness as JSON: {"domain", "verdict", "checks": [{"name", "status", "detail"}]}.
        #[arg(long)]
        json: bool,
        /// The TOML config file (default: $BACKUPMX_CONFIG, else /etc/backupmx/backupmx.toml, else the
        /// embedded default).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Inspect and act on the running server's queue (through its JSON API).
    Queue {
        #[command(subcommand)]
        command: cli::QueueCommand,
        #[command(flatten)]
        target: cli::Target,
    },
    /// Per-domain queue figures and primary state of the running server, with totals.
    Status {
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: cli::Target,
    },
    /// Make the running server read its config file again (as SIGHUP does): prints what changed, or
    /// every FILE:LINE: KEY error of a refused file (exit 1; the running config stays).
    Reload {
        #[command(flatten)]
        target: cli::Target,
    },
    /// Look up, purge or import recipient-cache entries of the running server (through its JSON API).
    Recipients {
        #[command(subcommand)]
        command: cli::RecipientsCommand,
        #[command(flatten)]
        target: cli::Target,
    },
    /// Provision domains on the running server (add, remove, show, list; through its JSON API).
    Domains {
        #[command(subcommand)]
        command: cli::DomainsCommand,
        #[command(flatten)]
        target: cli::Target,
    },
    /// The running server's alerts: send a test alert through every webhook, or list the recent
    /// alerts and their delivery state (through its JSON API).
    Alerts {
        #[command(subcommand)]
        command: cli::AlertsCommand,
        #[command(flatten)]
        target: cli::Target,
    },
    /// Read a password (stdin or prompt) and print its argon2 hash for `[admin] password_hash`.
    HashPassword,
    /// The shared queue's schema in PostgreSQL (docs/cluster.md).
    Db {
        #[command(subcommand)]
        command: cli::DbCommand,
    },
    /// Print the man page or a shell completion script generated from this CLI (for packaging:
    /// debian/build-deb.sh).
    #[command(hide = true)]
    Generate {
        #[command(subcommand)]
        what: cli::Generated,
    },
    /// Move a stopped server's local spool into the cluster's shared queue (docs/cluster.md).
    Spool {
        #[command(subcommand)]
        command: cli::SpoolCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { config } => serve(config.as_deref()),
        Command::CheckConfig { file } => Ok(check_config(&file)),
        Command::CheckDns {
            domain,
            json,
            config,
        } => check_dns(&domain, json, config),
        Command::Queue { command, target } => Ok(cli::queue(target, command)),
        Command::Status { json, target } => Ok(cli::status(target, json)),
        Command::Reload { target } => Ok(cli::reload(target)),
        Command::Recipients { command, target } => Ok(cli::recipients(target, command)),
        Command::Domains { command, target } => Ok(cli::domains(target, command)),
        Command::Alerts { command, target } => Ok(cli::alerts(target, command)),
        Command::HashPassword => Ok(cli::hash_password()),
        Command::Db { command } => Ok(cli::db(command)),
        Command::Generate { what } => Ok(cli::generate(what, Cli::command())),
        Command::Spool { command } => Ok(cli::spool(command)),
    };
    // One line per error, however deep its causes: no "Caused by" list, no backtrace.
    result.unwrap_or_else(|error| {
        eprintln!("backupmx: {error:#}");
        ExitCode::from(EXIT_FAILED)
    })
}

fn check_dns(domain: &str, json: bool, config_file: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let source = locate(config_file);
    let config = match source.load() {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(EXIT_BAD_CONFIG));
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let report = runtime.block_on(backupmx::delivery::check_dns(&config, domain));
    let readiness = runtime.block_on(readiness(&config, domain))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&readiness)?);
    } else {
        println!("Config: {source}");
        print!("{report}");
        println!();
        print!("{readiness}");
    }
    Ok(readiness_exit(readiness.verdict))
}

/// `check-dns`'s exit status: the readiness verdict (the routing verdict is part of it, through
/// the `mx` check).
fn readiness_exit(verdict: backupmx::readiness::Verdict) -> ExitCode {
    use backupmx::readiness::Verdict;
    match verdict {
        Verdict::Ready => ExitCode::SUCCESS,
        Verdict::Warning => ExitCode::from(EXIT_READINESS_WARNING),
        Verdict::Broken => ExitCode::from(EXIT_READINESS_BROKEN),
    }
}

/// The readiness of `domain` as this config's server would see it (its certificate file).
async fn readiness(
    config: &Config,
    domain: &str,
) -> anyhow::Result<backupmx::readiness::Readiness> {
    let deliverer = backupmx::delivery::Deliverer::new(config).context("delivery set-up")?;
    let gatherer = backupmx::readiness::Gatherer::new(config, deliverer)
        .map_err(anyhow::Error::msg)
        .context("[delivery] tls_ca_file")?;
    let acme_cert = config
        .acme
        .as_ref()
        .map(|_| backupmx::acme::Store::new(&backupmx::admin::state_dir(config)).cert_path());
    let certificate = match acme_cert.as_ref().or(config.smtp.tls_cert.as_ref()) {
        Some(file) => Some(
            backupmx::readiness::certificate_from_files(file)
                .map_err(anyhow::Error::msg)
                .context("the inbound certificate")?,
        ),
        None => None,
    };
    Ok(gatherer.assess(domain, certificate).await)
}

fn check_config(file: &Path) -> ExitCode {
    match Config::load(file) {
        Ok(config) => {
            println!("{}: OK", file.display());
            check_provisioned(config)
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::from(EXIT_BAD_CONFIG)
        }
    }
}

/// The domains provisioned through the admin API (`<state_dir>/domains.toml`), when there are any:
/// checked as `serve` would read them, with a name the config file also defines reported.
fn check_provisioned(config: Config) -> ExitCode {
    use backupmx::config::provisioned::{STORE_FILE, load_store};
    let path = backupmx::admin::state_dir(&config).join(STORE_FILE);
    if !path.exists() {
        return ExitCode::SUCCESS;
    }
    match load_store(&path, config.delivery.port) {
        Ok((_, set)) => {
            let count = set.domains.len();
            let (_, clashes) = config.with_provisioned(&set);
            for name in &clashes {
                eprintln!(
                    "{}: domain {name:?} is also in the config file, whose [[domain]] stays in force",
                    path.display()
                );
            }
            println!("{}: OK ({count} provisioned domains)", path.display());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::from(EXIT_BAD_CONFIG)
        }
    }
}

fn serve(config_file: Option<&Path>) -> anyhow::Result<ExitCode> {
    init_tracing();
    let config = match config_file {
        None => {
            tracing::info!("no --config given: using the embedded default configuration");
            Config::embedded_default()
        }
        Some(file) => match Config::load(file) {
            Ok(config) => config,
            Err(errors) => {
                eprintln!("{errors}");
                return Ok(ExitCode::from(EXIT_BAD_CONFIG));
            }
        },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    if let Err(error) = runtime.block_on(backupmx::daemon::serve_file(
        config,
        config_file.map(Path::to_path_buf),
    )) {
        // Printed, not logged: it is the last word of a process that never ran, and belongs on one line
        // with what to do about it.
        eprintln!("backupmx: cannot start: {error}; {}", error.remedy());
        return Ok(ExitCode::from(EXIT_FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

/// Logs to the journal with structured fields when stderr is the journal (under systemd), else one
/// line per event to stderr; `RUST_LOG` filters (default `info`).
fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if let Some(journal) = backupmx::journal::layer_if_stderr_is_journal() {
        tracing_subscriber::registry()
            .with(filter)
            .with(journal)
            .init();
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
