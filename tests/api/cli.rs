//! The binary's command line, run as an operator would.

use std::process::Command;

use serde_json::Value;

use crate::helpers::fresh_database_url;

fn nonstop(args: &[&str], database_url: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nonstop"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("NONSTOP__LOG__LEVEL", "warn")
        .env_remove("NONSTOP_CONFIG")
        .output()
        .expect("nonstop runs")
}

#[test]
fn openapi_prints_the_committed_document_without_a_database() {
    let output = nonstop(&["openapi"], "mysql://nowhere");
    assert!(output.status.success());
    let printed: Value = serde_json::from_slice(&output.stdout).expect("json");
    let committed: Value = serde_json::from_str(include_str!("../../openapi/openapi.json")).expect("json");
    assert_eq!(printed, committed);
}

#[test]
fn apps_and_staff_are_created_and_their_keys_printed_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_database_url(dir.path());
    let output = nonstop(&["apps", "create", "--name", "すくすくアプリ"], &url);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let created: Value = serde_json::from_slice(&output.stdout).expect("json");
    let api_key = created["api_key"].as_str().expect("api_key");
    assert!(api_key.starts_with("nsk_app_") && created["app_id"].is_string());

    let output = nonstop(&["staff", "create", "--municipality", "131016", "--name", "子育て支援課"], &url);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let staff: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(staff["municipality_code"], "131016");
    assert!(staff["api_key"].as_str().is_some_and(|k| k.starts_with("nsk_staff_")));

    // The keys authenticate against the same database.
    let location = nonstop::db::DatabaseLocation::parse(&url).expect("url");
    let db = nonstop::db::Db::connect(location, 1, 5_000).expect("db");
    let mut conn = db.get().expect("conn");
    let principal =
        nonstop::service::principals::authenticate(&mut conn, api_key, nonstop::service::now()).expect("app key works");
    assert!(matches!(principal, nonstop::service::principals::Principal::App { .. }));

    // Revocation through the CLI.
    let app_id = created["app_id"].as_str().expect("app_id");
    let output = nonstop(&["apps", "revoke", "--app-id", app_id], &url);
    assert!(output.status.success());
    assert!(nonstop::service::principals::authenticate(&mut conn, api_key, nonstop::service::now()).is_err());
}

#[test]
fn operator_mistakes_are_explained() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_database_url(dir.path());
    let output = nonstop(&["staff", "create", "--municipality", "131017", "--name", "x"], &url);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--municipality") && stderr.contains("131016"), "{stderr}");

    let output = nonstop(&["migrate"], "mysql://localhost/nonstop");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unsupported database URL scheme 'mysql'"), "{stderr}");
}
