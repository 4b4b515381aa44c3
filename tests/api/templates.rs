//! Template previews: what a parent would see, for vendors and municipal staff.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;

#[actix_web::test]
async fn vendors_and_staff_preview_what_a_parent_would_see() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let staff = app.create_staff("131016");
    let path = "/v1/templates/reminder_birth_registration/preview";
    let variables = json!({ "opens_on": "2026-11-20", "due": "2026-12-01", "days_left": 3, "online": false });

    let (status, ja) = app.post(path, &key, json!({ "language": "ja", "variables": variables })).await;
    assert_eq!(status, StatusCode::OK, "{ja}");
    assert_eq!(ja["title"], "出生届：期限まであと3日");
    assert!(ja["body"].as_str().is_some_and(|b| b.contains("令和8年12月1日（火）")));
    assert_eq!(ja["language"], "ja");

    let (_, vi) = app.post(path, &staff, json!({ "language": "vi", "variables": variables })).await;
    assert_eq!(vi["language"], "vi");
    assert!(vi["body"].as_str().is_some_and(|b| b.contains("Thứ Ba, 01/12/2026")), "{vi}");
    let (_, french) = app.post(path, &key, json!({ "language": "fr", "variables": variables })).await;
    assert_eq!(french["language"], "ja-x-easy", "やさしい日本語 where the template lacks the language");

    let (status, error) = app
        .post(
            path,
            &key,
            json!({ "language": "ja", "variables": { "due": "2026-12-01", "days_left": 3, "child": "x" } }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error["fields"]["variables.opens_on"].as_str().is_some_and(|p| p.contains("missing")), "{error}");
    assert!(error["fields"]["variables.child"].as_str().is_some_and(|p| p.contains("unknown")), "{error}");
    let (status, error) = app
        .post(
            path,
            &key,
            json!({ "language": "ja", "variables": { "opens_on": "2026-11-20", "due": "12/1", "days_left": 3, "online": false } }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error["fields"]["variables.due"].as_str().is_some_and(|p| p.contains("YYYY-MM-DD")), "{error}");

    let (status, _) =
        app.post("/v1/templates/no_such_template/preview", &key, json!({ "language": "ja", "variables": {} })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let family = app.create_family(&key, json!({ "municipality_code": "131016" })).await;
    let (_, session) = app.post(&format!("/v1/families/{family}/sessions"), &key, json!({})).await;
    let (status, _) = app
        .post(path, session["token"].as_str().expect("token"), json!({ "language": "ja", "variables": variables }))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
