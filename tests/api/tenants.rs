//! One tenant's mistake stops nothing for the others: each test puts a tenant with bad
//! credentials beside a good one, and shows what the bad one gets (a clear 4xx, or its own
//! delivery failed) while the good one's pushes still go out.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{tokyo_day, TestApp};
use crate::mocks::{FcmMock, WebPushMock};

const WAIT: Duration = Duration::from_secs(15);

/// A family with a newborn and one device; returns its id.
async fn family_with_device(app: &TestApp, key: &str, device: Value) -> String {
    let family = app
        .create_family(
            key,
            json!({ "municipality_code": "131016",
                    "children": [{ "status": "born", "birth_date": tokyo_day(0), "birth_weight_grams": 3000 }] }),
        )
        .await;
    let (status, body) = app.post(&format!("/v1/families/{family}/devices"), key, device).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    family
}

async fn deliveries_of(app: &TestApp, key: &str, family: &str) -> Vec<Value> {
    let (_, inbox) = app.get(&format!("/v1/families/{family}/inbox"), key).await;
    let entry = inbox["items"][0]["id"].as_str().expect("entry");
    let (_, ledger) = app.get(&format!("/v1/families/{family}/inbox/{entry}/deliveries"), key).await;
    ledger.as_array().cloned().unwrap_or_default()
}

/// Vendor A pushes through FCM (whose token endpoint is `fcm`, misbehaving as the test set it),
/// vendor B through Web Push; each has a family with a reminder due now.
struct SideBySide {
    key_a: String,
    family_a: String,
    family_b: String,
    subscription_b: String,
}

async fn fcm_vendor_beside_a_web_push_vendor(app: &TestApp, fcm: &FcmMock, web: &WebPushMock) -> SideBySide {
    let key_a = app.push_ready_app("vendor A").await;
    let (status, body) =
        app.call(Method::PUT, "/v1/app/push-credentials/fcm", Some(&key_a), Some(fcm.service_account())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let key_b = app.push_ready_app("vendor B").await;
    let family_a =
        family_with_device(app, &key_a, json!({ "kind": "fcm", "token": "fcmTokenOfVendorA:APA91bHaaaaa" })).await;
    let (subscription_b, device_b) = web.subscribe();
    let family_b = family_with_device(app, &key_b, device_b).await;
    app.make_due(&family_a, "birth_registration").await;
    app.make_due(&family_b, "birth_registration").await;
    SideBySide { key_a, family_a, family_b, subscription_b }
}

/// The app with its FCM token endpoint at the mock (the operator's setting).
async fn app_with_fcm(fcm: &FcmMock, timeout_seconds: u64) -> TestApp {
    let (base, token_uri) = (fcm.base.clone(), fcm.token_uri());
    TestApp::spawn_with(|s| {
        s.push.fcm_base_url = base;
        s.push.fcm_token_uri = token_uri;
        s.push.timeout_seconds = timeout_seconds;
    })
    .await
}

#[actix_web::test]
async fn the_fcm_token_endpoint_is_the_operators_not_the_vendors() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let fcm = FcmMock::start().await;
    let mut account = fcm.service_account();
    for (uri, why) in [
        ("https://oauth2.googleapis.com/to ken", "a space (once a panic inside gcp_auth)"),
        ("https://token.vendor.example/token", "another host (a request to an address the vendor chose)"),
        ("http://127.0.0.1:9/token", "a loopback port"),
    ] {
        account["token_uri"] = json!(uri);
        let (status, error) =
            app.call(Method::PUT, "/v1/app/push-credentials/fcm", Some(&key), Some(account.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{why}: {error}");
        assert!(
            error["fields"]["token_uri"].as_str().is_some_and(|p| p.contains("https://oauth2.googleapis.com/token")),
            "{why}: {error}"
        );
    }
    let (_, stored) = app.get("/v1/app/push-credentials", &key).await;
    assert!(stored["fcm"].is_null(), "nothing stored: {stored}");
    // Google's endpoint, or none, is accepted.
    account["token_uri"] = json!("https://oauth2.googleapis.com/token");
    let (status, body) = app.call(Method::PUT, "/v1/app/push-credentials/fcm", Some(&key), Some(account.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    account.as_object_mut().expect("object").remove("token_uri");
    let (status, body) = app.call(Method::PUT, "/v1/app/push-credentials/fcm", Some(&key), Some(account)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[actix_web::test]
async fn a_sender_that_panics_fails_its_own_delivery_and_the_others_still_go_out() {
    let web = WebPushMock::start().await;
    let fcm = FcmMock::start().await;
    // The token endpoint answers an `expires_in` that overflows gcp_auth's arithmetic: a panic
    // inside the FCM sender, on vendor A's sends only.
    fcm.issue_tokens_expiring_in(u64::MAX);
    let app = app_with_fcm(&fcm, 10).await;
    let SideBySide { key_a, family_a, family_b, subscription_b } =
        fcm_vendor_beside_a_web_push_vendor(&app, &fcm, &web).await;
    web.wait_for(WAIT, |r| !r.is_empty()).await;
    app.wait_until_settled().await;
    let failed = deliveries_of(&app, &key_a, &family_a).await;
    assert_eq!(
        (failed[0]["status"].as_str(), failed[0]["last_error"].as_str()),
        (Some("failed"), Some("sender_panicked")),
        "vendor A's delivery failed for good, not retried for ever: {failed:?}"
    );
    assert_eq!(web.received_by(&subscription_b).len(), 1, "vendor B's push went out");

    // The worker lives on: B's next reminder goes out too.
    app.make_due(&family_b, "child_allowance_claim").await;
    let received = web.wait_for(WAIT, |r| r.len() >= 2).await;
    assert_eq!(received.len(), 2, "the worker still delivers after a sender panicked");
}

#[actix_web::test]
async fn settings_that_close_the_offices_all_year_are_refused_and_writers_carry_on() {
    let app = TestApp::spawn().await;
    let staff = app.create_staff("472018");
    let (_, key) = app.create_app("vendor");
    let resident = app.create_family(&key, json!({ "municipality_code": "472018" })).await;
    // Every day of a leap year.
    let every_day: Vec<String> = (1..=12u32)
        .flat_map(|m| (1..=31u32).filter_map(move |d| chrono::NaiveDate::from_ymd_opt(2028, m, d)))
        .map(|date| date.format("%m-%d").to_string())
        .collect();
    assert_eq!(every_day.len(), 366);
    let started = std::time::Instant::now();
    let (status, error) = app
        .call(
            Method::PUT,
            "/v1/municipalities/472018/settings",
            Some(&staff),
            Some(json!({ "extra_closed_days": every_day })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert!(error["fields"]["extra_closed_days"].as_str().is_some_and(|p| p.contains("200")), "{error}");
    // The vendor's writes in that municipality are as quick as ever.
    let (status, body) = app.post("/v1/families", &key, json!({ "municipality_code": "472018" })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = app.get(&format!("/v1/families/{resident}/tasks"), &key).await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[actix_web::test]
async fn invented_methods_share_one_metrics_series() {
    let app = TestApp::spawn().await;
    for invented in ["M1", "M2", "M3"] {
        let method = Method::from_bytes(invented.as_bytes()).expect("method");
        let (status, _) = app.call(method, "/v1/families", None, None).await;
        assert!(status.is_client_error(), "{invented}: {status}");
    }
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.expect("metrics");
    let text = metrics.text().await.expect("text");
    assert!(text.contains("method=\"other\""), "{text}");
    assert!(!text.contains("M1") && !text.contains("M2"), "no series per invented method");
}

#[actix_web::test]
async fn readiness_fails_while_the_worker_makes_no_progress_and_recovers() {
    let clock = nonstop::clock::Clock::frozen_at(crate::helpers::pinned_instant());
    let app = TestApp::spawn_at(clock.clone(), |_| {}).await;
    let ready = || async { app.client.get(format!("{}/readyz", app.base)).send().await.expect("readyz").status() };
    assert_eq!(ready().await, StatusCode::OK);

    // Another process holds the deliveries table: the worker can finish no pass.
    let mut conn = app.db.get().expect("conn");
    {
        use diesel::connection::SimpleConnection;
        let lock = if app.sqlite_path.is_some() {
            "BEGIN IMMEDIATE"
        } else {
            "BEGIN; LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE"
        };
        conn.batch_execute(lock).expect("lock");
    }
    // Time passes (two leases and more) without progress.
    let started = std::time::Instant::now();
    loop {
        clock.advance(chrono::Duration::minutes(3));
        if ready().await == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        assert!(started.elapsed() < WAIT, "readiness never noticed the stalled worker");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, body) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(body["worker"], "stalled", "{body}");

    // Released, the worker moves again and the process is ready.
    {
        use diesel::connection::SimpleConnection;
        conn.batch_execute("COMMIT").expect("release");
    }
    let started = std::time::Instant::now();
    while ready().await != StatusCode::OK {
        assert!(started.elapsed() < WAIT, "readiness did not recover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn webhook_urls_that_reach_inward_are_refused() {
    let app = TestApp::spawn().await;
    let staff = app.create_staff("131016");
    for url in [
        "http://hook.city.chiyoda.lg.jp/nonstop",
        "https://10.0.0.8/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "http://127.0.0.2:22/",
        "https://localhost/hook",
        "https://intranet/hook",
        "https://metadata.google.internal/computeMetadata/v1",
    ] {
        let (status, error) =
            app.call(Method::PUT, "/v1/municipalities/131016/webhook", Some(&staff), Some(json!({ "url": url }))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {error}");
        assert!(error["fields"]["url"].is_string(), "{url}: {error}");
    }
    let (status, _) = app.get("/v1/municipalities/131016/webhook", &staff).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing stored");
    let (status, body) = app
        .call(
            Method::PUT,
            "/v1/municipalities/131016/webhook",
            Some(&staff),
            Some(json!({ "url": "https://hook.city.chiyoda.lg.jp/nonstop" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[actix_web::test]
async fn a_webhooks_failure_does_not_tell_whether_a_port_is_open() {
    use diesel::prelude::*;
    use nonstop::db::schema::webhook_deliveries;
    let app = TestApp::spawn().await;
    let staff = app.create_staff("131016");
    // A port nothing listens on (taken, then given back).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let hook = "/v1/municipalities/131016/webhook";
    let url = format!("http://127.0.0.1:{closed}/hook");
    let (status, body) = app.call(Method::PUT, hook, Some(&staff), Some(json!({ "url": url }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ctx = app.job_context();
    {
        let now = app.clock.now();
        let payload = ctx.keys.seal(nonstop::db::sealed::WEBHOOK_DELIVERIES_PAYLOAD, "{}").expect("sealed");
        let mut conn = app.db.get().expect("conn");
        diesel::insert_into(webhook_deliveries::table)
            .values((
                webhook_deliveries::id.eq("delivery-1"),
                webhook_deliveries::municipality_code.eq("131016"),
                webhook_deliveries::event_key.eq("submission:s1"),
                webhook_deliveries::payload.eq(payload),
                webhook_deliveries::status.eq("pending"),
                webhook_deliveries::attempts.eq(0),
                webhook_deliveries::next_attempt_at.eq(now),
                webhook_deliveries::created_at.eq(now),
            ))
            .execute(&mut *conn)
            .expect("queued");
    }
    assert_eq!(nonstop::jobs::webhooks::run_once(&ctx).await.expect("run"), 0);
    // Staff read a class that says the receiver gave no HTTP answer, not that the port refused.
    let (_, state) = app.get(hook, &staff).await;
    assert_eq!(state["last_error"], "unreachable", "{state}");
    assert_eq!(state["recent"][0]["last_error"], "unreachable", "{state}");
}

#[actix_web::test]
async fn a_key_that_calls_too_fast_is_slowed_and_the_others_are_not() {
    let app = TestApp::spawn_with(|s| {
        s.limits.requests_per_second = 1;
        s.limits.burst = 5;
    })
    .await;
    let (_, greedy) = app.create_app("greedy vendor");
    let (_, calm) = app.create_app("calm vendor");
    for _ in 0..5 {
        let (status, body) = app.get("/v1/families", &greedy).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let response =
        app.client.get(format!("{}/v1/families", app.base)).bearer_auth(&greedy).send().await.expect("request");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.expect("envelope");
    assert_eq!(body["error"], "rate_limited", "{body}");
    // The other vendor's budget is its own.
    let (status, _) = app.get("/v1/families", &calm).await;
    assert_eq!(status, StatusCode::OK);
}

#[actix_web::test]
async fn a_vendor_cannot_multiply_its_budget_by_minting_sessions() {
    let app = TestApp::spawn_with(|s| {
        // Each credential and each family may call 100 times at once; an app's sessions, 5.
        s.limits.requests_per_second = 1;
        s.limits.burst = 100;
        s.limits.app_sessions_per_second = 1;
        s.limits.app_sessions_burst = 5;
    })
    .await;
    let (_, greedy) = app.create_app("greedy vendor");
    let (_, calm) = app.create_app("calm vendor");
    // A session for each of three families of one vendor, and one of another vendor.
    let mut sessions = Vec::new();
    for key in [&greedy, &greedy, &greedy, &calm] {
        let family = app.create_family(key, json!({ "municipality_code": "131016" })).await;
        let (status, session) = app.post(&format!("/v1/families/{family}/sessions"), key, json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{session}");
        sessions.push((family, session["token"].as_str().expect("token").to_owned()));
    }
    let read = |(family, token): &(String, String)| {
        let (family, token) = (family.clone(), token.clone());
        let app = &app;
        async move { app.get(&format!("/v1/families/{family}"), &token).await.0 }
    };
    let mut answers = Vec::new();
    for session in &sessions[..3] {
        for _ in 0..4 {
            answers.push(read(session).await);
        }
    }
    // Twelve calls by three families' sessions, each family far under its own budget: the
    // app's sessions share five (six if a second passed meanwhile).
    let ok = answers.iter().filter(|s| **s == StatusCode::OK).count();
    assert!((5..=6).contains(&ok), "{answers:?}");
    assert_eq!(answers.last(), Some(&StatusCode::TOO_MANY_REQUESTS), "{answers:?}");
    // Another vendor's sessions have a budget of their own.
    assert_eq!(read(&sessions[3]).await, StatusCode::OK);
}

#[actix_web::test]
async fn caps_hold_under_concurrent_writes() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family = app.create_family(&key, json!({ "municipality_code": "131016" })).await;
    // 40 devices at once for one family: exactly the cap gets in.
    let path = format!("/v1/families/{family}/devices");
    let attempts = (0..40).map(|i| {
        let device = crate::helpers::web_push_device(&format!("https://fcm.googleapis.com/fcm/send/cap-{i}"));
        let (path, key) = (path.clone(), key.clone());
        let app = &app;
        async move { app.post(&path, &key, device).await }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let created = answers.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    let refused =
        answers.iter().filter(|(s, b)| *s == StatusCode::CONFLICT && b["error"] == "too_many_devices").count();
    assert_eq!((created, refused), (20, 20), "{answers:?}");
    let (_, devices) = app.get(&path, &key).await;
    assert_eq!(devices.as_array().map(Vec::len), Some(20));

    // Sessions and app keys have caps too.
    let mut last = (StatusCode::OK, Value::Null);
    for _ in 0..21 {
        last = app.post(&format!("/v1/families/{family}/sessions"), &key, json!({})).await;
    }
    assert_eq!((last.0, last.1["error"].as_str()), (StatusCode::CONFLICT, Some("too_many_sessions")), "{}", last.1);
    for _ in 0..5 {
        last = app.post("/v1/app/keys", &key, json!({})).await;
    }
    assert_eq!((last.0, last.1["error"].as_str()), (StatusCode::CONFLICT, Some("too_many_keys")), "{}", last.1);
}

#[actix_web::test]
async fn a_parents_foreign_subscription_disables_that_device_not_the_vendors_credentials() {
    let web = WebPushMock::start().await;
    let app = TestApp::spawn().await;
    let key = app.push_ready_app("vendor").await;
    let (good, good_device) = web.subscribe();
    let (foreign, foreign_device) = web.subscribe();
    // A subscription made with another application server key, as FCM answers it.
    web.always(
        &foreign,
        crate::mocks::Reply::json(
            403,
            json!(
                "the key in the authorization header does not correspond to the sender ID used to subscribe this user"
            ),
        ),
    );
    let family = family_with_device(&app, &key, good_device).await;
    let (status, body) = app.post(&format!("/v1/families/{family}/devices"), &key, foreign_device).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let foreign_id = body["id"].as_str().expect("id").to_owned();
    app.make_due(&family, "birth_registration").await;
    web.wait_for(WAIT, |r| r.len() >= 2).await;
    app.wait_until_settled().await;

    let (_, devices) = app.get(&format!("/v1/families/{family}/devices"), &key).await;
    let disabled =
        devices.as_array().expect("devices").iter().find(|d| d["id"] == foreign_id.as_str()).expect("device");
    assert!(disabled["disabled_at"].is_string(), "the foreign subscription is disabled: {disabled}");
    let (_, credentials) = app.get("/v1/app/push-credentials", &key).await;
    assert!(credentials["web_push"]["config_error"].is_null(), "the vendor is not blamed: {credentials}");
    assert_eq!(web.received_by(&good).iter().filter(|r| r.status == 201).count(), 1, "the good device got its push");
}

#[actix_web::test]
async fn a_provider_that_never_answers_holds_up_only_its_own_delivery() {
    let web = WebPushMock::start().await;
    let fcm = FcmMock::start().await;
    fcm.hang_token_requests();
    let app = app_with_fcm(&fcm, 1).await;
    let SideBySide { key_a, family_a, subscription_b, .. } =
        fcm_vendor_beside_a_web_push_vendor(&app, &fcm, &web).await;

    // Within the send deadline (two 1 s timeouts), B's push is out and A's send gave up.
    let received = web.wait_for(WAIT, |r| !r.is_empty()).await;
    assert_eq!(received.first().map(|r| r.subscription.as_str()), Some(subscription_b.as_str()));
    let started = std::time::Instant::now();
    let stalled = loop {
        let ledger = deliveries_of(&app, &key_a, &family_a).await;
        if ledger.first().is_some_and(|d| d["last_error"] == "timeout") {
            break ledger;
        }
        assert!(started.elapsed() < WAIT, "the hung send never timed out: {ledger:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(stalled[0]["status"], "pending", "a timeout is retried later: {stalled:?}");
}

#[actix_web::test]
async fn the_service_account_file_google_issues_is_accepted_as_it_is() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let fcm = FcmMock::start().await;
    let mut file = fcm.service_account();
    let extra = json!({
        "type": "service_account",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "client_id": "123456789012345678901",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/push%40nonstop-test.iam.gserviceaccount.com",
        "universe_domain": "googleapis.com"
    });
    file.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
    let (status, body) = app.call(Method::PUT, "/v1/app/push-credentials/fcm", Some(&key), Some(file.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    file["type"] = json!("authorized_user");
    let (status, error) = app.call(Method::PUT, "/v1/app/push-credentials/fcm", Some(&key), Some(file)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert!(error["fields"]["type"].is_string(), "{error}");
}
