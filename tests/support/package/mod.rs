//! The Debian package under test: [`build`] runs `debian/build-deb.sh` (release build, generated man
//! pages and completions, `cargo deb`), [`Package`] is the built `.deb` unpacked (files with
//! `dpkg-deb -x`, control files with `dpkg-deb -e`), and [`sandbox`] runs its binary the way its
//! systemd unit would, where no systemd runs.

pub mod sandbox;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// The repository root (the `backupmx` package's manifest directory).
pub fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the package with the repository's script; returns the path of the `.deb` it printed.
/// Panics with the script's output when it fails (a missing cargo-deb included: test.sh installs it).
pub fn build() -> PathBuf {
    let output = Command::new(repository().join("debian/build-deb.sh"))
        .current_dir(repository())
        .env("CARGO_INCREMENTAL", "0")
        .output()
        .unwrap_or_else(|e| panic!("cannot run debian/build-deb.sh: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "debian/build-deb.sh failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    // cargo deb prints the path of the package as its last line.
    let path = stdout
        .lines()
        .rev()
        .find(|l| l.trim_end().ends_with(".deb"))
        .unwrap_or_else(|| panic!("no .deb named in cargo deb's output:\n{stdout}\n{stderr}"));
    PathBuf::from(path.trim())
}

/// A built package, unpacked into a directory of its own.
pub struct Package {
    pub deb: PathBuf,
    dir: TempDir,
}

impl Package {
    /// Unpacks `deb` under the target directory (not /tmp: the sandbox puts a private /tmp over it).
    pub fn unpack(deb: &Path) -> Package {
        let dir = tempfile::Builder::new()
            .prefix("package-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("a directory for the package");
        // The sandboxed server runs as the package's user, from this directory.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod the package directory");
        let package = Package {
            deb: deb.to_path_buf(),
            dir,
        };
        dpkg_deb(&["-x"], deb, &package.root());
        dpkg_deb(&["-e"], deb, &package.control());
        package
    }

    /// The package's files, as installed under `/`.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// The control files: `control`, `conffiles`, `postinst`, ...
    pub fn control(&self) -> PathBuf {
        self.dir.path().join("control")
    }

    /// A scratch directory beside the unpacked package.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path).expect("scratch directory");
        path
    }

    /// `dpkg-deb -c`: the file list, one path a line ("./usr/bin/backupmx").
    pub fn file_list(&self) -> Vec<String> {
        let output = run(Command::new("dpkg-deb").arg("-c").arg(&self.deb));
        output
            .lines()
            .filter_map(|line| line.split_whitespace().nth(5).map(str::to_string))
            .collect()
    }

    /// A control file's text.
    pub fn control_file(&self, name: &str) -> String {
        std::fs::read_to_string(self.control().join(name))
            .unwrap_or_else(|e| panic!("the package has no {name}: {e}"))
    }
}

fn dpkg_deb(args: &[&str], deb: &Path, into: &Path) {
    run(Command::new("dpkg-deb").args(args).arg(deb).arg(into));
}

/// Runs `command`; its stdout, or a panic with its output.
pub fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
