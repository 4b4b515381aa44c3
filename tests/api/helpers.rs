//! Spawns the real application on a fresh database for each test: a temporary SQLite file, or
//! a new PostgreSQL database when `TEST_DATABASE_URL` names a server.

use std::collections::BTreeMap;
use std::path::PathBuf;

use diesel::{Connection, RunQueryDsl};
use nonstop::app::Application;
use nonstop::config::{Secret, Settings};
use nonstop::crypto::KeyRing;
use nonstop::db::{DatabaseLocation, Db};
use nonstop::domain::MunicipalityCode;
use nonstop::service::{now, principals};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: Db,
    pub settings: Settings,
    /// The SQLite file, when the test runs on SQLite.
    pub sqlite_path: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

/// A fresh database URL: a new PostgreSQL database or a SQLite file in `dir`.
pub fn fresh_database_url(dir: &std::path::Path) -> String {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(server) if !server.is_empty() => {
            let name = format!("nonstop_test_{}", uuid::Uuid::new_v4().simple());
            let mut admin = diesel::PgConnection::establish(&server).expect("connect to TEST_DATABASE_URL");
            diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).expect("create test database");
            let (base, _) = server.rsplit_once('/').expect("TEST_DATABASE_URL ends with /database");
            format!("{base}/{name}")
        }
        _ => format!("sqlite://{}", dir.join("nonstop.sqlite3").display()),
    }
}

pub fn test_settings(database_url: String) -> Settings {
    let mut settings = Settings::default();
    settings.server.port = 0;
    settings.server.workers = Some(2);
    settings.database.url = Secret::new(database_url);
    settings.database.pool_size = 4;
    settings.encryption.active_key_id = "test1".into();
    settings.encryption.keys = BTreeMap::from([("test1".to_owned(), Secret::new(KeyRing::generate_key_base64()))]);
    settings
}

impl TestApp {
    pub async fn spawn() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = test_settings(fresh_database_url(dir.path()));
        let location = settings.database_location().expect("location");
        let sqlite_path = match &location {
            DatabaseLocation::Sqlite(path) => Some(path.clone()),
            DatabaseLocation::Postgres(_) => None,
        };
        let app = Application::build(settings.clone()).expect("application builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        actix_web::rt::spawn(app.run_until_stopped());
        let db = Db::connect(location, 2, 5_000).expect("test pool");
        Self { base, client: reqwest::Client::new(), db, settings, sqlite_path, _dir: dir }
    }

    /// A vendor app and its API key, made the way the operator's CLI makes them.
    pub fn create_app(&self, name: &str) -> (String, String) {
        let mut conn = self.db.get().expect("conn");
        let (app_id, key) = conn.transaction(|c| principals::create_app(c, name, now())).expect("create app");
        (app_id, key.api_key)
    }

    pub fn create_staff(&self, code: &str) -> String {
        let mut conn = self.db.get().expect("conn");
        let code = MunicipalityCode::parse(code).expect("code");
        conn.transaction(|c| principals::create_staff(c, &code, "窓口 担当", now())).expect("create staff").1
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.expect("body");
        let value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, value)
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(key), None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(key), Some(body)).await
    }

    pub async fn patch(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(key), Some(body)).await
    }

    pub async fn delete(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(key), None).await
    }

    /// Registers a minimal family and returns its id.
    pub async fn create_family(&self, key: &str, body: Value) -> String {
        let (status, family) = self.post("/v1/families", key, body).await;
        assert_eq!(status, StatusCode::CREATED, "{family}");
        family["id"].as_str().expect("id").to_owned()
    }
}

/// A Web Push subscription with keys of the right shape.
pub fn web_push_device(endpoint: &str) -> Value {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut p256dh = vec![4u8];
    p256dh.extend([0x42u8; 64]);
    serde_json::json!({
        "kind": "web_push",
        "endpoint": endpoint,
        "keys": { "p256dh": b64.encode(p256dh), "auth": b64.encode([0x24u8; 16]) }
    })
}

/// Today in Japan, shifted by `days`, as an ISO date.
pub fn tokyo_day(days: i64) -> String {
    (nonstop::domain::dates::tokyo_today() + chrono::Duration::days(days)).to_string()
}
