//! `ETag` and `If-Match`: two writers of one family cannot overwrite each other unseen (issue 31).

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::TestApp;

async fn get_with_tag(app: &TestApp, path: &str, key: &str) -> (Value, String) {
    let response = app.client.get(format!("{}{path}", app.base)).bearer_auth(key).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let tag = response.headers().get("ETag").expect("an ETag").to_str().expect("text").to_owned();
    (response.json().await.expect("json"), tag)
}

async fn patch_if_match(
    app: &TestApp,
    path: &str,
    key: &str,
    tag: &str,
    body: Value,
) -> (StatusCode, Option<String>, Value) {
    let response = app
        .client
        .patch(format!("{}{path}", app.base))
        .bearer_auth(key)
        .header("If-Match", tag)
        .json(&body)
        .send()
        .await
        .expect("sent");
    let status = response.status();
    let tag = response.headers().get("ETag").map(|t| t.to_str().expect("text").to_owned());
    (status, tag, response.json().await.expect("json"))
}

#[actix_web::test]
async fn a_write_based_on_a_stale_read_is_refused_with_412() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("two writers");
    let family = app.create_family(&key, json!({ "municipality_code": "131016" })).await;
    let path = format!("/v1/families/{family}");
    // The vendor's backend and the parent's app read the same version.
    let (_, read_by_both) = get_with_tag(&app, &path, &key).await;
    let (status, after_first, _) =
        patch_if_match(&app, &path, &key, &read_by_both, json!({ "single_parent": true })).await;
    assert_eq!(status, StatusCode::OK);
    let after_first = after_first.expect("the new version's tag");
    assert_ne!(after_first, read_by_both);
    // The second writer still holds the first version: refused, and nothing changes.
    let (status, _, error) = patch_if_match(&app, &path, &key, &read_by_both, json!({ "single_parent": false })).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{error}");
    assert_eq!(error["error"], "precondition_failed");
    let (stored, tag_now) = get_with_tag(&app, &path, &key).await;
    assert_eq!(stored["single_parent"], true);
    assert_eq!(tag_now, after_first, "the PATCH answer's tag is the GET's");
    // Having read it again, the write applies.
    let (status, _, updated) = patch_if_match(&app, &path, &key, &tag_now, json!({ "single_parent": false })).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["single_parent"], false);
    // Without If-Match a PATCH applies to what is stored, as before.
    let (status, _) = app.patch(&path, &key, json!({ "single_parent": true })).await;
    assert_eq!(status, StatusCode::OK);
}

#[actix_web::test]
async fn the_same_read_gives_the_same_tag() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("reader");
    let family = app.create_family(&key, json!({ "municipality_code": "131016" })).await;
    let path = format!("/v1/families/{family}");
    let (_, first) = get_with_tag(&app, &path, &key).await;
    let (_, second) = get_with_tag(&app, &path, &key).await;
    assert_eq!(first, second);
    assert!(first.starts_with('"') && first.ends_with('"'), "a strong tag: {first}");
}

/// A refused body is named as such whatever its tag: the tag is checked after the change is
/// validated, and a stale one rolls the change back.
#[actix_web::test]
async fn a_refused_body_is_named_before_a_stale_tag() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("two writers");
    let family = app.create_family(&key, json!({ "municipality_code": "131016" })).await;
    let path = format!("/v1/families/{family}");
    let (status, _, error) = patch_if_match(&app, &path, &key, "\"stale\"", json!({ "address": "" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert!(error["fields"]["address"].is_string(), "{error}");
    let (status, _, _) = patch_if_match(&app, &path, &key, "\"stale\"", json!({ "single_parent": true })).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    let (stored, _) = get_with_tag(&app, &path, &key).await;
    assert_eq!(stored["single_parent"], false, "rolled back: {stored}");
}
