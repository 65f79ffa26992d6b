//! A stand-in for systemd, which does not run on the build machine (PID 1 is not systemd, so neither
//! `systemctl start` nor `systemd-run` can run the unit). It applies what `debian/backupmx.service`
//! asks for, with the same kernel mechanisms, to the packaged binary:
//!
//! - a private mount namespace (`unshare --mount`), in which
//!   - `/etc` is a copy of the host's with the package's conffile, so the package's own `postinst`
//!     creates the `backupmx` system user there and nowhere else; `/var/lib` and `/var/log` are
//!     private too, so nothing of the maintainer script or the server reaches the host;
//!   - `StateDirectory=backupmx` (mode 0700, owned by the user), `PrivateTmp=`, `ProtectHome=`
//!     (empty read-only /home and /root), and `ProtectSystem=strict` (every other mount read-only);
//!   - `/run/systemd/journal` is the test's directory, where it listens as journald and as the
//!     notification socket (`NOTIFY_SOCKET`), and `JOURNAL_STREAM` names stderr, as systemd sets it;
//! - `User=`/`Group=` backupmx, `AmbientCapabilities=` and `CapabilityBoundingSet=CAP_NET_BIND_SERVICE`,
//!   `NoNewPrivileges=yes` and `UMask=0077`, through `setpriv`; `ExecStartPre=` (check-config) first.
//!
//! Not reproduced: the seccomp filter, the address-family restriction and the other kernel-side
//! `Protect*` settings (systemd-analyze scores them; they need systemd to apply).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::Package;

/// The script run inside the namespace: $1 package root, $2 its control files, $3 the /etc copy,
/// $4 the directory to show as /run/systemd/journal, $5 the watchdog interval in microseconds; then
/// the arguments of `backupmx` itself.
const SCRIPT: &str = r#"
set -eu
root=$1 control=$2 etc=$3 journal=$4 watchdog=$5
shift 5
mount -t tmpfs -o mode=0755 tmpfs /var/lib
mount -t tmpfs -o mode=0755 tmpfs /var/log
mount --bind "$etc" /etc
# The package's maintainer script, as dpkg runs it after unpacking (with the variables dpkg sets).
DPKG_MAINTSCRIPT_PACKAGE=backupmx DPKG_MAINTSCRIPT_NAME=postinst "$control/postinst" configure >&2
# StateDirectory=backupmx, StateDirectoryMode=0700
install -d -o backupmx -g backupmx -m 0700 /var/lib/backupmx
# PrivateTmp=yes, ProtectHome=yes
mount -t tmpfs -o mode=1777 tmpfs /tmp
for home in /home /root; do
    if [ -d "$home" ]; then mount -t tmpfs -o mode=0755,ro tmpfs "$home"; fi
done
# journald's socket and the notification socket
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/systemd/journal
mount --bind "$journal" /run/systemd/journal
# ProtectSystem=strict: the file system read-only but the state directory and the API file systems.
mount -o remount,bind,ro /
mount -o remount,bind,ro /etc
mount -o remount,bind,ro /run
umask 0077
privileges="--reuid=backupmx --regid=backupmx --init-groups --no-new-privs
    --inh-caps=-all,+net_bind_service --ambient-caps=+net_bind_service
    --bounding-set=-all,+net_bind_service"
# ExecStartPre=
setpriv $privileges "$root/usr/bin/backupmx" check-config /etc/backupmx/backupmx.toml >&2
export JOURNAL_STREAM="$(stat -L -c %d:%i /proc/self/fd/2)"
export NOTIFY_SOCKET=/run/systemd/journal/notify
export WATCHDOG_USEC="$watchdog"
exec setpriv $privileges "$root/usr/bin/backupmx" "$@"
"#;

/// What the sandboxed server needs from the test: the config to install as the conffile and the
/// directory standing for /run/systemd/journal.
pub struct Sandbox<'a> {
    pub package: &'a Package,
    /// The config, written over the package's /etc/backupmx/backupmx.toml in the /etc copy.
    pub config: String,
    /// Shown as /run/systemd/journal inside (the test binds `socket` and `notify` there).
    pub journal_dir: PathBuf,
    pub watchdog_usec: u64,
}

impl Sandbox<'_> {
    /// Prepares the /etc copy and returns the command that runs `backupmx ARGS` in the sandbox, its
    /// stderr into `log` (the stream `JOURNAL_STREAM` names).
    pub fn command(&self, args: &[&str], log: &Path) -> Command {
        let etc = self.package.scratch("etc");
        super::run(Command::new("cp").args(["-a", "/etc/."]).arg(&etc));
        let conf_dir = etc.join("backupmx");
        super::run(
            Command::new("cp")
                .arg("-a")
                .arg(self.package.root().join("etc/backupmx/."))
                .arg(&conf_dir),
        );
        std::fs::write(conf_dir.join("backupmx.toml"), &self.config).expect("write the config");
        let stderr = std::fs::File::create(log).expect("the log file");
        let mut command = Command::new("unshare");
        command
            .args([
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                SCRIPT,
                "sh",
            ])
            .arg(self.package.root())
            .arg(self.package.control())
            .arg(&etc)
            .arg(&self.journal_dir)
            .arg(self.watchdog_usec.to_string())
            .args(args)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        command
    }
}
