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
        nonstop::service::principals::authenticate(&mut conn, api_key, nonstop::clock::Clock::system().now())
            .expect("app key works");
    assert!(matches!(principal, nonstop::service::principals::Principal::App { .. }));

    // Revocation through the CLI.
    let app_id = created["app_id"].as_str().expect("app_id");
    let output = nonstop(&["apps", "revoke", "--app-id", app_id], &url);
    assert!(output.status.success());
    assert!(
        nonstop::service::principals::authenticate(&mut conn, api_key, nonstop::clock::Clock::system().now()).is_err()
    );

    // An administrator's staff key, revoked; every act read back from the audit trail.
    let output = nonstop(&["staff", "create", "--municipality", "131016", "--name", "課長", "--admin"], &url);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let admin: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(admin["admin"], true);
    assert!(admin["expires_at"].is_string());
    let admin_id = admin["staff_id"].as_str().expect("staff_id");
    let output = nonstop(&["staff", "revoke", "--staff-id", admin_id], &url);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let output = nonstop(&["audit"], &url);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let events: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    let actions: Vec<&str> = events.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(
        actions,
        [
            "staff_key.revoked",
            "staff_key.created",
            "app.revoked",
            "staff_key.created",
            "app_key.created",
            "app.created"
        ],
        "newest first"
    );
    assert!(events.iter().all(|e| e["actor_kind"] == "operator"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("nsk_") && !stdout.contains("課長"), "no secret or name in the trail: {stdout}");
    let output = nonstop(&["audit", "--municipality", "131016", "--action", "staff_key.created"], &url);
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 2);
    let output = nonstop(&["audit", "--action", "key.stolen"], &url);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--action"));
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

/// `nonstop serve` as an operator runs it: JSON logs with no personal data, and a graceful stop
/// on SIGTERM.
#[actix_web::test]
async fn serve_logs_no_personal_data_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_database_url(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let output = nonstop(&["apps", "create", "--name", "ログ確認アプリ"], &url);
    let key =
        serde_json::from_slice::<Value>(&output.stdout).expect("json")["api_key"].as_str().expect("key").to_owned();

    let server = Command::new(env!("CARGO_BIN_EXE_nonstop"))
        .arg("serve")
        .env("DATABASE_URL", &url)
        .env("NONSTOP__SERVER__PORT", port.to_string())
        .env("NONSTOP__ENCRYPTION__KEY_FILE", dir.path().join("key"))
        .env("NONSTOP__LOG__LEVEL", "debug")
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("serve starts");
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..100 {
        if client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "the server did not become ready");
    let secret_name = "秘密野 花子";
    let response = client
        .post(format!("{base}/v1/families?probe=secret-query"))
        .bearer_auth(&key)
        .json(&serde_json::json!({
            "municipality_code": "131016", "address": "秘密町1-2-3",
            "guardians": [{ "relationship": "mother", "full_name": secret_name, "phone": "090-9999-8888" }]
        }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    let _ = client.get(format!("{base}/v1/families")).bearer_auth("nsk_app_wrong-key-value").send().await;

    let pid = server.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
    assert!(killed.success());
    let output = server.wait_with_output().expect("server exits");
    assert!(output.status.success(), "exit after SIGTERM: {:?}", output.status);
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(logs.contains("\"route\":\"/v1/families\""), "{logs}");
    assert!(logs.contains("nonstop stopped"), "a graceful stop is logged: {logs}");
    for secret in
        [secret_name, "秘密町", "09099998888", "090-9999-8888", key.as_str(), "wrong-key-value", "secret-query"]
    {
        assert!(!logs.contains(secret), "{secret} appeared in the logs");
    }
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<Value>(line).unwrap_or_else(|_| panic!("a log line is not JSON: {line}"));
    }
}

#[test]
fn a_staff_account_for_the_console_is_created_with_a_one_time_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_database_url(dir.path());
    let args = ["staff", "create", "--municipality", "131016", "--name", "佐藤 花子", "--login", "sato"];
    let output = nonstop(&args, &url);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let created: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!((created["login"].as_str(), created["sign_in"].as_str()), (Some("sato"), Some("/console/sign-in")));
    let one_time = created["one_time_password"].as_str().expect("one-time password");
    assert!(one_time.len() >= 16, "{one_time}");
    assert!(created.get("api_key").is_none(), "an account has no API key");
    let output = nonstop(&["audit", "--municipality", "131016", "--action", "staff_account.created"], &url);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(!stdout.contains(one_time) && !stdout.contains("佐藤"), "no secret or name in the trail: {stdout}");
    // A login is one person's.
    let again = nonstop(&args, &url);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("taken"), "{}", String::from_utf8_lossy(&again.stderr));
}
