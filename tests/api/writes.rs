//! Writes that keep up: a life event re-plans the family in a few statements, whatever the
//! number of tasks and reminders it changes; and a request that finds no database connection
//! free in time is answered 503 with `Retry-After`, not 500.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use diesel::connection::{Connection, InstrumentationEvent};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{tokyo_day, TestApp};
use nonstop::db::write_transaction;
use nonstop::domain::planner::PlanningContext;
use nonstop::service::life_events::{self, BirthEvent, LifeEventInput, PregnancyEvent};
use nonstop::service::{access, planning};

/// The statements a connection ran, as SQL.
type Statements = Arc<Mutex<Vec<String>>>;

fn statements_of(statements: &Statements) -> Vec<String> {
    statements.lock().expect("statements").clone()
}

/// How many of `statements` are `verb` (`INSERT INTO`, `UPDATE`) on `table`, upserts (`ON
/// CONFLICT`) or not as `upsert` says, whichever quotes the backend puts around names.
fn counted(statements: &[String], verb: &str, table: &str, upsert: bool) -> usize {
    let start = format!("{verb} {table} ");
    statements
        .iter()
        .map(|s| s.replace(['"', '`'], ""))
        .filter(|s| s.trim_start().starts_with(&start) && s.contains("ON CONFLICT") == upsert)
        .count()
}

/// A pregnancy plans a score of tasks and reminders, and a birth moves, cancels and adds many:
/// each re-planning writes them a statement per kind of change (one insert of the new tasks, one
/// of the new reminders, one rewrite of the changed ones, one update of the cancelled ones),
/// never a statement per row.
#[actix_web::test]
async fn a_life_event_replans_the_family_in_a_few_statements() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family_id = app.create_family(&key, json!({ "municipality_code": "131016" })).await;
    let keys = Arc::new(app.settings.key_ring().expect("keys"));
    let planning_context = PlanningContext::shipped();
    let (today, now) = (app.clock.today(), app.clock.now());

    let statements: Statements = Arc::default();
    let mut conn = app.db.get().expect("conn");
    let seen = statements.clone();
    conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            seen.lock().expect("statements").push(query.to_string());
        }
    });
    let replan = |conn: &mut nonstop::db::DbConnection, input: LifeEventInput| {
        let family = access::family_row(conn, &family_id)?;
        let event = life_events::record(conn, &keys, family, input, today, now)?;
        statements.lock().expect("statements").clear();
        let diff = planning::replan(conn, &keys, &planning_context, &family_id, today, now)?;
        Ok::<_, nonstop::error::Error>((event, diff, statements_of(&statements)))
    };

    let pregnancy = LifeEventInput::Pregnancy(PregnancyEvent {
        date: tokyo_day(-120).parse().expect("date"),
        due_date: tokyo_day(60).parse().expect("date"),
    });
    let (event, diff, ran) = write_transaction(&mut conn, |c| replan(c, pregnancy)).expect("pregnancy");
    let rows = diff.tasks_new + diff.notifications_new;
    assert!(diff.tasks_new >= 5 && diff.notifications_new >= 5, "a pregnancy plans many: {diff:?}");
    assert_eq!(counted(&ran, "INSERT INTO", "tasks", false), 1, "one insert of {} tasks: {ran:#?}", diff.tasks_new);
    assert_eq!(
        counted(&ran, "INSERT INTO", "planned_notifications", false),
        1,
        "one insert of {} reminders: {ran:#?}",
        diff.notifications_new
    );
    // The reads (the family, its municipality's settings, what the planner needs, the stored
    // tasks and reminders) and the writes: a few, fewer than the rows written.
    assert!(ran.len() <= 16 && ran.len() < rows, "{} statements to write {rows} rows: {ran:#?}", ran.len());

    // The birth, two months before the due date: every date counted from the due date moves,
    // the pregnancy's own tasks end, and the born child's are new.
    let child_id = event.child_id.expect("the expected child");
    let birth = LifeEventInput::Birth(BirthEvent {
        date: tokyo_day(-2).parse().expect("date"),
        child_id: Some(child_id),
        birth_weight_grams: None,
        full_name: None,
        full_name_kana: None,
        sex: None,
        birth_time: None,
        birth_place: None,
        legitimacy: None,
    });
    let (_, diff, ran) = write_transaction(&mut conn, |c| replan(c, birth)).expect("birth");
    let changed = diff.tasks_new + diff.tasks_rescheduled + diff.tasks_cancelled;
    assert!(changed >= 5 && diff.tasks_new >= 1, "a birth changes many tasks: {diff:?}");
    for (kind, verb, table, upsert) in [
        ("new tasks", "INSERT INTO", "tasks", false),
        ("changed tasks", "INSERT INTO", "tasks", true),
        ("cancelled tasks", "UPDATE", "tasks", false),
        ("new reminders", "INSERT INTO", "planned_notifications", false),
        ("changed reminders", "INSERT INTO", "planned_notifications", true),
        ("cancelled reminders", "UPDATE", "planned_notifications", false),
    ] {
        assert!(counted(&ran, verb, table, upsert) <= 1, "at most one statement for the {kind}: {ran:#?}");
    }
    let writes = ran.iter().filter(|s| !s.trim_start().starts_with("SELECT")).count();
    assert!(writes >= 2, "the birth's changes were written: {ran:#?}");
    assert!(ran.len() <= 16, "{} statements for {diff:?}: {ran:#?}", ran.len());

    // What was written is what the API shows: the expected child's tasks closed or moved, the
    // born child's planned.
    drop(conn);
    let (status, tasks) = app.get(&format!("/v1/families/{family_id}/tasks"), &key).await;
    assert_eq!(status, StatusCode::OK, "{tasks}");
    assert!(tasks.to_string().contains("birth_registration"), "the 出生届 is planned: {tasks}");
}

/// What the served application logs, captured from the moment this is first called.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        struct Capture(Arc<Mutex<Vec<u8>>>);
        impl Write for Capture {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let logs: Arc<Mutex<Vec<u8>>> = Arc::default();
        let sink = logs.clone();
        // As `nonstop serve` logs (telemetry::init_logging): JSON, one object a line.
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter("info")
            .with_writer(move || Capture(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber in the tests");
        logs
    })
    .clone()
}

/// With every connection of the pool held, a request waits `database.pool_wait_ms` and is
/// answered 503 `unavailable` with `Retry-After`: it did nothing and can be sent again (a 500
/// would say nonstop failed). The log says the pool was exhausted, and nothing of the request.
#[actix_web::test]
async fn a_pool_without_a_free_connection_answers_503_with_retry_after() {
    let logs = captured_logs();
    let app = TestApp::spawn_with(|s| {
        s.database.pool_size = 1;
        s.database.pool_wait_ms = 200;
        // The delivery workers would take the one connection too.
        s.jobs.enabled = false;
    })
    .await;
    let (_, key) = app.create_app("vendor");
    let secret_name = "満員野 花子";
    let family = app
        .create_family(
            &key,
            json!({ "municipality_code": "131016", "address": "満員町4-5-6",
                    "guardians": [{ "relationship": "mother", "full_name": secret_name }] }),
        )
        .await;
    let events = format!("/v1/families/{family}/events");
    let pregnancy = json!({ "type": "pregnancy", "date": tokyo_day(-60), "due_date": tokyo_day(150) });

    let held = app.served_db.get().expect("the pool's one connection");
    let started = std::time::Instant::now();
    let response = app
        .client
        .post(format!("{}{events}", app.base))
        .bearer_auth(&key)
        .json(&pregnancy)
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() >= std::time::Duration::from_millis(200), "it waited for a connection first");
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(retry_after.as_deref(), Some("1"));
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["error"], "unavailable", "{body}");
    // A read alike, and the answer is the one the document lists for every operation.
    let (status, body) = app.get(&format!("/v1/families/{family}"), &key).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")));

    // Once a connection is free, the same request is taken: the first did nothing.
    drop(held);
    let (status, event) = app.post(&events, &key, pregnancy).await;
    assert_eq!(status, StatusCode::CREATED, "{event}");
    let (_, read) = app.get(&format!("/v1/families/{family}"), &key).await;
    assert_eq!(read["children"].as_array().map(Vec::len), Some(1), "one pregnancy recorded, not two: {read}");

    let logs = String::from_utf8_lossy(&logs.lock().expect("logs")).into_owned();
    assert!(logs.contains("no database connection came free in time"), "the exhausted pool is logged: {logs}");
    assert!(logs.contains("\"status\":503"), "the answer is logged: {logs}");
    for secret in [secret_name, "満員町", key.as_str()] {
        assert!(!logs.contains(secret), "{secret} appeared in the logs");
    }
}
