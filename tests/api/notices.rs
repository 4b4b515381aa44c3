//! Municipal notices: audience, approval by a second member of staff, consent, fan-out through
//! the inbox, figures, and isolation between municipalities.

use chrono::Months;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{awake_quiet_hours, TestApp};
use crate::mocks::WebPushMock;

/// A birth date that makes a child exactly `months` old today (by the municipal reading).
fn born_months_ago(months: u32) -> String {
    let today = nonstop::domain::dates::tokyo_today();
    // On the same date N months later the child has just turned N months.
    today.checked_sub_months(Months::new(months)).expect("date").to_string()
}

fn notice(category: &str, audience: Value) -> Value {
    json!({
        "category": category,
        "texts": { "ja": { "title": "1歳6か月児健診のご案内", "body": "日程と会場をご確認ください。" },
                   "en": { "title": "Your 18-month checkup", "body": "Check the date and place." } },
        "links": [{ "title": "日程表", "url": "https://www.city.chiyoda.lg.jp/kenshin.pdf", "size_bytes": 120000,
                    "sha256": "a".repeat(64) }],
        "audience": audience
    })
}

async fn family_with_child(app: &TestApp, key: &str, municipality: &str, months: u32, device: Option<Value>) -> String {
    let family = app
        .create_family(
            key,
            json!({ "municipality_code": municipality, "quiet_hours": awake_quiet_hours(),
                    "children": [{ "status": "born", "birth_date": born_months_ago(months), "birth_weight_grams": 3000 }] }),
        )
        .await;
    if let Some(device) = device {
        let (status, body) = app.post(&format!("/v1/families/{family}/devices"), key, device).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    family
}

#[actix_web::test]
async fn an_audience_by_age_picks_exactly_those_families_of_the_municipality() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let staff = app.create_staff("131016");
    for months in [16, 17, 18, 19, 20] {
        family_with_child(&app, &key, "131016", months, None).await;
    }
    family_with_child(&app, &key, "131130", 18, None).await;
    let audience = json!({ "child_age_months": { "min": 17, "max": 19 } });
    let (status, size) = app.post("/v1/municipalities/131016/notices/audience-preview", &staff, audience.clone()).await;
    assert_eq!(status, StatusCode::OK, "{size}");
    assert_eq!(size, json!({ "audience_size": 3 }), "17, 18 and 19 months in 131016, none from 131130");
    let (_, all) = app.post("/v1/municipalities/131016/notices/audience-preview", &staff, json!({})).await;
    assert_eq!(all["audience_size"], 5);
}

#[actix_web::test]
async fn a_notice_is_approved_by_another_member_of_staff_and_reaches_inboxes_and_devices() {
    let web = WebPushMock::start().await;
    let app = TestApp::spawn().await;
    let key = app.push_ready_app("vendor").await;
    let author = app.create_staff("131016");
    let approver = app.create_staff("131016");
    let (subscription, device) = web.subscribe();
    let reached = family_with_child(&app, &key, "131016", 18, Some(device)).await;
    let other = family_with_child(&app, &key, "131016", 30, None).await;

    let (status, draft) = app
        .post(
            "/v1/municipalities/131016/notices",
            &author,
            notice("checkup", json!({ "child_age_months": { "min": 17, "max": 19 } })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    let id = draft["id"].as_str().expect("id").to_owned();
    let base = format!("/v1/municipalities/131016/notices/{id}");
    let (status, error) = app.post(&format!("{base}/send"), &author, json!({})).await;
    assert_eq!((status, error["error"].as_str()), (StatusCode::CONFLICT, Some("notice_not_approved")));
    let (status, error) = app.post(&format!("{base}/approve"), &author, json!({})).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (StatusCode::CONFLICT, Some("approval_by_author")),
        "the same key cannot approve its own notice"
    );
    let (status, approved) = app.post(&format!("{base}/approve"), &approver, json!({})).await;
    assert_eq!((status, approved["status"].as_str()), (StatusCode::OK, Some("approved")));

    // An edit after approval needs approval again.
    let (status, edited) = app
        .call(
            Method::PUT,
            &base,
            Some(&author),
            Some(notice("checkup", json!({ "child_age_months": { "min": 17, "max": 19 } }))),
        )
        .await;
    assert_eq!((status, edited["status"].as_str()), (StatusCode::OK, Some("draft")));
    app.post(&format!("{base}/approve"), &approver, json!({})).await;
    let (status, sent) = app.post(&format!("{base}/send"), &approver, json!({})).await;
    assert_eq!((status, sent["status"].as_str()), (StatusCode::OK, Some("sent")), "{sent}");
    let (status, again) = app.post(&format!("{base}/send"), &approver, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "sent once: {again}");

    let (_, inbox) = app.get(&format!("/v1/families/{reached}/inbox"), &key).await;
    assert_eq!(inbox["items"][0]["kind"], "notice");
    assert_eq!(inbox["items"][0]["title"], "千代田区からのお知らせ", "named as the municipality's settings name it");
    assert!(inbox["items"][0]["inbox_text"].as_str().is_some_and(|t| t.contains("1歳6か月児健診のご案内")));
    let (_, none) = app.get(&format!("/v1/families/{other}/inbox"), &key).await;
    assert_eq!(none["items"], json!([]));
    let received = web.wait_for(std::time::Duration::from_secs(15), |r| !r.is_empty()).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].subscription, subscription);
    assert_eq!(received[0].plaintext.as_ref().map(|p| p["body"].clone()), Some(json!("1歳6か月児健診のご案内")));

    // Figures, after the family read it.
    let entry = inbox["items"][0]["id"].as_str().expect("entry");
    app.post(&format!("/v1/families/{reached}/inbox/{entry}/read"), &key, json!({})).await;
    let started = std::time::Instant::now();
    let mut figures = Value::Null;
    while started.elapsed() < std::time::Duration::from_secs(10) {
        figures = app.get(&format!("{base}/figures"), &author).await.1;
        if figures["pushed"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        figures,
        json!({ "audience": 1, "recorded": 1, "pushed": 1, "delivered_by_provider": { "web_push": 1 }, "failed": 0, "read": 1, "needs_paper": 0 })
    );
}

#[actix_web::test]
async fn an_official_notification_skips_families_without_consent_and_counts_them() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let author = app.create_staff("131016");
    let approver = app.create_staff("131016");
    let consenting = family_with_child(&app, &key, "131016", 5, None).await;
    let silent = family_with_child(&app, &key, "131016", 5, None).await;
    let withdrawn = family_with_child(&app, &key, "131016", 5, None).await;
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/v1/families/{consenting}/notice-consent"),
            Some(&key),
            Some(json!({ "consented": true })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.call(
        Method::PUT,
        &format!("/v1/families/{withdrawn}/notice-consent"),
        Some(&key),
        Some(json!({ "consented": true })),
    )
    .await;
    app.call(
        Method::PUT,
        &format!("/v1/families/{withdrawn}/notice-consent"),
        Some(&key),
        Some(json!({ "consented": false })),
    )
    .await;

    let (_, draft) =
        app.post("/v1/municipalities/131016/notices", &author, notice("official_notification", json!({}))).await;
    let base = format!("/v1/municipalities/131016/notices/{}", draft["id"].as_str().expect("id"));
    app.post(&format!("{base}/approve"), &approver, json!({})).await;
    let (status, _) = app.post(&format!("{base}/send"), &author, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, figures) = app.get(&format!("{base}/figures"), &author).await;
    assert_eq!(
        (figures["audience"].as_i64(), figures["recorded"].as_i64(), figures["needs_paper"].as_i64()),
        (Some(3), Some(1), Some(2))
    );
    for (family, entries) in [(&consenting, 1), (&silent, 0), (&withdrawn, 0)] {
        let (_, inbox) = app.get(&format!("/v1/families/{family}/inbox"), &key).await;
        assert_eq!(inbox["items"].as_array().map(Vec::len), Some(entries));
    }
}

#[actix_web::test]
async fn a_cancelled_notice_sends_nothing_and_other_municipalities_see_nothing() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let author = app.create_staff("131016");
    let approver = app.create_staff("131016");
    let outsider = app.create_staff("131130");
    let family = family_with_child(&app, &key, "131016", 5, None).await;
    let (_, draft) = app.post("/v1/municipalities/131016/notices", &author, notice("event", json!({}))).await;
    let id = draft["id"].as_str().expect("id").to_owned();
    let base = format!("/v1/municipalities/131016/notices/{id}");
    for (method, path) in [
        (Method::GET, base.clone()),
        (Method::GET, format!("{base}/figures")),
        (Method::POST, format!("{base}/approve")),
    ] {
        let (status, _) = app.call(method, &path, Some(&outsider), Some(json!({}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    let (status, _) = app.get(&format!("/v1/municipalities/131130/notices/{id}"), &outsider).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a notice of another municipality is not found under one's own");
    let (status, _) = app.post("/v1/municipalities/131016/notices", &key, notice("event", json!({}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "vendors do not write notices");

    app.post(&format!("{base}/approve"), &approver, json!({})).await;
    let (status, cancelled) = app.post(&format!("{base}/cancel"), &author, json!({})).await;
    assert_eq!((status, cancelled["status"].as_str()), (StatusCode::OK, Some("cancelled")));
    let (status, _) = app.post(&format!("{base}/send"), &author, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, inbox) = app.get(&format!("/v1/families/{family}/inbox"), &key).await;
    assert_eq!(inbox["items"], json!([]));

    let mut bad = notice("event", json!({ "child_age_months": { "min": 5, "max": 2 } }));
    bad["texts"] = json!({ "en": { "title": "x", "body": "y" } });
    bad["links"][0]["url"] = json!("http://insecure.example/x.pdf");
    let (status, error) = app.post("/v1/municipalities/131016/notices", &author, bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for field in ["texts.ja", "links[0].url", "audience.child_age_months"] {
        assert!(error["fields"][field].is_string(), "{field}: {error}");
    }
}
