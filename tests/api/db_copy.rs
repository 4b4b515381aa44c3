//! `nonstop db copy`: a database full of real use (a family, its signed submission, a sent
//! notice, the audit trail) copied to the other backend and back, as an operator runs it. On the
//! PostgreSQL pass of the suite the trip is PostgreSQL → SQLite → PostgreSQL; on the SQLite pass
//! SQLite → SQLite → SQLite.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{fresh_database_url, TestApp};
use crate::jpki_ca::Holder;
use crate::submissions::{draft_of, setup, signature_body, MOTHER, MOTHER_BORN};

/// Runs `nonstop db copy` with a settings file holding `app`'s encryption keys.
fn db_copy(app: &TestApp, dir: &std::path::Path, from: &str, to: &str) -> std::process::Output {
    let keys: Vec<String> =
        app.settings.encryption.keys.iter().map(|(id, key)| format!("{id} = \"{}\"", key.expose())).collect();
    let config = dir.join("copy.toml");
    std::fs::write(
        &config,
        format!(
            "[encryption]\nactive_key_id = \"{}\"\n[encryption.keys]\n{}\n",
            app.settings.encryption.active_key_id,
            keys.join("\n")
        ),
    )
    .expect("config");
    Command::new(env!("CARGO_BIN_EXE_nonstop"))
        .args(["--config"])
        .arg(&config)
        .args(["db", "copy", "--from", from, "--to", to])
        .env("NONSTOP__LOG__LEVEL", "warn")
        .env_remove("DATABASE_URL")
        .output()
        .expect("nonstop runs")
}

fn rows(report: &Value, table: &str) -> i64 {
    report["tables"]
        .as_array()
        .and_then(|tables| tables.iter().find(|t| t["table"] == table))
        .and_then(|t| t["rows"].as_i64())
        .unwrap_or_else(|| panic!("{table} in {report}"))
}

#[actix_web::test]
async fn every_table_is_copied_to_the_other_backend_and_back_and_reads_the_same() {
    let s = setup(3000).await;
    let (app, key, family) = (&s.app, &s.key, &s.family);
    // A signed 児童手当 claim, and a notice sent to the municipality's families.
    let draft = draft_of(&s, "child_allowance_claim").await;
    let path = format!("/v1/families/{family}/drafts/{}", draft["id"].as_str().expect("id"));
    let values = json!({ "values": { "consent.public_records": true, "child.kana": "ヤマダ サクラ", "payment.use_public_account": true } });
    assert_eq!(app.patch(&path, key, values).await.0, StatusCode::OK);
    let (_, confirmed) = app.post(&format!("{path}/confirm"), key, json!({})).await;
    let document = confirmed["confirmed"]["document"].as_str().expect("document").to_owned();
    let card = s.ca.issue(&Holder::new(MOTHER, MOTHER_BORN));
    let (status, signed) = app.post(&format!("{path}/signature"), key, signature_body(&card, &document)).await;
    assert_eq!(status, StatusCode::CREATED, "{signed}");
    let (author, approver) = (app.create_staff("131016"), app.create_staff("131016"));
    let body = json!({ "category": "event", "texts": { "ja": { "title": "子育て広場", "body": "毎週水曜日です。" } }, "links": [], "audience": {} });
    let (_, notice) = app.post("/v1/municipalities/131016/notices", &author, body).await;
    let notice = format!("/v1/municipalities/131016/notices/{}", notice["id"].as_str().expect("id"));
    assert_eq!(app.post(&format!("{notice}/approve"), &approver, json!({})).await.0, StatusCode::OK);
    assert_eq!(app.post(&format!("{notice}/send"), &author, json!({})).await.0, StatusCode::OK);

    // To the other backend, then back into a new database of the first kind.
    let dir = tempfile::tempdir().expect("tempdir");
    let source = app.settings.database.url.expose().to_owned();
    let other = if source.starts_with("postgres") {
        format!("sqlite://{}", dir.path().join("copy.sqlite3").display())
    } else {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(server) if !server.is_empty() => fresh_database_url(dir.path()),
            _ => format!("sqlite://{}", dir.path().join("copy.sqlite3").display()),
        }
    };
    let back_dir = tempfile::tempdir().expect("tempdir");
    let back = fresh_database_url(back_dir.path());
    let back =
        if back == source { format!("sqlite://{}", back_dir.path().join("back.sqlite3").display()) } else { back };
    let mut reports = Vec::new();
    for (from, to) in [(&source, &other), (&other, &back)] {
        let output = db_copy(app, dir.path(), from, to);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        reports.push(serde_json::from_slice::<Value>(&output.stdout).expect("report"));
    }
    for table in ["families", "guardians", "children", "submissions", "signatures", "notice_recipients", "audit_events"]
    {
        assert!(rows(&reports[0], table) > 0, "{table} has rows to copy");
        assert_eq!(rows(&reports[0], table), rows(&reports[1], table), "{table}: the same rows both ways");
    }
    let opened: i64 =
        reports[1]["sealed_opened"].as_array().expect("sealed").iter().map(|p| p[1].as_i64().unwrap_or(0)).sum();
    assert!(opened >= 10, "sealed values opened with the same keys: {}", reports[1]["sealed_opened"]);

    // A target that is not empty is refused, and nothing is written to it.
    let output = db_copy(app, dir.path(), &source, &back);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("not empty"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // nonstop on the copy answers as it did on the original: the same keys, rows and seals.
    let original_settings = app.settings.clone();
    let copy = TestApp::spawn_with(move |settings| {
        *settings = original_settings;
        settings.database.url = nonstop::config::Secret::new(back);
    })
    .await;
    for read in [
        format!("/v1/families/{family}"),
        format!("/v1/families/{family}/submissions"),
        format!("/v1/families/{family}/inbox"),
        format!("/v1/families/{family}/tasks"),
    ] {
        let (status, before) = app.get(&read, key).await;
        assert_eq!(status, StatusCode::OK, "{read}: {before}");
        assert_eq!(copy.get(&read, key).await, (StatusCode::OK, before), "{read} reads the same on the copy");
    }
    let (_, figures) = copy.get(&format!("{notice}/figures"), &author).await;
    assert_eq!(figures["recorded"], app.get(&format!("{notice}/figures"), &author).await.1["recorded"]);
}

#[test]
fn the_copy_knows_every_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("tables.sqlite3").display());
    let db = nonstop::db::Db::connect(nonstop::db::DatabaseLocation::parse(&url).expect("url"), 1, 5_000).expect("db");
    db.migrate().expect("migrate");
    #[derive(diesel::QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    let mut conn = db.get().expect("conn");
    let nonstop::db::DbConnection::Sqlite(conn) = &mut *conn else { unreachable!("a SQLite URL") };
    use diesel::RunQueryDsl;
    let mut tables: Vec<String> = diesel::sql_query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '__diesel%'",
    )
    .load::<Name>(conn)
    .expect("tables")
    .into_iter()
    .map(|n| n.name)
    .collect();
    tables.sort();
    let mut known: Vec<String> = nonstop::db::copy::TABLES.iter().map(|t| t.to_string()).collect();
    known.sort();
    assert_eq!(tables, known, "db copy lists every table (in dependency order)");
}
