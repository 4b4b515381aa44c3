//! Municipal notices: audience, approval by a second member of staff, consent, fan-out through
//! the inbox, figures, and isolation between municipalities.

use chrono::Months;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{awake_quiet_hours, TestApp};
use crate::mocks::WebPushMock;

/// A birth date that makes a child exactly `months` old today (by the municipal reading).
pub fn born_months_ago(months: u32) -> String {
    let today = nonstop::domain::dates::tokyo_date(crate::helpers::pinned_instant());
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
    // Every count shown exactly.
    let app = TestApp::spawn_with(|s| s.notices.audience_count_threshold = 0).await;
    let (_, key) = app.create_app("vendor");
    let staff = app.create_staff("131016");
    for months in [16, 17, 18, 19, 20] {
        family_with_child(&app, &key, "131016", months, None).await;
    }
    family_with_child(&app, &key, "131130", 18, None).await;
    let audience = json!({ "child_age_months": { "min": 17, "max": 19 } });
    let (status, size) = app.post("/v1/municipalities/131016/notices/audience-preview", &staff, audience.clone()).await;
    assert_eq!(status, StatusCode::OK, "{size}");
    assert_eq!(
        size,
        json!({ "audience_size": 3, "fewer_than": null }),
        "17, 18 and 19 months in 131016, none from 131130"
    );
    let (_, all) = app.post("/v1/municipalities/131016/notices/audience-preview", &staff, json!({})).await;
    assert_eq!(all["audience_size"], 5);
    // A range that selects nothing is refused here as in a notice, not counted as 0.
    let empty = json!({ "child_age_months": { "min": 0, "max": -1 } });
    let (status, error) = app.post("/v1/municipalities/131016/notices/audience-preview", &staff, empty).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert!(error["fields"]["child_age_months"].is_string(), "{error}");
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
    let (status, error) = approve(&app, &base, &author).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (StatusCode::CONFLICT, Some("approval_by_author")),
        "the same key cannot approve its own notice"
    );
    let (status, approved) = approve(&app, &base, &approver).await;
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
    approve(&app, &base, &approver).await;
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
        json!({ "audience": 1, "recorded": 1, "pushed": 1, "delivered_by_provider": { "web_push": 1 }, "failed": 0, "read": 1, "replied": 0, "needs_paper": 0,
                "author_staff_id": draft["author_staff_id"], "editors": [draft["author_staff_id"]], "approver_staff_id": approved["approver_staff_id"] })
    );
}

/// A notice's audience is recorded a page of families at a time, in a few statements per page:
/// each family of the page still reads it in its own language, and every device gets its push.
#[actix_web::test]
async fn each_family_of_a_page_reads_the_notice_in_its_language_on_each_of_its_devices() {
    let web = WebPushMock::start().await;
    let app = TestApp::spawn().await;
    let key = app.push_ready_app("vendor").await;
    let (author, approver) = (app.create_staff("131016"), app.create_staff("131016"));
    // The notice has Japanese and English texts; Portuguese readers get the Japanese.
    let mut expected = Vec::new();
    let mut families = Vec::new();
    for (language, devices, title) in [
        ("ja", 2, "1歳6か月児健診のご案内"),
        ("en", 1, "Your 18-month checkup"),
        ("pt-BR", 1, "1歳6か月児健診のご案内"),
        ("en", 0, "Your 18-month checkup"),
    ] {
        let body = json!({ "municipality_code": "131016", "preferred_language": language, "quiet_hours": awake_quiet_hours() });
        let family = app.create_family(&key, body).await;
        for _ in 0..devices {
            let (subscription, device) = web.subscribe();
            let (status, body) = app.post(&format!("/v1/families/{family}/devices"), &key, device).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            expected.push((subscription, title));
        }
        families.push((family, title));
    }
    let base = approved(&app, &author, &approver, notice("checkup", json!({}))).await;
    let (status, sent) = app.post(&format!("{base}/send"), &approver, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    for (family, title) in &families {
        let (_, inbox) = app.get(&format!("/v1/families/{family}/inbox"), &key).await;
        assert_eq!(inbox["items"].as_array().map(Vec::len), Some(1), "{inbox}");
        let text = inbox["items"][0]["inbox_text"].as_str().unwrap_or_default();
        assert!(text.contains(title), "{family} reads '{title}': {text}");
    }
    let received = web.wait_for(std::time::Duration::from_secs(15), |r| r.len() >= expected.len()).await;
    let mut got: Vec<(String, String)> = received
        .iter()
        .map(|r| (r.subscription.clone(), r.plaintext.as_ref().map(|p| p["body"].to_string()).unwrap_or_default()))
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = expected.iter().map(|(s, t)| (s.clone(), json!(t).to_string())).collect();
    want.sort();
    assert_eq!(got, want, "one push per device, in its family's language");
    let (_, figures) = app.get(&format!("{base}/figures"), &author).await;
    assert_eq!((figures["audience"].as_i64(), figures["recorded"].as_i64()), (Some(4), Some(4)), "{figures}");
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
    approve(&app, &base, &approver).await;
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
        let (status, _) = app.call(method, &path, Some(&outsider), Some(json!({ "digest": "0".repeat(64) }))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    let (status, _) = app.get(&format!("/v1/municipalities/131130/notices/{id}"), &outsider).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a notice of another municipality is not found under one's own");
    let (status, _) = app.post("/v1/municipalities/131016/notices", &key, notice("event", json!({}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "vendors do not write notices");

    approve(&app, &base, &approver).await;
    let (status, listed) = app.get("/v1/municipalities/131016/notices", &author).await;
    assert_eq!((status, listed["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)));
    assert!(listed["next_cursor"].is_null(), "{listed}");
    let (_, foreign) = app.get("/v1/municipalities/131130/notices", &outsider).await;
    assert_eq!(foreign["items"], json!([]), "131130's list holds none of 131016's notices");
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

fn with_questionnaire(mut body: Value, deadline: Option<String>) -> Value {
    body["questionnaire"] = json!({ "question": "健診に参加しますか", "kind": "single", "choices": ["参加する", "参加しない", "未定"],
                                     "free_text": true, "reply_deadline": deadline });
    body
}

/// Approves the notice at `base` as `key` would through the API: reads it, then approves the
/// contents read, by their digest.
pub async fn approve(app: &TestApp, base: &str, key: &str) -> (StatusCode, Value) {
    let (status, notice) = app.get(base, key).await;
    assert_eq!(status, StatusCode::OK, "{notice}");
    let digest = notice["content_digest"].as_str().expect("content_digest").to_owned();
    app.post(&format!("{base}/approve"), key, json!({ "digest": digest })).await
}

async fn approved(app: &TestApp, author: &str, approver: &str, body: Value) -> String {
    let (status, draft) = app.post("/v1/municipalities/131016/notices", author, body).await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    let base = format!("/v1/municipalities/131016/notices/{}", draft["id"].as_str().expect("id"));
    let (status, _) = approve(app, &base, approver).await;
    assert_eq!(status, StatusCode::OK);
    base
}

#[actix_web::test]
async fn replies_are_counted_once_per_family_and_show_the_guardians_names() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let author = app.create_staff("131016");
    let approver = app.create_staff("131016");
    let mut families = Vec::new();
    for name in ["回答 一郎", "回答 二郎", "無回答 三郎"] {
        let family = app
            .create_family(&key, json!({ "municipality_code": "131016", "guardians": [{ "relationship": "father", "full_name": name }] }))
            .await;
        families.push(family);
    }
    let outsider = app.create_family(&key, json!({ "municipality_code": "131130" })).await;
    let base = approved(&app, &author, &approver, with_questionnaire(notice("event", json!({})), None)).await;
    app.post(&format!("{base}/send"), &author, json!({})).await;
    let notice_id = base.rsplit('/').next().expect("id").to_owned();
    let reply = |family: &str| format!("/v1/families/{family}/notices/{notice_id}/reply");

    let (status, _) = app.call(Method::PUT, &reply(&families[0]), Some(&key), Some(json!({ "choices": [0] }))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Changed before the deadline: still one reply for the family.
    let (status, _) = app
        .call(
            Method::PUT,
            &reply(&families[0]),
            Some(&key),
            Some(json!({ "choices": [2], "free_text": "仕事の都合で未定" })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Staff read the free text: no control that reorders it.
    let (status, error) = app
        .call(
            Method::PUT,
            &reply(&families[0]),
            Some(&key),
            Some(json!({ "choices": [2], "free_text": "未定\u{202E}" })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert!(error["fields"]["free_text"].is_string(), "{error}");
    app.call(Method::PUT, &reply(&families[1]), Some(&key), Some(json!({ "choices": [0] }))).await;
    let (status, error) =
        app.call(Method::PUT, &reply(&families[2]), Some(&key), Some(json!({ "choices": [0, 1] }))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a single-choice question: {error}");
    let (status, _) = app.call(Method::PUT, &reply(&outsider), Some(&key), Some(json!({ "choices": [0] }))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a family that did not receive it cannot reply");

    let (status, summary) = app.get(&format!("{base}/replies"), &author).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary["replied"], 2);
    assert_eq!(
        summary["counts"],
        json!([{ "choice": "参加する", "count": 1 }, { "choice": "参加しない", "count": 0 }, { "choice": "未定", "count": 1 }])
    );
    let names: Vec<&str> =
        summary["items"].as_array().expect("items").iter().filter_map(|r| r["guardian_names"][0].as_str()).collect();
    assert_eq!(names, ["回答 一郎", "回答 二郎"], "names only of families that answered, in the order they came");
    assert_eq!(summary["items"][0]["free_text"], "仕事の都合で未定");
    assert!(summary["next_cursor"].is_null(), "{summary}");
    // A page at a time: the counts stay those of every reply, the replies go on from the cursor.
    let (status, first) = app.get(&format!("{base}/replies?limit=1"), &author).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!((&first["replied"], &first["counts"]), (&summary["replied"], &summary["counts"]));
    assert_eq!(first["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(first["items"][0]["guardian_names"][0], "回答 一郎");
    let cursor = first["next_cursor"].as_str().expect("another page");
    let (status, second) = app.get(&format!("{base}/replies?limit=1&cursor={cursor}"), &author).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(second["items"][0]["guardian_names"][0], "回答 二郎");
    assert!(second["next_cursor"].is_null(), "{second}");
    let (status, error) = app.get(&format!("{base}/replies?cursor=somewhere"), &author).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert!(error["fields"]["cursor"].is_string(), "{error}");
    let (_, figures) = app.get(&format!("{base}/figures"), &author).await;
    assert_eq!((figures["audience"].as_i64(), figures["replied"].as_i64()), (Some(3), Some(2)));
    let outsider_staff = app.create_staff("131130");
    let (status, _) = app.get(&format!("{base}/replies"), &outsider_staff).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // After the deadline nothing changes.
    let past = (app.clock.now_utc() - chrono::Duration::minutes(1)).to_rfc3339();
    let closed = approved(&app, &author, &approver, with_questionnaire(notice("event", json!({})), Some(past))).await;
    app.post(&format!("{closed}/send"), &author, json!({})).await;
    let closed_id = closed.rsplit('/').next().expect("id");
    let (status, error) = app
        .call(
            Method::PUT,
            &format!("/v1/families/{}/notices/{closed_id}/reply", families[0]),
            Some(&key),
            Some(json!({ "choices": [1] })),
        )
        .await;
    assert_eq!((status, error["error"].as_str()), (StatusCode::CONFLICT, Some("reply_deadline_passed")));
}

#[actix_web::test]
async fn a_scheduled_notice_is_sent_once_at_its_time_even_with_two_workers() {
    let app = TestApp::spawn_with(|s| s.jobs.scheduler = true).await;
    let replica = app.replica(|s| s.jobs.scheduler = true).await;
    let (_, key) = app.create_app("vendor");
    let author = app.create_staff("131016");
    let approver = app.create_staff("131016");
    let families = [
        app.create_family(&key, json!({ "municipality_code": "131016" })).await,
        app.create_family(&key, json!({ "municipality_code": "131016" })).await,
    ];
    let scheduled = approved(&app, &author, &approver, notice("event", json!({}))).await;
    let cancelled = approved(&app, &author, &approver, notice("emergency", json!({}))).await;
    // At 13:00; the clock reads 12:00.
    let at = "2026-12-01T13:00:00+09:00";
    for base in [&scheduled, &cancelled] {
        let (status, body) = app.post(&format!("{base}/schedule"), &author, json!({ "send_at": at })).await;
        assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("scheduled")), "{body}");
    }
    let (status, body) = app.post(&format!("{cancelled}/cancel"), &author, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.wait_for_ticks(2).await;
    let (_, early) = app.get(&format!("/v1/families/{}/inbox", families[0]), &key).await;
    assert_eq!(early["items"], json!([]), "nothing before its time");

    app.clock.set(crate::helpers::instant(at));
    let started = std::time::Instant::now();
    while app.get(&scheduled, &author).await.1["status"] != "sent" {
        assert!(started.elapsed() < std::time::Duration::from_secs(15), "not sent at its time");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    // Ticks of both replicas after the sending leave it sent once.
    app.wait_for_ticks(2).await;
    for family in &families {
        let (_, inbox) = app.get(&format!("/v1/families/{family}/inbox"), &key).await;
        assert_eq!(
            inbox["items"].as_array().map(Vec::len),
            Some(1),
            "sent once, and the cancelled one not at all: {inbox}"
        );
    }
    let (_, figures) = app.get(&format!("{scheduled}/figures"), &author).await;
    assert_eq!(figures["recorded"], 2);
    drop(replica);
}

/// 131016 sends a standing notice (for every family that comes to live there): "ようこそ…".
/// Returns the notice's path and its author's key.
async fn send_standing_welcome(app: &TestApp) -> (String, String) {
    let author = app.create_staff("131016");
    let approver = app.create_staff("131016");
    let mut welcome = notice("checkup", json!({}));
    welcome["standing"] = json!(true);
    welcome["texts"]["ja"]["title"] = json!("ようこそ：健診の予定");
    let base = approved(app, &author, &approver, welcome).await;
    let (status, body) = app.post(&format!("{base}/send"), &author, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (base, author)
}

#[actix_web::test]
async fn a_family_moving_in_gets_the_standing_notices_and_one_moving_out_does_not() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let (base, author) = send_standing_welcome(&app).await;

    let newcomer = app.create_family(&key, json!({ "municipality_code": "141003" })).await;
    let (_, before) = app.get(&format!("/v1/families/{newcomer}/inbox"), &key).await;
    assert_eq!(before["items"], json!([]));
    let (status, _) = app
        .post(
            &format!("/v1/families/{newcomer}/events"),
            &key,
            json!({ "type": "moved", "date": crate::helpers::tokyo_day(0), "municipality_code": "131016" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, after) = app.get(&format!("/v1/families/{newcomer}/inbox"), &key).await;
    assert_eq!(after["items"].as_array().map(Vec::len), Some(1), "{after}");
    assert!(after["items"][0]["inbox_text"].as_str().is_some_and(|t| t.starts_with("ようこそ")));
    // Another write does not deliver it twice.
    app.patch(&format!("/v1/families/{newcomer}"), &key, json!({ "single_parent": false })).await;
    let (_, again) = app.get(&format!("/v1/families/{newcomer}/inbox"), &key).await;
    assert_eq!(again["items"].as_array().map(Vec::len), Some(1));

    let leaver = app.create_family(&key, json!({ "municipality_code": "131130" })).await;
    app.post(
        &format!("/v1/families/{leaver}/events"),
        &key,
        json!({ "type": "moved", "date": crate::helpers::tokyo_day(0), "municipality_code": "141003" }),
    )
    .await;
    let (_, none) = app.get(&format!("/v1/families/{leaver}/inbox"), &key).await;
    assert_eq!(none["items"], json!([]), "a family elsewhere never gets 131016's standing notice");
    let (_, figures) = app.get(&format!("{base}/figures"), &author).await;
    assert_eq!(figures["recorded"], 1);
}

#[actix_web::test]
async fn a_family_registered_in_the_municipality_gets_its_standing_notices_at_once() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    send_standing_welcome(&app).await;

    // Registered with no later write: the welcome is there at once.
    let family = app.create_family(&key, json!({ "municipality_code": "131016" })).await;
    let (_, inbox) = app.get(&format!("/v1/families/{family}/inbox"), &key).await;
    assert_eq!(inbox["items"].as_array().map(Vec::len), Some(1), "{inbox}");
    assert!(inbox["items"][0]["inbox_text"].as_str().is_some_and(|t| t.starts_with("ようこそ")));
}

#[actix_web::test]
async fn whoever_wrote_any_of_a_notice_cannot_approve_it() {
    let app = TestApp::spawn().await;
    let (a, b, c) = (app.create_staff("131016"), app.create_staff("131016"), app.create_staff("131016"));
    let (status, draft) = app.post("/v1/municipalities/131016/notices", &a, notice("event", json!({}))).await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    let base = format!("/v1/municipalities/131016/notices/{}", draft["id"].as_str().expect("id"));
    // B replaces A's text and audience, then tries to approve what B wrote.
    let mut rewritten = notice("emergency", json!({ "single_parent": true }));
    rewritten["texts"]["ja"]["body"] = json!("Bが書き換えた本文");
    let (status, edited) = app.call(Method::PUT, &base, Some(&b), Some(rewritten)).await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["author_staff_id"], draft["author_staff_id"], "the author stays A");
    assert_eq!(edited["editors"].as_array().map(Vec::len), Some(2), "A and B wrote it: {edited}");
    for writer in [&a, &b] {
        let (status, error) = approve(&app, &base, writer).await;
        assert_eq!((status, error["error"].as_str()), (StatusCode::CONFLICT, Some("approval_by_author")), "{error}");
    }
    // C read none of it before: C's approval counts, and the notice can go out.
    let (status, approved) = approve(&app, &base, &c).await;
    assert_eq!((status, approved["status"].as_str()), (StatusCode::OK, Some("approved")), "{approved}");
    let (status, sent) = app.post(&format!("{base}/send"), &a, json!({})).await;
    assert_eq!((status, sent["status"].as_str()), (StatusCode::OK, Some("sent")), "{sent}");
}

#[actix_web::test]
async fn a_notices_recording_has_one_owner_at_a_time_and_is_taken_over_when_its_lease_runs_out() {
    use nonstop::db::write_transaction;
    use nonstop::service::batches::Step as Batch;
    use nonstop::service::notices::{self, recording};
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let author = app.create_staff("131016");
    let approver = app.create_staff("131016");
    for _ in 0..5 {
        app.create_family(&key, json!({ "municipality_code": "131016" })).await;
    }
    let base = approved(&app, &author, &approver, notice("event", json!({}))).await;
    let id = base.rsplit('/').next().expect("id").to_owned();
    let ctx = app.job_context();
    let recorder = ctx.recorder();
    let code = nonstop::domain::MunicipalityCode::parse("131016").expect("code");
    let mut conn = app.db.get().expect("conn");
    // Taken for sending: its recording waits for an owner.
    write_transaction(&mut conn, |c| notices::send(c, &ctx.use_case(), &code, &id)).expect("sent");
    let claim = |conn: &mut nonstop::db::DbConnection, owner: &str| {
        write_transaction(conn, |c| recording::claim(c, &id, owner, &recorder)).expect("claim")
    };
    let batch = |conn: &mut nonstop::db::DbConnection, owner: &str| {
        write_transaction(conn, |c| recording::record_batch(c, &recorder, &id, owner, 2)).expect("batch")
    };
    assert!(claim(&mut conn, "a"));
    assert!(!claim(&mut conn, "b"), "one owner while its lease runs");
    assert_eq!(batch(&mut conn, "a"), Batch::More(2));
    assert_eq!(batch(&mut conn, "b"), Batch::NotMine, "only the owner records");

    // A stops (its process died): once its lease has run out, B takes over where A left off.
    app.clock.advance(recorder.lease + chrono::Duration::seconds(1));
    assert!(claim(&mut conn, "b"));
    assert_eq!(batch(&mut conn, "a"), Batch::NotMine, "the old owner stops");
    assert_eq!(batch(&mut conn, "b"), Batch::More(2));
    assert_eq!(batch(&mut conn, "b"), Batch::Done(1));
    assert_eq!(batch(&mut conn, "b"), Batch::NotMine, "finished");
    drop(conn);
    let (_, figures) = app.get(&format!("{base}/figures"), &author).await;
    assert_eq!(figures["recorded"], 5, "every family once: {figures}");
}

/// Issue 29, item 3: an author who edits a notice after a colleague read it does not get the new
/// text approved by a click on the page the colleague read.
#[actix_web::test]
async fn an_approval_is_of_the_contents_read_and_one_made_after_an_edit_is_refused_naming_it() {
    let app = TestApp::spawn().await;
    let (author, approver) = (app.create_staff("131016"), app.create_staff("131016"));
    let (status, draft) = app.post("/v1/municipalities/131016/notices", &author, notice("event", json!({}))).await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    let base = format!("/v1/municipalities/131016/notices/{}", draft["id"].as_str().expect("id"));

    // The approver reads it: the view carries the digest of the contents shown.
    let (_, read) = app.get(&base, &approver).await;
    let shown = read["content_digest"].as_str().expect("content_digest").to_owned();
    assert_eq!((shown.len(), &read["content_digest"]), (64, &draft["content_digest"]));

    // The author then replaces the body.
    let mut phishing = notice("event", json!({}));
    phishing["texts"]["ja"]["body"] = json!("還付金があります。こちらから口座番号を入力してください。");
    let (status, edited) = app.call(Method::PUT, &base, Some(&author), Some(phishing)).await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_ne!(edited["content_digest"], json!(shown));

    // The approval of what was read is refused, naming what changed; nothing is approved.
    let (status, refused) = app.post(&format!("{base}/approve"), &approver, json!({ "digest": shown })).await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::CONFLICT, Some("approval_stale")), "{refused}");
    assert_eq!(
        refused["fields"].as_object().map(|f| f.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["texts.ja.body".to_owned()])
    );
    assert!(refused["message"].as_str().is_some_and(|m| m.contains("texts.ja.body")), "{refused}");
    let (_, after) = app.get(&base, &approver).await;
    assert_eq!(
        (after["status"].as_str(), &after["approver_staff_id"], &after["approved_digest"]),
        (Some("draft"), &Value::Null, &Value::Null)
    );
    let (status, _) = app.post(&format!("{base}/send"), &author, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "nothing to send");

    // A digest the notice never had, one that is not a digest, and none at all.
    let (status, unknown) = app.post(&format!("{base}/approve"), &approver, json!({ "digest": "0".repeat(64) })).await;
    assert_eq!((status, unknown["error"].as_str()), (StatusCode::CONFLICT, Some("approval_stale")), "{unknown}");
    assert!(unknown["fields"]["digest"].is_string(), "{unknown}");
    let (status, malformed) = app.post(&format!("{base}/approve"), &approver, json!({ "digest": "ABC" })).await;
    assert_eq!((status, malformed["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("validation_failed")));
    let (status, missing) = app.post(&format!("{base}/approve"), &approver, json!({})).await;
    assert_eq!((status, missing["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_body")), "{missing}");

    // Read again, the contents as they are now are approved, under that digest.
    let (status, approved) = approve(&app, &base, &approver).await;
    assert_eq!((status, approved["status"].as_str()), (StatusCode::OK, Some("approved")), "{approved}");
    assert_eq!(approved["approved_digest"], edited["content_digest"]);
}

/// Issue 29, item 4: the count is one query, and it reaches exactly the families a notice's
/// recording would, whatever the conditions.
#[actix_web::test]
async fn the_counting_query_agrees_with_the_recordings_walk_on_every_kind_of_condition() {
    let app = TestApp::spawn_with(|s| s.notices.audience_count_threshold = 0).await;
    let (_, key) = app.create_app("vendor");
    let staff = app.create_staff("131016");
    let today = nonstop::domain::dates::tokyo_date(crate::helpers::pinned_instant());
    let due = |days: u64| (today + chrono::Days::new(days)).to_string();
    let families = [
        json!({ "children": [{ "status": "born", "birth_date": born_months_ago(0), "birth_weight_grams": 3000 }] }),
        json!({ "single_parent": true, "health_insurance": "national",
                "children": [{ "status": "born", "birth_date": born_months_ago(17), "birth_weight_grams": 3000 },
                             { "status": "born", "birth_date": born_months_ago(40), "birth_weight_grams": 3000 }] }),
        json!({ "health_insurance": "employee", "children": [{ "status": "expected", "due_date": due(30) }] }),
        json!({ "children": [{ "status": "expected", "due_date": due(100) },
                             { "status": "born", "birth_date": born_months_ago(5), "birth_weight_grams": 3000 }] }),
        json!({ "single_parent": true }),
        json!({ "health_insurance": "national", "children": [{ "status": "born", "birth_date": born_months_ago(30), "birth_weight_grams": 3000 }] }),
    ];
    for mut family in families {
        family["municipality_code"] = json!("131016");
        app.create_family(&key, family).await;
    }
    app.create_family(&key, json!({ "municipality_code": "131130", "single_parent": true })).await;
    let audiences = [
        json!({}),
        json!({ "child_age_months": { "min": 0, "max": 0 } }),
        json!({ "child_age_months": { "min": 5, "max": 40 } }),
        json!({ "child_age_months": { "min": 0, "max": 276 }, "single_parent": true }),
        json!({ "child_born_between": { "from": born_months_ago(18), "to": born_months_ago(4) } }),
        json!({ "due_between": { "from": due(0), "to": due(60) } }),
        json!({ "due_between": { "from": due(0), "to": due(200) }, "child_age_months": { "min": 1, "max": 12 } }),
        json!({ "open_procedure": "checkup_18_months" }),
        json!({ "open_procedure": "checkup_18_months", "health_insurance": "national" }),
        json!({ "single_parent": false, "health_insurance": "employee" }),
    ];
    let code = nonstop::domain::MunicipalityCode::parse("131016").expect("code");
    let mut sizes = Vec::new();
    for audience in audiences {
        let (status, size) =
            app.post("/v1/municipalities/131016/notices/audience-preview", &staff, audience.clone()).await;
        assert_eq!(status, StatusCode::OK, "{audience}: {size}");
        let conditions: nonstop::service::notices::Audience =
            serde_json::from_value(audience.clone()).expect("audience");
        let mut conn = app.db.get().expect("conn");
        let walked =
            nonstop::service::notices::audience_size_walked(&mut conn, &code, &conditions, today).expect("walked");
        assert_eq!(size["audience_size"], json!(walked), "{audience}");
        sizes.push(walked);
    }
    assert_eq!(sizes, [6, 1, 3, 1, 2, 1, 1, sizes[7], sizes[8], 1], "the conditions select something");
    assert!(sizes[7] >= 2 && sizes[8] >= 1, "children under 18 months have the checkup open: {sizes:?}");
}

/// Issue 29, item 4 (and item 12): staff see small audiences as "fewer than 5", counts are
/// reused for a short while, and a count spends several requests of the budget.
#[actix_web::test]
async fn small_audiences_are_withheld_counts_are_reused_briefly_and_a_count_costs_more_than_a_read() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let staff = app.create_staff("131016");
    let preview = "/v1/municipalities/131016/notices/audience-preview";
    for _ in 0..4 {
        family_with_child(&app, &key, "131016", 3, None).await;
    }
    let three_months = json!({ "child_age_months": { "min": 3, "max": 3 } });
    let (status, size) = app.post(preview, &staff, three_months.clone()).await;
    assert_eq!((status, size), (StatusCode::OK, json!({ "audience_size": null, "fewer_than": 5 })));
    let (_, none) = app.post(preview, &staff, json!({ "single_parent": true })).await;
    assert_eq!(none, json!({ "audience_size": null, "fewer_than": 5 }), "none is withheld too");

    // A fifth family: the same conditions are answered from the count made a moment ago, until
    // its 30 seconds have passed.
    family_with_child(&app, &key, "131016", 3, None).await;
    let (_, again) = app.post(preview, &staff, three_months.clone()).await;
    assert_eq!(again["fewer_than"], 5, "reused: {again}");
    app.clock.advance(chrono::Duration::seconds(31));
    let (_, fresh) = app.post(preview, &staff, three_months.clone()).await;
    assert_eq!(fresh, json!({ "audience_size": 5, "fewer_than": null }));

    // A budget of 60 requests: a count spends 20 of them, a read 1.
    let app = TestApp::spawn_with(|s| {
        s.limits.requests_per_second = 1;
        s.limits.burst = 60;
    })
    .await;
    let staff = app.create_staff("131016");
    for i in 0..3 {
        let (status, body) = app.post(preview, &staff, json!({ "child_age_months": { "min": i, "max": 12 } })).await;
        assert_eq!(status, StatusCode::OK, "count {i}: {body}");
    }
    // A second on, one request is back: enough for a read, not for a count.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let response = app
        .client
        .post(format!("{}{preview}", app.base))
        .bearer_auth(&staff)
        .json(&json!({}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = response.headers()["retry-after"].to_str().expect("text").parse().expect("seconds");
    assert!((15..=20).contains(&wait), "about 20 requests to wait for: {wait} s");
    // The refused count took only the request its key's check takes: a second later (the
    // budget refills one a second) a plain read has its request.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let (status, _) = app.get("/v1/municipalities/131016/notices", &staff).await;
    assert_eq!(status, StatusCode::OK);
}
