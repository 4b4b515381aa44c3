//! Push delivery end to end: planned reminder → inbox entry → deliveries → loopback push
//! services, with the providers' answers driving retries, expiry and dead tokens.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{awake_quiet_hours, tokyo_day, TestApp};
use crate::mocks::{fcm_error, FcmMock, Reply, WebPushMock};

const WAIT: Duration = Duration::from_secs(15);

/// A family with a baby born today, quiet hours away from now, and the given devices.
async fn family_with_devices(app: &TestApp, key: &str, devices: &[Value]) -> (String, Vec<String>) {
    let family = app
        .create_family(
            key,
            json!({ "municipality_code": "131016", "quiet_hours": awake_quiet_hours(),
                    "guardians": [{ "relationship": "mother", "full_name": "配信 試子" }],
                    "children": [{ "status": "born", "birth_date": tokyo_day(0), "full_name": "配信 赤子", "birth_weight_grams": 3000 }] }),
        )
        .await;
    let mut ids = Vec::new();
    for device in devices {
        let (status, body) = app.post(&format!("/v1/families/{family}/devices"), key, device.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(body["id"].as_str().expect("id").to_owned());
    }
    (family, ids)
}

async fn inbox(app: &TestApp, key: &str, family: &str) -> Value {
    let (status, page) = app.get(&format!("/v1/families/{family}/inbox"), key).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

async fn ledger(app: &TestApp, key: &str, family: &str, entry: &str) -> Vec<Value> {
    let (_, list) = app.get(&format!("/v1/families/{family}/inbox/{entry}/deliveries"), key).await;
    list.as_array().cloned().unwrap_or_default()
}

/// Waits until every delivery of the entry has left `pending`.
async fn settled(app: &TestApp, key: &str, family: &str, entry: &str) -> Vec<Value> {
    let started = std::time::Instant::now();
    loop {
        let list = ledger(app, key, family, entry).await;
        if (!list.is_empty() && list.iter().all(|d| d["status"] != "pending")) || started.elapsed() > WAIT {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn a_reminder_due_now_reaches_every_device_in_plaintext() {
    let web = WebPushMock::start().await;
    let fcm = FcmMock::start().await;
    let base = fcm.base.clone();
    let app = TestApp::spawn_with(|s| {
        s.push.fcm_token_uri = format!("{base}/token");
        s.push.fcm_base_url = base;
    })
    .await;
    let key = app.push_ready_app("vendor").await;
    let (status, body) =
        app.call(Method::PUT, "/v1/app/push-credentials/fcm", Some(&key), Some(fcm.service_account())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.to_string().find("PRIVATE KEY").is_none(), "secrets are never returned");
    let (sub_a, device_a) = web.subscribe();
    let (sub_b, device_b) = web.subscribe();
    let fcm_token = "fcmTokenForTheTest:APA91bHyyyyyyyyyyyyyyy";
    let (family, _) =
        family_with_devices(&app, &key, &[device_a, device_b, json!({ "kind": "fcm", "token": fcm_token })]).await;
    assert_eq!(app.make_due(&family, "birth_registration").await, 1);

    let received = web.wait_for(WAIT, |r| r.len() >= 2).await;
    let sent = fcm.wait_for(WAIT, 1).await;
    assert_eq!(received.len(), 2, "{received:?}");
    for subscription in [&sub_a, &sub_b] {
        let push = web.received_by(subscription).pop().expect("received");
        assert_eq!(push.status, 201);
        let plaintext = push.plaintext.expect("decrypted at the mock");
        assert!(plaintext["title"].as_str().is_some_and(|t| t.starts_with("出生届")), "{plaintext}");
        assert!(plaintext["entry_id"].is_string() && plaintext["task_id"].is_string());
        let text = plaintext.to_string();
        assert!(
            !text.contains("配信") && !text.contains("試子") && !text.contains("赤子"),
            "no personal data in a push: {text}"
        );
        assert_eq!(push.vapid_subject.as_deref(), Some("mailto:push@nonstop-test.jp"));
        assert!(
            push.ttl.is_some_and(|ttl| ttl > 0) && push.urgency.as_deref() == Some("normal") && push.topic.is_some()
        );
    }
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, fcm_token);
    assert!(sent[0].1["message"]["notification"]["title"].as_str().is_some_and(|t| t.starts_with("出生届")));
    assert!(fcm.tokens_issued() >= 1, "an OAuth token was fetched from the token endpoint");

    let page = inbox(&app, &key, &family).await;
    assert_eq!(page["unread_count"], 1);
    let entry = page["items"][0]["id"].as_str().expect("entry").to_owned();
    assert_eq!(page["items"][0]["language"], "ja");
    let deliveries = settled(&app, &key, &family, &entry).await;
    assert_eq!(deliveries.len(), 3);
    assert!(
        deliveries.iter().all(|d| d["status"] == "sent" && d["attempts"] == 1 && d["provider_message_id"].is_string()),
        "{deliveries:?}"
    );

    let (status, read) = app.post(&format!("/v1/families/{family}/inbox/{entry}/read"), &key, json!({})).await;
    assert_eq!((status, read["read_at"].is_string()), (StatusCode::OK, true));
    assert_eq!(inbox(&app, &key, &family).await["unread_count"], 0);

    // Recorded exactly once: the same reminder made due again is not recorded twice.
    let metrics =
        app.client.get(format!("{}/metrics", app.base)).send().await.expect("sent").text().await.expect("text");
    assert!(
        metrics.contains(r#"nonstop_push_deliveries_total{outcome="sent",provider="web_push",status="sent"} 2"#),
        "{metrics}"
    );
}

#[actix_web::test]
async fn a_429_is_retried_after_the_delay_the_service_gave() {
    let web = WebPushMock::start().await;
    let app = TestApp::spawn().await;
    let key = app.push_ready_app("vendor").await;
    let (subscription, device) = web.subscribe();
    web.script(&subscription, vec![Reply::retry_after(429, 2), Reply::status(201)]);
    let (family, _) = family_with_devices(&app, &key, &[device]).await;
    app.make_due(&family, "birth_registration").await;
    let received = web.wait_for(WAIT, |r| r.len() >= 2).await;
    assert_eq!(received.iter().map(|r| r.status).collect::<Vec<_>>(), [429, 201]);
    let waited = received[1].at - received[0].at;
    assert!(waited >= Duration::from_millis(1_900), "retried after {waited:?}, before the Retry-After of 2 s");
    let entry = inbox(&app, &key, &family).await["items"][0]["id"].as_str().expect("entry").to_owned();
    let deliveries = settled(&app, &key, &family, &entry).await;
    assert_eq!((deliveries[0]["status"].as_str(), deliveries[0]["attempts"].as_i64()), (Some("sent"), Some(2)));
}

/// A 408 says the service gave up reading the request (a push service's balancer does when the
/// sender is slow): the push was not taken, so it is sent again, not recorded as failed.
#[actix_web::test]
async fn a_request_timeout_from_the_service_is_tried_again() {
    let web = WebPushMock::start().await;
    let app = TestApp::spawn().await;
    let key = app.push_ready_app("vendor").await;
    let (subscription, device) = web.subscribe();
    web.script(&subscription, vec![Reply::retry_after(408, 1), Reply::status(201)]);
    let (family, _) = family_with_devices(&app, &key, &[device]).await;
    app.make_due(&family, "birth_registration").await;
    let received = web.wait_for(WAIT, |r| r.len() >= 2).await;
    assert_eq!(received.iter().map(|r| r.status).collect::<Vec<_>>(), [408, 201]);
    let entry = inbox(&app, &key, &family).await["items"][0]["id"].as_str().expect("entry").to_owned();
    let deliveries = settled(&app, &key, &family, &entry).await;
    assert_eq!((deliveries[0]["status"].as_str(), deliveries[0]["attempts"].as_i64()), (Some("sent"), Some(2)));
}

#[actix_web::test]
async fn a_410_disables_the_device_and_nothing_is_sent_to_it_again() {
    let web = WebPushMock::start().await;
    let app = TestApp::spawn().await;
    let key = app.push_ready_app("vendor").await;
    let (gone, gone_device) = web.subscribe();
    let (alive, alive_device) = web.subscribe();
    web.always(&gone, Reply::status(410));
    let (family, ids) = family_with_devices(&app, &key, &[gone_device, alive_device]).await;
    app.make_due(&family, "birth_registration").await;
    web.wait_for(WAIT, |r| r.len() >= 2).await;
    let entry = inbox(&app, &key, &family).await["items"][0]["id"].as_str().expect("entry").to_owned();
    let deliveries = settled(&app, &key, &family, &entry).await;
    let dead = deliveries.iter().find(|d| d["device_id"] == ids[0].as_str()).expect("delivery");
    assert_eq!((dead["status"].as_str(), dead["last_error"].as_str()), (Some("dead"), Some("dead_token")));
    let (_, devices) = app.get(&format!("/v1/families/{family}/devices"), &key).await;
    let disabled = devices.as_array().expect("devices").iter().find(|d| d["id"] == ids[0].as_str()).expect("device");
    assert!(
        disabled["disabled_at"].is_string() && disabled["disabled_reason"].as_str().is_some_and(|r| r.contains("410")),
        "{disabled}"
    );

    // The next reminder goes to the live device only.
    app.make_due(&family, "child_allowance_claim").await;
    web.wait_for(WAIT, |r| r.iter().filter(|x| x.subscription == alive).count() >= 2).await;
    app.wait_until_settled().await;
    assert_eq!(web.received_by(&gone).len(), 1, "never sent to a dead subscription again");
    assert_eq!(web.received_by(&alive).len(), 2);
}

#[actix_web::test]
async fn server_errors_until_the_ttl_ends_give_expired() {
    let web = WebPushMock::start().await;
    let app = TestApp::spawn().await;
    let key = app.push_ready_app("vendor").await;
    let (subscription, device) = web.subscribe();
    web.always(&subscription, Reply::retry_after(500, 1));
    let (family, _) = family_with_devices(&app, &key, &[device]).await;
    app.make_due(&family, "birth_registration").await;
    let entry = inbox(&app, &key, &family).await["items"][0]["id"].as_str().expect("entry").to_owned();
    // The first attempt failed and a retry is planned.
    let started = std::time::Instant::now();
    while ledger(&app, &key, &family, &entry).await.first().is_none_or(|d| d["attempts"].as_i64() < Some(1)) {
        assert!(started.elapsed() < WAIT, "no first attempt");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // The entry's TTL ends in a minute, and the clock moves past it: the next failure (a retry
    // that would come after the end) expires it.
    {
        use diesel::prelude::*;
        use nonstop::db::schema::inbox_entries;
        let mut conn = app.db.get().expect("conn");
        diesel::update(inbox_entries::table.filter(inbox_entries::family_id.eq(&family)))
            .set(inbox_entries::expires_at.eq(app.clock.now() + chrono::Duration::minutes(1)))
            .execute(&mut *conn)
            .expect("ttl");
    }
    app.clock.advance(chrono::Duration::minutes(2));
    let deliveries = settled(&app, &key, &family, &entry).await;
    assert_eq!(deliveries[0]["status"], "expired", "{deliveries:?}");
    assert!(deliveries[0]["attempts"].as_i64().is_some_and(|a| a >= 2));
    assert_eq!(deliveries[0]["last_error"], "provider_500");
    let (_, devices) = app.get(&format!("/v1/families/{family}/devices"), &key).await;
    assert!(devices[0]["disabled_at"].is_null(), "a transient error never disables a device");
}

#[actix_web::test]
async fn fcm_unregistered_disables_the_device_and_bad_vapid_keys_are_a_config_error() {
    let web = WebPushMock::start().await;
    let fcm = FcmMock::start().await;
    let base = fcm.base.clone();
    let app = TestApp::spawn_with(|s| {
        s.push.fcm_token_uri = format!("{base}/token");
        s.push.fcm_base_url = base;
    })
    .await;
    let key = app.push_ready_app("vendor").await;
    app.call(Method::PUT, "/v1/app/push-credentials/fcm", Some(&key), Some(fcm.service_account())).await;
    let token = "fcmTokenThatIsGone:APA91bHzzzzzzzzzzzzzzz";
    fcm.script(token, vec![Reply::json(404, fcm_error(404, "UNREGISTERED"))]);
    let (family, ids) = family_with_devices(&app, &key, &[json!({ "kind": "fcm", "token": token })]).await;
    app.make_due(&family, "birth_registration").await;
    fcm.wait_for(WAIT, 1).await;
    let entry = inbox(&app, &key, &family).await["items"][0]["id"].as_str().expect("entry").to_owned();
    let deliveries = settled(&app, &key, &family, &entry).await;
    assert_eq!(deliveries[0]["status"], "dead");
    let (_, devices) = app.get(&format!("/v1/families/{family}/devices"), &key).await;
    assert!(devices
        .as_array()
        .expect("devices")
        .iter()
        .any(|d| d["id"] == ids[0].as_str() && d["disabled_reason"] == "FCM: UNREGISTERED"));

    // An app whose VAPID key the push service refuses: reported on the app, device kept.
    let (_, other_key) = app.create_app("misconfigured");
    let (subscription, device) = web.subscribe();
    web.always(&subscription, Reply::json(403, json!({ "reason": "BadJwtToken" })));
    let (status, _) = app
        .call(
            Method::PUT,
            "/v1/app/push-credentials/web-push",
            Some(&other_key),
            Some(json!({ "subject": "mailto:ops@nonstop-test.jp" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (family, _) = family_with_devices(&app, &other_key, &[device]).await;
    app.make_due(&family, "birth_registration").await;
    web.wait_for(WAIT, |r| r.iter().any(|x| x.subscription == subscription)).await;
    let started = std::time::Instant::now();
    let mut view = Value::Null;
    while started.elapsed() < WAIT {
        view = app.get("/v1/app/push-credentials", &other_key).await.1;
        if view["web_push"]["config_error"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(view["web_push"]["config_error"].as_str().is_some_and(|e| e.contains("403")), "{view}");
    let (_, devices) = app.get(&format!("/v1/families/{family}/devices"), &other_key).await;
    assert!(devices[0]["disabled_at"].is_null(), "a configuration error does not burn the token");
}

/// The worker records a batch's sends a few hundred per statement: each row gets its own
/// provider message id (or none), and a row whose lease another worker took is left alone.
#[actix_web::test]
async fn a_batchs_outcomes_are_recorded_per_delivery_and_only_under_the_lease() {
    use diesel::prelude::*;
    use nonstop::db::rows::DeliveryRow;
    use nonstop::db::schema::deliveries;
    use nonstop::jobs::outbox;
    use nonstop::push::SendOutcome;
    use nonstop::service::inbox::DeliveryStatus;

    let web = WebPushMock::start().await;
    let app = TestApp::spawn_with(|s| s.jobs.enabled = false).await;
    let key = app.push_ready_app("vendor").await;
    let devices: Vec<Value> = (0..4).map(|_| web.subscribe().1).collect();
    let (family, _) = family_with_devices(&app, &key, &devices).await;
    assert_eq!(app.make_due(&family, "birth_registration").await, 1);
    let ctx = app.job_context();
    let now = app.clock.now();
    let mut conn = app.db.get().expect("conn");
    let mut claimed = outbox::claim(&mut conn, &ctx.keys, now, chrono::Duration::seconds(60), 10).expect("claim");
    assert_eq!(claimed.len(), 4);
    claimed.sort_by(|a, b| a.delivery_id.cmp(&b.delivery_id));
    // The third one's lease ran out and another worker claimed it meanwhile.
    diesel::update(deliveries::table.find(&claimed[2].delivery_id))
        .set(deliveries::lease_owner.eq("another worker"))
        .execute(&mut conn)
        .expect("taken over");
    let answers = [
        SendOutcome::Sent { message_id: Some("https://push.example/message/0".into()) },
        SendOutcome::Sent { message_id: None },
        SendOutcome::Sent { message_id: Some("https://push.example/message/2".into()) },
        SendOutcome::retry("http_429", Some(Duration::from_secs(60))),
    ];
    let outcomes: Vec<_> = claimed.into_iter().zip(answers).collect();
    let statuses = outbox::record_all(&mut conn, &outcomes, now).expect("recorded");
    assert_eq!(statuses, [DeliveryStatus::Sent, DeliveryStatus::Sent, DeliveryStatus::Sent, DeliveryStatus::Pending]);

    let rows: Vec<DeliveryRow> =
        deliveries::table.order(deliveries::id).select(DeliveryRow::as_select()).load(&mut conn).expect("rows");
    let seen: Vec<_> = rows
        .iter()
        .map(|r| (r.status.as_str(), r.attempts, r.provider_message_id.as_deref(), r.lease_owner.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            ("sent", 1, Some("https://push.example/message/0"), None),
            ("sent", 1, None, None),
            ("pending", 0, None, Some("another worker")),
            ("pending", 1, None, None),
        ]
    );
    assert_eq!(rows[0].sent_at, Some(now));
    assert_eq!(
        (rows[3].next_attempt_at, rows[3].last_error.as_deref()),
        (now + chrono::Duration::seconds(60), Some("http_429"))
    );
}

#[actix_web::test]
async fn two_workers_on_one_database_never_send_one_delivery_twice() {
    let web = WebPushMock::start().await;
    let app = TestApp::spawn_with(|s| s.jobs.batch_size = 7).await;
    let replica = app.replica(|s| s.jobs.batch_size = 7).await;
    let key = app.push_ready_app("vendor").await;
    let mut subscriptions = Vec::new();
    let mut families = Vec::new();
    for _ in 0..6 {
        let devices: Vec<Value> = (0..20)
            .map(|_| {
                let (id, device) = web.subscribe();
                subscriptions.push(id);
                device
            })
            .collect();
        families.push(family_with_devices(&app, &key, &devices).await.0);
    }
    for family in &families {
        app.make_due(family, "birth_registration").await;
    }
    web.wait_for(Duration::from_secs(30), |r| r.len() >= 120).await;
    app.wait_until_settled().await;
    let received = web.received();
    assert_eq!(received.len(), 120, "every delivery once");
    let distinct: std::collections::HashSet<&str> = received.iter().map(|r| r.subscription.as_str()).collect();
    assert_eq!(distinct.len(), 120, "no delivery sent twice");
    drop(replica);
}

#[actix_web::test]
async fn subscriptions_to_unknown_hosts_and_bad_credentials_are_refused() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family = app.create_family(&key, json!({ "municipality_code": "131016" })).await;
    let (status, error) = app
        .post(
            &format!("/v1/families/{family}/devices"),
            &key,
            crate::helpers::web_push_device("https://push.evil.example/x"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error["fields"]["endpoint"].as_str().is_some_and(|e| e.contains("not a push service")), "{error}");
    // A push service's host, but another port than its own: nonstop is no port scanner of
    // Google's (or anyone's) hosts.
    let (status, error) = app
        .post(
            &format!("/v1/families/{family}/devices"),
            &key,
            crate::helpers::web_push_device("https://fcm.googleapis.com:8443/fcm/send/x"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert!(error["fields"]["endpoint"].as_str().is_some_and(|e| e.contains("own port")), "{error}");
    for (path, body, field) in [
        ("/v1/app/push-credentials/web-push", json!({ "subject": "mailto:me@localhost" }), "subject"),
        (
            "/v1/app/push-credentials/web-push",
            json!({ "subject": "mailto:push@nonstop-test.jp", "private_key": "nope" }),
            "private_key",
        ),
        (
            "/v1/app/push-credentials/apns",
            json!({ "key_pem": "x", "key_id": "ABC", "team_id": "TEAM123456", "topic": "jp.example" }),
            "key_pem",
        ),
        (
            "/v1/app/push-credentials/fcm",
            json!({ "project_id": "p", "client_email": "x", "private_key": "-----BEGIN PRIVATE KEY-----" }),
            "client_email",
        ),
    ] {
        let (status, error) = app.call(Method::PUT, path, Some(&key), Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {error}");
        assert!(error["fields"][field].is_string(), "{path}: {error}");
    }
    let (status, generated) = app
        .call(
            Method::PUT,
            "/v1/app/push-credentials/web-push",
            Some(&key),
            Some(json!({ "subject": "https://nonstop-test.jp/contact" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let public = generated["web_push"]["public_key"].as_str().expect("public key");
    assert_eq!(public.len(), 87, "65 bytes in base64url");
    let (status, _) = app
        .call(Method::PUT, "/v1/app/push-credentials/web-push", Some(&key), Some(json!({ "subject": "mailto:a@b.jp" })))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, rotated) = app.get("/v1/app/push-credentials", &key).await;
    assert_ne!(rotated["web_push"]["public_key"].as_str(), Some(public), "rotation makes a new pair");
}

#[actix_web::test]
async fn an_apns_token_key_is_checked_when_set_and_never_shown_again() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let apns = |pem: &str| json!({ "key_pem": pem, "key_id": "ABC123DEFG", "team_id": "TEAM123456", "topic": "jp.example.app" });
    // The PEM header alone is not a key; nor is a key on another curve.
    let p384 = ec_key_pem(openssl::nid::Nid::SECP384R1);
    for pem in ["-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", &p384] {
        let (status, error) = app.call(Method::PUT, "/v1/app/push-credentials/apns", Some(&key), Some(apns(pem))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
        assert!(error["fields"]["key_pem"].as_str().is_some_and(|e| e.contains("P-256")), "{error}");
    }
    // A .p8 key as Apple issues it: a P-256 key in PKCS#8.
    let p8 = ec_key_pem(openssl::nid::Nid::X9_62_PRIME256V1);
    // The topic is the app's bundle id: it goes into the apns-topic header of every push, so
    // what could not be one is refused now, not at every delivery.
    for topic in [
        "jp.example.app\r\nx-injected: 1",
        "jp.example.app\u{0}",
        "app",
        "jp..example",
        "jp.example/app",
        ".jp.example",
    ] {
        let mut body = apns(&p8);
        body["topic"] = json!(topic);
        let (status, error) = app.call(Method::PUT, "/v1/app/push-credentials/apns", Some(&key), Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{topic:?}: {error}");
        assert!(error["fields"]["topic"].as_str().is_some_and(|e| e.contains("bundle id")), "{topic:?}: {error}");
    }
    let (status, set) = app.call(Method::PUT, "/v1/app/push-credentials/apns", Some(&key), Some(apns(&p8))).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["apns"]["key_id"], "ABC123DEFG");
    let (_, shown) = app.get("/v1/app/push-credentials", &key).await;
    assert_eq!(shown["apns"]["topic"], "jp.example.app");
    assert!(!shown.to_string().contains("PRIVATE KEY"), "the key is never shown: {shown}");
}

/// A fresh EC private key on `curve`, in PKCS#8 PEM.
fn ec_key_pem(curve: openssl::nid::Nid) -> String {
    let group = openssl::ec::EcGroup::from_curve_name(curve).expect("curve");
    let key = openssl::ec::EcKey::generate(&group).and_then(openssl::pkey::PKey::from_ec_key).expect("key");
    String::from_utf8(key.private_key_to_pem_pkcs8().expect("pem")).expect("utf-8")
}

#[actix_web::test]
async fn the_scheduler_records_each_due_reminder_exactly_once() {
    let web = WebPushMock::start().await;
    let app = TestApp::spawn_with(|s| s.jobs.scheduler = true).await;
    let key = app.push_ready_app("vendor").await;
    let (subscription, device) = web.subscribe();
    // A baby born today: the reminders of today (09:00) are due at the pinned noon.
    let (family, _) = family_with_devices(&app, &key, &[device]).await;
    // The day's jobs have run (they re-plan the family), and several ticks came after.
    app.wait_until("the day's drafts job", |conn| {
        use diesel::prelude::*;
        use nonstop::db::schema::scheduled_jobs;
        let done: i64 = scheduled_jobs::table
            .filter(scheduled_jobs::name.eq("drafts"))
            .filter(scheduled_jobs::status.eq("done"))
            .count()
            .get_result(conn)
            .expect("count");
        done > 0
    })
    .await;
    web.wait_for(WAIT, |r| !r.is_empty()).await;
    app.wait_for_ticks(3).await;
    app.wait_until_settled().await;

    // Every reminder that came due was recorded once, and pushed once.
    let recorded: i64 = {
        use diesel::prelude::*;
        use nonstop::db::schema::planned_notifications;
        let mut conn = app.db.get().expect("conn");
        planned_notifications::table
            .filter(planned_notifications::family_id.eq(&family))
            .filter(planned_notifications::status.eq("sent"))
            .count()
            .get_result(&mut *conn)
            .expect("count")
    };
    let entries = inbox(&app, &key, &family).await["items"].as_array().map_or(0, Vec::len);
    assert!(recorded >= 1, "today's reminders came due");
    assert_eq!(entries as i64, recorded, "one inbox entry per due reminder, across several ticks");
    assert_eq!(web.received_by(&subscription).len(), entries, "one push per entry");
}

/// The metric names README sends the operator to (docs/OPERATIONS.md, "What to watch in
/// `/metrics`") are the series `/metrics` serves, under the same names: none documented that is
/// not served, none served that is not documented. A push is sent first, so that the series
/// with labels have a sample and are served at all.
#[actix_web::test]
async fn the_documented_metric_names_are_the_served_ones() {
    let web = WebPushMock::start().await;
    let app = TestApp::spawn().await;
    let key = app.push_ready_app("vendor").await;
    let (_, device) = web.subscribe();
    let (family, _) = family_with_devices(&app, &key, &[device]).await;
    assert_eq!(app.make_due(&family, "birth_registration").await, 1);
    web.wait_for(WAIT, |r| !r.is_empty()).await;
    app.wait_until_settled().await;
    let metrics =
        app.client.get(format!("{}/metrics", app.base)).send().await.expect("sent").text().await.expect("text");
    let served: std::collections::BTreeSet<&str> =
        metrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|l| l.split(' ').next()).collect();

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    let operations = std::fs::read_to_string(root.join("docs/OPERATIONS.md")).expect("OPERATIONS");
    assert!(readme.contains("docs/OPERATIONS.md#what-to-watch-in-metrics"), "README points to the table");
    let start = operations.find("## What to watch in `/metrics`").expect("the section");
    let section = &operations[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |end| end + 3)];
    // The names in backquotes, without their labels.
    let names = |text: &str| -> Vec<String> {
        text.split('`')
            .skip(1)
            .step_by(2)
            .filter(|quoted| quoted.starts_with("nonstop_"))
            .map(|quoted| quoted.split('{').next().unwrap_or_default().to_owned())
            .collect()
    };
    let documented: std::collections::BTreeSet<String> = names(section).into_iter().collect();
    let served: std::collections::BTreeSet<String> = served.into_iter().map(str::to_owned).collect();
    assert_eq!(documented, served, "docs/OPERATIONS.md's table and /metrics");
    for name in names(&readme) {
        assert!(served.contains(&name), "README names {name}, which /metrics does not serve");
    }
}
