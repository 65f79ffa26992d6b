//! A throwaway PostgreSQL for the cluster tests: Debian's server binaries, a private data directory and
//! port on loopback, run as the unprivileged `postgres` user when the tests run as root, stopped by PID.
//! Fails loudly when PostgreSQL is not installed (`./test.sh` and `.ci/run` install it).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The role the tests connect as (created by initdb as the superuser, trust auth on loopback).
pub const USER: &str = "backupmx";

pub struct TestPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    as_postgres: bool,
}

fn server_bin_dir() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                .filter(|bin| bin.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: install Debian's \
             `postgresql` package (./test.sh and .ci/run install it)"
        )
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl TestPostgres {
    /// initdb + start; returns once the server accepts connections.
    pub fn start() -> TestPostgres {
        let bin = server_bin_dir();
        let dir = tempfile::tempdir().expect("tempdir");
        let as_postgres = is_root();
        if as_postgres {
            run(Command::new("chmod").arg("755").arg(dir.path()));
            run(Command::new("chown").arg("postgres").arg(dir.path()));
        }
        let pg = TestPostgres {
            dir,
            bin,
            port: free_port(),
            as_postgres,
        };
        let data = pg.data_dir();
        pg.run_pg(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-A",
                "trust",
                "-U",
                USER,
                "--no-sync",
            ],
        );
        pg.start_server();
        pg
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run_pg(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args);
        run(&mut cmd);
    }

    fn start_server(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
            self.port,
            path_str(self.dir.path())
        );
        let log = self.dir.path().join("server.log");
        self.run_pg(
            "pg_ctl",
            &[
                "-D",
                path_str(&self.data_dir()),
                "-o",
                &opts,
                "-l",
                path_str(&log),
                "-w",
                "start",
            ],
        );
    }

    /// The postmaster's PID, from its pid file.
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.data_dir().join("postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// Fast shutdown (SIGINT to our postmaster), waiting until it is gone.
    pub fn stop(&self) {
        let Some(pid) = self.pid() else { return };
        let _ = Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (fast shutdown: every connection is cut) and starts it again on the same
    /// data directory and port.
    pub fn restart(&self) {
        self.stop();
        self.start_server();
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{database}", self.port)
    }

    /// A fresh database for one test.
    pub async fn create_database(&self, name: &str) -> String {
        let client = backupmx::cluster::db::connect(&self.url("postgres"), None)
            .await
            .expect("connect to the test PostgreSQL");
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        self.url(name)
    }

    /// A fresh database for one test with the current schema applied: its URL and a client.
    pub async fn migrated(&self, name: &str) -> (String, tokio_postgres::Client) {
        let url = self.create_database(name).await;
        let mut client = backupmx::cluster::db::connect(&url, None)
            .await
            .expect("connect");
        backupmx::cluster::schema::migrate(&mut client)
            .await
            .expect("migrate");
        (url, client)
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
