//! Time is an input: the service reads its clock, so these tests live at the hour they are
//! about (a night in Japan, the last second of a day) whatever the hour of the machine.

use nonstop::clock::Clock;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{instant, tokyo_day, TestApp};
use crate::mocks::WebPushMock;

/// The deliveries the worker handles in one pass at the clock's present instant.
async fn deliver_now(app: &TestApp) -> usize {
    nonstop::jobs::deliver_once(&app.job_context()).await.expect("delivery pass")
}

#[actix_web::test]
async fn a_push_due_at_night_waits_and_goes_out_at_nine() {
    let web = WebPushMock::start().await;
    // 23:30 in Japan. The test drives the worker itself, so "nothing sent" is a fact, not a wait.
    let clock = Clock::frozen_at(instant("2026-12-01T23:30:00+09:00"));
    let app = TestApp::spawn_at(clock.clone(), |s| s.jobs.enabled = false).await;
    let key = app.push_ready_app("vendor").await;
    let (subscription, device) = web.subscribe();
    // Default quiet hours: nothing between 20:00 and 09:00.
    let family = app
        .create_family(
            &key,
            json!({ "municipality_code": "131016",
                    "children": [{ "status": "born", "birth_date": tokyo_day(0), "birth_weight_grams": 3000 }] }),
        )
        .await;
    let (status, body) = app.post(&format!("/v1/families/{family}/devices"), &key, device).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(app.make_due(&family, "birth_registration").await, 1, "the reminder is recorded at once");

    // It waits for the morning: the delivery is due at 09:00, and the worker sends nothing.
    let (_, inbox) = app.get(&format!("/v1/families/{family}/inbox"), &key).await;
    let entry = inbox["items"][0]["id"].as_str().expect("entry");
    let (_, ledger) = app.get(&format!("/v1/families/{family}/inbox/{entry}/deliveries"), &key).await;
    assert_eq!(ledger[0]["next_attempt_at"], "2026-12-02T00:00:00Z", "09:00 in Japan: {ledger}");
    assert_eq!(deliver_now(&app).await, 0);
    clock.set(instant("2026-12-02T08:59:59+09:00"));
    assert_eq!(deliver_now(&app).await, 0, "not a second before 09:00");
    assert!(web.received().is_empty());

    // At 09:00 it goes out.
    clock.set(instant("2026-12-02T09:00:00+09:00"));
    assert_eq!(deliver_now(&app).await, 1);
    assert_eq!(web.received_by(&subscription).len(), 1);
    let (_, ledger) = app.get(&format!("/v1/families/{family}/inbox/{entry}/deliveries"), &key).await;
    assert_eq!(
        (ledger[0]["status"].as_str(), ledger[0]["sent_at"].as_str()),
        (Some("sent"), Some("2026-12-02T00:00:00Z"))
    );
}

async fn task(app: &TestApp, key: &str, family: &str, procedure: &str, child: &str) -> Value {
    let (status, tasks) = app.get(&format!("/v1/families/{family}/tasks"), key).await;
    assert_eq!(status, StatusCode::OK, "{tasks}");
    tasks
        .as_array()
        .expect("tasks")
        .iter()
        .find(|t| t["procedure_id"] == procedure && t["child_id"] == child)
        .cloned()
        .unwrap_or_else(|| panic!("no {procedure} task for {child}: {tasks}"))
}

#[actix_web::test]
async fn midnight_in_japan_moves_today_at_15_utc() {
    // 23:59:59 on 1 December in Japan, one second before the date changes.
    let clock = Clock::frozen_at(instant("2026-12-01T14:59:59Z"));
    let app = TestApp::spawn_at(clock.clone(), |s| s.jobs.enabled = false).await;
    let (_, key) = app.create_app("vendor");
    // Awake around midnight, so that only the reminders' own 09:00 holds them.
    let family = app
        .create_family(
            &key,
            json!({ "municipality_code": "131016", "quiet_hours": { "start": "03:00", "end": "04:00" },
                    "children": [{ "status": "born", "birth_date": "2026-11-18", "birth_weight_grams": 3000 },
                                 { "status": "expected", "due_date": "2026-12-03" }] }),
        )
        .await;
    let (_, view) = app.get(&format!("/v1/families/{family}"), &key).await;
    let (older, newborn) =
        (view["children"][0]["id"].as_str().expect("id"), view["children"][1]["id"].as_str().expect("id"));

    // 出生届 of a child born 18 November: the birth day is day 1, so 1 December is the last day.
    let registration = task(&app, &key, &family, "birth_registration", older).await;
    assert_eq!((registration["deadline"].as_str(), registration["state"].as_str()), (Some("2026-12-01"), Some("open")));
    // A birth on 2 December is still in the future.
    let birth = json!({ "type": "birth", "date": "2026-12-02", "child_id": newborn, "birth_weight_grams": 3100 });
    let (status, refused) = app.post(&format!("/v1/families/{family}/events"), &key, birth.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(refused.to_string().contains("today in Japan is 2026-12-01"), "{refused}");

    // 15:00:00 UTC: it is 2 December in Japan.
    clock.advance(chrono::Duration::seconds(1));
    let registration = task(&app, &key, &family, "birth_registration", older).await;
    assert_eq!(registration["state"], "overdue", "the deadline was yesterday: {registration}");
    let (status, body) = app.post(&format!("/v1/families/{family}/events"), &key, birth).await;
    assert!(status.is_success(), "a birth today is accepted: {body}");
    let counted = task(&app, &key, &family, "birth_registration", newborn).await;
    assert_eq!(
        (counted["opens_on"].as_str(), counted["deadline"].as_str()),
        (Some("2026-12-02"), Some("2026-12-15")),
        "counted from today, 2 December: {counted}"
    );

    // Today's first reminder is planned for 09:00 today, and becomes due then.
    let (_, planned) = app.get(&format!("/v1/families/{family}/planned-notifications"), &key).await;
    let todays = planned
        .as_array()
        .expect("planned")
        .iter()
        .find(|p| p["task_id"] == counted["id"] && p["local_date"] == "2026-12-02")
        .cloned()
        .unwrap_or_else(|| panic!("no reminder for today: {planned}"));
    assert_eq!(todays["send_at"], "2026-12-02T00:00:00Z");
    let reminders_of_today = |inbox: &Value| {
        inbox["items"].as_array().expect("items").iter().filter(|e| e["task_id"] == counted["id"]).count()
    };
    let context = app.job_context();
    nonstop::jobs::scheduler::run_materialize(&context, clock.now()).await.expect("materialize");
    let (_, inbox) = app.get(&format!("/v1/families/{family}/inbox"), &key).await;
    assert_eq!(reminders_of_today(&inbox), 0, "not at midnight");
    clock.set(instant("2026-12-02T09:00:00+09:00"));
    nonstop::jobs::scheduler::run_materialize(&context, clock.now()).await.expect("materialize");
    let (_, inbox) = app.get(&format!("/v1/families/{family}/inbox"), &key).await;
    assert_eq!(reminders_of_today(&inbox), 1, "due at 09:00: {inbox}");
}

#[test]
fn nothing_but_the_clock_reads_the_system_clock() {
    // clippy.toml's `disallowed-methods` refuses the calls in CI; this keeps the list honest,
    // so that a rule dropped from clippy.toml fails here.
    let rules = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/clippy.toml")).expect("clippy.toml");
    for method in ["chrono::Utc::now", "chrono::Local::now", "std::time::SystemTime::now"] {
        assert!(rules.contains(&format!("path = \"{method}\"")), "clippy.toml no longer refuses {method}");
    }
    // And the source agrees: outside src/clock.rs no file names them.
    let mut offenders = Vec::new();
    for root in ["src", "tests"] {
        let mut stack = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(root)];
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                stack.extend(std::fs::read_dir(&path).expect("dir").map(|e| e.expect("entry").path()));
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("src/clock.rs") {
                let text = std::fs::read_to_string(&path).expect("source");
                for call in ["Utc::now()", "Local::now()", "SystemTime::now()"] {
                    if text.lines().any(|l| l.contains(call) && !l.contains("\"")) {
                        offenders.push(format!("{}: {call}", path.display()));
                    }
                }
            }
        }
    }
    assert!(offenders.is_empty(), "read the application's clock instead: {offenders:?}");
}

/// A vendor's tests and support staff can tell which day nonstop planned from: at 08:30 in
/// Japan on 7 December it is still 6 December in UTC, and nonstop's today is the 7th.
#[actix_web::test]
async fn whoami_says_which_day_is_today_in_japan() {
    let clock = Clock::frozen_at(instant("2026-12-07T08:30:00+09:00"));
    let app = TestApp::spawn_at(clock, |s| s.jobs.enabled = false).await;
    let (_, key) = app.create_app("support");
    let (status, who) = app.get("/v1/whoami", &key).await;
    assert_eq!(status, StatusCode::OK, "{who}");
    assert_eq!(who["today"], "2026-12-07", "{who}");
    assert_eq!(who["now"], "2026-12-06T23:30:00Z", "{who}");
}

/// The task list says which today its states and days left count from.
#[actix_web::test]
async fn the_task_list_says_which_day_it_counts_from() {
    let clock = Clock::frozen_at(instant("2026-12-07T08:30:00+09:00"));
    let app = TestApp::spawn_at(clock, |s| s.jobs.enabled = false).await;
    let (_, key) = app.create_app("support");
    let family = app.create_family(&key, json!({ "municipality_code": "131016" })).await;
    let response = app
        .client
        .get(format!("{}/v1/families/{family}/tasks", app.base))
        .bearer_auth(&key)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers().get("Nonstop-Today").expect("the header"), "2026-12-07");
}
