//! Events for the vendor's backend (事業者向けイベント) and the municipal webhook's events beyond
//! new submissions: a real HTTP receiver, the signature checked from the documented scheme,
//! retries after a 500, giving up, two apps kept apart, and no personal value in a payload.

use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{web_push_device, TestApp};
use crate::jpki_ca::Holder;
use crate::mocks::{WebhookReceiver, WebhookRequest};
use crate::submissions::{draft_of, setup, signature_body, MOTHER, MOTHER_BORN};

const ALL_KINDS: [&str; 5] =
    ["tasks.changed", "inbox.entry_arrived", "draft.opened", "submission.status_changed", "device.disabled"];

/// Checks `Nonstop-Signature` as a receiver would from the document alone: `t=<unix>,v1=<hex
/// HMAC-SHA256 of "<t>.<body>">`, keyed with the whole `whsec_…` string.
fn assert_signed(request: &WebhookRequest, secret: &str) {
    let (t, v1) = request.signature.split_once(",v1=").expect("v1");
    let t = t.strip_prefix("t=").expect("t=");
    assert!(t.parse::<i64>().is_ok(), "{}", request.signature);
    let key = openssl::pkey::PKey::hmac(secret.as_bytes()).expect("events test");
    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key).expect("events test");
    let expected =
        hex::encode(signer.sign_oneshot_to_vec(format!("{t}.{}", request.body).as_bytes()).expect("events test"));
    assert_eq!(v1, expected, "signed with {secret}");
}

/// The event's fields are exactly those its documented schema lists (all required), and its
/// `type` the one the schema allows.
fn assert_documented(event: &Value, schema: &str) {
    let described: Value =
        serde_json::from_str(&nonstop::api::openapi().to_json().expect("events test")).expect("events test");
    let schema = &described["components"]["schemas"][schema];
    let mut fields: Vec<&String> = event.as_object().expect("object").keys().collect();
    fields.sort();
    let mut documented: Vec<&String> = schema["properties"].as_object().expect("documented").keys().collect();
    documented.sort();
    assert_eq!(fields, documented, "{event}");
    assert_eq!(schema["properties"]["type"]["enum"], json!([event["type"]]));
}

/// Every delivery queued now is due now (the backoff passed).
fn make_retries_due(app: &TestApp) {
    use nonstop::db::schema::{app_event_deliveries, webhook_deliveries};
    let mut conn = app.db.get().expect("events test");
    diesel::update(app_event_deliveries::table)
        .set(app_event_deliveries::next_attempt_at.eq(app.clock.now()))
        .execute(&mut *conn)
        .expect("events test");
    diesel::update(webhook_deliveries::table)
        .set(webhook_deliveries::next_attempt_at.eq(app.clock.now()))
        .execute(&mut *conn)
        .expect("events test");
}

/// The whole delivery log of the app, page after page with `cursor`/`next_cursor`.
async fn log_of(app: &TestApp, key: &str) -> Vec<Value> {
    let (mut items, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/events/deliveries?limit=2&cursor={c}"),
            None => "/v1/events/deliveries?limit=2".to_owned(),
        };
        let (status, page) = app.get(&path, key).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let got = page["items"].as_array().expect("events test");
        assert!(got.len() <= 2);
        items.extend(got.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

fn of_kind<'a>(requests: &'a [WebhookRequest], kind: &str) -> Vec<(&'a WebhookRequest, Value)> {
    requests
        .iter()
        .map(|r| (r, serde_json::from_str::<Value>(&r.body).expect("events test")))
        .filter(|(_, body)| body["type"] == kind)
        .collect()
}

#[actix_web::test]
async fn an_app_receives_its_families_events_signed_retried_and_apart_from_other_apps() {
    let s = setup(3000).await;
    let (app, key, family) = (&s.app, &s.key, &s.family);
    let staff = app.create_staff("131016");
    // The first attempt of app A's first event fails with a 500; app B's receiver is down for good.
    let receiver = WebhookReceiver::start(vec![500]).await;
    let broken = WebhookReceiver::start(vec![500; 200]).await;

    let (status, created) = app
        .call(Method::PUT, "/v1/events/webhook", Some(key), Some(json!({ "url": receiver.url, "kinds": ALL_KINDS })))
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let secret = created["secret"].as_str().expect("events test").to_owned();
    assert!(secret.starts_with("whsec_"));
    let (_, other_key) = app.create_app("other vendor");
    let (status, _) = app
        .call(
            Method::PUT,
            "/v1/events/webhook",
            Some(&other_key),
            Some(json!({ "url": broken.url, "kinds": ["tasks.changed"] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // tasks.changed: a family registered by each app is planned.
    let other_family = app
        .create_family(&other_key, json!({ "municipality_code": "131016", "guardians": [{ "relationship": "mother", "full_name": "別所 次子", "birth_date": "1991-01-01" }], "children": [{ "status": "expected", "due_date": crate::helpers::tokyo_day(120) }] }))
        .await;
    let second = app
        .create_family(key, json!({ "municipality_code": "131016", "guardians": [{ "relationship": "mother", "full_name": "配信 試子", "birth_date": "1992-02-02" }], "children": [{ "status": "expected", "due_date": crate::helpers::tokyo_day(90) }] }))
        .await;
    // submission.status_changed and inbox.entry_arrived: signed, then 受付 by the municipality;
    // draft.opened: the 補正依頼 opens a correction draft.
    let draft = draft_of(&s, "child_allowance_claim").await;
    let path = format!("/v1/families/{family}/drafts/{}", draft["id"].as_str().expect("events test"));
    app.patch(&path, key, json!({ "values": { "consent.public_records": true, "child.kana": "ヤマダ サクラ", "payment.use_public_account": true } })).await;
    let (_, confirmed) = app.post(&format!("{path}/confirm"), key, json!({})).await;
    let document = confirmed["confirmed"]["document"].as_str().expect("events test").to_owned();
    let card = s.ca.issue(&Holder::new(MOTHER, MOTHER_BORN));
    let (status, signed) = app.post(&format!("{path}/signature"), key, signature_body(&card, &document)).await;
    assert_eq!(status, StatusCode::CREATED, "{signed}");
    let submission = signed["submissions"][0]["id"].as_str().expect("events test").to_owned();
    let staff_path = format!("/v1/municipalities/131016/submissions/{submission}/status");
    let (status, _) = app.post(&staff_path, &staff, json!({ "status": "received" })).await;
    assert_eq!(status, StatusCode::OK);
    let (status, correction) = app
        .post(&staff_path, &staff, json!({ "status": "correction_requested", "field_comments": { "payment.account_number": "口座番号が通帳と一致しません" } }))
        .await;
    assert_eq!(status, StatusCode::OK, "{correction}");
    let correction_draft = correction["correction_draft_id"].as_str().expect("events test").to_owned();
    // device.disabled: the push service says the device's token is dead.
    let (status, device) = app
        .post(
            &format!("/v1/families/{family}/devices"),
            key,
            web_push_device("https://fcm.googleapis.com/fcm/send/dead-token"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{device}");
    let device_id = device["id"].as_str().expect("events test").to_owned();
    {
        let mut conn = app.db.get().expect("events test");
        nonstop::jobs::outbox::disable_device(&mut conn, &device_id, "gone", app.clock.now()).expect("events test");
    }

    // First round: the first post to A's receiver gets the 500 (the rest of A's batch waits for
    // the next round); B's receiver fails too. Nothing is delivered to anyone twice meanwhile.
    let ctx = app.job_context();
    nonstop::jobs::webhooks::run_once(&ctx).await.expect("events test");
    let failed_first = receiver.received();
    assert_eq!(failed_first.len(), 1, "after a failure the rest of the receiver's batch waits");
    assert_eq!(failed_first[0].status, 500);
    let log = log_of(app, key).await;
    let tried: Vec<&Value> = log.iter().filter(|d| d["attempts"] == 1).collect();
    assert_eq!(tried.len(), 1, "{log:?}");
    assert_eq!((tried[0]["status"].as_str(), tried[0]["last_error"].as_str()), (Some("pending"), Some("http_status")));
    assert!(tried[0]["next_attempt_at"].is_string() && tried[0]["delivered_at"].is_null());

    // After the backoff: everything of A's arrives, the failed event again with the same id.
    make_retries_due(app);
    for _ in 0..3 {
        nonstop::jobs::webhooks::run_once(&ctx).await.expect("events test");
    }
    let requests = receiver.received();
    for request in &requests {
        assert_signed(request, &secret);
        let body: Value = serde_json::from_str(&request.body).expect("events test");
        assert_eq!(body["id"], json!(request.event_id), "the header names the event");
    }
    let retried: Vec<&WebhookRequest> = requests.iter().filter(|r| r.event_id == failed_first[0].event_id).collect();
    assert_eq!(retried.iter().map(|r| r.status).collect::<Vec<_>>(), vec![500, 200], "retried once after the 500");

    let tasks = of_kind(&requests, "tasks.changed");
    let families: Vec<&Value> = tasks.iter().map(|(_, b)| &b["family_id"]).collect();
    assert!(families.contains(&&json!(second)), "{families:?}");
    assert_documented(&tasks[0].1, "TasksChangedEvent");
    let moved = of_kind(&requests, "submission.status_changed");
    let statuses: Vec<&Value> = moved.iter().map(|(_, b)| &b["status"]).collect();
    assert_eq!(statuses.len(), 2, "{statuses:?}");
    assert!(statuses.contains(&&json!("received")) && statuses.contains(&&json!("correction_requested")));
    assert!(moved.iter().all(|(_, b)| b["submission_id"] == json!(submission) && b["family_id"] == json!(family)));
    assert_documented(&moved[0].1, "AppSubmissionStatusChangedEvent");
    let entries = of_kind(&requests, "inbox.entry_arrived");
    assert!(entries.iter().any(|(_, b)| b["entry_kind"] == "status" && b["family_id"] == json!(family)), "{entries:?}");
    assert_documented(&entries[0].1, "InboxEntryArrivedEvent");
    let (_, inbox) = app.get(&format!("/v1/families/{family}/inbox"), key).await;
    let inbox_ids: Vec<&Value> = inbox["items"].as_array().expect("events test").iter().map(|e| &e["id"]).collect();
    assert!(entries.iter().all(|(_, b)| inbox_ids.contains(&&b["entry_id"])), "the ids are the inbox's");
    let opened = of_kind(&requests, "draft.opened");
    assert!(opened
        .iter()
        .any(|(_, b)| b["draft_id"] == json!(correction_draft) && b["form_id"] == "child_allowance_claim"));
    assert_documented(&opened[0].1, "DraftOpenedEvent");
    let died = of_kind(&requests, "device.disabled");
    assert_eq!(died.len(), 1);
    assert_eq!(
        (died[0].1["device_id"].as_str(), died[0].1["reason"].as_str()),
        (Some(device_id.as_str()), Some("gone"))
    );
    assert_documented(&died[0].1, "DeviceDisabledEvent");

    // Ids and kinds only: no name, kana, address, phone, birth date, comment or document.
    for request in &requests {
        for personal in [MOTHER, "ヤマダ", "山田", "千代田", "090-1234", MOTHER_BORN, "配信 試子", "口座番号", "さくら"]
        {
            assert!(!request.body.contains(personal), "{personal} in {}", request.body);
        }
    }

    // Apart: A's receiver and log never see B's family; B's log never sees A's.
    assert!(requests.iter().all(|r| !r.body.contains(&other_family)), "B's event reached A");
    let log = log_of(app, key).await;
    assert_eq!(log.len(), requests.iter().map(|r| &r.event_id).collect::<std::collections::BTreeSet<_>>().len());
    assert!(log.iter().all(|d| d["status"] == "delivered" && d["event"]["family_id"] != json!(other_family)));
    let other_log = log_of(app, &other_key).await;
    assert!(!other_log.is_empty());
    assert!(other_log.iter().all(|d| d["kind"] == "tasks.changed" && d["event"]["family_id"] == json!(other_family)));
    assert!(other_log.iter().all(|d| d["status"] == "pending" && d["last_error"] == "http_status"), "{other_log:?}");
    assert!(broken.received().iter().all(|r| !r.body.contains(family.as_str())));

    // B's receiver stays down: after the last attempt the delivery is given up.
    {
        use nonstop::db::schema::app_event_deliveries;
        let mut conn = app.db.get().expect("events test");
        diesel::update(app_event_deliveries::table.filter(app_event_deliveries::status.eq("pending")))
            .set((
                app_event_deliveries::attempts.eq(nonstop::jobs::webhooks::MAX_ATTEMPTS - 1),
                app_event_deliveries::next_attempt_at.eq(app.clock.now()),
            ))
            .execute(&mut *conn)
            .expect("events test");
    }
    nonstop::jobs::webhooks::run_once(&ctx).await.expect("events test");
    let other_log = log_of(app, &other_key).await;
    let given_up: Vec<&Value> = other_log.iter().filter(|d| d["status"] == "failed").collect();
    assert_eq!(given_up.len(), 1, "{other_log:?}");
    assert_eq!(given_up[0]["attempts"], json!(nonstop::jobs::webhooks::MAX_ATTEMPTS));
    assert!(given_up[0]["next_attempt_at"].is_null());
    let (_, hook) = app.get("/v1/events/webhook", &other_key).await;
    assert!(hook["failed"] == json!(1) && hook.get("secret").is_none(), "{hook}");
    let posts_of = |id: &Value| broken.received().iter().filter(|r| json!(r.event_id) == *id).count();
    let before = posts_of(&given_up[0]["id"]);
    make_retries_due(app);
    nonstop::jobs::webhooks::run_once(&ctx).await.expect("events test");
    assert_eq!(posts_of(&given_up[0]["id"]), before, "a given-up event is never posted again");
}

#[actix_web::test]
async fn a_replaced_url_or_a_rotated_secret_applies_to_what_is_still_queued() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let first = WebhookReceiver::start(vec![]).await;
    let second = WebhookReceiver::start(vec![]).await;
    let hook = "/v1/events/webhook";
    let (status, _) =
        app.call(Method::PUT, hook, Some(&key), Some(json!({ "url": first.url, "kinds": ["tasks.changed"] }))).await;
    assert_eq!(status, StatusCode::OK);
    app.create_family(&key, json!({ "municipality_code": "131016", "children": [{ "status": "expected", "due_date": crate::helpers::tokyo_day(60) }] }))
        .await;
    // Queued; then the vendor moves its receiver, then rotates the secret.
    let (status, _) =
        app.call(Method::PUT, hook, Some(&key), Some(json!({ "url": second.url, "kinds": ["tasks.changed"] }))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, rotated) = app.post("/v1/events/webhook/secret", &key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_eq!(
        (rotated["url"].as_str(), rotated["kinds"].clone()),
        (Some(second.url.as_str()), json!(["tasks.changed"]))
    );
    let secret = rotated["secret"].as_str().expect("events test");
    nonstop::jobs::webhooks::run_once(&app.job_context()).await.expect("events test");
    assert!(first.received().is_empty());
    let received = second.received();
    assert_eq!(received.len(), 1);
    assert_signed(&received[0], secret);
}

#[actix_web::test]
async fn the_app_webhook_is_checked_and_removing_it_gives_up_what_is_queued() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let staff = app.create_staff("131016");
    let hook = "/v1/events/webhook";
    let (status, none) = app.get(hook, &key).await;
    assert_eq!((status, none["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    // Every problem at once: a URL nonstop will not call and no kind.
    let (status, refused) =
        app.call(Method::PUT, hook, Some(&key), Some(json!({ "url": "http://10.0.0.1/hook", "kinds": [] }))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(refused["fields"]["url"].is_string() && refused["fields"]["kinds"].is_string(), "{refused}");
    let (status, refused) = app
        .call(
            Method::PUT,
            hook,
            Some(&key),
            Some(json!({ "url": "https://hook.example.com/", "kinds": ["family.moved"] })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let (status, _) = app
        .call(
            Method::PUT,
            hook,
            Some(&staff),
            Some(json!({ "url": "https://hook.example.com/", "kinds": ["tasks.changed"] })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "staff have no app");
    let (status, _) = app.post("/v1/events/webhook/secret", &key, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let receiver = WebhookReceiver::start(vec![]).await;
    let kinds = json!(["tasks.changed", "tasks.changed", "draft.opened"]);
    let (status, created) =
        app.call(Method::PUT, hook, Some(&key), Some(json!({ "url": receiver.url, "kinds": kinds }))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(created["kinds"], json!(["draft.opened", "tasks.changed"]), "a set");
    app.create_family(&key, json!({ "municipality_code": "131016", "children": [{ "status": "expected", "due_date": crate::helpers::tokyo_day(60) }] }))
        .await;
    let (_, state) = app.get(hook, &key).await;
    assert!(state["pending"].as_i64() >= Some(1), "{state}");
    let (status, _) = app.delete(hook, &key).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    nonstop::jobs::webhooks::run_once(&app.job_context()).await.expect("events test");
    assert!(receiver.received().is_empty(), "nothing goes out once removed");
    let (_, page) = app.get("/v1/events/deliveries", &key).await;
    let items = page["items"].as_array().expect("events test");
    assert!(!items.is_empty() && page["next_cursor"].is_null());
    assert!(items.iter().all(|d| d["status"] == "failed" && d["last_error"] == "webhook removed"), "{page}");
    let (status, _) = app.get(hook, &key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn the_municipality_hears_of_its_own_status_changes_and_of_a_deleted_family() {
    let s = setup(3000).await;
    let (app, key, family) = (&s.app, &s.key, &s.family);
    let staff = app.create_staff("131016");
    let draft = draft_of(&s, "child_allowance_claim").await;
    let path = format!("/v1/families/{family}/drafts/{}", draft["id"].as_str().expect("events test"));
    app.patch(&path, key, json!({ "values": { "consent.public_records": true, "child.kana": "ヤマダ サクラ", "payment.use_public_account": true } })).await;
    let (_, confirmed) = app.post(&format!("{path}/confirm"), key, json!({})).await;
    let document = confirmed["confirmed"]["document"].as_str().expect("events test").to_owned();
    let card = s.ca.issue(&Holder::new(MOTHER, MOTHER_BORN));
    let (status, signed) = app.post(&format!("{path}/signature"), key, signature_body(&card, &document)).await;
    assert_eq!(status, StatusCode::CREATED, "{signed}");
    let submission = signed["submissions"][0]["id"].as_str().expect("events test").to_owned();
    let number = signed["submissions"][0]["reference_number"].as_str().expect("events test").to_owned();

    let receiver = WebhookReceiver::start(vec![]).await;
    let (status, created) = app
        .call(Method::PUT, "/v1/municipalities/131016/webhook", Some(&staff), Some(json!({ "url": receiver.url })))
        .await;
    assert_eq!(status, StatusCode::OK);
    let secret = created["secret"].as_str().expect("events test").to_owned();
    let staff_path = format!("/v1/municipalities/131016/submissions/{submission}/status");
    for (status_body, expected) in
        [(json!({ "status": "received" }), "received"), (json!({ "status": "accepted" }), "accepted")]
    {
        let (status, moved) = app.post(&staff_path, &staff, status_body).await;
        assert_eq!((status, moved["status"].as_str()), (StatusCode::OK, Some(expected)), "{moved}");
    }
    let (status, _) = app.delete(&format!("/v1/families/{family}"), key).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    nonstop::jobs::webhooks::run_once(&app.job_context()).await.expect("events test");

    let requests = receiver.received();
    assert_eq!(requests.len(), 3, "two status changes and the deletion");
    requests.iter().for_each(|r| assert_signed(r, &secret));
    let moved = of_kind(&requests, "submission.status_changed");
    let statuses: Vec<&str> = moved.iter().filter_map(|(_, b)| b["status"].as_str()).collect();
    assert_eq!(statuses.len(), 2);
    assert!(statuses.contains(&"received") && statuses.contains(&"accepted"), "{statuses:?}");
    for (request, body) in &moved {
        assert_eq!(
            (body["submission_id"].as_str(), body["reference_number"].as_str()),
            (Some(submission.as_str()), Some(number.as_str()))
        );
        assert_eq!(body["form_id"], "child_allowance_claim");
        assert_eq!(body["id"], json!(request.event_id));
        assert_documented(body, "SubmissionStatusChangedEvent");
    }
    let deleted = of_kind(&requests, "family.deleted");
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].1["family_id"], json!(family));
    assert_eq!(deleted[0].1["submissions"], json!([{ "submission_id": submission, "reference_number": number }]));
    assert_documented(&deleted[0].1, "FamilyDeletedEvent");
    for request in &requests {
        for personal in [MOTHER, "ヤマダ", "千代田", "090-1234", MOTHER_BORN, "さくら"] {
            assert!(!request.body.contains(personal), "{personal} in {}", request.body);
        }
    }
    // The document lists every event the municipality and the apps receive.
    let described: Value =
        serde_json::from_str(&nonstop::api::openapi().to_json().expect("events test")).expect("events test");
    let mut listed: Vec<&String> = described["webhooks"].as_object().expect("events test").keys().collect();
    listed.sort();
    let mut expected = vec!["submission.submitted", "submission.status_changed", "family.deleted"]
        .into_iter()
        .map(str::to_owned)
        .chain(ALL_KINDS.iter().map(|k| format!("app.{k}")))
        .collect::<Vec<_>>();
    expected.sort();
    assert_eq!(listed, expected.iter().collect::<Vec<_>>());
}
