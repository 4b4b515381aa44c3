//! Every validation rule is refused with a 4xx naming the field, and a refused change
//! leaves what was stored untouched.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{tokyo_day, web_push_device, TestApp};

const UNPROCESSABLE: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;
const BAD_REQUEST: StatusCode = StatusCode::BAD_REQUEST;

fn family(extra: Value) -> Value {
    let mut body = json!({ "municipality_code": "131016" });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    body
}

#[actix_web::test]
async fn each_bad_family_field_is_named() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("validator");
    let cases: Vec<(Value, StatusCode, &str, &str)> = vec![
        // Six digits match the documented pattern: what else is wrong is a rule beyond it (422).
        (json!({ "municipality_code": "131017" }), UNPROCESSABLE, "municipality_code", "check digit"),
        (json!({ "municipality_code": "13101" }), BAD_REQUEST, "municipality_code", "131016"),
        (json!({ "municipality_code": "991001" }), UNPROCESSABLE, "municipality_code", "prefecture"),
        (json!({ "municipality_code": " 131016" }), BAD_REQUEST, "municipality_code", "6-digit"),
        (json!({}), BAD_REQUEST, "municipality_code", "missing"),
        (family(json!({ "postal_code": "100-001" })), BAD_REQUEST, "postal_code", "7 digits"),
        (family(json!({ "preferred_language": "japanese" })), BAD_REQUEST, "preferred_language", "BCP 47"),
        (family(json!({ "quiet_hours": { "start": "24:00", "end": "07:00" } })), BAD_REQUEST, "quiet_hours", "HH:MM"),
        (family(json!({ "quiet_hours": { "start": "7:00", "end": "09:00" } })), BAD_REQUEST, "quiet_hours", "HH:MM"),
        (
            family(json!({ "quiet_hours": { "start": "07:00", "end": "07:00" } })),
            UNPROCESSABLE,
            "quiet_hours",
            "differ",
        ),
        (family(json!({ "health_insurance": "kokuho" })), BAD_REQUEST, "health_insurance", "unknown variant"),
        (family(json!({ "adress": "typo" })), BAD_REQUEST, "adress", "unknown field"),
        (family(json!({ "address": "  " })), UNPROCESSABLE, "address", "empty"),
        (family(json!({ "address": "千代田1-1 1234 5678 9018" })), UNPROCESSABLE, "address", "マイナンバー"),
        (
            family(json!({ "guardians": [{ "relationship": "mother", "full_name": "" }] })),
            UNPROCESSABLE,
            "guardians[0].full_name",
            "empty",
        ),
        (
            family(
                json!({ "guardians": [{ "relationship": "mother", "full_name": "山田 花子", "full_name_kana": "山田" }] }),
            ),
            UNPROCESSABLE,
            "guardians[0].full_name_kana",
            "katakana",
        ),
        (
            family(json!({ "guardians": [{ "relationship": "mother", "full_name": "山田 花子", "phone": "12345" }] })),
            UNPROCESSABLE,
            "guardians[0].phone",
            "phone",
        ),
        (
            family(json!({ "guardians": [{ "relationship": "aunt", "full_name": "山田 花子" }] })),
            BAD_REQUEST,
            "guardians[0].relationship",
            "unknown variant",
        ),
        (
            family(
                json!({ "guardians": [{ "relationship": "mother", "full_name": "山田 花子", "birth_date": tokyo_day(-365) }] }),
            ),
            UNPROCESSABLE,
            "guardians[0].birth_date",
            "between 10 and 120",
        ),
        (
            family(json!({ "children": [{ "status": "born", "birth_date": "2026-02-30" }] })),
            BAD_REQUEST,
            "children[0].birth_date",
            "a date that exists",
        ),
        (
            family(json!({ "children": [{ "status": "born", "birth_date": tokyo_day(1) }] })),
            UNPROCESSABLE,
            "children[0].birth_date",
            "future",
        ),
        (
            family(json!({ "children": [{ "status": "born" }] })),
            UNPROCESSABLE,
            "children[0].birth_date",
            "needs a birth date",
        ),
        (
            family(
                json!({ "children": [{ "status": "born", "birth_date": tokyo_day(-3), "birth_weight_grams": 25 }] }),
            ),
            UNPROCESSABLE,
            "children[0].birth_weight_grams",
            "grams",
        ),
        (
            family(json!({ "children": [{ "status": "expected", "due_date": tokyo_day(365 * 20) }] })),
            UNPROCESSABLE,
            "children[0].due_date",
            "between",
        ),
        (
            family(json!({ "children": [{ "status": "expected" }] })),
            UNPROCESSABLE,
            "children[0].due_date",
            "needs a due date",
        ),
        (
            family(
                json!({ "children": [{ "status": "expected", "due_date": tokyo_day(100), "birth_date": tokyo_day(-1) }] }),
            ),
            UNPROCESSABLE,
            "children[0].birth_date",
            "birth event",
        ),
    ];
    for (body, status, field, needle) in cases {
        let (got, error) = app.post("/v1/families", &key, body.clone()).await;
        assert_eq!(got, status, "{body} → {error}");
        let problem =
            error["fields"][field].as_str().unwrap_or_else(|| panic!("{field} not named for {body}: {error}"));
        assert!(problem.contains(needle), "{field}: '{problem}' lacks '{needle}'");
        assert!(error["error"] == "invalid_body" || error["error"] == "validation_failed", "{error}");
    }
    // Nothing was stored by any of the refused requests.
    let (_, page) = app.get("/v1/families", &key).await;
    assert_eq!(page["items"], json!([]));
}

#[actix_web::test]
async fn several_bad_fields_are_all_named_at_once() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("validator");
    let body = family(json!({
        "address": "",
        "guardians": [{ "relationship": "mother", "full_name": "" }],
        "children": [{ "status": "born", "birth_date": tokyo_day(2) }]
    }));
    let (status, error) = app.post("/v1/families", &key, body).await;
    assert_eq!(status, UNPROCESSABLE);
    let named: Vec<&String> = error["fields"].as_object().expect("fields").keys().collect();
    assert_eq!(named, ["address", "children[0].birth_date", "guardians[0].full_name"]);
}

/// README promises each offending field: a wrong check digit (found while reading the body)
/// does not hide the guardian's empty name or the child's future birth (found by the rules).
#[actix_web::test]
async fn a_wrong_check_digit_and_the_other_rules_are_named_in_one_answer() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("validator");
    let body = json!({
        "municipality_code": "131017",
        "quiet_hours": { "start": "21:00", "end": "21:00" },
        "guardians": [{ "relationship": "mother", "full_name": "" }],
        "children": [{ "status": "born", "birth_date": tokyo_day(2) }]
    });
    let (status, error) = app.post("/v1/families", &key, body).await;
    assert_eq!(status, UNPROCESSABLE, "{error}");
    assert_eq!(error["error"], "validation_failed");
    let named: Vec<&String> = error["fields"].as_object().expect("fields").keys().collect();
    assert_eq!(named, ["children[0].birth_date", "guardians[0].full_name", "municipality_code", "quiet_hours"]);
    assert!(error["fields"]["municipality_code"].as_str().expect("problem").contains("131016"), "{error}");
    let (_, page) = app.get("/v1/families", &key).await;
    assert_eq!(page["items"], json!([]), "nothing stored");
}

/// A body that is not what the document describes names every field that is not, at any
/// depth and of any kind (unknown, missing, of the wrong type, not a date), in one 400.
#[actix_web::test]
async fn every_field_unlike_the_document_is_named_in_one_400() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("validator");
    let body = json!({
        "municipality_code": "131016",
        "colour": "blue",
        "single_parent": "yes",
        "guardians": [{ "relationship": "aunt", "full_name": "山田 花子" }],
        "children": [{ "status": "born", "birth_date": "2026-02-30" }, { "status": "unborn" }]
    });
    let (status, error) = app.post("/v1/families", &key, body).await;
    assert_eq!(status, BAD_REQUEST, "{error}");
    assert_eq!(error["error"], "invalid_body");
    let named: Vec<&String> = error["fields"].as_object().expect("fields").keys().collect();
    assert_eq!(
        named,
        ["children[0].birth_date", "children[1].status", "colour", "guardians[0].relationship", "single_parent"]
    );
}

#[actix_web::test]
async fn bad_devices_are_refused_with_the_part_named() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("validator");
    let id = app.create_family(&key, family(json!({}))).await;
    let mut short_key = web_push_device("https://fcm.googleapis.com/fcm/send/x");
    short_key["keys"]["p256dh"] = json!("BAAA");
    let mut short_auth = web_push_device("https://fcm.googleapis.com/fcm/send/x");
    short_auth["keys"]["auth"] = json!("AAAA");
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (short_key, UNPROCESSABLE, "keys.p256dh"),
        (short_auth, UNPROCESSABLE, "keys.auth"),
        (web_push_device("http://push.example.com/x"), UNPROCESSABLE, "endpoint"),
        (web_push_device("not a url"), UNPROCESSABLE, "endpoint"),
        (json!({ "kind": "apns", "token": "xyz" }), UNPROCESSABLE, "token"),
        (json!({ "kind": "apns", "token": "ab".repeat(32), "environment": "staging" }), BAD_REQUEST, "environment"),
        (json!({ "kind": "fcm", "token": "tiny" }), UNPROCESSABLE, "token"),
        (json!({ "kind": "pager", "token": "x" }), BAD_REQUEST, "kind"),
    ];
    for (body, status, field) in cases {
        let (got, error) = app.post(&format!("/v1/families/{id}/devices"), &key, body.clone()).await;
        assert_eq!(got, status, "{body} → {error}");
        assert!(error["fields"][field].is_string(), "{field} not named for {body}: {error}");
    }
    let (_, devices) = app.get(&format!("/v1/families/{id}/devices"), &key).await;
    assert_eq!(devices, json!([]));
}

#[actix_web::test]
async fn a_refused_update_changes_nothing() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("validator");
    let id = app
        .create_family(
            &key,
            family(json!({
                "postal_code": "100-0001",
                "address": "千代田1-1",
                "guardians": [{ "relationship": "mother", "full_name": "山田 花子", "phone": "0312345678" }],
                "children": [{ "status": "born", "birth_date": tokyo_day(-30), "birth_weight_grams": 2900 }]
            })),
        )
        .await;
    let (_, before) = app.get(&format!("/v1/families/{id}"), &key).await;

    // One good field and one bad one: neither is applied.
    let (status, error) =
        app.patch(&format!("/v1/families/{id}"), &key, json!({ "postal_code": "150-0002", "address": "" })).await;
    assert_eq!(status, UNPROCESSABLE, "{error}");
    assert_eq!(error["fields"]["address"].as_str().map(|s| s.contains("empty")), Some(true));
    let (status, error) =
        app.patch(&format!("/v1/families/{id}"), &key, json!({ "municipality_code": "131130" })).await;
    assert_eq!(status, UNPROCESSABLE);
    assert!(error["fields"]["municipality_code"].as_str().is_some_and(|s| s.contains("moved")));
    let (status, _) =
        app.patch(&format!("/v1/families/{id}"), &key, json!({ "quiet_hours": { "start": "9", "end": "x" } })).await;
    assert_eq!(status, BAD_REQUEST);

    let guardian_id = before["guardians"][0]["id"].as_str().expect("guardian");
    let (status, error) = app
        .patch(
            &format!("/v1/families/{id}/guardians/{guardian_id}"),
            &key,
            json!({ "full_name": "山田 春子", "phone": "999" }),
        )
        .await;
    assert_eq!(status, UNPROCESSABLE);
    assert!(error["fields"]["phone"].is_string());

    let child_id = before["children"][0]["id"].as_str().expect("child");
    let (status, error) = app
        .patch(&format!("/v1/families/{id}/children/{child_id}"), &key, json!({ "birth_weight_grams": 99999 }))
        .await;
    assert_eq!(status, UNPROCESSABLE);
    assert!(error["fields"]["birth_weight_grams"].is_string());
    let (status, error) =
        app.patch(&format!("/v1/families/{id}/children/{child_id}"), &key, json!({ "status": "expected" })).await;
    assert_eq!(status, UNPROCESSABLE);
    assert!(error["fields"]["status"].is_string());

    let (_, after) = app.get(&format!("/v1/families/{id}"), &key).await;
    assert_eq!(before, after);
}

#[actix_web::test]
async fn bodies_that_are_not_json_are_refused_clearly() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("validator");
    let response = app
        .client
        .post(format!("{}/v1/families", app.base))
        .bearer_auth(&key)
        .header("content-type", "text/plain")
        .body("municipality_code=131016")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "unsupported_media_type");
    // A compressed body is refused before anything is decompressed.
    let response = app
        .client
        .post(format!("{}/v1/families", app.base))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(vec![0x1f, 0x8b, 0x08, 0x00])
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let response = app
        .client
        .post(format!("{}/v1/families", app.base))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{\"municipality_code\": ")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), BAD_REQUEST);
    let body: Value = response.json().await.expect("json");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("not valid JSON")), "{body}");
}

#[actix_web::test]
async fn a_whole_number_written_with_a_fraction_is_the_integer_it_is() {
    // JSON Schema counts 2980.0 as an integer, and so do JavaScript and Python clients.
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("validator");
    let (status, family) = app.post("/v1/families", &key, family_with_weight(2980.0)).await;
    assert_eq!(status, StatusCode::CREATED, "{family}");
    assert_eq!(family["children"][0]["birth_weight_grams"], 2980);
    // A fraction is still refused, naming the field.
    let (status, error) = app.post("/v1/families", &key, family_with_weight(2980.5)).await;
    assert_eq!(status, BAD_REQUEST, "{error}");
    assert!(error["fields"]["children[0].birth_weight_grams"].is_string(), "{error}");
}

fn family_with_weight(grams: f64) -> Value {
    family(
        json!({ "consents": ["health_information"], "children": [{ "status": "born", "birth_date": tokyo_day(-3), "birth_weight_grams": grams }] }),
    )
}

#[actix_web::test]
async fn a_body_that_is_not_an_object_is_refused() {
    // serde would read a struct from an array of its fields; the API takes objects only.
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("validator");
    let (status, family) = app.post("/v1/families", &key, family(json!({}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = family["id"].as_str().expect("id");
    let (status, error) = app.post("/v1/families", &key, json!(["131016"])).await;
    assert_eq!(status, BAD_REQUEST, "{error}");
    assert!(error["fields"]["body"].as_str().is_some_and(|p| p.contains("expected an object")), "{error}");
    let guardian = json!({ "relationship": "mother", "full_name": "山田 花子" });
    let (_, guardian) = app.post(&format!("/v1/families/{id}/guardians"), &key, guardian).await;
    let path = format!("/v1/families/{id}/guardians/{}", guardian["id"].as_str().expect("id"));
    let (status, error) = app.call(reqwest::Method::PATCH, &path, Some(&key), Some(json!([null, null]))).await;
    assert_eq!(status, BAD_REQUEST, "{error}");
    // Nor a struct inside the body: quiet hours are an object, not a pair.
    let pair = json!({ "quiet_hours": ["20:00", "09:00"] });
    let (status, error) = app.call(reqwest::Method::PATCH, &format!("/v1/families/{id}"), Some(&key), Some(pair)).await;
    assert_eq!(status, BAD_REQUEST, "{error}");
    assert!(error["fields"]["quiet_hours"].is_string(), "{error}");
}

#[actix_web::test]
async fn a_field_given_twice_is_refused_not_the_last_one_taken() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("validator");
    let send = |body: &'static str| {
        app.client
            .post(format!("{}/v1/families", app.base))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    // The second code would have placed the family in Osaka while a reader of the first saw Chiyoda.
    let response = send(r#"{"municipality_code":"131016","municipality_code":"271004"}"#).await.expect("sent");
    assert_eq!(response.status(), BAD_REQUEST);
    let error: Value = response.json().await.expect("json");
    assert_eq!(error["error"], "invalid_body", "{error}");
    assert!(error["fields"]["municipality_code"].as_str().is_some_and(|p| p.contains("more than once")), "{error}");
    // At any depth, named by its path.
    let nested = r#"{"municipality_code":"131016","guardians":[{"relationship":"mother","full_name":"山田 花子","full_name":"佐藤 花子"}]}"#;
    let error: Value = send(nested).await.expect("sent").json().await.expect("json");
    assert!(error["fields"]["guardians[0].full_name"].is_string(), "{error}");
    let (_, families) = app.get("/v1/families", &key).await;
    assert_eq!(families["items"], json!([]), "nothing stored");
}

#[actix_web::test]
async fn texts_people_read_refuse_nul_and_bidirectional_controls() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("validator");
    // U+202E and its kin show a text in another order than it is stored (a name, an address, a
    // title that reads as another); NUL cuts a text short in programs downstream.
    let body = family(json!({
        "address": "千代田1-1\u{202E}3-2",
        "guardians": [{ "relationship": "mother", "full_name": "山田\u{202E}花子" },
                      { "relationship": "father", "full_name": "山田\u{2067}太郎" }],
    }));
    let (status, error) = app.post("/v1/families", &key, body).await;
    assert_eq!(status, UNPROCESSABLE, "{error}");
    for field in ["address", "guardians[0].full_name", "guardians[1].full_name"] {
        assert!(error["fields"][field].as_str().is_some_and(|p| p.contains("bidirectional")), "{field}: {error}");
    }

    // A notice: its title, its body (lines and tabs are fine; NUL is not), a link's title and
    // the questionnaire's texts, each named.
    let staff = app.create_staff("131016");
    let notice = json!({
        "category": "event",
        "texts": { "ja": { "title": "健診\u{202E}のご案内", "body": "一行目\n\t二行目\u{0}" } },
        "links": [{ "title": "日程表\u{202D}", "url": "https://www.city.chiyoda.lg.jp/kenshin.pdf" }],
        "questionnaire": { "question": "参加しますか\u{2066}", "kind": "single", "choices": ["参加する", "参加\u{0}しない"], "free_text": false },
        "audience": {}
    });
    let (status, error) = app.post("/v1/municipalities/131016/notices", &staff, notice).await;
    assert_eq!(status, UNPROCESSABLE, "{error}");
    for field in
        ["texts.ja.title", "texts.ja.body", "links[0].title", "questionnaire.question", "questionnaire.choices[1]"]
    {
        assert!(error["fields"][field].is_string(), "{field}: {error}");
    }
    let fine = json!({
        "category": "event",
        "texts": { "ja": { "title": "健診のご案内", "body": "一行目\r\n\t二行目" } },
        "audience": {}
    });
    let (status, created) = app.post("/v1/municipalities/131016/notices", &staff, fine).await;
    assert_eq!(status, StatusCode::CREATED, "line breaks and tabs are a body's own: {created}");
}
