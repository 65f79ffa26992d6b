//! The shared queue's schema against a real PostgreSQL (a throwaway instance): `backupmx db migrate`
//! applies it once and is idempotent, also when two nodes run it at once; `db check` says what to do
//! for a missing, older or newer schema; the password never appears in any output.

use crate::support;

use std::process::{Command, Output};

use backupmx::cluster::{db, schema};
use support::postgres::TestPostgres;

fn backupmx(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_backupmx"))
        .args(args)
        .env_remove("PGPASSWORD")
        .env_remove("BACKUPMX_POSTGRES_URL")
        .output()
        .expect("run backupmx")
}

/// The command succeeded and its output says `needle`.
fn assert_success_saying(out: &Output, needle: &str) {
    assert!(out.status.success(), "{}", text(out));
    assert!(text(out).contains(needle), "{}", text(out));
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_applies_the_schema_once_and_check_names_what_to_do() {
    let _machine = support::exclusive::shared().await;
    let pg = TestPostgres::start();
    let url = pg.create_database("schema_once").await;

    let check = backupmx(&["db", "check", "--url", &url]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(
        text(&check).contains("run `backupmx db migrate` first"),
        "{}",
        text(&check)
    );

    let first = backupmx(&["db", "migrate", "--url", &url]);
    assert_success_saying(&first, "applied migration 1");
    let again = backupmx(&["db", "migrate", "--url", &url]);
    assert_success_saying(&again, "already at version");

    let ok = backupmx(&["db", "check", "--url", &url]);
    assert_success_saying(&ok, &format!("schema version {}: OK", schema::latest()));

    let client = db::connect(&url, None).await.expect("connect");
    client
        .execute(
            "INSERT INTO schema_version (version, name) VALUES (999, 'from the future')",
            &[],
        )
        .await
        .expect("insert");
    let newer = backupmx(&["db", "check", "--url", &url]);
    assert_eq!(newer.status.code(), Some(1));
    assert!(
        text(&newer).contains("upgrade backupmx on this node"),
        "{}",
        text(&newer)
    );
    let refused = backupmx(&["db", "migrate", "--url", &url]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_migrating_at_once_apply_each_step_once() {
    let _machine = support::exclusive::shared().await;
    let pg = TestPostgres::start();
    let url = pg.create_database("schema_race").await;
    let mut a = db::connect(&url, None).await.expect("connect a");
    let mut b = db::connect(&url, None).await.expect("connect b");
    let (ra, rb) = tokio::join!(schema::migrate(&mut a), schema::migrate(&mut b));
    let mut applied: Vec<i32> = ra.expect("a").into_iter().chain(rb.expect("b")).collect();
    applied.sort();
    let all: Vec<i32> = (1..=schema::latest()).collect();
    assert_eq!(applied, all);
    assert_eq!(schema::check(&a).await.expect("check"), schema::latest());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_and_a_password_stay_out_of_the_output() {
    let _machine = support::exclusive::shared().await;
    let pg = TestPostgres::start();
    let port = pg.port;
    drop(pg);
    let url = format!("postgres://bmx:hunter2@127.0.0.1:{port}/none");
    let out = backupmx(&["db", "check", "--url", &url]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("cannot connect to PostgreSQL"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("hunter2"), "{}", text(&out));
}
