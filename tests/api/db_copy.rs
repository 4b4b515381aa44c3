//! `nonstop db copy`: a database full of real use (a family, its signed submission, a sent
//! notice, the audit trail) copied to the other backend and back, as an operator runs it. On the
//! PostgreSQL pass of the suite the trip is PostgreSQL → SQLite → PostgreSQL; on the SQLite pass
//! SQLite → SQLite → SQLite.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{fresh_database_url, TestApp};
use crate::jpki_ca::Holder;
use crate::notices::approve;
use crate::submissions::{draft_of, setup, signature_body, MOTHER, MOTHER_BORN};
use diesel::connection::SimpleConnection;
use nonstop::db::{DatabaseLocation, Db};

/// Runs `nonstop db copy` with a settings file holding `app`'s encryption keys.
fn db_copy(app: &TestApp, dir: &std::path::Path, from: &str, to: &str) -> std::process::Output {
    let keys: Vec<(String, String)> =
        app.settings.encryption.keys.iter().map(|(id, key)| (id.clone(), key.expose().to_owned())).collect();
    db_copy_with_keys(&app.settings.encryption.active_key_id, &keys, dir, from, to)
}

/// Runs `nonstop db copy` with a settings file holding these keys (id, base64).
fn db_copy_with_keys(
    active: &str,
    keys: &[(String, String)],
    dir: &std::path::Path,
    from: &str,
    to: &str,
) -> std::process::Output {
    let keys: Vec<String> = keys.iter().map(|(id, key)| format!("{id} = \"{key}\"")).collect();
    let config = dir.join("copy.toml");
    std::fs::write(
        &config,
        format!("[encryption]\nactive_key_id = \"{active}\"\n[encryption.keys]\n{}\n", keys.join("\n")),
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
    assert_eq!(approve(app, &notice, &approver).await.0, StatusCode::OK);
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

/// The tables of the database at `url`; `None` for a SQLite file that does not exist.
fn tables_of(url: &str) -> Option<Vec<String>> {
    let location = DatabaseLocation::parse(url).expect("url");
    if let DatabaseLocation::Sqlite(path) = &location {
        if !path.exists() {
            return None;
        }
    }
    let db = Db::connect(location, 1, 5_000).expect("db");
    Some(nonstop::db::copy::tables(&mut db.get().expect("conn")).expect("tables"))
}

/// Targets a copy is refused into: a SQLite file in a folder not made yet, and on the
/// PostgreSQL pass a new PostgreSQL database too.
fn targets(dir: &std::path::Path) -> Vec<String> {
    let mut targets = vec![format!("sqlite://{}", dir.join("target/copy.sqlite3").display())];
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|server| !server.is_empty()) {
        targets.push(fresh_database_url(dir));
    }
    targets
}

fn failed(output: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "the copy fails: {stderr}");
    stderr
}

/// A source with a family's sealed names and address.
async fn source_with_a_family() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("複製元アプリ");
    let family = app
        .create_family(
            &key,
            json!({ "municipality_code": "131016", "address": "千代田1-1",
                    "guardians": [{ "relationship": "mother", "full_name": "山田 花子" }] }),
        )
        .await;
    (app, family)
}

#[actix_web::test]
async fn a_source_that_does_not_exist_or_is_not_nonstops_is_refused_and_nothing_is_created() {
    let (app, _) = source_with_a_family().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nowhere/nonstop.sqlite3");
    for to in targets(dir.path()) {
        let output = db_copy(&app, dir.path(), &format!("sqlite://{}", missing.display()), &to);
        let stderr = failed(&output);
        assert!(stderr.contains("--from") && stderr.contains("is not a database file"), "{stderr}");
        assert!(!dir.path().join("nowhere").exists(), "no file or folder is created for --from");
        assert!(tables_of(&to).is_none_or(|tables| tables.is_empty()), "nothing written to {to}");
    }
    // An empty database (a new file, a new PostgreSQL database) is not a nonstop database.
    let empty_dir = tempfile::tempdir().expect("tempdir");
    let empty = fresh_database_url(empty_dir.path());
    if let DatabaseLocation::Sqlite(path) = DatabaseLocation::parse(&empty).expect("url") {
        std::fs::write(path, "").expect("empty file");
    }
    let to = format!("sqlite://{}", dir.path().join("copy.sqlite3").display());
    let stderr = failed(&db_copy(&app, dir.path(), &empty, &to));
    assert!(stderr.contains("not a nonstop database") && stderr.contains("no table"), "{stderr}");
    assert_eq!(tables_of(&empty), Some(vec![]), "the empty source is not migrated");
    assert!(tables_of(&to).is_none(), "no target is created");
}

#[actix_web::test]
async fn a_target_holding_another_applications_table_is_refused_and_left_as_it_was() {
    let (app, _) = source_with_a_family().await;
    let source = app.settings.database.url.expose().to_owned();
    let dir = tempfile::tempdir().expect("tempdir");
    for to in targets(dir.path()) {
        if let DatabaseLocation::Sqlite(path) = DatabaseLocation::parse(&to).expect("url") {
            std::fs::create_dir_all(path.parent().expect("folder")).expect("folder");
        }
        let db = Db::connect(DatabaseLocation::parse(&to).expect("url"), 1, 5_000).expect("db");
        db.get()
            .expect("conn")
            .batch_execute("CREATE TABLE their_orders (id INTEGER PRIMARY KEY, item TEXT); INSERT INTO their_orders VALUES (1, 'tea');")
            .expect("another application's table");
        let stderr = failed(&db_copy(&app, dir.path(), &source, &to));
        assert!(stderr.contains("not empty") && stderr.contains("their_orders"), "{stderr}");
        assert_eq!(tables_of(&to), Some(vec!["their_orders".to_owned()]), "{to} is left as it was");
        #[derive(diesel::QueryableByName)]
        struct Item {
            #[diesel(sql_type = diesel::sql_types::Text)]
            item: String,
        }
        let items: Vec<Item> = match &mut *db.get().expect("conn") {
            nonstop::db::DbConnection::Sqlite(c) => {
                diesel::RunQueryDsl::load(diesel::sql_query("SELECT item FROM their_orders"), c)
            }
            nonstop::db::DbConnection::Postgresql(c) => {
                diesel::RunQueryDsl::load(diesel::sql_query("SELECT item FROM their_orders"), c)
            }
        }
        .expect("rows");
        assert_eq!(items.iter().map(|i| i.item.as_str()).collect::<Vec<_>>(), ["tea"]);
    }
}

#[actix_web::test]
async fn keys_that_do_not_open_the_source_are_refused_before_anything_is_written() {
    let (app, _) = source_with_a_family().await;
    let source = app.settings.database.url.expose().to_owned();
    let dir = tempfile::tempdir().expect("tempdir");
    let other = [("test1".to_owned(), nonstop::crypto::KeyRing::generate_key_base64())];
    for to in targets(dir.path()) {
        let stderr = failed(&db_copy_with_keys("test1", &other, dir.path(), &source, &to));
        for needle in [
            "--from",
            "the key 'test1' from encryption.keys is not the key that sealed it",
            "NONSTOP__ENCRYPTION__KEYS__",
        ] {
            assert!(stderr.contains(needle), "{needle} missing from {stderr}");
        }
        assert!(!stderr.contains(&other[0].1), "no key printed");
        assert!(tables_of(&to).is_none_or(|tables| tables.is_empty()), "nothing written to {to}");
        assert!(!dir.path().join("target").exists(), "no folder left behind");
    }
}

#[actix_web::test]
async fn a_copy_that_fails_after_writing_leaves_the_target_as_it_was() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("複製元アプリ");
    let mut families = Vec::new();
    for n in 1..=4 {
        let body = json!({ "municipality_code": "131016", "address": format!("千代田{n}-1") });
        families.push(app.create_family(&key, body).await);
    }
    // The last family's address, beyond what the source's check samples, no longer opens: the
    // copy fails at its last check, after every row was written.
    {
        use diesel::prelude::*;
        use nonstop::db::schema::families;
        let mut conn = app.db.get().expect("conn");
        diesel::update(families::table.find(families.last().expect("family")))
            .set(families::address.eq("test1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
            .execute(&mut *conn)
            .expect("corrupted");
    }
    let source = app.settings.database.url.expose().to_owned();
    let dir = tempfile::tempdir().expect("tempdir");
    for to in targets(dir.path()) {
        let stderr = failed(&db_copy(&app, dir.path(), &source, &to));
        assert!(
            stderr.contains("families.address: a copied value does not open") && !stderr.contains("--from"),
            "the source passed its check, the copy failed at its own: {stderr}"
        );
        assert!(stderr.contains("is as it was"), "the operator is told: {stderr}");
        assert!(tables_of(&to).is_none_or(|tables| tables.is_empty()), "{to} is left as it was");
        assert!(!dir.path().join("target").exists(), "no file or folder left behind");
    }
}
