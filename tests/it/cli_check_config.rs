//! Runs the real binary's `check-config` on good and bad files: exit codes and error output.

use std::path::Path;
use std::process::{Command, Output};

fn check_config(file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_backupmx"))
        .arg("check-config")
        .arg(file)
        .output()
        .expect("run backupmx")
}

#[test]
fn good_file_exits_zero() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/backupmx.toml");
    let output = check_config(&example);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.trim(), format!("{}: OK", example.display()));
}

#[test]
fn bad_file_exits_two_with_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.toml");
    let text = "hostname = \"mx2.example.net\"\n[smtp]\nmax_recipients = 0\n\n[[domain]]\nname = \"example.test\"\nprimry = \"127.0.0.1:2526\"\n";
    std::fs::write(&file, text).unwrap();
    let output = check_config(&file);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let name = file.display().to_string();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with(&format!("{name}:3: smtp.max_recipients: ")),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with(&format!("{name}:7: domain[0].primry: unknown key")),
        "{stderr}"
    );
}

#[test]
fn missing_file_exits_two_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("absent.toml");
    let output = check_config(&file);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    assert!(stderr.contains("cannot read the config file"), "{stderr}");
}

#[test]
fn the_provisioned_domains_file_is_checked_too() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let file = dir.path().join("backupmx.toml");
    let config = format!(
        "hostname = \"mx2.example.net\"\n[spool]\ndir = {:?}\n[admin]\nstate_dir = {:?}\n\n\
         [[domain]]\nname = \"example.test\"\nprimary = \"127.0.0.1:2526\"\n",
        dir.path().join("spool"),
        state
    );
    std::fs::write(&file, config).unwrap();
    let store = state.join("domains.toml");
    let good = "[[domain]]\nname = \"added.test\"\nprimary = \"127.0.0.1:2527\"\n\n\
                [[domain]]\nname = \"example.test\"\nprimary = \"127.0.0.1:2528\"\n";
    std::fs::write(&store, good).unwrap();
    let output = check_config(&file);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains(&format!("{}: OK (2 provisioned domains)", store.display())),
        "{stdout}"
    );
    assert!(
        stderr.contains("\"example.test\" is also in the config file"),
        "{stderr}"
    );

    std::fs::write(
        &store,
        "[[domain]]\nname = \"added.test\"\nprimry = \"x\"\n",
    )
    .unwrap();
    let output = check_config(&file);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:3:", store.display())) && stderr.contains("primry"),
        "{stderr}"
    );
}
