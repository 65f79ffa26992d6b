//! The backupmx binary: command-line parsing and process set-up only; everything else is in the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use backupmx::config::Config;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Exit status for an invalid or unreadable config file.
const EXIT_BAD_CONFIG: u8 = 2;

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
    /// Validate a config file: prints "FILE: OK" (exit 0) or every error with file, line and key (exit 2).
    CheckConfig {
        /// The TOML config file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => serve(config.as_deref()),
        Command::CheckConfig { file } => Ok(check_config(&file)),
    }
}

fn check_config(file: &Path) -> ExitCode {
    match Config::load(file) {
        Ok(_) => {
            println!("{}: OK", file.display());
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
    runtime.block_on(run_serve(config))?;
    Ok(ExitCode::SUCCESS)
}

/// Hands the validated config to the daemon.
async fn run_serve(config: Config) -> anyhow::Result<()> {
    backupmx::daemon::serve(config).await?;
    Ok(())
}

/// Logs to stderr; `RUST_LOG` filters (default `info`).
fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
