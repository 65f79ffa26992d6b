//! `backupmx generate man|completion SHELL`: the man page backupmx(8) and the shell completions,
//! rendered from the clap definition itself so they never drift from the real options. Printed to
//! stdout; `debian/build-deb.sh` writes them where `[package.metadata.deb]` picks them up.

use std::io::Write;
use std::process::ExitCode;

use clap::Subcommand;
use clap_complete::Shell;

#[derive(Subcommand, Debug)]
pub enum Generated {
    /// A man page in roff: backupmx(8) itself, or a subcommand's page (e.g. backupmx-queue-list).
    Man {
        #[arg(value_name = "PAGE", default_value = "backupmx")]
        page: String,
    },
    /// The names of every man page (backupmx, backupmx-serve, backupmx-queue-list, ...), one a line.
    ManPages,
    /// A completion script for SHELL (bash, zsh, fish, elvish, powershell).
    Completion {
        #[arg(value_name = "SHELL")]
        shell: Shell,
    },
}

/// Prints what was asked for; exit 1 when stdout cannot take it.
pub fn generate(what: Generated, mut command: clap::Command) -> ExitCode {
    let mut out = Vec::new();
    match what {
        Generated::Man { page } => {
            let Some((_, command)) = pages(command).into_iter().find(|(name, _)| *name == page)
            else {
                eprintln!("backupmx: no man page {page:?} (see `backupmx generate man-pages`)");
                return ExitCode::from(2);
            };
            // Section 8: a system administration command (a daemon and its control tool).
            let page = clap_mangen::Man::new(command).section("8");
            if let Err(error) = page.render(&mut out) {
                eprintln!("backupmx: cannot render the man page: {error}");
                return ExitCode::from(1);
            }
        }
        Generated::ManPages => {
            for (name, _) in pages(command) {
                out.extend_from_slice(name.as_bytes());
                out.push(b'\n');
            }
        }
        Generated::Completion { shell } => {
            clap_complete::generate(shell, &mut command, "backupmx", &mut out);
        }
    }
    match std::io::stdout().lock().write_all(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("backupmx: cannot write: {error}");
            ExitCode::from(1)
        }
    }
}

/// Every man page: the program's and one per visible subcommand, nested ones included, named the way
/// clap_mangen refers to them in a parent's SUBCOMMANDS section ("backupmx-queue-list").
fn pages(mut root: clap::Command) -> Vec<(String, clap::Command)> {
    root.build();
    let mut pages = Vec::new();
    collect("backupmx", "backupmx", root, &mut pages);
    pages
}

fn collect(
    page: &str,
    bin: &str,
    command: clap::Command,
    pages: &mut Vec<(String, clap::Command)>,
) {
    let children: Vec<clap::Command> = command
        .get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
        .cloned()
        .collect();
    pages.push((
        page.to_string(),
        command
            .display_name(page.to_string())
            .bin_name(bin.to_string())
            .version(env!("CARGO_PKG_VERSION")),
    ));
    for child in children {
        let name = child.get_name().to_string();
        collect(
            &format!("{page}-{name}"),
            &format!("{bin} {name}"),
            child,
            pages,
        );
    }
}
