//! Life events are recorded with their date and applied to the profile in one step.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{tokyo_day, TestApp};

#[actix_web::test]
async fn a_pregnancy_then_a_birth_turn_into_a_born_child() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family = app.create_family(&key, json!({ "municipality_code": "131016" })).await;
    let events = format!("/v1/families/{family}/events");

    let (status, pregnancy) =
        app.post(&events, &key, json!({ "type": "pregnancy", "date": tokyo_day(-60), "due_date": tokyo_day(5) })).await;
    assert_eq!(status, StatusCode::CREATED, "{pregnancy}");
    let child_id = pregnancy["child_id"].as_str().expect("expected child").to_owned();
    let (_, read) = app.get(&format!("/v1/families/{family}"), &key).await;
    assert_eq!(read["children"][0]["status"], "expected");
    assert_eq!(read["children"][0]["due_date"], json!(tokyo_day(5)));

    let (status, birth) = app
        .post(
            &events,
            &key,
            json!({ "type": "birth", "date": tokyo_day(-2), "child_id": child_id, "birth_weight_grams": 2400, "full_name": "山田 さくら", "sex": "female" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{birth}");
    assert_eq!(birth["type"], "birth");
    assert_eq!(
        birth["details"],
        json!({ "birth_weight_recorded": true }),
        "no name, and no health information, in the event"
    );
    let (_, read) = app.get(&format!("/v1/families/{family}"), &key).await;
    let child = &read["children"][0];
    assert_eq!((child["status"].as_str(), child["birth_date"].as_str()), (Some("born"), Some(tokyo_day(-2).as_str())));
    assert_eq!(child["birth_weight_grams"], 2400);
    assert_eq!(child["full_name"], "山田 さくら");
    assert_eq!(child["due_date"], json!(tokyo_day(5)), "the due date stays as history");

    // The same birth twice contradicts what is stored.
    let (status, error) =
        app.post(&events, &key, json!({ "type": "birth", "date": tokyo_day(-2), "child_id": child_id })).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error["error"], "child_already_born");

    let (_, list) = app.get(&events, &key).await;
    let kinds: Vec<&str> = list.as_array().expect("events").iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds, ["birth", "pregnancy"]);
}

#[actix_web::test]
async fn a_birth_without_a_registered_pregnancy_adds_the_child() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family = app.create_family(&key, json!({ "municipality_code": "131016" })).await;
    let (status, birth) = app
        .post(
            &format!("/v1/families/{family}/events"),
            &key,
            json!({ "type": "birth", "date": tokyo_day(0), "birth_weight_grams": 3000 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{birth}");
    let (_, read) = app.get(&format!("/v1/families/{family}"), &key).await;
    assert_eq!(read["children"][0]["id"], birth["child_id"]);
    assert_eq!(read["children"][0]["status"], "born");
}

#[actix_web::test]
async fn bad_events_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family = app.create_family(&key, json!({ "municipality_code": "131016" })).await;
    let events = format!("/v1/families/{family}/events");
    let cases = [
        (json!({ "type": "birth", "date": tokyo_day(1) }), StatusCode::UNPROCESSABLE_ENTITY, "date"),
        (
            json!({ "type": "birth", "date": tokyo_day(0), "birth_weight_grams": 0 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "birth_weight_grams",
        ),
        (json!({ "type": "birth", "date": tokyo_day(0), "child_id": "nope" }), StatusCode::NOT_FOUND, ""),
        (
            json!({ "type": "pregnancy", "date": tokyo_day(0), "due_date": tokyo_day(3000) }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "due_date",
        ),
        (
            // Six digits, as the document says, with a wrong check digit: a rule beyond it.
            json!({ "type": "moved", "date": tokyo_day(0), "municipality_code": "131131" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "municipality_code",
        ),
        (
            json!({ "type": "moved", "date": tokyo_day(-400), "municipality_code": "131130" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "date",
        ),
        (
            json!({ "type": "moved", "date": tokyo_day(-2), "municipality_code": "131130", "planned_move_out_date": tokyo_day(-1) }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "planned_move_out_date",
        ),
        (json!({ "type": "divorce", "date": tokyo_day(0) }), StatusCode::BAD_REQUEST, "type"),
    ];
    for (body, status, field) in cases {
        let (got, error) = app.post(&events, &key, body.clone()).await;
        assert_eq!(got, status, "{body}: {error}");
        if !field.is_empty() {
            assert!(error["fields"][field].is_string(), "{field} not named for {body}: {error}");
        }
    }
    let (_, list) = app.get(&events, &key).await;
    assert_eq!(list, json!([]));
    let (_, read) = app.get(&format!("/v1/families/{family}"), &key).await;
    assert_eq!(
        (read["municipality_code"].as_str(), read["children"].as_array().map(Vec::len)),
        (Some("131016"), Some(0))
    );
}

#[actix_web::test]
async fn a_move_and_household_changes_update_the_profile() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family = app
        .create_family(&key, json!({ "municipality_code": "131016", "postal_code": "100-0001", "address": "千代田1-1", "health_insurance": "employee" }))
        .await;
    let events = format!("/v1/families/{family}/events");
    let (status, moved) = app
        .post(&events, &key, json!({ "type": "moved", "date": tokyo_day(-1), "municipality_code": "141003", "postal_code": "231-0005", "address": "本町6-50" }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{moved}");
    assert_eq!(
        moved["details"],
        json!({ "from_municipality_code": "131016", "to_municipality_code": "141003", "within_municipality": false })
    );
    let (status, _) = app
        .post(
            &events,
            &key,
            json!({ "type": "health_insurance_changed", "date": tokyo_day(-1), "health_insurance": "national" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app
        .post(&events, &key, json!({ "type": "single_parent_changed", "date": tokyo_day(0), "single_parent": true }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, read) = app.get(&format!("/v1/families/{family}"), &key).await;
    assert_eq!(read["municipality_code"], "141003");
    assert_eq!(read["postal_code"], "231-0005");
    assert_eq!(read["address"], "本町6-50");
    assert_eq!(read["health_insurance"], "national");
    assert_eq!(read["single_parent"], true);
}

/// The child's tasks still planned, and its reminders still planned.
fn still_planned_about(app: &TestApp, child: &str) -> (i64, i64) {
    use diesel::prelude::*;
    use nonstop::db::schema::{planned_notifications, tasks};
    let mut conn = app.db.get().expect("conn");
    let ids: Vec<String> =
        tasks::table.filter(tasks::child_id.eq(child)).select(tasks::id).load(&mut *conn).expect("tasks");
    let open: i64 = tasks::table
        .filter(tasks::id.eq_any(&ids))
        .filter(tasks::status.eq("planned"))
        .count()
        .get_result(&mut *conn)
        .expect("count");
    let reminders: i64 = planned_notifications::table
        .filter(planned_notifications::task_id.eq_any(&ids))
        .filter(planned_notifications::status.eq("planned"))
        .count()
        .get_result(&mut *conn)
        .expect("count");
    (open, reminders)
}

#[actix_web::test]
async fn after_a_lost_pregnancy_no_push_about_the_child_leaves_even_one_already_due() {
    use diesel::prelude::*;
    use nonstop::db::schema::{deliveries, inbox_entries, planned_notifications, tasks};
    let web = crate::mocks::WebPushMock::start().await;
    // No worker of its own: the test runs each job when it chooses.
    let app = TestApp::spawn_with(|s| s.jobs.enabled = false).await;
    let key = app.push_ready_app("vendor").await;
    let (subscription, device) = web.subscribe();
    let family = app
        .create_family(
            &key,
            json!({ "municipality_code": "131016", "quiet_hours": crate::helpers::awake_quiet_hours(),
                    "children": [{ "status": "expected", "due_date": tokyo_day(100) }] }),
        )
        .await;
    let (status, body) = app.post(&format!("/v1/families/{family}/devices"), &key, device).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, read) = app.get(&format!("/v1/families/{family}"), &key).await;
    let child = read["children"][0]["id"].as_str().expect("child").to_owned();
    // A pregnancy reminder is due and written: its push waits for the worker.
    assert_eq!(app.make_due(&family, "prenatal_checkups").await, 1);
    let (_, page) = app.get(&format!("/v1/families/{family}/inbox"), &key).await;
    let entry = page["items"][0]["id"].as_str().expect("entry").to_owned();
    let ledger = format!("/v1/families/{family}/inbox/{entry}/deliveries");
    let (_, pending) = app.get(&ledger, &key).await;
    assert_eq!(pending[0]["status"], "pending", "{pending}");

    let (status, ended) = app
        .post(
            &format!("/v1/families/{family}/events"),
            &key,
            json!({ "type": "pregnancy_ended", "date": tokyo_day(0), "child_id": child, "gestational_weeks": 26 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ended}");
    assert_eq!(
        ended["details"],
        json!({ "from_12_weeks": true, "from_85_days": true }),
        "the thresholds reached, not the weeks"
    );
    let (_, read) = app.get(&format!("/v1/families/{family}"), &key).await;
    assert_eq!(read["children"][0]["status"], "pregnancy_ended");
    // At once: the push already due is withdrawn, every task and reminder about the child too.
    let (_, withdrawn) = app.get(&ledger, &key).await;
    assert_eq!(withdrawn[0]["status"], "withdrawn", "{withdrawn}");
    assert_eq!(still_planned_about(&app, &child), (0, 0));

    // Claimed or written while the event was recorded: the jobs refuse them at their turn.
    {
        let mut conn = app.db.get().expect("conn");
        diesel::update(deliveries::table)
            .set(deliveries::status.eq("pending"))
            .execute(&mut *conn)
            .expect("a delivery written in the race");
        let about_child: Vec<String> =
            tasks::table.filter(tasks::child_id.eq(&child)).select(tasks::id).load(&mut *conn).expect("tasks");
        diesel::update(planned_notifications::table.filter(planned_notifications::task_id.eq_any(&about_child)))
            .set((
                planned_notifications::status.eq("planned"),
                planned_notifications::send_at.eq(app.clock.now() - chrono::Duration::minutes(1)),
            ))
            .execute(&mut *conn)
            .expect("reminders read in the race");
    }
    let ctx = app.job_context();
    nonstop::jobs::scheduler::run_materialize(&ctx, app.clock.now()).await.expect("materialize");
    nonstop::jobs::deliver_once(&ctx).await.expect("deliver");
    nonstop::jobs::deliver_once(&ctx).await.expect("deliver");

    let (_, after) = app.get(&ledger, &key).await;
    assert_eq!(after[0]["status"], "withdrawn", "{after}");
    let pushed = web.received_by(&subscription);
    let titles: Vec<String> = pushed
        .iter()
        .filter_map(|p| p.plaintext.as_ref().and_then(|t| t["title"].as_str()).map(str::to_owned))
        .collect();
    // What the loss asks is pushed, about the household: the 死産届 opens today.
    assert_eq!(titles, ["死産届のご案内"], "nothing about the pregnancy: {titles:?}");
    let mut conn = app.db.get().expect("conn");
    let entries_about_child: i64 = inbox_entries::table
        .inner_join(tasks::table.on(tasks::id.nullable().eq(inbox_entries::task_id)))
        .filter(tasks::child_id.eq(&child))
        .count()
        .get_result(&mut *conn)
        .expect("count");
    assert_eq!(entries_about_child, 1, "the entry already there is kept, and no other is written");
    drop(conn);
    assert_eq!(still_planned_about(&app, &child), (0, 0), "the reminders read in the race are cancelled");

    // Later re-plans (any change of the family) bring nothing about the child back.
    let (status, body) = app
        .post(
            &format!("/v1/families/{family}/events"),
            &key,
            json!({ "type": "health_insurance_changed", "date": tokyo_day(0), "health_insurance": "employee" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(still_planned_about(&app, &child), (0, 0));
}

#[actix_web::test]
async fn a_lost_pregnancy_and_a_death_name_the_right_child_and_cannot_be_created_directly() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family = app
        .create_family(
            &key,
            json!({ "municipality_code": "131016", "children": [
                { "status": "expected", "due_date": tokyo_day(150) },
                { "status": "born", "birth_date": tokyo_day(-20) } ] }),
        )
        .await;
    let (_, read) = app.get(&format!("/v1/families/{family}"), &key).await;
    let id = |status: &str| {
        read["children"].as_array().expect("children").iter().find(|c| c["status"] == status).expect("child")["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    let (expected, born) = (id("expected"), id("born"));
    let events = format!("/v1/families/{family}/events");
    let cases = [
        (json!({ "type": "pregnancy_ended", "date": tokyo_day(0), "child_id": born }), StatusCode::CONFLICT),
        (json!({ "type": "child_died", "date": tokyo_day(0), "child_id": expected }), StatusCode::CONFLICT),
        (json!({ "type": "child_died", "date": tokyo_day(-21), "child_id": born }), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({ "type": "pregnancy_ended", "date": tokyo_day(0), "child_id": expected, "gestational_days": 3 }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (body, status) in cases {
        let (got, error) = app.post(&events, &key, body.clone()).await;
        assert_eq!(got, status, "{body}: {error}");
    }
    let (status, error) = app
        .post(
            &format!("/v1/families/{family}/children"),
            &key,
            json!({ "status": "died", "birth_date": tokyo_day(-3) }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "only an event records a death: {error}");

    // The death: the child keeps its row, says so, and only the 死亡届 is planned for it.
    let (status, died) =
        app.post(&events, &key, json!({ "type": "child_died", "date": tokyo_day(0), "child_id": born })).await;
    assert_eq!(status, StatusCode::CREATED, "{died}");
    let (_, read) = app.get(&format!("/v1/families/{family}"), &key).await;
    assert!(read["children"].as_array().expect("children").iter().any(|c| c["id"] == born && c["status"] == "died"));
    assert_eq!(still_planned_about(&app, &born), (0, 0));
    let (_, tasks) = app.get(&format!("/v1/families/{family}/tasks"), &key).await;
    let death = tasks
        .as_array()
        .expect("tasks")
        .iter()
        .find(|t| t["procedure_id"] == "death_registration")
        .cloned()
        .expect("the 死亡届 is planned");
    // 戸籍法 第86条・第43条: 12/1 is day 1 of 7 → 12/7 (Mon).
    assert_eq!(death["deadline"], "2026-12-07", "{death}");
    assert!(death["child_id"].is_null(), "about the household, not the child");
    assert!(still_planned_about(&app, &expected).0 > 0, "the pregnancy goes on");
}

#[actix_web::test]
async fn a_move_within_the_municipality_is_a_change_of_address_not_a_move_in() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family = app
        .create_family(
            &key,
            json!({ "municipality_code": "131016", "health_insurance": "national",
                    "children": [{ "status": "born", "birth_date": tokyo_day(-200) }] }),
        )
        .await;
    let events = format!("/v1/families/{family}/events");
    let (status, moved) =
        app.post(&events, &key, json!({ "type": "moved", "date": tokyo_day(-2), "municipality_code": "131016" })).await;
    assert_eq!(status, StatusCode::CREATED, "{moved}");
    assert_eq!(moved["details"]["within_municipality"], true);
    let planned = |tasks: &serde_json::Value| -> Vec<String> {
        tasks
            .as_array()
            .expect("tasks")
            .iter()
            .filter(|t| !["cancelled", "done", "dismissed"].contains(&t["state"].as_str().unwrap_or_default()))
            .filter_map(|t| t["procedure_id"].as_str().map(str::to_owned))
            .collect()
    };
    let (_, tasks) = app.get(&format!("/v1/families/{family}/tasks"), &key).await;
    let within = planned(&tasks);
    assert!(within.contains(&"change_of_address_notification".to_owned()), "{within:?}");
    for id in ["kokuho_transfer", "child_allowance_transfer_claim", "moving_in_notification"] {
        assert!(!within.contains(&id.to_owned()), "{id}: {within:?}");
    }
    // A later move to another municipality is a move-in.
    let (status, moved) =
        app.post(&events, &key, json!({ "type": "moved", "date": tokyo_day(-1), "municipality_code": "131130" })).await;
    assert_eq!(status, StatusCode::CREATED, "{moved}");
    assert_eq!(moved["details"]["within_municipality"], false);
    let (_, tasks) = app.get(&format!("/v1/families/{family}/tasks"), &key).await;
    let moved_in = planned(&tasks);
    for id in ["kokuho_transfer", "child_allowance_transfer_claim", "moving_in_notification"] {
        assert!(moved_in.contains(&id.to_owned()), "{id}: {moved_in:?}");
    }
    assert!(!moved_in.contains(&"change_of_address_notification".to_owned()), "{moved_in:?}");
}

#[actix_web::test]
async fn notices_by_age_or_due_date_skip_a_child_lost() {
    // Every count shown exactly.
    let app = TestApp::spawn_with(|s| s.notices.audience_count_threshold = 0).await;
    let (_, key) = app.create_app("vendor");
    let staff = app.create_staff("131016");
    let mut children = Vec::new();
    for child in [
        json!({ "status": "born", "birth_date": crate::notices::born_months_ago(18) }),
        json!({ "status": "born", "birth_date": crate::notices::born_months_ago(18) }),
        json!({ "status": "expected", "due_date": tokyo_day(100) }),
        json!({ "status": "expected", "due_date": tokyo_day(100) }),
    ] {
        let family = app.create_family(&key, json!({ "municipality_code": "131016", "children": [child] })).await;
        let (_, read) = app.get(&format!("/v1/families/{family}"), &key).await;
        children.push((family, read["children"][0]["id"].as_str().expect("child").to_owned()));
    }
    for ((family, child), kind) in [(&children[0], "child_died"), (&children[2], "pregnancy_ended")] {
        let body = json!({ "type": kind, "date": tokyo_day(0), "child_id": child });
        let (status, event) = app.post(&format!("/v1/families/{family}/events"), &key, body).await;
        assert_eq!(status, StatusCode::CREATED, "{event}");
    }
    let preview = "/v1/municipalities/131016/notices/audience-preview";
    let (status, by_age) = app.post(preview, &staff, json!({ "child_age_months": { "min": 17, "max": 19 } })).await;
    assert_eq!(status, StatusCode::OK, "{by_age}");
    assert_eq!(by_age["audience_size"], 1, "the child who died is not 18 months old to a notice");
    let due = json!({ "due_between": { "from": tokyo_day(0), "to": tokyo_day(200) } });
    let (_, by_due) = app.post(preview, &staff, due.clone()).await;
    assert_eq!(by_due["audience_size"], 1, "a pregnancy that ended has no due date to a notice");
    // The count and the recipients a notice goes to agree.
    let code = nonstop::domain::MunicipalityCode::parse("131016").expect("code");
    let conditions: nonstop::service::notices::Audience = serde_json::from_value(due).expect("audience");
    let today = nonstop::domain::dates::tokyo_date(crate::helpers::pinned_instant());
    let mut conn = app.db.get().expect("conn");
    let walked = nonstop::service::notices::audience_size_walked(&mut conn, &code, &conditions, today).expect("walked");
    assert_eq!(walked, 1);
}
