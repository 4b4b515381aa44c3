//! The whole family lifecycle through the API.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{tokyo_day, web_push_device, TestApp};

#[actix_web::test]
async fn a_family_is_registered_read_corrected_and_deleted() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("すくすくアプリ");

    let (status, family) = app
        .post(
            "/v1/families",
            &key,
            json!({
                "municipality_code": "131016",
                "postal_code": "1000001",
                "address": "千代田1-1-1 ノンストップハイツ101",
                "preferred_language": "ja",
                "health_insurance": "national",
                "guardians": [{
                    "relationship": "mother",
                    "full_name": "山田 花子",
                    "full_name_kana": "ヤマダ ハナコ",
                    "birth_date": "1994-05-06",
                    "phone": "090-1234-5678"
                }],
                "children": [{ "status": "expected", "due_date": tokyo_day(120) }]
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{family}");
    let id = family["id"].as_str().expect("id").to_owned();
    assert_eq!(family["postal_code"], "100-0001");
    assert_eq!(family["quiet_hours"], json!({ "start": "20:00", "end": "09:00" }));
    assert_eq!(family["single_parent"], false);
    assert_eq!(family["guardians"][0]["full_name"], "山田 花子");
    assert_eq!(family["guardians"][0]["phone"], "09012345678");
    assert_eq!(family["children"][0]["status"], "expected");

    // Read back what was stored (and opened from its sealed form).
    let (status, read) = app.get(&format!("/v1/families/{id}"), &key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["address"], "千代田1-1-1 ノンストップハイツ101");
    assert_eq!(read["guardians"][0]["full_name_kana"], "ヤマダ ハナコ");

    // Correct the profile: quiet hours, language, clear the address.
    let (status, patched) = app
        .patch(
            &format!("/v1/families/{id}"),
            &key,
            json!({ "quiet_hours": { "start": "21:30", "end": "07:00" }, "preferred_language": "pt-br", "address": null }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["quiet_hours"], json!({ "start": "21:30", "end": "07:00" }));
    assert_eq!(patched["preferred_language"], "pt-BR");
    assert_eq!(patched["address"], json!(null));
    assert_eq!(patched["postal_code"], "100-0001", "fields left out keep their value");

    // A second guardian, corrected and removed.
    let (status, father) = app
        .post(
            &format!("/v1/families/{id}/guardians"),
            &key,
            json!({ "relationship": "father", "full_name": "山田 太郎" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{father}");
    let father_id = father["id"].as_str().expect("id");
    let (status, father) = app
        .patch(&format!("/v1/families/{id}/guardians/{father_id}"), &key, json!({ "full_name_kana": "やまだ たろう" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{father}");
    assert_eq!(father["full_name"], "山田 太郎");
    assert_eq!(father["full_name_kana"], "やまだ たろう");
    let (status, _) = app.delete(&format!("/v1/families/{id}/guardians/{father_id}"), &key).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // A born sibling, corrected. Its birth weight is health information: kept only once the
    // parent consented (個人情報保護法 第20条第2項), and refused before, storing nothing.
    let sibling_body = json!({ "status": "born", "birth_date": "2024-02-29", "birth_weight_grams": 3120, "full_name": "山田 一郎", "sex": "male" });
    let children_path = format!("/v1/families/{id}/children");
    let (status, refused) = app.post(&children_path, &key, sibling_body.clone()).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (StatusCode::CONFLICT, Some("health_information_consent_required")),
        "{refused}"
    );
    assert!(refused["message"].as_str().is_some_and(|m| m.contains("birth_weight_grams")), "{refused}");
    let (_, unchanged) = app.get(&format!("/v1/families/{id}"), &key).await;
    assert_eq!(unchanged["children"].as_array().map(Vec::len), Some(1), "nothing stored");
    let (status, _) =
        app.post(&format!("/v1/families/{id}/consents"), &key, json!({ "purpose": "health_information" })).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, sibling) = app.post(&children_path, &key, sibling_body).await;
    assert_eq!(status, StatusCode::CREATED, "{sibling}");
    let sibling_id = sibling["id"].as_str().expect("id");
    let (status, sibling) = app
        .patch(
            &format!("/v1/families/{id}/children/{sibling_id}"),
            &key,
            json!({ "full_name_kana": "ヤマダ イチロウ" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sibling}");
    assert_eq!(sibling["birth_weight_grams"], 3120);

    // A child registered by mistake is removed, and nothing is left to do for it.
    let mistake = json!({ "status": "born", "birth_date": "2025-06-01", "full_name": "山田 誤登録" });
    let (status, mistake) = app.post(&format!("/v1/families/{id}/children"), &key, mistake).await;
    assert_eq!(status, StatusCode::CREATED, "{mistake}");
    let mistake_id = mistake["id"].as_str().expect("id");
    let (_, tasks) = app.get(&format!("/v1/families/{id}/tasks"), &key).await;
    assert!(tasks.as_array().expect("tasks").iter().any(|t| t["child_id"] == mistake_id), "{tasks}");
    let (status, _) = app.delete(&format!("/v1/families/{id}/children/{mistake_id}"), &key).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, family) = app.get(&format!("/v1/families/{id}"), &key).await;
    assert!(family["children"].as_array().expect("children").iter().all(|c| c["id"] != mistake_id));
    let (_, tasks) = app.get(&format!("/v1/families/{id}/tasks"), &key).await;
    let left = tasks.as_array().expect("tasks").iter().filter(|t| t["child_id"] == mistake_id && t["state"] == "open");
    assert_eq!(left.count(), 0, "{tasks}");

    // Devices of each kind; the same token twice is one device.
    let web = web_push_device("https://fcm.googleapis.com/fcm/send/abc123");
    let (status, device) = app.post(&format!("/v1/families/{id}/devices"), &key, web.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{device}");
    assert_eq!(device["push_service"], "fcm.googleapis.com");
    assert!(device.get("endpoint").is_none() && device.get("token").is_none(), "tokens are never shown: {device}");
    let (status, again) = app.post(&format!("/v1/families/{id}/devices"), &key, web).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["id"], device["id"]);
    let apns = json!({ "kind": "apns", "token": "ab".repeat(32), "environment": "sandbox" });
    let (status, apns) = app.post(&format!("/v1/families/{id}/devices"), &key, apns).await;
    assert_eq!(status, StatusCode::CREATED, "{apns}");
    assert_eq!(apns["apns_environment"], "sandbox");
    let fcm = json!({ "kind": "fcm", "token": "dGVzdA:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx" });
    let (status, _) = app.post(&format!("/v1/families/{id}/devices"), &key, fcm).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, devices) = app.get(&format!("/v1/families/{id}/devices"), &key).await;
    assert_eq!(devices.as_array().map(Vec::len), Some(3));
    let apns_id = apns["id"].as_str().expect("id");
    let (status, _) = app.delete(&format!("/v1/families/{id}/devices/{apns_id}"), &key).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, devices) = app.get(&format!("/v1/families/{id}/devices"), &key).await;
    assert_eq!(devices.as_array().map(Vec::len), Some(2));

    // The vendor lists its families.
    let (status, page) = app.get("/v1/families?limit=10", &key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["next_after"], json!(null));

    // Deleting the family deletes everything about it.
    let (status, _) = app.delete(&format!("/v1/families/{id}"), &key).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.get(&format!("/v1/families/{id}"), &key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
}

#[actix_web::test]
async fn families_are_listed_in_pages() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("pager");
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.create_family(&key, json!({ "municipality_code": "141003" })).await);
    }
    let (_, first) = app.get("/v1/families?limit=2", &key).await;
    let after = first["next_after"].as_str().expect("more pages");
    let (_, second) = app.get(&format!("/v1/families?limit=2&after={after}"), &key).await;
    let (_, third) =
        app.get(&format!("/v1/families?limit=2&after={}", second["next_after"].as_str().expect("more")), &key).await;
    let seen: Vec<&str> = [&first, &second, &third]
        .iter()
        .flat_map(|page| page["items"].as_array().expect("items").iter().map(|f| f["id"].as_str().expect("id")))
        .collect();
    assert_eq!(seen, ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(third["next_after"], json!(null));
    let (status, body) = app.get("/v1/families?limit=0", &key).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a bound the document states: {body}");
    assert!(body["fields"]["limit"].is_string());
}

#[actix_web::test]
async fn a_parent_session_reads_and_updates_its_family() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let id = app.create_family(&key, json!({ "municipality_code": "131016" })).await;
    let (status, session) = app.post(&format!("/v1/families/{id}/sessions"), &key, json!({ "ttl_seconds": 600 })).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let token = session["token"].as_str().expect("token");
    assert!(token.starts_with("nsp_"));

    let (status, who) = app.get("/v1/whoami", token).await;
    assert_eq!(
        (status, who["role"].as_str(), who["family_id"].as_str()),
        (StatusCode::OK, Some("parent"), Some(id.as_str()))
    );
    let (status, _) = app.get(&format!("/v1/families/{id}"), token).await;
    assert_eq!(status, StatusCode::OK);
    let (status, device) = app
        .post(&format!("/v1/families/{id}/devices"), token, web_push_device("https://web.push.apple.com/QGuAb"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{device}");
    let (status, _) = app.patch(&format!("/v1/families/{id}"), token, json!({ "single_parent": true })).await;
    assert_eq!(status, StatusCode::OK);
}

#[actix_web::test]
async fn a_family_registered_a_week_after_the_birth_finds_its_drafts_at_once() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family = app
        .create_family(
            &key,
            json!({ "municipality_code": "131016", "health_insurance": "national",
                    "guardians": [{ "relationship": "mother", "full_name": "山田 花子", "birth_date": "1990-04-01" }],
                    "children": [{ "status": "born", "birth_date": crate::helpers::tokyo_day(-7), "birth_weight_grams": 3000,
                                   "full_name": "山田 さくら" }] }),
        )
        .await;
    // No later write: the windows opened at the birth, so the drafts are there.
    let (status, drafts) = app.get(&format!("/v1/families/{family}/drafts"), &key).await;
    assert_eq!(status, StatusCode::OK, "{drafts}");
    let forms: Vec<&str> = drafts.as_array().expect("drafts").iter().filter_map(|d| d["form_id"].as_str()).collect();
    assert!(forms.contains(&"child_allowance_claim") && forms.contains(&"birth_registration"), "{forms:?}");
}
