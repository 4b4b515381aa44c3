//! Spawns the real application on a fresh database for each test: a temporary SQLite file, or
//! a new PostgreSQL database when `TEST_DATABASE_URL` names a server.

use std::collections::BTreeMap;
use std::path::PathBuf;

use diesel::prelude::*;
use nonstop::app::Application;
use nonstop::clock::Clock;
use nonstop::config::{Secret, Settings};
use nonstop::crypto::KeyRing;
use nonstop::db::{DatabaseLocation, Db};
use nonstop::domain::MunicipalityCode;
use nonstop::service::principals;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The instant every test runs at unless it says otherwise: Tuesday 1 December 2026, 12:00 in
/// Japan, a working day inside the hours pushes may be sent. Tests about another time of day
/// set their clock to it.
pub fn pinned_instant() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-12-01T12:00:00+09:00").expect("instant").to_utc()
}

/// An instant given as `2026-12-01T23:30:00+09:00`.
pub fn instant(rfc3339: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(rfc3339).expect("instant").to_utc()
}

pub struct TestApp {
    pub base: String,
    /// The clock the server, its workers and this test share: set or advance it to move time.
    pub clock: Clock,
    pub client: reqwest::Client,
    pub db: Db,
    /// The pool the served application itself uses (`db` is the test's own).
    pub served_db: Db,
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
    // The loopback mocks are push services too; the worker and the scheduler run fast.
    settings.push.web_push_allowed_hosts.push("127.0.0.1:*".into());
    // The loopback webhook receiver is the operator's own.
    settings.webhooks.allowed_hosts.push("127.0.0.1".into());
    settings.jobs.poll_interval_ms = 25;
    settings.jobs.materialize_every_seconds = 1;
    // Tests materialize reminders when they choose (the job the scheduler runs); one test runs
    // the scheduler itself.
    settings.jobs.scheduler = false;
    settings
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns the app with settings changed by `adjust` (e.g. the FCM mock's URL).
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        Self::spawn_at(Clock::starting_at(pinned_instant()), adjust).await
    }

    /// Spawns the app on `clock` (a frozen clock, another hour) with settings changed by `adjust`.
    pub async fn spawn_at(clock: Clock, adjust: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut settings = test_settings(fresh_database_url(dir.path()));
        adjust(&mut settings);
        Self::spawn_on(settings, dir, clock).await
    }

    /// Another app process on the same database (a second replica), on the same clock.
    pub async fn replica(&self, adjust: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = self.settings.clone();
        adjust(&mut settings);
        Self::spawn_on(settings, tempfile::tempdir().expect("tempdir"), self.clock.clone()).await
    }

    async fn spawn_on(settings: Settings, dir: tempfile::TempDir, clock: Clock) -> Self {
        let location = settings.database_location().expect("location");
        let sqlite_path = match &location {
            DatabaseLocation::Sqlite(path) => Some(path.clone()),
            DatabaseLocation::Postgres(_) => None,
        };
        let app = Application::build_with_clock(settings.clone(), clock.clone()).expect("application builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let served_db = app.db();
        actix_web::rt::spawn(app.run_until_stopped());
        let db = Db::connect(location, 2, 5_000).expect("test pool");
        // Idle connections are dropped well before the server's keep-alive (5 s) closes them:
        // on a loaded machine a request sent on a connection the server is closing at that
        // moment fails with IncompleteMessage.
        let client = reqwest::Client::builder()
            .pool_idle_timeout(std::time::Duration::from_secs(2))
            .build()
            .expect("http client");
        Self { base, clock, client, db, served_db, settings, sqlite_path, _dir: dir }
    }

    /// A vendor app and its API key, made the way the operator's CLI makes them.
    pub fn create_app(&self, name: &str) -> (String, String) {
        let mut conn = self.db.get().expect("conn");
        let (app_id, key) =
            conn.transaction(|c| principals::create_app(c, name, self.clock.now())).expect("create app");
        (app_id, key.api_key)
    }

    pub fn create_staff(&self, code: &str) -> String {
        self.create_staff_key(code, false).1
    }

    /// A staff key (an administrator's with `admin`); returns its id and secret.
    pub fn create_staff_key(&self, code: &str, admin: bool) -> (String, String) {
        let mut conn = self.db.get().expect("conn");
        let code = MunicipalityCode::parse(code).expect("code");
        let grant = self.settings.sessions.staff_grant(admin);
        conn.transaction(|c| principals::create_staff(c, &code, "窓口 担当", grant, self.clock.now()))
            .expect("create staff")
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
        let request = request.build().expect("request");
        let sent_body = request.body().and_then(|b| b.as_bytes()).and_then(|b| serde_json::from_slice(b).ok());
        let (method, url) = (request.method().clone(), request.url().path().to_owned());
        let response = self.client.execute(request).await.expect("request sent");
        let status = response.status();
        let text = response.text().await.expect("body");
        let value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        record_example(&method, &url, sent_body, status, &value);
        assert_error_documented(&method, &url, status, &value);
        assert_required_fields_sent(&method, &url, status, &value);
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

    /// Registers a minimal family and returns its id. The parent has consented to nonstop keeping
    /// the child's health information (birth weight) unless the body says which consents it gave.
    /// The family's open (not yet signed) draft of `form`.
    pub async fn open_draft(&self, key: &str, family: &str, form: &str) -> serde_json::Value {
        let (status, drafts) = self.get(&format!("/v1/families/{family}/drafts"), key).await;
        assert_eq!(status, reqwest::StatusCode::OK, "{drafts}");
        drafts
            .as_array()
            .expect("list")
            .iter()
            .find(|d| d["form_id"] == form && d["status"] != "signed")
            .unwrap_or_else(|| panic!("no open draft of {form}: {drafts}"))
            .clone()
    }

    pub async fn create_family(&self, key: &str, mut body: Value) -> String {
        if body.get("consents").is_none() {
            body["consents"] = serde_json::json!(["health_information"]);
        }
        let (status, family) = self.post("/v1/families", key, body).await;
        assert_eq!(status, StatusCode::CREATED, "{family}");
        family["id"].as_str().expect("id").to_owned()
    }
}

/// With `NONSTOP_RECORD_EXAMPLES=<folder>`, every call is written there as one JSON file: the
/// raw material of the documented examples (`openapi/record-examples` picks and merges them).
fn record_example(method: &Method, path: &str, request: Option<Value>, status: StatusCode, response: &Value) {
    let Some(folder) = std::env::var_os("NONSTOP_RECORD_EXAMPLES") else { return };
    let call = serde_json::json!({
        "method": method.as_str(), "path": path, "request": request,
        "status": status.as_u16(), "response": response,
    });
    let file = PathBuf::from(folder).join(format!("{}.json", uuid::Uuid::new_v4()));
    std::fs::write(file, call.to_string()).expect("example recorded");
}

/// Every error the suite meets must be one its operation documents: the status among its
/// responses, the code among that response's `x-error-codes` (from `nonstop::error_codes`).
/// Paths and methods no operation has (405, unknown routes) are not operations' answers.
fn assert_error_documented(method: &Method, path: &str, status: StatusCode, body: &Value) {
    if !status.is_client_error() && !status.is_server_error() || status == StatusCode::METHOD_NOT_ALLOWED {
        return;
    }
    let document = document();
    let Some(operation) = operation_of(document, method, path) else { return };
    let id = operation["operationId"].as_str().unwrap_or_default();
    let response = &operation["responses"][status.as_str()];
    assert!(response.is_object(), "{id} answered {status} ({body}), which it does not document");
    let codes = response["x-error-codes"].as_array().cloned().unwrap_or_default();
    assert!(
        codes.contains(&body["error"]),
        "{id} answered {status} with `{}`, not among its documented codes {codes:?}",
        body["error"]
    );
}

/// Every field the document marks required in a successful answer is in it, at any depth.
fn assert_required_fields_sent(method: &Method, path: &str, status: StatusCode, body: &Value) {
    if !status.is_success() || body.is_null() {
        return;
    }
    let document = document();
    let Some(operation) = operation_of(document, method, path) else { return };
    let schema = &operation["responses"][status.as_str()]["content"]["application/json"]["schema"];
    let id = operation["operationId"].as_str().unwrap_or_default();
    check_required(document, schema, body, id, 0);
}

fn check_required(document: &Value, schema: &Value, value: &Value, at: &str, depth: usize) {
    if depth > 20 {
        return;
    }
    if let Some(name) = schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) {
        return check_required(document, &document["components"]["schemas"][name], value, at, depth + 1);
    }
    match value {
        Value::Object(fields) => {
            for required in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                assert!(
                    fields.contains_key(required),
                    "{at}: `{required}` is documented required but not sent: {value}"
                );
            }
            for (name, field) in fields {
                let property = &schema["properties"][name];
                if !property.is_null() {
                    check_required(document, property, field, &format!("{at}.{name}"), depth + 1);
                }
            }
        }
        Value::Array(items) if schema["items"].is_object() => {
            for item in items {
                check_required(document, &schema["items"], item, &format!("{at}[]"), depth + 1);
            }
        }
        _ => {}
    }
}

/// The document, made once per test process.
fn document() -> &'static Value {
    static DOCUMENT: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| {
        serde_json::from_str(&nonstop::api::openapi().to_json().expect("json")).expect("document parses")
    })
}

/// The documented operation `method path` is an instance of, most literal template first.
fn operation_of<'d>(document: &'d Value, method: &Method, path: &str) -> Option<&'d Value> {
    let segments: Vec<&str> = path.split('/').collect();
    let mut found: Vec<(usize, &Value)> = Vec::new();
    for (template, item) in document["paths"].as_object()? {
        let parts: Vec<&str> = template.split('/').collect();
        let matches = parts.len() == segments.len()
            && parts.iter().zip(&segments).all(|(t, s)| t.starts_with('{') && !s.is_empty() || t == s);
        let operation = &item[method.as_str().to_ascii_lowercase()];
        if matches && operation.is_object() {
            found.push((parts.iter().filter(|p| p.starts_with('{')).count(), operation));
        }
    }
    found.into_iter().min_by_key(|(params, _)| *params).map(|(_, operation)| operation)
}

/// Quiet hours away from the pinned instant (12:00 in Japan), so pushes go out at once.
pub fn awake_quiet_hours() -> Value {
    serde_json::json!({ "start": "15:00", "end": "16:00" })
}

impl TestApp {
    /// Makes the first planned reminder of `procedure` due now (as if its time had come) and
    /// every other reminder of the family wait, then runs the materializing job the scheduler
    /// runs. Returns how many reminders it recorded.
    pub async fn make_due(&self, family_id: &str, procedure: &str) -> usize {
        self.hold_reminders(family_id, procedure);
        // A run of its own (the instant is this moment, not a tick any scheduler shares).
        let tick = self.clock.now();
        nonstop::jobs::scheduler::run_materialize(&self.job_context(), tick).await.expect("materialize")
    }

    /// Waits (15 s at most) until no delivery in this test's database is pending: each push has
    /// been handed over, or has failed for good. A condition, not a sleep.
    pub async fn wait_until_settled(&self) {
        use nonstop::db::schema::deliveries;
        self.wait_until("every delivery settled", |conn| {
            let pending: i64 =
                deliveries::table.filter(deliveries::status.eq("pending")).count().get_result(conn).expect("count");
            pending == 0
        })
        .await;
    }

    /// Waits (15 s at most) until the scheduler has finished `ticks` more materializing runs
    /// than it had when called: enough ticks to show that something happens only once.
    pub async fn wait_for_ticks(&self, ticks: i64) {
        use nonstop::db::schema::scheduled_jobs;
        let done = |conn: &mut nonstop::db::DbConnection| -> i64 {
            scheduled_jobs::table
                .filter(scheduled_jobs::name.eq("materialize"))
                .filter(scheduled_jobs::status.eq("done"))
                .count()
                .get_result(conn)
                .expect("count")
        };
        let before = done(&mut self.db.get().expect("conn"));
        self.wait_until("scheduler ticks", move |conn| done(conn) >= before + ticks).await;
    }

    /// Polls `condition` on this test's database until it holds; fails the test after 15 s.
    pub async fn wait_until(&self, what: &str, condition: impl Fn(&mut nonstop::db::DbConnection) -> bool) {
        let started = std::time::Instant::now();
        loop {
            if condition(&mut self.db.get().expect("conn")) {
                return;
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(15), "timed out waiting for {what}");
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    /// What the periodic jobs run with, on this test's database.
    pub fn job_context(&self) -> nonstop::jobs::JobContext {
        nonstop::jobs::JobContext {
            db: self.db.clone(),
            keys: std::sync::Arc::new(self.settings.key_ring().expect("keys")),
            templates: std::sync::Arc::new(nonstop::templates::Templates::built_in().expect("templates")),
            planning: std::sync::Arc::new(nonstop::domain::planner::PlanningContext::shipped()),
            senders: std::sync::Arc::new(
                nonstop::jobs::senders(&self.settings.push, &self.settings.jobs).expect("senders"),
            ),
            metrics: std::sync::Arc::new(nonstop::telemetry::Metrics::new().expect("metrics")),
            settings: self.settings.jobs.clone(),
            clock: self.clock.clone(),
            webhooks: std::sync::Arc::new(
                nonstop::jobs::webhooks::WebhookClient::new(&self.settings.webhooks).expect("webhook client"),
            ),
        }
    }

    fn hold_reminders(&self, family_id: &str, procedure: &str) -> usize {
        use nonstop::db::schema::{planned_notifications, tasks};
        let mut conn = self.db.get().expect("conn");
        // Every other reminder in this test's database waits.
        diesel::update(planned_notifications::table)
            .set(planned_notifications::send_at.eq(self.clock.now() + chrono::Duration::days(365)))
            .execute(&mut *conn)
            .expect("hold");
        let task_ids: Vec<String> = tasks::table
            .filter(tasks::family_id.eq(family_id))
            .filter(tasks::procedure_id.eq(procedure))
            .select(tasks::id)
            .load(&mut *conn)
            .expect("tasks");
        let first: Option<String> = planned_notifications::table
            .filter(planned_notifications::task_id.eq_any(&task_ids))
            .filter(planned_notifications::status.eq("planned"))
            .order(planned_notifications::send_at.asc())
            .select(planned_notifications::id)
            .first(&mut *conn)
            .optional()
            .expect("planned");
        let Some(first) = first else { return 0 };
        diesel::update(planned_notifications::table.find(first))
            .set(planned_notifications::send_at.eq(self.clock.now() - chrono::Duration::seconds(1)))
            .execute(&mut *conn)
            .expect("due")
    }

    /// A vendor app with Web Push credentials set, and its key.
    pub async fn push_ready_app(&self, name: &str) -> String {
        let (_, key) = self.create_app(name);
        let (status, body) = self
            .call(
                Method::PUT,
                "/v1/app/push-credentials/web-push",
                Some(&key),
                Some(serde_json::json!({ "subject": "mailto:push@nonstop-test.jp" })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        key
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

/// The pinned day in Japan (2026-12-01), shifted by `days`, as an ISO date.
pub fn tokyo_day(days: i64) -> String {
    (nonstop::domain::dates::tokyo_date(pinned_instant()) + chrono::Duration::days(days)).to_string()
}

/// Fails if any of `secrets` is stored in plaintext: on SQLite, anywhere in the database file
/// and its write-ahead log, byte for byte; on PostgreSQL, in any value of any of our tables.
pub fn assert_not_stored(app: &TestApp, secrets: &[&str]) {
    match &app.sqlite_path {
        Some(path) => {
            // The database file must be there; its write-ahead log may have been checkpointed away.
            let wal = path.with_extension("sqlite3-wal");
            let files = std::iter::once(path.clone()).chain(wal.exists().then_some(wal));
            for file in files {
                let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                // The log may have been checkpointed and truncated; the database never is empty.
                assert!(
                    !bytes.is_empty() || file.extension().is_some_and(|e| e == "sqlite3-wal"),
                    "{} is empty",
                    file.display()
                );
                for secret in secrets {
                    let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
                    assert!(!found, "{secret} found in {}", file.display());
                }
            }
        }
        None => {
            #[derive(QueryableByName)]
            struct Cell {
                #[diesel(sql_type = diesel::sql_types::Text)]
                value: String,
            }
            let mut conn = app.db.get().expect("conn");
            let tables: Vec<Cell> = diesel::sql_query(
                "SELECT table_name::text AS value FROM information_schema.tables \
                 WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
            )
            .load(&mut *conn)
            .expect("tables");
            assert!(tables.len() > 10);
            for table in tables {
                let cells: Vec<Cell> =
                    diesel::sql_query(format!("SELECT row_to_json(t)::text AS value FROM {} t", table.value))
                        .load(&mut *conn)
                        .expect("dump");
                for cell in cells {
                    for secret in secrets {
                        assert!(!cell.value.contains(secret), "{secret} found in {}: {}", table.value, cell.value);
                    }
                }
            }
        }
    }
}
