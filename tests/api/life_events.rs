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
    assert_eq!(moved["details"], json!({ "from_municipality_code": "131016", "to_municipality_code": "141003" }));
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
