//! Drafts pre-filled from the profile, signed with a (test) マイナンバーカード, submitted to the
//! municipality, corrected and accepted: the whole path through the API.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::{assert_not_stored, tokyo_day, TestApp};
use crate::jpki_ca::{Card, Holder, TestCa};

pub const MOTHER: &str = "山田 花子";
pub const MOTHER_BORN: &str = "1990-04-01";
const ACCOUNT: &str = "7654321";

pub struct Setup {
    pub app: TestApp,
    pub ca: TestCa,
    pub key: String,
    pub family: String,
    _anchors: tempfile::TempDir,
}

/// An app trusting a test JPKI CA, and a family of 131016 (mother and father) whose child was
/// born two days ago.
pub async fn setup(weight: i32) -> Setup {
    let (app, ca, anchors) = app_trusting_a_test_ca().await;
    let (_, key) = app.create_app("vendor");
    let family = app
        .create_family(
            &key,
            json!({
                "municipality_code": "131016",
                "postal_code": "1000001",
                "address": "千代田1-1-1",
                "health_insurance": "national",
                "guardians": [
                    { "relationship": "mother", "full_name": MOTHER, "full_name_kana": "ヤマダ ハナコ", "birth_date": MOTHER_BORN, "phone": "090-1234-5678" },
                    { "relationship": "father", "full_name": "山田 太郎", "birth_date": "1988-08-08" }
                ]
            }),
        )
        .await;
    let (status, birth) = app
        .post(
            &format!("/v1/families/{family}/events"),
            &key,
            json!({ "type": "birth", "date": tokyo_day(-2), "birth_weight_grams": weight, "full_name": "山田 さくら", "sex": "female" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{birth}");
    Setup { app, ca, key, family, _anchors: anchors }
}

/// An app whose signature verifier trusts a fresh test JPKI CA (kept in the returned folder).
pub async fn app_trusting_a_test_ca() -> (TestApp, TestCa, tempfile::TempDir) {
    let ca = TestCa::new("JPKI", crate::helpers::pinned_instant());
    let anchors = tempfile::tempdir().expect("dir");
    let pem = anchors.path().join("root.pem");
    std::fs::write(&pem, ca.root_pem()).expect("write root");
    let app = TestApp::spawn_with(move |s| s.signatures.trust_anchor_files = vec![pem]).await;
    (app, ca, anchors)
}

pub fn field<'a>(draft: &'a Value, id: &str) -> &'a Value {
    draft["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no field {id}"))
}

pub async fn draft_of(s: &Setup, form: &str) -> Value {
    s.app.open_draft(&s.key, &s.family, form).await
}

pub fn signature_body(card: &Card, document: &str) -> Value {
    json!({ "signature": card.sign(document.as_bytes()), "certificate": card.certificate_base64() })
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[actix_web::test]
async fn birth_to_accepted_claim_through_a_correction_request() {
    let s = setup(3000).await;
    let (app, key, family) = (&s.app, &s.key, &s.family);
    let staff = app.create_staff("131016");
    let other_staff = app.create_staff("131130");

    // The birth opened the 児童手当 draft, pre-filled from the profile.
    let draft = draft_of(&s, "child_allowance_claim").await;
    assert_eq!(field(&draft, "child.name")["value"], "山田 さくら");
    assert_eq!(field(&draft, "child.name")["origin"], "profile");
    assert_eq!(field(&draft, "child.birth_date")["value"], json!(tokyo_day(-2)));
    assert_eq!(field(&draft, "applicant.name")["value"], MOTHER);
    assert_eq!(field(&draft, "applicant.address")["value"], "千代田1-1-1");
    assert_eq!(field(&draft, "applicant.relationship")["needs"], "check");
    assert_eq!(field(&draft, "applicant.individual_number")["needs"], "municipality");
    assert_eq!(field(&draft, "addressee")["value"], "千代田区長");
    let to_fill: Vec<&str> = draft["to_fill"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(
        to_fill.contains(&"payment.use_public_account") && to_fill.contains(&"consent.public_records"),
        "{to_fill:?}"
    );
    let path = format!("/v1/families/{family}/drafts/{}", draft["id"].as_str().unwrap());

    // A bad value is refused naming the field, and nothing changes.
    let (status, refused) = app
        .patch(&path, key, json!({ "values": { "payment.account_number": "12", "payment.bank_name": "123456789018", "filed_on": "2026-01-01" } }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["fields"]["values.payment.account_number"], "must be 7 digits");
    assert!(refused["fields"]["values.payment.bank_name"].as_str().unwrap().contains("individual number"));
    assert!(refused["fields"]["values.filed_on"].is_string());
    let (_, unchanged) = app.get(&path, key).await;
    assert_eq!(unchanged["fields"], draft["fields"]);

    // Confirming too early names what is missing.
    let (status, early) = app.post(&format!("{path}/confirm"), key, json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{early}");
    assert!(early["fields"]["values.payment.use_public_account"].is_string());

    // The parent adds the bank account, confirms and signs.
    let (status, patched) = app
        .patch(
            &path,
            key,
            json!({ "values": {
                "consent.public_records": true, "child.kana": "ヤマダ サクラ", "payment.use_public_account": false, "payment.bank_name": "ノンストップ銀行",
                "payment.bank_code": "0001", "payment.branch_name": "本店", "payment.branch_code": "001",
                "payment.account_number": ACCOUNT
            } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(field(&patched, "payment.account_number")["origin"], "parent");
    let (status, confirmed) = app.post(&format!("{path}/confirm"), key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    assert_eq!(confirmed["status"], "confirmed");
    let document = confirmed["confirmed"]["document"].as_str().unwrap().to_owned();
    assert_eq!(confirmed["confirmed"]["digest_sha256"], sha256_hex(&document));
    let parsed: Value = serde_json::from_str(&document).unwrap();
    assert_eq!(parsed["fields"]["payment.account_number"], ACCOUNT);
    assert_eq!(parsed["left_for_municipality"], json!(["applicant.individual_number", "child.individual_number"]));

    // Reopened before signing, corrected and confirmed again: the old document is gone.
    let (status, reopened) = app.post(&format!("{path}/reopen"), key, json!({})).await;
    assert_eq!((status, reopened["status"].as_str()), (StatusCode::OK, Some("open")), "{reopened}");
    assert!(reopened["confirmed"].is_null());
    let (status, _) = app.patch(&path, key, json!({ "values": { "payment.branch_name": "丸の内支店" } })).await;
    assert_eq!(status, StatusCode::OK);
    let old_document = document;
    let (_, confirmed) = app.post(&format!("{path}/confirm"), key, json!({})).await;
    let document = confirmed["confirmed"]["document"].as_str().unwrap().to_owned();
    assert_ne!(document, old_document);
    let early_card = s.ca.issue(&Holder::new(MOTHER, MOTHER_BORN));
    let (status, stale) = app.post(&format!("{path}/signature"), key, signature_body(&early_card, &old_document)).await;
    assert_eq!((status, stale["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("document_changed")));

    // The father is a guardian, but the claim names the mother: the applicant signs.
    let father = s.ca.issue(&Holder::new("山田 太郎", "1988-08-08"));
    let (status, not_applicant) = app.post(&format!("{path}/signature"), key, signature_body(&father, &document)).await;
    assert_eq!(
        (status, not_applicant["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("not_the_applicant"))
    );

    // Another person's card is refused, and the draft stays confirmed and unsigned.
    let stranger = s.ca.issue(&Holder::new("佐藤 次郎", "1985-01-01"));
    let (status, wrong) = app.post(&format!("{path}/signature"), key, signature_body(&stranger, &document)).await;
    assert_eq!((status, wrong["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("wrong_signer")), "{wrong}");
    let (_, still) = app.get(&path, key).await;
    assert_eq!(still["status"], "confirmed");

    let card = s.ca.issue(&Holder::new(MOTHER, MOTHER_BORN));
    // The app says it signed another document; or sends what is not base64.
    let mut stale = signature_body(&card, &document);
    stale["digest_sha256"] = json!(sha256_hex("an older version"));
    let (status, changed) = app.post(&format!("{path}/signature"), key, stale).await;
    assert_eq!((status, changed["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("document_changed")));
    let mut garbled = signature_body(&card, &document);
    garbled["signature"] = json!("not base64!");
    let (status, garbled) = app.post(&format!("{path}/signature"), key, garbled).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(garbled["fields"]["signature"], "must be base64");

    let (status, signed) = app.post(&format!("{path}/signature"), key, signature_body(&card, &document)).await;
    assert_eq!(status, StatusCode::CREATED, "{signed}");
    let first = signed["submissions"][0].clone();
    let first_id = first["id"].as_str().unwrap().to_owned();
    assert_eq!(first["status"], "submitted");
    assert_eq!(first["verification"]["statement"], "signature and chain verified, revocation not checked");
    assert_eq!(first["document"], json!(document));
    assert_eq!(first["certificate"], json!(card.certificate_base64()));

    // Signing again gives the same submission.
    let (status, again) = app.post(&format!("{path}/signature"), key, signature_body(&card, &document)).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["submissions"][0]["id"], json!(first_id));

    // Visible to the municipality's staff, and to no other municipality.
    let (status, list) = app.get("/v1/municipalities/131016/submissions", &staff).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["id"], json!(first_id));
    assert!(list["next_cursor"].is_null(), "one page: {list}");
    let (_, mine) =
        app.get("/v1/municipalities/131016/submissions?form_id=child_allowance_claim&status=submitted", &staff).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let (_, none) = app.get("/v1/municipalities/131016/submissions?form_id=kokuho_enrollment", &staff).await;
    assert_eq!(none["items"], json!([]));
    let staff_path = format!("/v1/municipalities/131016/submissions/{first_id}");
    let (status, _) = app.get(&staff_path, &other_staff).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.get(&format!("/v1/municipalities/131130/submissions/{first_id}"), &other_staff).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            &format!("/v1/municipalities/131130/submissions/{first_id}/status"),
            &other_staff,
            json!({ "status": "accepted" }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, others) = app.get("/v1/municipalities/131130/submissions", &other_staff).await;
    assert_eq!(others["items"], json!([]));
    let (status, _) = app.get("/v1/municipalities/131016/submissions", key).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a vendor key is not staff");

    // 受付, then 補正依頼 on one field.
    let (status, received) = app.post(&format!("{staff_path}/status"), &staff, json!({ "status": "received" })).await;
    assert_eq!((status, received["status"].as_str()), (StatusCode::OK, Some("received")), "{received}");
    let (status, bad) = app
        .post(
            &format!("{staff_path}/status"),
            &staff,
            json!({ "status": "correction_requested", "field_comments": { "nope": "x" } }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad["fields"]["field_comments.nope"].is_string(), "{bad}");
    // A comment the parent reads holds no control that reorders it (nor NUL).
    let (status, bad) = app
        .post(
            &format!("{staff_path}/status"),
            &staff,
            json!({ "status": "correction_requested", "comment": "期限\u{0}", "field_comments": { "payment.account_number": "口座番号が\u{202E}一致しません" } }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert!(bad["fields"]["field_comments.payment.account_number"].is_string(), "{bad}");
    assert!(bad["fields"]["comment"].is_string(), "{bad}");
    let (status, correction) = app
        .post(
            &format!("{staff_path}/status"),
            &staff,
            json!({ "status": "correction_requested", "field_comments": { "payment.account_number": "口座番号が通帳と一致しません" } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{correction}");
    let reopened = correction["correction_draft_id"].as_str().expect("a new draft").to_owned();
    let (status, late) = app.post(&format!("{staff_path}/status"), &staff, json!({ "status": "accepted" })).await;
    assert_eq!((status, late["error"].as_str()), (StatusCode::CONFLICT, Some("invalid_transition")));

    // The parent is told, sees the comment on the field, fixes it and signs again.
    let (_, inbox) = app.get(&format!("/v1/families/{family}/inbox"), key).await;
    let templates: Vec<&str> =
        inbox["items"].as_array().unwrap().iter().filter_map(|e| e["template_id"].as_str()).collect();
    assert!(
        templates.contains(&"submission_received") && templates.contains(&"submission_correction_requested"),
        "{templates:?}"
    );
    let entry = inbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["template_id"] == "submission_correction_requested")
        .unwrap();
    assert!(entry["inbox_text"].as_str().unwrap().contains("口座番号"), "{entry}");
    let path = format!("/v1/families/{family}/drafts/{reopened}");
    let (_, fix) = app.get(&path, key).await;
    assert_eq!(fix["corrects_submission_id"], json!(first_id));
    assert_eq!(field(&fix, "payment.account_number")["comment"], "口座番号が通帳と一致しません");
    assert_eq!(field(&fix, "payment.account_number")["needs"], "fix");
    assert_eq!(field(&fix, "payment.account_number")["value"], ACCOUNT);
    let (status, fixed) = app.patch(&path, key, json!({ "values": { "payment.account_number": "7654322" } })).await;
    assert_eq!(status, StatusCode::OK, "{fixed}");
    assert!(field(&fixed, "payment.account_number")["comment"].is_null());
    let (_, confirmed) = app.post(&format!("{path}/confirm"), key, json!({})).await;
    let document = confirmed["confirmed"]["document"].as_str().unwrap().to_owned();
    let (status, resigned) = app.post(&format!("{path}/signature"), key, signature_body(&card, &document)).await;
    assert_eq!(status, StatusCode::CREATED, "{resigned}");
    let second = resigned["submissions"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(resigned["submissions"][0]["corrects_submission_id"], json!(first_id));

    // 受理: the task is done and no reminder for it remains planned.
    let second_path = format!("/v1/municipalities/131016/submissions/{second}");
    let (status, accepted) = app.post(&format!("{second_path}/status"), &staff, json!({ "status": "accepted" })).await;
    assert_eq!((status, accepted["status"].as_str()), (StatusCode::OK, Some("accepted")), "{accepted}");
    let (_, tasks) = app.get(&format!("/v1/families/{family}/tasks"), key).await;
    let task = tasks.as_array().unwrap().iter().find(|t| t["procedure_id"] == "child_allowance_claim").unwrap();
    assert_eq!(task["state"], "done");
    let (_, planned) = app.get(&format!("/v1/families/{family}/planned-notifications"), key).await;
    assert!(planned.as_array().unwrap().iter().all(|p| p["task_id"] != task["id"]), "{planned}");
    let (_, inbox) = app.get(&format!("/v1/families/{family}/inbox"), key).await;
    assert!(inbox["items"].as_array().unwrap().iter().any(|e| e["template_id"] == "submission_accepted"));

    // The family follows its own submissions, newest first: the accepted one and the one it
    // corrected, with the municipality's comment on the field.
    // A page at a time: the newest on the first page, the older one after its cursor.
    let submissions = format!("/v1/families/{family}/submissions");
    let (status, newest) = app.get(&format!("{submissions}?limit=1"), key).await;
    assert_eq!(status, StatusCode::OK, "{newest}");
    let cursor = newest["next_cursor"].as_str().expect("another page");
    let (status, older) = app.get(&format!("{submissions}?limit=1&cursor={cursor}"), key).await;
    assert_eq!(status, StatusCode::OK, "{older}");
    assert!(older["next_cursor"].is_null(), "{older}");
    let (_, whole) = app.get(&submissions, key).await;
    assert_eq!(whole["items"].as_array().map(Vec::len), Some(2), "{whole}");
    let own: Vec<(&str, &str)> = newest["items"]
        .as_array()
        .into_iter()
        .chain(older["items"].as_array())
        .flatten()
        .map(|s| (s["id"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(own, vec![(second.as_str(), "accepted"), (first_id.as_str(), "correction_requested")]);
    let (status, corrected) = app.get(&format!("/v1/families/{family}/submissions/{first_id}"), key).await;
    assert_eq!(status, StatusCode::OK, "{corrected}");
    let request = corrected["history"].as_array().unwrap().iter().find(|e| e["status"] == "correction_requested");
    assert_eq!(request.unwrap()["field_comments"]["payment.account_number"], "口座番号が通帳と一致しません");

    // Nothing the parent typed or the card carries is stored in plaintext.
    assert_not_stored(app, &[ACCOUNT, "7654322", "山田\u{3000}花子", "ノンストップ銀行", "口座番号が通帳"]);
}

#[actix_web::test]
async fn a_profile_change_updates_prefilled_fields_but_never_what_the_parent_typed() {
    let s = setup(3000).await;
    let (app, key, family) = (&s.app, &s.key, &s.family);
    let draft = draft_of(&s, "child_allowance_claim").await;
    let path = format!("/v1/families/{family}/drafts/{}", draft["id"].as_str().unwrap());
    let (status, _) = app.patch(&path, key, json!({ "values": { "applicant.phone": "03-1111-2222" } })).await;
    assert_eq!(status, StatusCode::OK);

    let (_, fam) = app.get(&format!("/v1/families/{family}"), key).await;
    let guardian = fam["guardians"][0]["id"].as_str().unwrap();
    let (status, _) = app
        .patch(
            &format!("/v1/families/{family}/guardians/{guardian}"),
            key,
            json!({ "full_name": "鈴木 花子", "phone": "080-9999-0000" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, after) = app.get(&path, key).await;
    assert_eq!(field(&after, "applicant.name")["value"], "鈴木 花子", "pre-filled: follows the profile");
    assert_eq!(field(&after, "applicant.phone")["value"], "0311112222", "typed by the parent: kept");
    assert_eq!(field(&after, "applicant.phone")["origin"], "parent");
    assert_eq!(field(&after, "applicant.phone")["profile_value"], "08099990000", "the difference is shown, not hidden");
    assert_eq!(field(&after, "applicant.phone")["needs"], "check");

    // Back to the profile's value on request.
    let (_, reverted) = app.patch(&path, key, json!({ "values": { "applicant.phone": null } })).await;
    assert_eq!(field(&reverted, "applicant.phone")["value"], "08099990000");
    assert_eq!(field(&reverted, "applicant.phone")["origin"], "profile");
    assert!(field(&reverted, "applicant.phone").get("profile_value").is_none());
}

#[actix_web::test]
async fn one_signature_over_the_birth_bundle_makes_one_submission_per_form() {
    let s = setup(2400).await;
    let (app, key, family) = (&s.app, &s.key, &s.family);
    let draft = draft_of(&s, "child_allowance_claim").await;
    let bundle_id = draft["bundle_id"].as_str().expect("in the birth bundle").to_owned();
    let path = format!("/v1/families/{family}/bundles/{bundle_id}");
    let (status, bundle) = app.get(&path, key).await;
    assert_eq!(status, StatusCode::OK, "{bundle}");
    let forms: Vec<&str> = bundle["members"].as_array().unwrap().iter().filter_map(|m| m["form_id"].as_str()).collect();
    for form in [
        "birth_registration",
        "child_allowance_claim",
        "kokuho_enrollment",
        "low_birth_weight_notification",
        "newborn_my_number_card",
    ] {
        assert!(forms.contains(&form), "{form} in {forms:?}");
    }
    // A shared field appears once, carried by several forms.
    let fields = bundle["fields"].as_array().unwrap();
    let child_names: Vec<&Value> = fields.iter().filter(|f| f["id"] == "child.name").collect();
    assert_eq!(child_names.len(), 1);
    assert!(child_names[0]["forms"].as_array().unwrap().len() >= 5);

    // Changing a shared field once changes it in every form.
    let (status, _) = app.patch(&path, key, json!({ "values": { "child.kana": "ヤマダ サクラ" } })).await;
    assert_eq!(status, StatusCode::OK);
    let (_, drafts) = app.get(&format!("/v1/families/{family}/drafts"), key).await;
    let members: Vec<&Value> =
        drafts.as_array().unwrap().iter().filter(|d| d["bundle_id"] == json!(bundle_id)).collect();
    let mut carrying_kana = 0;
    for member in &members {
        if let Some(kana) = member["fields"].as_array().unwrap().iter().find(|f| f["id"] == "child.kana") {
            assert_eq!(kana["value"], "ヤマダ サクラ", "{}", member["form_id"]);
            carrying_kana += 1;
        }
    }
    assert!(
        carrying_kana >= 2,
        "the kana is shared by several forms of the bundle ({carrying_kana} of {})",
        members.len()
    );

    // Fill what is left, once for the bundle.
    let answers: BTreeMap<&str, Value> = BTreeMap::from([
        ("legitimacy", json!("嫡出子")),
        ("surname_kana", json!("ヤマダ")),
        ("birth_order", json!("長女")),
        ("child.birth_time", json!("09:15")),
        ("child.birth_place", json!("千代田区千代田2-2-2")),
        ("honseki", json!("東京都千代田区千代田1番")),
        ("honseki_head", json!("山田 太郎")),
        ("household_main_work", json!("4 勤労者（3以外）・役員")),
        ("child.gestation_weeks", json!(36)),
        ("consent.public_records", json!(true)),
        ("payment.use_public_account", json!(true)),
        ("insurance.pending", json!(true)),
    ]);
    let (_, bundle) = app.get(&path, key).await;
    let mut values = serde_json::Map::new();
    for id in bundle["to_fill"].as_array().unwrap().iter().filter_map(Value::as_str) {
        values.insert(id.to_owned(), answers.get(id).cloned().unwrap_or_else(|| panic!("no answer for {id}")));
    }
    let (status, filled) = app.patch(&path, key, json!({ "values": values })).await;
    assert_eq!(status, StatusCode::OK, "{filled}");
    assert_eq!(filled["to_fill"], json!([]));
    let (status, confirmed) = app.post(&format!("{path}/confirm"), key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    // Reopened and confirmed again (a member drafts follows its bundle).
    let (status, reopened) = app.post(&format!("{path}/reopen"), key, json!({})).await;
    assert_eq!((status, reopened["status"].as_str()), (StatusCode::OK, Some("open")));
    assert!(reopened["members"].as_array().unwrap().iter().all(|m| m["status"] == "open"), "{reopened}");
    let (status, confirmed) = app.post(&format!("{path}/confirm"), key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    let document = confirmed["confirmed"]["document"].as_str().unwrap().to_owned();
    let listed: Value = serde_json::from_str(&document).unwrap();

    let card = s.ca.issue(&Holder::new(MOTHER, MOTHER_BORN));
    let (status, signed) = app.post(&format!("{path}/signature"), key, signature_body(&card, &document)).await;
    assert_eq!(status, StatusCode::CREATED, "{signed}");
    let submissions = signed["submissions"].as_array().unwrap();
    assert_eq!(submissions.len(), members.len());
    // Each has its own 受付番号, one after the other in the municipality's count for 2026.
    let mut numbers: Vec<&str> = submissions.iter().filter_map(|s| s["reference_number"].as_str()).collect();
    numbers.sort_unstable();
    let expected: Vec<String> = (1..=submissions.len()).map(|n| format!("2026-{n:06}")).collect();
    assert_eq!(numbers, expected);
    // The municipality's list and page show the same numbers.
    let staff = app.create_staff("131016");
    let (_, listed_by_staff) = app.get("/v1/municipalities/131016/submissions", &staff).await;
    let mut staff_numbers: Vec<&str> =
        listed_by_staff["items"].as_array().unwrap().iter().filter_map(|s| s["reference_number"].as_str()).collect();
    staff_numbers.sort_unstable();
    assert_eq!(staff_numbers, expected);
    for submission in submissions {
        // Each form's document is listed, with its digest, in the one signed bundle document.
        let own = submission["document"].as_str().unwrap();
        assert_eq!(submission["digest_sha256"], sha256_hex(own));
        assert_eq!(submission["signed_document"], json!(document));
        assert_eq!(submission["signature"], submissions[0]["signature"]);
        let entry = listed["forms"].as_array().unwrap().iter().find(|f| f["form_id"] == submission["form_id"]).unwrap();
        assert_eq!((entry["document"].as_str(), &entry["digest_sha256"]), (Some(own), &submission["digest_sha256"]));
    }
    // Every task of the bundle is done.
    let (_, tasks) = app.get(&format!("/v1/families/{family}/tasks"), key).await;
    for form in &forms {
        let task = tasks.as_array().unwrap().iter().find(|t| t["procedure_id"] == *form).unwrap();
        assert_eq!(task["state"], "done", "{form}");
    }
    // Signed again: the same submissions.
    let (status, again) = app.post(&format!("{path}/signature"), key, signature_body(&card, &document)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["submissions"].as_array().unwrap().len(), submissions.len());
}

#[actix_web::test]
async fn a_card_with_substituted_characters_signs_once_its_certificate_is_registered() {
    let s = setup(3000).await;
    let (app, key, family) = (&s.app, &s.key, &s.family);
    let mut holder = Holder::new(MOTHER, MOTHER_BORN);
    holder.name = "山田\u{3000}〓子".into();
    holder.name_flags = "00010".into();
    let card = s.ca.issue(&holder);
    let draft = draft_of(&s, "child_allowance_claim").await;
    let path = format!("/v1/families/{family}/drafts/{}", draft["id"].as_str().unwrap());
    app.patch(&path, key, json!({ "values": { "consent.public_records": true, "child.kana": "ヤマダ サクラ", "payment.use_public_account": true } })).await;
    let (_, confirmed) = app.post(&format!("{path}/confirm"), key, json!({})).await;
    let document = confirmed["confirmed"]["document"].as_str().unwrap().to_owned();
    let (status, refused) = app.post(&format!("{path}/signature"), key, signature_body(&card, &document)).await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("wrong_signer")));

    let (_, fam) = app.get(&format!("/v1/families/{family}"), key).await;
    let guardian = fam["guardians"][0]["id"].as_str().unwrap();
    // Another person's card (born another day) cannot be registered for the mother.
    let stranger = s.ca.issue(&Holder::new("他人 花子", "1985-01-01"));
    let (status, refused) = app
        .call(
            reqwest::Method::PUT,
            &format!("/v1/families/{family}/guardians/{guardian}/signing-certificate"),
            Some(key),
            Some(json!({ "certificate": stranger.certificate_base64() })),
        )
        .await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("not_the_guardians_card")));
    let (status, refused) = app.post(&format!("{path}/signature"), key, signature_body(&stranger, &document)).await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("wrong_signer")));
    let (status, registered) = app
        .call(
            reqwest::Method::PUT,
            &format!("/v1/families/{family}/guardians/{guardian}/signing-certificate"),
            Some(key),
            Some(json!({ "certificate": card.certificate_base64() })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{registered}");
    let (status, signed) = app.post(&format!("{path}/signature"), key, signature_body(&card, &document)).await;
    assert_eq!(status, StatusCode::CREATED, "{signed}");
}

#[actix_web::test]
async fn a_window_opened_by_the_calendar_gets_its_draft_from_the_daily_job() {
    use diesel::prelude::*;
    use nonstop::db::schema::{drafts, tasks};
    let s = setup(3000).await;
    let (app, key, family) = (&s.app, &s.key, &s.family);
    // As if the 児童手当 window had not opened yet: no draft.
    let task_id: String = {
        let mut conn = app.db.get().expect("conn");
        let id: String = tasks::table
            .filter(tasks::family_id.eq(family))
            .filter(tasks::procedure_id.eq("child_allowance_claim"))
            .select(tasks::id)
            .first(&mut *conn)
            .expect("task");
        diesel::delete(drafts::table.filter(drafts::task_id.eq(&id))).execute(&mut *conn).expect("delete");
        id
    };
    let (_, list) = app.get(&format!("/v1/families/{family}/drafts"), key).await;
    assert!(list.as_array().unwrap().iter().all(|d| d["task_id"] != json!(task_id)));
    let opened = nonstop::jobs::scheduler::run_drafts(&app.job_context(), app.clock.now()).await.expect("job");
    assert_eq!(opened, 1);
    let draft = draft_of(&s, "child_allowance_claim").await;
    assert_eq!(draft["task_id"], json!(task_id));
    assert_eq!(field(&draft, "child.name")["value"], "山田 さくら");
}

#[actix_web::test]
async fn a_municipality_receives_its_submissions_by_signed_webhook_with_retries() {
    use diesel::prelude::*;
    use nonstop::db::schema::webhook_deliveries;
    let s = setup(3000).await;
    let (app, key, family) = (&s.app, &s.key, &s.family);
    let staff = app.create_staff("131016");
    let first = crate::mocks::WebhookReceiver::start(vec![]).await;
    let receiver = crate::mocks::WebhookReceiver::start(vec![500]).await;
    let hook = "/v1/municipalities/131016/webhook";

    let (status, refused) =
        app.call(reqwest::Method::PUT, hook, Some(&staff), Some(json!({ "url": "http://example.com/hook" }))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused["fields"]["url"].is_string());
    let other = app.create_staff("131130");
    let (status, _) = app.call(reqwest::Method::PUT, hook, Some(&other), Some(json!({ "url": receiver.url }))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, created) = app.call(reqwest::Method::PUT, hook, Some(&staff), Some(json!({ "url": first.url }))).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let first_secret = created["secret"].as_str().unwrap().to_owned();

    // A submission is queued for the webhook in the same transaction.
    let draft = draft_of(&s, "child_allowance_claim").await;
    let path = format!("/v1/families/{family}/drafts/{}", draft["id"].as_str().unwrap());
    app.patch(&path, key, json!({ "values": { "consent.public_records": true, "child.kana": "ヤマダ サクラ", "payment.use_public_account": true } })).await;
    let (_, confirmed) = app.post(&format!("{path}/confirm"), key, json!({})).await;
    let document = confirmed["confirmed"]["document"].as_str().unwrap().to_owned();
    let card = s.ca.issue(&Holder::new(MOTHER, MOTHER_BORN));
    let (status, signed) = app.post(&format!("{path}/signature"), key, signature_body(&card, &document)).await;
    assert_eq!(status, StatusCode::CREATED);
    let submission_id = signed["submissions"][0]["id"].as_str().unwrap().to_owned();
    // Staff then point the webhook elsewhere (the receiver moved, or the secret leaked): what
    // is still queued goes to the new URL, signed with the new secret.
    let (status, created) =
        app.call(reqwest::Method::PUT, hook, Some(&staff), Some(json!({ "url": receiver.url }))).await;
    assert_eq!(status, StatusCode::OK);
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert_ne!(secret, first_secret);

    // The receiver fails once: the delivery waits and is retried.
    let ctx = app.job_context();
    assert_eq!(nonstop::jobs::webhooks::run_once(&ctx).await.unwrap(), 0);
    let (_, state) = app.get(hook, &staff).await;
    assert_eq!((state["pending"].as_i64(), state["last_error"].as_str()), (Some(1), Some("http_status")), "{state}");
    // Each delivery shows how it stands: the failed attempt, and when it is tried again.
    let recent = &state["recent"][0];
    assert_eq!(recent["event_key"], json!(format!("submission:{submission_id}")));
    assert_eq!((recent["status"].as_str(), recent["attempts"].as_i64()), (Some("pending"), Some(1)), "{state}");
    assert_eq!(recent["last_error"], "http_status");
    assert!(recent["next_attempt_at"].is_string() && recent["delivered_at"].is_null(), "{recent}");
    assert_eq!(nonstop::jobs::webhooks::run_once(&ctx).await.unwrap(), 0, "not before its backoff");
    {
        let mut conn = app.db.get().unwrap();
        diesel::update(webhook_deliveries::table)
            .set(webhook_deliveries::next_attempt_at.eq(app.clock.now()))
            .execute(&mut *conn)
            .unwrap();
    }
    assert_eq!(nonstop::jobs::webhooks::run_once(&ctx).await.unwrap(), 1);
    let (_, state) = app.get(hook, &staff).await;
    assert_eq!((state["pending"].as_i64(), state["delivered"].as_i64()), (Some(0), Some(1)));
    assert_eq!(state["recent"][0]["status"], "delivered");
    assert!(state["recent"][0]["delivered_at"].is_string() && state["recent"][0]["next_attempt_at"].is_null());

    // Both attempts carried the same event id and a valid HMAC over the timestamp and body.
    let requests = receiver.received();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].event_id, requests[1].event_id);
    assert_eq!((requests[0].status, requests[1].status), (500, 200));
    for request in &requests {
        let (t, v1) = request.signature.split_once(",v1=").unwrap();
        let t = t.strip_prefix("t=").unwrap();
        let mac_key = openssl::pkey::PKey::hmac(secret.as_bytes()).unwrap();
        let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &mac_key).unwrap();
        let expected = hex::encode(signer.sign_oneshot_to_vec(format!("{t}.{}", request.body).as_bytes()).unwrap());
        assert_eq!(v1, expected);
    }
    let body: Value = serde_json::from_str(&requests[1].body).unwrap();
    assert_eq!(body["type"], "submission.submitted");
    assert_eq!(body["submission"]["id"], json!(submission_id));
    assert_eq!(body["submission"]["document"], json!(document));
    assert_eq!(body["submission"]["reference_number"], json!("2026-000001"), "the 受付番号 travels with it");
    // `columns`: the CSV export's layout of the form, the same labels and values.
    let columns = body["columns"].as_array().expect("columns");
    assert_eq!((columns[0]["label"].as_str(), columns[0]["value"].as_str()), (Some("受付番号"), Some("2026-000001")));
    let name = columns.iter().find(|c| c["label"] == "申請者（届出人）氏名").expect("the applicant's column");
    assert_eq!(name["value"], MOTHER);
    // What arrived is what the document's `webhooks` section describes: its fields, its
    // signature header's shape, the event id in the header and the body alike.
    let described: Value = serde_json::from_str(&nonstop::api::openapi().to_json().unwrap()).unwrap();
    let event = &described["components"]["schemas"]["SubmissionSubmittedEvent"];
    let mut fields: Vec<&String> = body.as_object().unwrap().keys().collect();
    fields.sort();
    let mut documented: Vec<&String> = event["properties"].as_object().unwrap().keys().collect();
    documented.sort();
    assert_eq!(fields, documented);
    assert_eq!(body["id"], json!(requests[1].event_id));
    let post = &described["webhooks"]["submission.submitted"]["post"];
    let pattern = post["parameters"][1]["schema"]["pattern"].as_str().unwrap();
    assert_eq!(pattern, "^t=[0-9]+,v1=[0-9a-f]{64}$");
    let (t, v1) = requests[1].signature.split_once(",v1=").unwrap();
    assert!(t.strip_prefix("t=").unwrap().parse::<i64>().is_ok() && v1.len() == 64, "{}", requests[1].signature);
    // Delivered once: nothing more goes out.
    assert_eq!(nonstop::jobs::webhooks::run_once(&ctx).await.unwrap(), 0);
    assert_eq!(receiver.received().len(), 2);
    assert!(first.received().is_empty(), "the replaced URL gets nothing of what was still queued");
}
