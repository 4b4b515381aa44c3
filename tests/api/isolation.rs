//! Tenancy: vendors, parent sessions and municipal staff each see exactly what is theirs.

use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{web_push_device, TestApp};

#[actix_web::test]
async fn a_vendor_cannot_read_change_or_delete_another_vendors_family() {
    let app = TestApp::spawn().await;
    let (_, key_a) = app.create_app("vendor A");
    let (_, key_b) = app.create_app("vendor B");
    let family_a = app
        .create_family(&key_a, json!({ "municipality_code": "131016", "guardians": [{ "relationship": "father", "full_name": "佐藤 一" }] }))
        .await;
    let (_, device) = app
        .post(
            &format!("/v1/families/{family_a}/devices"),
            &key_a,
            web_push_device("https://fcm.googleapis.com/fcm/send/a"),
        )
        .await;
    let device_a = device["id"].as_str().expect("device");
    let (_, read) = app.get(&format!("/v1/families/{family_a}"), &key_a).await;
    let guardian_a = read["guardians"][0]["id"].as_str().expect("guardian").to_owned();

    let attempts = [
        (Method::GET, format!("/v1/families/{family_a}"), None),
        (Method::PATCH, format!("/v1/families/{family_a}"), Some(json!({ "single_parent": true }))),
        (Method::DELETE, format!("/v1/families/{family_a}"), None),
        (Method::GET, format!("/v1/families/{family_a}/devices"), None),
        (
            Method::POST,
            format!("/v1/families/{family_a}/devices"),
            Some(web_push_device("https://fcm.googleapis.com/fcm/send/b")),
        ),
        (Method::DELETE, format!("/v1/families/{family_a}/devices/{device_a}"), None),
        (
            Method::PATCH,
            format!("/v1/families/{family_a}/guardians/{guardian_a}"),
            Some(json!({ "full_name": "乗っ取り" })),
        ),
        (Method::DELETE, format!("/v1/families/{family_a}/guardians/{guardian_a}"), None),
        (
            Method::POST,
            format!("/v1/families/{family_a}/events"),
            Some(json!({ "type": "single_parent_changed", "date": "2026-11-01", "single_parent": true })),
        ),
        (Method::GET, format!("/v1/families/{family_a}/events"), None),
        (Method::POST, format!("/v1/families/{family_a}/sessions"), Some(json!({}))),
    ];
    for (method, path, body) in attempts {
        let (status, error) = app.call(method.clone(), &path, Some(&key_b), body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {error}");
        assert_eq!(error["error"], "not_found");
    }
    // A family id that does not exist answers exactly the same.
    let (status, missing) = app.get("/v1/families/00000000-0000-0000-0000-000000000000", &key_b).await;
    let (_, foreign) = app.get(&format!("/v1/families/{family_a}"), &key_b).await;
    assert_eq!((status, &missing), (StatusCode::NOT_FOUND, &foreign));

    let (_, page) = app.get("/v1/families", &key_b).await;
    assert_eq!(page["items"], json!([]));
    // Nothing changed for vendor A.
    let (status, after) = app.get(&format!("/v1/families/{family_a}"), &key_a).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after, read);
}

#[actix_web::test]
async fn a_parent_session_reaches_its_own_family_only() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let own = app.create_family(&key, json!({ "municipality_code": "131016" })).await;
    let other = app.create_family(&key, json!({ "municipality_code": "131016" })).await;
    let (_, session) = app.post(&format!("/v1/families/{own}/sessions"), &key, json!({})).await;
    let token = session["token"].as_str().expect("token");

    let (status, _) = app.get(&format!("/v1/families/{other}"), token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.patch(&format!("/v1/families/{other}"), token, json!({ "single_parent": true })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Vendor-only operations are refused to a parent session.
    let (status, _) = app.post("/v1/families", token, json!({ "municipality_code": "131016" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.get("/v1/families", token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.post(&format!("/v1/families/{own}/sessions"), token, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.delete(&format!("/v1/families/{own}"), token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn municipal_staff_never_read_family_records() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family = app.create_family(&key, json!({ "municipality_code": "131016" })).await;
    let staff = app.create_staff("131016");
    let (status, who) = app.get("/v1/whoami", &staff).await;
    assert_eq!(
        (status, who["role"].as_str(), who["municipality_code"].as_str()),
        (StatusCode::OK, Some("staff"), Some("131016"))
    );
    for path in [format!("/v1/families/{family}"), format!("/v1/families/{family}/devices"), "/v1/families".to_owned()]
    {
        let (status, error) = app.get(&path, &staff).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {error}");
    }
}

#[actix_web::test]
async fn unknown_revoked_and_expired_credentials_are_refused() {
    let app = TestApp::spawn().await;
    let (app_id, key) = app.create_app("vendor");
    let family = app.create_family(&key, json!({ "municipality_code": "131016" })).await;

    let (status, error) = app.call(Method::GET, "/v1/whoami", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error["error"], "unauthorized");
    let (status, _) = app.get("/v1/whoami", "nsk_app_not-a-real-key").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Rotate: a second key works, the first is revoked through the API and then refused.
    let (status, second) = app.post("/v1/app/keys", &key, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let second_key = second["api_key"].as_str().expect("key").to_owned();
    let (_, keys) = app.get("/v1/app/keys", &second_key).await;
    assert_eq!(keys["items"].as_array().map(Vec::len), Some(2));
    assert!(keys.to_string().find("nsk_app_").is_none(), "secrets are never listed");
    let (_, who) = app.get("/v1/whoami", &key).await;
    let first_key_id = keys["items"]
        .as_array()
        .and_then(|k| k.iter().find(|k| k["key_id"] != second["key_id"]))
        .and_then(|k| k["key_id"].as_str())
        .expect("first key id");
    assert_eq!(who["app_id"].as_str(), Some(app_id.as_str()));
    let (status, _) = app.delete(&format!("/v1/app/keys/{first_key_id}"), &second_key).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&format!("/v1/families/{family}"), &key).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.get(&format!("/v1/families/{family}"), &second_key).await;
    assert_eq!(status, StatusCode::OK);

    // A session past its expiry is refused.
    let (_, session) =
        app.post(&format!("/v1/families/{family}/sessions"), &second_key, json!({ "ttl_seconds": 60 })).await;
    let token = session["token"].as_str().expect("token").to_owned();
    let (status, _) = app.get(&format!("/v1/families/{family}"), &token).await;
    assert_eq!(status, StatusCode::OK);
    {
        use nonstop::db::schema::parent_sessions;
        let mut conn = app.db.get().expect("conn");
        let past = app.clock.now() - chrono::Duration::seconds(1);
        diesel::update(parent_sessions::table)
            .set(parent_sessions::expires_at.eq(past))
            .execute(&mut *conn)
            .expect("expire");
    }
    let (status, _) = app.get(&format!("/v1/families/{family}"), &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Revoking the whole app (operator) locks out its keys and its parents' sessions.
    let (_, session) = app.post(&format!("/v1/families/{family}/sessions"), &second_key, json!({})).await;
    let token = session["token"].as_str().expect("token").to_owned();
    {
        let mut conn = app.db.get().expect("conn");
        conn.transaction(|c| nonstop::service::principals::revoke_app(c, &app_id, app.clock.now())).expect("revoke");
    }
    let (status, _) = app.get("/v1/whoami", &second_key).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.get("/v1/whoami", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A revoked staff key is refused too.
    let staff = app.create_staff("271004");
    let (status, _) = app.get("/v1/whoami", &staff).await;
    assert_eq!(status, StatusCode::OK);
    {
        use nonstop::db::schema::staff_members;
        let mut conn = app.db.get().expect("conn");
        let staff_id: String = staff_members::table.select(staff_members::id).first(&mut *conn).expect("staff");
        conn.transaction(|c| nonstop::service::principals::revoke_staff(c, &staff_id, None, app.clock.now()))
            .expect("revoke");
    }
    let (status, _) = app.get("/v1/whoami", &staff).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn session_lifetimes_are_bounded() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family = app.create_family(&key, json!({ "municipality_code": "131016" })).await;
    for ttl in [0, 59, app.settings.sessions.max_ttl_seconds + 1] {
        let (status, error) =
            app.post(&format!("/v1/families/{family}/sessions"), &key, json!({ "ttl_seconds": ttl })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{ttl}");
        assert!(error["fields"]["ttl_seconds"].is_string());
    }
}

#[actix_web::test]
async fn sessions_end_at_logout_with_their_key_or_when_the_vendor_ends_them() {
    let app = TestApp::spawn().await;
    let (_, first_key) = app.create_app("vendor");
    let family = app.create_family(&first_key, json!({ "municipality_code": "131016" })).await;
    let (_, keys) = app.get("/v1/app/keys", &first_key).await;
    let first_key_id = keys["items"][0]["key_id"].as_str().expect("the app's one key").to_owned();
    let mint = |key: String| {
        let app = &app;
        let family = family.clone();
        async move {
            let (status, session) = app.post(&format!("/v1/families/{family}/sessions"), &key, json!({})).await;
            assert_eq!(status, StatusCode::CREATED, "{session}");
            session["token"].as_str().expect("token").to_owned()
        }
    };
    let works = |token: String| {
        let app = &app;
        let family = family.clone();
        async move { app.get(&format!("/v1/families/{family}"), &token).await.0 == StatusCode::OK }
    };
    let (leaving, staying) = (mint(first_key.clone()).await, mint(first_key.clone()).await);

    // A parent logs out: that token ends, the other session goes on.
    let (status, _) = app.delete("/v1/sessions/current", &leaving).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!works(leaving).await, "a logged-out token is refused");
    assert!(works(staying.clone()).await);
    let (status, _) = app.delete("/v1/sessions/current", &first_key).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a vendor key does not log out");

    // The vendor rotates keys: sessions minted with the revoked key end with it.
    let (status, created) = app.post("/v1/app/keys", &first_key, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let second_key = created["api_key"].as_str().expect("key").to_owned();
    let (status, body) = app.delete(&format!("/v1/app/keys/{first_key_id}"), &second_key).await;
    assert!(status.is_success(), "{body}");
    assert!(!works(staying).await, "a session ends with the key that minted it");
    let fresh = mint(second_key.clone()).await;
    assert!(works(fresh.clone()).await);

    // And the vendor can end every session of the family at once.
    let (status, _) = app.delete(&format!("/v1/families/{family}/sessions"), &second_key).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!works(fresh).await);
}
