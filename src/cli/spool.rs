//! `backupmx spool export|import`: moving a stopped server's local spool into the cluster's shared
//! queue (issue 13). `export` reads the spool (its lock keeps a running server out) and writes a
//! stream; `import` commits that stream into PostgreSQL, idempotently (run it again after an
//! interruption; nothing is imported twice).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use backupmx::spool::transfer::{self, ExportReader};
use clap::Subcommand;

use super::db::{Database, connect};

const EXIT_FAILED: u8 = 1;

#[derive(Subcommand, Debug)]
pub enum SpoolCommand {
    /// Write every queued message of a local spool (server stopped) to FILE, or standard output.
    Export {
        /// The spool directory (`[spool] dir`).
        #[arg(long, value_name = "DIR")]
        spool: PathBuf,
        /// Where to write (default: standard output).
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Commit an export into the shared queue (PostgreSQL): safe to run again.
    Import {
        #[command(flatten)]
        database: Database,
        /// The export (default: standard input).
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
    },
}

pub fn spool(command: SpoolCommand) -> ExitCode {
    let runtime = match super::db::runtime(EXIT_FAILED) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        match command {
            SpoolCommand::Export { spool, output } => export(spool, output).await,
            SpoolCommand::Import { database, file } => import(database, file).await,
        }
    });
    match result {
        Ok(summary) => {
            eprintln!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

async fn export(spool: PathBuf, output: Option<PathBuf>) -> Result<String, String> {
    let mut out: Box<dyn Write> = match &output {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let n = transfer::export(&spool, &mut out)
        .await
        .map_err(|e| format!("{}: {e}", spool.display()))?;
    Ok(format!(
        "exported {n} queued messages from {}",
        spool.display()
    ))
}

async fn import(database: Database, file: Option<PathBuf>) -> Result<String, String> {
    let input: Box<dyn Read> = match &file {
        Some(path) => Box::new(BufReader::new(
            File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?,
        )),
        None => Box::new(BufReader::new(std::io::stdin().lock())),
    };
    let mut reader = ExportReader::new(input).map_err(|e| e.to_string())?;
    let mut client = connect(&database).await?;
    let done = transfer::import(&mut client, &mut reader)
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "imported {} messages ({} were already there)",
        done.imported, done.already_there
    ))
}
