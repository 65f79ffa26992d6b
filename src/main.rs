//! The backupmx binary: command-line parsing and process set-up only; everything else is in the library.

fn main() -> anyhow::Result<()> {
    Ok(())
}
