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
        ("/v1/families/{family_id}/submissions", "list_family_submissions"),
        ("/v1/families/{family_id}/consents", "list_consents"),
        ("/v1/municipalities/{code}/notices/{notice_id}/replies", "list_notice_replies"),
        ("/v1/municipalities/{code}/staff-keys", "list_staff_keys"),
        ("/v1/app/keys", "list_app_keys"),
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

/// A list answered as a bare array is one that cannot grow without bound, and says so: each
/// such operation states its bound in its description.
#[test]
fn every_unpaged_list_states_its_bound() {
    let document: serde_json::Value =
        serde_json::from_str(&nonstop::api::openapi().to_json().expect("json")).expect("parse");
    let mut unpaged = Vec::new();
    for item in document["paths"].as_object().expect("paths").values() {
        let operation = &item["get"];
        if operation["responses"]["200"]["content"]["application/json"]["schema"]["type"] != "array" {
            continue;
        }
        let id = operation["operationId"].as_str().expect("operationId");
        let description = operation["description"].as_str().unwrap_or("");
        if !description.starts_with("Bounded, so not paged: ") {
            unpaged.push(id.to_owned());
        }
    }
    assert_eq!(unpaged, Vec::<String>::new(), "lists that neither page nor state their bound");
}

/// The ids of every item of a list, read two at a time from the first page to the last, and how
/// many pages it took; each page but the last says where the next begins.
async fn read_pages(app: &TestApp, path: &str, key: &str, id: &str) -> (Vec<String>, usize) {
    let join = if path.contains('?') { '&' } else { '?' };
    let (mut ids, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
    loop {
        let url = match &cursor {
            Some(cursor) => format!("{path}{join}limit=2&cursor={cursor}"),
            None => format!("{path}{join}limit=2"),
        };
        let (status, page) = app.get(&url, key).await;
        assert_eq!(status, StatusCode::OK, "{url}: {page}");
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 2, "{url}: more than the limit");
        ids.extend(items.iter().map(|item| item[id].as_str().expect("id").to_owned()));
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => {
                assert!(page.as_object().expect("page").contains_key("next_cursor"), "{url}: next_cursor present");
                return (ids, pages);
            }
        }
    }
}

/// A municipality's staff keys page newest first, each once.
#[actix_web::test]
async fn staff_keys_page_newest_first_each_once() {
    let app = TestApp::spawn().await;
    let (admin_id, admin) = app.create_staff_key("131016", true);
    let mut made = vec![admin_id];
    for _ in 0..2 {
        made.push(app.create_staff_key("131016", false).0);
    }
    app.create_staff_key("131130", false);
    made.reverse();
    let (ids, pages) = read_pages(&app, "/v1/municipalities/131016/staff-keys", &admin, "staff_id").await;
    assert_eq!((ids, pages), (made, 2), "newest first, only this municipality's");
}

/// An app's keys page oldest first: revoked keys stay listed, so rotations make the list grow.
#[actix_web::test]
async fn app_keys_page_oldest_first_with_the_revoked_ones() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("rotator");
    let (_, first) = app.get("/v1/app/keys", &key).await;
    let mut made = vec![first["items"][0]["key_id"].as_str().expect("the first key").to_owned()];
    for _ in 0..2 {
        let (status, created) = app.post("/v1/app/keys", &key, json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        made.push(created["key_id"].as_str().expect("key_id").to_owned());
    }
    let (status, _) = app.delete(&format!("/v1/app/keys/{}", made[1]), &key).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (ids, pages) = read_pages(&app, "/v1/app/keys", &key, "key_id").await;
    assert_eq!((ids, pages), (made, 2), "oldest first, the revoked one included");
}

/// A family's consents page oldest first: a consent given again after its withdrawal is another.
#[actix_web::test]
async fn consents_page_oldest_first_with_each_withdrawal_kept() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("consenting");
    let family = app.create_family(&key, json!({ "municipality_code": "131016" })).await;
    let consents = format!("/v1/families/{family}/consents");
    let mut made = Vec::new();
    for round in 0..3 {
        // (The test family was registered with this consent: the first answer is that one.)
        let (status, given) = app.post(&consents, &key, json!({ "purpose": "health_information" })).await;
        assert!(status.is_success(), "{given}");
        made.push(given["id"].as_str().expect("id").to_owned());
        if round < 2 {
            let (status, withdrawn) = app.delete(&format!("{consents}/health_information"), &key).await;
            assert_eq!(status, StatusCode::OK, "{withdrawn}");
        }
    }
    let (ids, pages) = read_pages(&app, &consents, &key, "id").await;
    assert_eq!((ids, pages), (made, 2));
}

/// Every list that pages takes a limit from 1 to 100 and names `limit` when refused.
#[actix_web::test]
async fn a_limit_outside_1_to_100_is_refused_by_name() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("limits");
    let (_, admin) = app.create_staff_key("131016", true);
    let family = app.create_family(&key, json!({ "municipality_code": "131016" })).await;
    let some_notice = "0190c2f0-0000-7000-8000-000000000000";
    for (path, caller) in [
        ("/v1/families".to_owned(), &key),
        (format!("/v1/families/{family}/inbox"), &key),
        (format!("/v1/families/{family}/submissions"), &key),
        (format!("/v1/families/{family}/consents"), &key),
        ("/v1/app/keys".to_owned(), &key),
        ("/v1/municipalities/131016/staff-keys".to_owned(), &admin),
        (format!("/v1/municipalities/131016/notices/{some_notice}/replies"), &admin),
        ("/v1/municipalities/131016/notices".to_owned(), &admin),
        ("/v1/municipalities/131016/submissions".to_owned(), &admin),
        ("/v1/municipalities/131016/audit".to_owned(), &admin),
    ] {
        for limit in [0, 101] {
            let (status, error) = app.get(&format!("{path}?limit={limit}"), caller).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}?limit={limit}: {error}");
            assert!(error["fields"]["limit"].is_string(), "{path}?limit={limit}: {error}");
        }
        let (status, page) = app.get(&format!("{path}?limit=100"), caller).await;
        assert!(status == StatusCode::OK || status == StatusCode::NOT_FOUND, "{path}?limit=100: {page}");
    }
}
