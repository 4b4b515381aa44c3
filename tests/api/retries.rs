//! Safe retries: a POST with an `Idempotency-Key` acts once, whatever the retries (issue 31).

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::TestApp;

fn family(due: &str) -> Value {
    json!({
        "municipality_code": "131016",
        "consents": ["health_information"],
        "guardians": [{ "relationship": "mother", "full_name": "山田 花子" }],
        "children": [{ "status": "expected", "due_date": due }]
    })
}

/// POSTs `body` with the key; the answer's status, its `Idempotent-Replayed` header and body.
async fn post_with_key(
    app: &TestApp,
    path: &str,
    credential: &str,
    key: &str,
    body: &Value,
) -> (StatusCode, bool, Value) {
    let response = app
        .client
        .post(format!("{}{path}", app.base))
        .bearer_auth(credential)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("sent");
    let status = response.status();
    let replayed = response.headers().get("Idempotent-Replayed").is_some_and(|v| v == "true");
    let text = response.text().await.expect("body");
    (status, replayed, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn family_count(app: &TestApp, key: &str) -> usize {
    let (_, page) = app.get("/v1/families?limit=100", key).await;
    page["items"].as_array().expect("items").len()
}

#[actix_web::test]
async fn a_retried_registration_makes_one_family_and_answers_the_first_answer_again() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("retrying");
    let body = family("2027-03-10");
    let (first, replayed, created) = post_with_key(&app, "/v1/families", &key, "attempt-1", &body).await;
    assert_eq!((first, replayed), (StatusCode::CREATED, false), "{created}");
    let (again, replayed, answer) = post_with_key(&app, "/v1/families", &key, "attempt-1", &body).await;
    assert_eq!((again, replayed), (StatusCode::CREATED, true), "{answer}");
    assert_eq!(answer, created, "the first answer, as it was");
    assert_eq!(family_count(&app, &key).await, 1);
    // Without a key, or with another one, a POST acts again.
    let (other, replayed, _) = post_with_key(&app, "/v1/families", &key, "attempt-2", &body).await;
    assert_eq!((other, replayed), (StatusCode::CREATED, false));
    assert_eq!(family_count(&app, &key).await, 2);
}

#[actix_web::test]
async fn the_same_key_with_another_body_is_refused_and_acts_not() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("retrying");
    let (first, _, _) = post_with_key(&app, "/v1/families", &key, "k", &family("2027-03-10")).await;
    assert_eq!(first, StatusCode::CREATED);
    let (status, _, error) = post_with_key(&app, "/v1/families", &key, "k", &family("2027-04-01")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["error"], "idempotency_key_reused");
    assert_eq!(family_count(&app, &key).await, 1);
}

#[actix_web::test]
async fn keys_are_kept_per_credential() {
    let app = TestApp::spawn().await;
    let (_, first_app) = app.create_app("one");
    let (_, second_app) = app.create_app("two");
    let body = family("2027-03-10");
    let (a, _, _) = post_with_key(&app, "/v1/families", &first_app, "same-key", &body).await;
    let (b, replayed, _) = post_with_key(&app, "/v1/families", &second_app, "same-key", &body).await;
    assert_eq!((a, b, replayed), (StatusCode::CREATED, StatusCode::CREATED, false));
    assert_eq!(family_count(&app, &second_app).await, 1, "the second app's own family, not a replay");
}

#[actix_web::test]
async fn concurrent_duplicates_act_once() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("impatient");
    let body = family("2027-03-10");
    let answers =
        futures_util::future::join_all((0..6).map(|_| post_with_key(&app, "/v1/families", &key, "burst", &body))).await;
    let created: Vec<&Value> =
        answers.iter().filter(|(s, _, _)| *s == StatusCode::CREATED).map(|(_, _, b)| b).collect();
    assert!(!created.is_empty(), "{answers:?}");
    assert!(created.iter().all(|b| b["id"] == created[0]["id"]), "one family, answered to each: {answers:?}");
    for (status, _, answer) in &answers {
        assert!(
            *status == StatusCode::CREATED
                || (*status == StatusCode::CONFLICT && answer["error"] == "idempotency_key_in_use"),
            "{status} {answer}"
        );
    }
    assert_eq!(family_count(&app, &key).await, 1);
}

#[actix_web::test]
async fn a_refused_request_gives_its_key_back() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("correcting");
    let mut wrong = family("2027-03-10");
    wrong["municipality_code"] = json!("131017");
    let (status, _, _) = post_with_key(&app, "/v1/families", &key, "fix-and-retry", &wrong).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Same key, corrected body: it did nothing the first time, so it acts now.
    let (status, replayed, _) = post_with_key(&app, "/v1/families", &key, "fix-and-retry", &family("2027-03-10")).await;
    assert_eq!((status, replayed), (StatusCode::CREATED, false));
}

#[actix_web::test]
async fn a_key_is_replayed_for_24_hours_then_purged() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("slow");
    let body = family("2027-03-10");
    post_with_key(&app, "/v1/families", &key, "day-old", &body).await;
    app.clock.advance(chrono::Duration::hours(23));
    let (_, replayed, _) = post_with_key(&app, "/v1/families", &key, "day-old", &body).await;
    assert!(replayed, "within 24 hours");
    app.clock.advance(chrono::Duration::hours(2));
    let (status, replayed, _) = post_with_key(&app, "/v1/families", &key, "day-old", &body).await;
    assert_eq!((status, replayed), (StatusCode::CREATED, false), "after 24 hours the key is new again");
    assert_eq!(family_count(&app, &key).await, 2);
    // The daily purge removes keys older than 24 hours.
    app.clock.advance(chrono::Duration::hours(25));
    nonstop::jobs::scheduler::tick(&app.job_context()).await;
    let mut conn = app.db.get().expect("conn");
    use diesel::prelude::*;
    let left: i64 = nonstop::db::schema::idempotency_keys::table.count().get_result(&mut conn).expect("count");
    assert_eq!(left, 0);
}

#[actix_web::test]
async fn a_malformed_key_is_refused_naming_the_header() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("typo");
    let (status, _, error) = post_with_key(&app, "/v1/families", &key, "two words", &family("2027-03-10")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(error["fields"]["Idempotency-Key"].is_string(), "{error}");
    assert_eq!(family_count(&app, &key).await, 0);
}

#[test]
fn every_post_documents_the_key_and_its_codes() {
    let document: Value = serde_json::from_str(&nonstop::api::openapi().to_json().expect("json")).expect("parse");
    let mut posts = 0;
    for item in document["paths"].as_object().expect("paths").values() {
        let Some(operation) = item.get("post") else { continue };
        posts += 1;
        let id = &operation["operationId"];
        let parameters = operation["parameters"].as_array().expect("parameters");
        assert!(parameters.iter().any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header"), "{id}");
        assert!(
            operation["responses"]["409"]["x-error-codes"]
                .as_array()
                .expect("409")
                .contains(&json!("idempotency_key_in_use")),
            "{id}"
        );
        assert!(
            operation["responses"]["422"]["x-error-codes"]
                .as_array()
                .expect("422")
                .contains(&json!("idempotency_key_reused")),
            "{id}"
        );
        let success = operation["responses"].as_object().expect("responses").iter().find(|(s, _)| s.starts_with('2'));
        assert!(success.expect("a success").1["headers"]["Idempotent-Replayed"].is_object(), "{id}");
    }
    assert!(posts >= 20, "{posts}");
}
