//! 鍵の確認 (issue 29, item 10): a missing or wrong encryption key is never replaced silently.
//! A new database gets a generated key; a database holding sealed data refuses a start whose
//! keys do not open it, naming the settings, and `/readyz` is not ready while a canary does
//! not open.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use nonstop::app::Application;
use nonstop::clock::Clock;
use nonstop::config::Secret;
use nonstop::crypto::KeyRing;
use nonstop::db::schema::key_canaries;
use nonstop::db::sealed::KEY_CANARIES_SEALED;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{fresh_database_url, pinned_instant, TestApp};

/// `nonstop <args>` as an operator runs it in `work` (its working directory), with no settings
/// but the database's URL and `extra` variables.
fn nonstop(work: &Path, url: &str, args: &[&str], extra: &[(&str, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nonstop"));
    command
        .args(args)
        .current_dir(work)
        .env("DATABASE_URL", url)
        .env("NONSTOP__LOG__LEVEL", "warn")
        .env_remove("NONSTOP_CONFIG")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in extra {
        command.env(name, value);
    }
    command
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

/// Starts `serve` and waits until it is ready.
async fn serve_until_ready(work: &Path, url: &str, port: u16) -> Child {
    let mut server =
        nonstop(work, url, &["serve"], &[("NONSTOP__SERVER__PORT", port.to_string())]).spawn().expect("serve starts");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(format!("http://127.0.0.1:{port}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return server;
        }
        if let Some(status) = server.try_wait().expect("wait") {
            let output = server.wait_with_output().expect("output");
            panic!("serve exited ({status}): {}", String::from_utf8_lossy(&output.stderr));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = server.kill();
    panic!("the server did not become ready");
}

fn stop(server: Child) {
    let killed = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().expect("kill runs");
    assert!(killed.success());
    let output = server.wait_with_output().expect("server exits");
    assert!(output.status.success(), "exit after SIGTERM: {:?}", output.status);
}

/// Runs `command`, which must refuse and exit within 30 s (a server that starts instead is
/// stopped and the test fails); returns its error output.
fn refused(mut command: Command, what: &str) -> String {
    let mut child = command.spawn().expect("nonstop runs");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let output = child.wait_with_output().expect("output");
            panic!("{what} did not refuse to start: {}", String::from_utf8_lossy(&output.stderr));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{what}: {stderr}");
    stderr
}

#[actix_web::test]
async fn a_new_database_gets_a_key_and_a_start_without_that_key_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_database_url(dir.path());
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    std::fs::create_dir_all(&first).expect("dir");
    std::fs::create_dir_all(&second).expect("dir");
    let output = nonstop(&first, &url, &["apps", "create", "--name", "鍵確認アプリ"], &[]).output().expect("runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let key =
        serde_json::from_slice::<Value>(&output.stdout).expect("json")["api_key"].as_str().expect("api_key").to_owned();

    // A new database and no key configured: `cargo run` works, with a key generated beside it.
    let port = free_port();
    let server = serve_until_ready(&first, &url, port).await;
    let generated = std::fs::read_to_string(first.join("data/encryption.key")).expect("a key file is generated");
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let family: Value = client
        .post(format!("{base}/v1/families"))
        .bearer_auth(&key)
        .json(&json!({ "municipality_code": "131016", "address": "千代田1-1",
                        "guardians": [{ "relationship": "mother", "full_name": "山田 花子" }] }))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let family = family["id"].as_str().expect("id").to_owned();
    stop(server);

    // From another working directory, where there is no key file: refused, and none generated.
    let port_setting = [("NONSTOP__SERVER__PORT", free_port().to_string())];
    for args in [&["serve"][..], &["migrate"][..]] {
        let stderr = refused(nonstop(&second, &url, args, &port_setting), args[0]);
        for needle in
            ["no encryption key is configured", "encryption.key_file", "NONSTOP__ENCRYPTION__KEY_FILE", "'local'"]
        {
            assert!(stderr.contains(needle), "{}: {needle} missing from {stderr}", args[0]);
        }
        assert!(!second.join("data/encryption.key").exists(), "{}: no key is generated", args[0]);
    }

    // Another key under the same id `local`: refused, and neither key is printed.
    let other = KeyRing::generate_key_base64();
    std::fs::create_dir_all(second.join("data")).expect("dir");
    std::fs::write(second.join("data/encryption.key"), &other).expect("key file");
    for args in [&["serve"][..], &["migrate"][..]] {
        let stderr = refused(nonstop(&second, &url, args, &port_setting), args[0]);
        for needle in ["is not the key that sealed it", "its canary", "encryption.keys", "NONSTOP__ENCRYPTION__KEYS__"]
        {
            assert!(stderr.contains(needle), "{}: {needle} missing from {stderr}", args[0]);
        }
        assert!(!stderr.contains(other.trim()) && !stderr.contains(generated.trim()), "no key printed: {stderr}");
    }
    // The same refusal when the other key is configured by id in the environment.
    let by_id = [("NONSTOP__ENCRYPTION__KEYS__LOCAL", other.clone()), port_setting[0].clone()];
    let stderr = refused(nonstop(dir.path(), &url, &["serve"], &by_id), "serve");
    assert!(stderr.contains("the key 'local' from encryption.keys is not the key that sealed it"), "{stderr}");

    // With its own key the database serves what it holds, as before.
    let port = free_port();
    let server = serve_until_ready(&first, &url, port).await;
    let response = client
        .get(format!("http://127.0.0.1:{port}/v1/families/{family}"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let read: Value = response.json().await.expect("json");
    assert_eq!(read["guardians"][0]["full_name"], "山田 花子");
    stop(server);
}

/// The canary of `key_id` on `app`'s database, replaced by `sealed`.
fn set_canary(app: &TestApp, key_id: &str, sealed: &str) {
    let mut conn = app.db.get().expect("conn");
    diesel::delete(key_canaries::table.find(key_id)).execute(&mut *conn).expect("delete");
    diesel::insert_into(key_canaries::table)
        .values((
            key_canaries::key_id.eq(key_id),
            key_canaries::sealed.eq(sealed),
            key_canaries::created_at.eq(app.clock.now()),
        ))
        .execute(&mut *conn)
        .expect("insert");
}

fn ring(active: &str) -> KeyRing {
    let keys = std::collections::BTreeMap::from([(active.to_owned(), KeyRing::generate_key_base64())]);
    KeyRing::from_base64(active, &keys).expect("ring")
}

#[actix_web::test]
async fn readyz_is_not_ready_while_a_canary_does_not_open() {
    let app = TestApp::spawn().await;
    let ready = || app.call(Method::GET, "/readyz", None, None);
    assert_eq!(ready().await.0, StatusCode::OK);
    let original: String = key_canaries::table
        .find("test1")
        .select(key_canaries::sealed)
        .first(&mut *app.db.get().expect("conn"))
        .expect("the active key's canary is written at start");

    // Another key under the process's key id (a database swapped under it).
    set_canary(&app, "test1", &ring("test1").seal(KEY_CANARIES_SEALED, "test1").expect("seal"));
    let (status, body) = ready().await;
    assert_eq!((status, body["keys"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("cannot_open_sealed_data")));
    set_canary(&app, "test1", &original);
    assert_eq!(ready().await.0, StatusCode::OK);

    // Another replica seals with a key this process lacks.
    set_canary(&app, "k2", &ring("k2").seal(KEY_CANARIES_SEALED, "k2").expect("seal"));
    assert_eq!(ready().await.0, StatusCode::SERVICE_UNAVAILABLE);
}

#[actix_web::test]
async fn a_start_whose_keys_lack_or_mistake_the_sealing_key_is_refused() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("鍵確認アプリ");
    app.create_family(
        &key,
        json!({ "municipality_code": "131016", "guardians": [{ "relationship": "mother", "full_name": "山田 花子" }] }),
    )
    .await;
    let start = |adjust: &dyn Fn(&mut nonstop::config::Settings)| {
        let mut settings = app.settings.clone();
        settings.jobs.enabled = false;
        adjust(&mut settings);
        Application::build_with_clock(settings, Clock::starting_at(pinned_instant())).map(|_| ())
    };
    assert!(start(&|_| {}).is_ok(), "its own keys open it");

    // The right id, another key.
    let err = start(&|s| {
        s.encryption.keys.insert("test1".into(), Secret::new(KeyRing::generate_key_base64()));
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("the key 'test1' from encryption.keys is not the key that sealed it"), "{err}");
    assert!(err.contains("its canary") && err.contains("guardians.full_name"), "{err}");

    // A rotation that dropped the key still sealing the guardians' names.
    let err = start(&|s| {
        s.encryption.keys.clear();
        s.encryption.keys.insert("k2".into(), Secret::new(KeyRing::generate_key_base64()));
        s.encryption.active_key_id = "k2".into();
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("values are sealed under the key 'test1', which encryption.keys lacks"), "{err}");
    let canaries: Vec<String> =
        key_canaries::table.select(key_canaries::key_id).load(&mut *app.db.get().expect("conn")).expect("canaries");
    assert_eq!(canaries, ["test1"], "a refused start writes no canary");

    // Rotation as documented: the new key active, the old one kept; both have canaries.
    let rotated = |s: &mut nonstop::config::Settings| {
        s.encryption.keys.insert("k2".into(), Secret::new(KeyRing::generate_key_base64()));
        s.encryption.active_key_id = "k2".into();
    };
    assert!(start(&rotated).is_ok());
    let mut canaries: Vec<String> =
        key_canaries::table.select(key_canaries::key_id).load(&mut *app.db.get().expect("conn")).expect("canaries");
    canaries.sort();
    assert_eq!(canaries, ["k2", "test1"]);
}

#[actix_web::test]
async fn a_retired_key_with_nothing_sealed_under_it_leaves_its_canary_behind() {
    let app = TestApp::spawn().await;
    let replacement = KeyRing::generate_key_base64();
    let replica = app
        .replica(|s| {
            s.encryption.keys.clear();
            s.encryption.keys.insert("k2".into(), Secret::new(replacement));
            s.encryption.active_key_id = "k2".into();
        })
        .await;
    assert_eq!(replica.call(Method::GET, "/readyz", None, None).await.0, StatusCode::OK);
    let canaries: Vec<String> =
        key_canaries::table.select(key_canaries::key_id).load(&mut *app.db.get().expect("conn")).expect("canaries");
    assert_eq!(canaries, ["k2"], "nothing was sealed under test1: its canary is removed");
    // The first process lacks the key the database is now served with.
    assert_eq!(app.call(Method::GET, "/readyz", None, None).await.0, StatusCode::SERVICE_UNAVAILABLE);
}
