//! `backupmx db migrate|check`: the shared queue's schema in PostgreSQL (issue 13's groundwork). The
//! password comes from `--password-file` or `PGPASSWORD`, never from the command line.

use std::path::PathBuf;
use std::process::ExitCode;

use backupmx::cluster::{db, schema};
use clap::{Args, Subcommand};

/// Exit status when the database cannot be reached or refuses.
const EXIT_DATABASE: u8 = 3;
/// Exit status when the schema is not the one this binary needs.
const EXIT_SCHEMA: u8 = 1;

#[derive(Args, Debug)]
pub struct Database {
    /// The database, e.g. postgres://backupmx@127.0.0.1:5432/backupmx (no password in it).
    #[arg(long, value_name = "URL", env = "BACKUPMX_POSTGRES_URL")]
    pub url: String,
    /// A file holding the password (default: the PGPASSWORD environment variable).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Apply every schema migration the database lacks (safe to run again, and from two nodes at once).
    Migrate(Database),
    /// Say whether the database holds the schema this binary needs (exit 0), or what to do (exit 1).
    Check(Database),
}

/// A runtime for a database command; the error printed, and the exit status to use.
pub(super) fn runtime(exit: u8) -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the tokio runtime: {e}");
            ExitCode::from(exit)
        })
}

pub fn db(command: DbCommand) -> ExitCode {
    let runtime = match runtime(EXIT_DATABASE) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let (DbCommand::Migrate(database) | DbCommand::Check(database)) = &command;
    runtime.block_on(run(database, &command))
}

/// Connects as `database` says, the password from its file or `PGPASSWORD`; the error as printed.
pub(super) async fn connect(database: &Database) -> Result<tokio_postgres::Client, String> {
    let file = match &database.password_file {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
            format!(
                "error: cannot read the password file {}: {e}",
                path.display()
            )
        })?),
        None => None,
    };
    let password = db::password(file.as_deref(), std::env::var("PGPASSWORD").ok());
    db::connect(&database.url, password.as_deref())
        .await
        .map_err(|e| format!("error: {e}"))
}

async fn run(database: &Database, command: &DbCommand) -> ExitCode {
    let mut client = match connect(database).await {
        Ok(client) => client,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_DATABASE);
        }
    };
    let target = db::redacted(&database.url);
    match command {
        DbCommand::Migrate(_) => match schema::migrate(&mut client).await {
            Ok(applied) if applied.is_empty() => {
                println!("{target}: schema already at version {}", schema::latest());
                ExitCode::SUCCESS
            }
            Ok(applied) => {
                for version in applied {
                    println!("{target}: applied migration {version}");
                }
                println!("{target}: schema at version {}", schema::latest());
                ExitCode::SUCCESS
            }
            Err(e) => schema_failure(&target, &e),
        },
        DbCommand::Check(_) => match schema::check(&client).await {
            Ok(version) => {
                println!("{target}: schema version {version}: OK");
                ExitCode::SUCCESS
            }
            Err(e) => schema_failure(&target, &e),
        },
    }
}

fn schema_failure(target: &str, e: &schema::SchemaError) -> ExitCode {
    eprintln!("{target}: {e}");
    match e {
        schema::SchemaError::Database(_) => ExitCode::from(EXIT_DATABASE),
        _ => ExitCode::from(EXIT_SCHEMA),
    }
}
