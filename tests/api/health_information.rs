//! 要配慮個人情報: a child's birth weight is kept only under the parent's consent
//! (個人情報保護法 第20条第2項); withdrawing the consent erases it, and the daily purge erases it
//! after the first birthday (the last procedure that asks it, 未熟児養育医療, ends there).

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{tokyo_day, TestApp};

#[actix_web::test]
async fn withdrawing_the_consent_erases_the_birth_weight_and_what_was_planned_from_it() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family = app
        .create_family(
            &key,
            json!({ "municipality_code": "131016", "consents": ["health_information"],
                    "children": [{ "status": "expected", "due_date": tokyo_day(3) }] }),
        )
        .await;
    let (_, read) = app.get(&format!("/v1/families/{family}"), &key).await;
    let child = read["children"][0]["id"].as_str().expect("child").to_owned();
    let (status, _) = app
        .post(
            &format!("/v1/families/{family}/events"),
            &key,
            json!({ "type": "birth", "date": tokyo_day(-1), "child_id": child, "birth_weight_grams": 2400 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, consents) = app.get(&format!("/v1/families/{family}/consents"), &key).await;
    assert!(consents["items"][0]["wording"].as_str().is_some_and(|w| w.contains("要配慮個人情報")), "{consents}");
    let tasks_path = format!("/v1/families/{family}/tasks");
    let low = |tasks: &serde_json::Value| {
        tasks.as_array().expect("tasks").iter().find(|t| t["procedure_id"] == "low_birth_weight_notification").cloned()
    };
    let (_, before) = app.get(&tasks_path, &key).await;
    assert_eq!(low(&before).expect("低体重児届 for 2,400 g")["state"], "open");

    let (status, withdrawn) = app.delete(&format!("/v1/families/{family}/consents/health_information"), &key).await;
    assert_eq!(status, StatusCode::OK, "{withdrawn}");
    let (_, read) = app.get(&format!("/v1/families/{family}"), &key).await;
    assert_eq!(read["children"][0]["birth_weight_grams"], json!(null), "erased");
    let (_, after) = app.get(&tasks_path, &key).await;
    assert_eq!(low(&after).expect("kept, cancelled")["state"], "cancelled", "nonstop no longer knows the weight");
    app.wait_until("no weight kept anywhere", |conn| {
        use nonstop::db::schema::{children, life_events};
        let weights: i64 = children::table
            .filter(children::birth_weight_sealed.is_not_null())
            .count()
            .get_result(conn)
            .expect("count");
        let events: i64 = life_events::table
            .filter(life_events::details.like("%birth_weight_grams%"))
            .count()
            .get_result(conn)
            .expect("count");
        weights == 0 && events == 0
    })
    .await;
    // Without the consent, a weight is refused again.
    let (status, refused) = app
        .patch(&format!("/v1/families/{family}/children/{child}"), &key, json!({ "birth_weight_grams": 2400 }))
        .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (StatusCode::CONFLICT, Some("health_information_consent_required"))
    );
    // Nor may it be typed into a form: a draft holds it as much as the child does.
    let card = app.open_draft(&key, &family, "birth_notification_card").await;
    let draft_path = format!("/v1/families/{family}/drafts/{}", card["id"].as_str().expect("id"));
    let (status, refused) =
        app.patch(&draft_path, &key, json!({ "values": { "child.birth_weight_grams": 2400 } })).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (StatusCode::CONFLICT, Some("health_information_consent_required"))
    );
    assert!(refused["message"].as_str().is_some_and(|m| m.contains("values.child.birth_weight_grams")), "{refused}");
    let (_, unchanged) = app.get(&draft_path, &key).await;
    assert!(!unchanged.to_string().contains("2400"), "nothing stored: {unchanged}");
}

#[actix_web::test]
async fn the_daily_purge_erases_the_birth_weight_after_the_first_birthday() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family = app
        .create_family(
            &key,
            json!({ "municipality_code": "131016", "children": [
                { "status": "born", "birth_date": tokyo_day(-364), "birth_weight_grams": 3000 },
                { "status": "born", "birth_date": tokyo_day(-20), "birth_weight_grams": 3100 }
            ] }),
        )
        .await;
    app.clock.advance(chrono::Duration::days(2));
    nonstop::jobs::scheduler::tick(&app.job_context()).await;
    app.wait_until("the first birthday's weight erased", |conn| {
        use nonstop::db::schema::children;
        // Sealed: whether each child still has a weight (the API shows which, below).
        let kept: Vec<Option<String>> = children::table
            .order(children::birth_date.asc())
            .select(children::birth_weight_sealed)
            .load(conn)
            .expect("weights");
        kept.iter().map(Option::is_some).collect::<Vec<_>>() == vec![false, true]
    })
    .await;
    let (_, read) = app.get(&format!("/v1/families/{family}"), &key).await;
    let weights: Vec<&serde_json::Value> =
        read["children"].as_array().expect("children").iter().map(|c| &c["birth_weight_grams"]).collect();
    assert!(weights.contains(&&json!(3100)) && weights.contains(&&json!(null)), "{read}");
}

#[actix_web::test]
async fn the_pregnancy_notifications_health_items_wait_for_the_consent() {
    // 母子保健法施行規則 第3条: the 妊娠届 asks the weeks of pregnancy and whether the 性病・結核
    // checks were done, which is health information.
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family = app
        .create_family(
            &key,
            json!({ "municipality_code": "131016", "consents": [],
                    "children": [{ "status": "expected", "due_date": tokyo_day(230) }] }),
        )
        .await;
    let notification = app.open_draft(&key, &family, "pregnancy_notification").await;
    let path = format!("/v1/families/{family}/drafts/{}", notification["id"].as_str().expect("id"));
    let (status, refused) = app.patch(&path, &key, json!({ "values": { "gestation_weeks": 7 } })).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (StatusCode::CONFLICT, Some("health_information_consent_required")),
        "{refused}"
    );
    let (status, _) =
        app.post(&format!("/v1/families/{family}/consents"), &key, json!({ "purpose": "health_information" })).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, saved) = app.patch(&path, &key, json!({ "values": { "gestation_weeks": 7 } })).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
}
