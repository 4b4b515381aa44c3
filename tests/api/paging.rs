//! One way to page: every list that can grow takes `cursor` and answers `next_cursor` (issue 31).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;

#[actix_web::test]
async fn families_page_with_cursor_and_next_cursor_oldest_first() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("pager");
    let mut made = Vec::new();
    for _ in 0..3 {
        made.push(app.create_family(&key, json!({ "municipality_code": "131016" })).await);
    }
    made.sort();
    let (status, first) = app.get("/v1/families?limit=2", &key).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let cursor = first["next_cursor"].as_str().expect("a next page");
    assert_eq!(first["next_after"], first["next_cursor"], "the old name still works");
    let (_, second) = app.get(&format!("/v1/families?limit=2&cursor={cursor}"), &key).await;
    let ids: Vec<&str> = first["items"]
        .as_array()
        .into_iter()
        .chain(second["items"].as_array())
        .flatten()
        .map(|f| f["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, made, "every family once, in id order");
    // The last page says so with a null, present like every field of an answer.
    assert!(second.as_object().expect("page").contains_key("next_cursor"));
    assert!(second["next_cursor"].is_null());
    // A client written for `after` pages as before.
    let (_, legacy) = app.get(&format!("/v1/families?limit=2&after={cursor}"), &key).await;
    assert_eq!(legacy["items"], second["items"]);
}

#[test]
fn every_paged_list_speaks_cursor() {
    let document: serde_json::Value =
        serde_json::from_str(&nonstop::api::openapi().to_json().expect("json")).expect("parse");
    for (path, id) in [
        ("/v1/families", "list_families"),
        ("/v1/families/{family_id}/inbox", "list_inbox"),
        ("/v1/municipalities/{code}/audit", "list_audit_events"),
        ("/v1/municipalities/{code}/submissions", "list_municipal_submissions"),
        ("/v1/municipalities/{code}/notices", "list_notices"),
    ] {
        let operation = &document["paths"][path]["get"];
        assert_eq!(operation["operationId"], id);
        let parameters = operation["parameters"].as_array().expect("parameters");
        assert!(parameters.iter().any(|p| p["name"] == "cursor"), "{id} takes cursor");
        let limit = parameters.iter().find(|p| p["name"] == "limit").expect("a limit");
        assert_eq!(
            (limit["schema"]["minimum"].as_i64(), limit["schema"]["maximum"].as_i64()),
            (Some(1), Some(100)),
            "{id}"
        );
        let page = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .expect("a page schema");
        let schema = &document["components"]["schemas"][page];
        assert!(schema["required"].as_array().expect("required").contains(&json!("next_cursor")), "{page}");
    }
}

/// A municipality's notices page newest first, each once, with the cursor of the last one seen.
#[actix_web::test]
async fn notices_page_newest_first_each_once() {
    let app = TestApp::spawn().await;
    let (_, author) = app.create_staff_key("131016", false);
    let mut made = Vec::new();
    for title in ["一", "二", "三"] {
        let body =
            json!({ "category": "event", "audience": {}, "texts": { "ja": { "title": title, "body": "本文" } } });
        let (status, notice) = app.post("/v1/municipalities/131016/notices", &author, body).await;
        assert_eq!(status, StatusCode::CREATED, "{notice}");
        made.push(notice["id"].as_str().expect("id").to_owned());
    }
    made.reverse();
    let (_, first) = app.get("/v1/municipalities/131016/notices?limit=2", &author).await;
    let cursor = first["next_cursor"].as_str().expect("another page");
    let (_, second) = app.get(&format!("/v1/municipalities/131016/notices?limit=2&cursor={cursor}"), &author).await;
    assert!(second["next_cursor"].is_null(), "{second}");
    let ids: Vec<&str> = first["items"]
        .as_array()
        .into_iter()
        .chain(second["items"].as_array())
        .flatten()
        .map(|n| n["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, made);
}
