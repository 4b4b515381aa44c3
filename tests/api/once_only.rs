//! ワンスオンリー: a family that gave its paperwork facts during the pregnancy types only the
//! birth's own facts after it, and signs the whole birth bundle once.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{tokyo_day, TestApp};
use crate::jpki_ca::{Holder, TestCa};
use crate::submissions::{field, signature_body, MOTHER, MOTHER_BORN};

struct Pregnancy {
    app: TestApp,
    ca: TestCa,
    key: String,
    family: String,
    child: String,
    _anchors: tempfile::TempDir,
}

/// A family registered during the pregnancy, due in five days, with `paperwork` as given.
async fn pregnancy(paperwork: Value) -> Pregnancy {
    let (app, ca, anchors) = crate::submissions::app_trusting_a_test_ca().await;
    let (_, key) = app.create_app("vendor");
    let (status, family) = app
        .post(
            "/v1/families",
            &key,
            json!({
                "municipality_code": "131016",
                "postal_code": "1000001",
                "address": "千代田1-1-1",
                "health_insurance": "national",
                "paperwork": paperwork,
                "consents": ["health_information"],
                "guardians": [
                    { "relationship": "mother", "full_name": MOTHER, "full_name_kana": "ヤマダ ハナコ", "birth_date": MOTHER_BORN, "phone": "090-1234-5678" },
                    { "relationship": "father", "full_name": "山田 太郎", "birth_date": "1988-08-08", "phone": "080-8765-4321" }
                ],
                "children": [{ "status": "expected", "due_date": tokyo_day(5) }]
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{family}");
    let child = family["children"][0]["id"].as_str().expect("child").to_owned();
    let family = family["id"].as_str().expect("id").to_owned();
    Pregnancy { app, ca, key, family, child, _anchors: anchors }
}

fn complete_paperwork() -> Value {
    json!({
        "registered_domicile": "東京都千代田区千代田1番",
        "family_register_head": "山田 太郎",
        "household_main_work": "employee_other",
        "use_public_benefit_account": true,
        "insurance_enrolment_pending": true,
        "parents_married": true
    })
}

/// The birth bundle prepared ahead for the expected child.
fn prepared_ahead(readiness: &Value) -> &Value {
    readiness["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["opens"] == "at_birth")
        .unwrap_or_else(|| panic!("no bundle prepared ahead: {readiness}"))
}

fn missing_of(item: &Value) -> Vec<(String, String, Option<String>)> {
    item["missing"]
        .as_array()
        .expect("missing")
        .iter()
        .map(|m| {
            (
                m["field_id"].as_str().expect("field_id").to_owned(),
                m["given_with"].as_str().expect("given_with").to_owned(),
                m["api_field"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

#[actix_web::test]
async fn a_family_ready_in_pregnancy_types_only_the_births_own_facts_and_signs_once() {
    let p = pregnancy(complete_paperwork()).await;
    let (app, key, family) = (&p.app, &p.key, &p.family);

    // The standing consent to the 公簿 check, once, with nonstop's wording.
    let (status, consent) =
        app.post(&format!("/v1/families/{family}/consents"), key, json!({ "purpose": "public_records_check" })).await;
    assert_eq!(status, StatusCode::CREATED, "{consent}");
    assert!(consent["wording"].as_str().unwrap().contains("公簿"), "{consent}");
    assert_eq!(consent["language"], "ja");
    let (status, again) =
        app.post(&format!("/v1/families/{family}/consents"), key, json!({ "purpose": "public_records_check" })).await;
    assert_eq!((status, &again["id"]), (StatusCode::OK, &consent["id"]), "given once: the same consent");

    // Readiness: the birth bundle prepared ahead lacks only what the birth itself will say.
    let (status, readiness) = app.get(&format!("/v1/families/{family}/readiness"), key).await;
    assert_eq!(status, StatusCode::OK, "{readiness}");
    let ahead = readiness["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["opens"] == "at_birth" && i["child_id"] == json!(p.child))
        .unwrap_or_else(|| panic!("no bundle prepared ahead: {readiness}"));
    let forms: Vec<&str> = ahead["forms"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    for form in ["birth_registration", "child_allowance_claim", "kokuho_enrollment", "infant_medical_subsidy"] {
        assert!(forms.contains(&form), "{form} in {forms:?}");
    }
    let missing = missing_of(ahead);
    assert!(missing.iter().all(|(_, with, _)| with == "birth_event"), "{missing:?}");
    let asked: Vec<&str> = missing.iter().filter_map(|(_, _, api)| api.as_deref()).collect();
    for birth_fact in ["date", "full_name", "full_name_kana", "sex", "birth_time", "birth_place"] {
        assert!(asked.contains(&birth_fact), "{birth_fact} in {asked:?}");
    }
    let filled = ahead["filled"].as_array().unwrap();
    let honseki = filled.iter().find(|f| f["field_id"] == "honseki").expect("本籍 filled ahead");
    assert_eq!((&honseki["value"], &honseki["origin"]), (&json!("東京都千代田区千代田1番"), &json!("profile")));
    assert!(filled.iter().any(|f| f["field_id"] == "legitimacy" && f["value"] == "嫡出子"), "{filled:?}");

    // The birth, with its facts, in the screen that records it: the parent types these only.
    let birth_facts = json!({
        "full_name": "山田 さくら",
        "full_name_kana": "ヤマダ サクラ",
        "sex": "female",
        "birth_time": "09:15",
        "birth_place": "東京都千代田区千代田2-2-2"
    });
    let mut birth = json!({ "type": "birth", "date": tokyo_day(-1), "child_id": p.child, "birth_weight_grams": 3000 });
    birth.as_object_mut().unwrap().extend(birth_facts.as_object().unwrap().clone());
    let (status, event) = app.post(&format!("/v1/families/{family}/events"), key, birth).await;
    assert_eq!(status, StatusCode::CREATED, "{event}");
    let (_, stored) = app.get(&format!("/v1/families/{family}"), key).await;
    assert_eq!(stored["children"][0]["birth_details"]["birth_time"], "09:15");

    // The bundle opened with nothing left to fill.
    let (_, drafts) = app.get(&format!("/v1/families/{family}/drafts"), key).await;
    let bundle_id =
        drafts.as_array().unwrap().iter().find_map(|d| d["bundle_id"].as_str()).expect("a birth bundle").to_owned();
    let path = format!("/v1/families/{family}/bundles/{bundle_id}");
    let (_, bundle) = app.get(&path, key).await;
    assert_eq!(bundle["to_fill"], json!([]), "{bundle}");
    let members = bundle["members"].as_array().unwrap().len();
    assert!(members >= 6, "{bundle}");
    // Provenance: each value says where it came from.
    let by_id = |id: &str| bundle["fields"].as_array().unwrap().iter().find(|f| f["id"] == id).unwrap().clone();
    assert_eq!(
        (by_id("child.birth_time")["value"].clone(), by_id("child.birth_time")["origin"].clone()),
        (json!("09:15"), json!("event"))
    );
    assert_eq!(by_id("honseki")["origin"], "profile");
    assert_eq!(by_id("consent.public_records")["value"], true);
    assert_eq!(by_id("household_main_work")["value"], "4 勤労者（3以外）・役員");
    // 在胎週数 from the due date (born 6 days early: 39 weeks), for the parent to check.
    assert_eq!(
        (by_id("child.gestation_weeks")["value"].clone(), by_id("child.gestation_weeks")["needs"].clone()),
        (json!(39), json!("check"))
    );

    // What the parent typed after the birth: the birth's own facts, and nothing on the forms.
    let typed_on_forms = 0;
    let typed = birth_facts.as_object().unwrap().len() + typed_on_forms;
    assert!(typed <= 5, "{typed} values typed after the birth");

    // Confirmed once, signed once: one submission per form.
    let (status, confirmed) = app.post(&format!("{path}/confirm"), key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    let document = confirmed["confirmed"]["document"].as_str().unwrap().to_owned();
    let card = p.ca.issue(&Holder::new(MOTHER, MOTHER_BORN));
    let (status, signed) = app.post(&format!("{path}/signature"), key, signature_body(&card, &document)).await;
    assert_eq!(status, StatusCode::CREATED, "{signed}");
    let submissions = signed["submissions"].as_array().unwrap();
    assert_eq!(submissions.len(), members);
    assert!(submissions.len() >= 6);
}

#[actix_web::test]
async fn readiness_asks_household_facts_first_with_the_reason_and_where_to_give_them() {
    let p = pregnancy(json!({})).await;
    let (app, key, family) = (&p.app, &p.key, &p.family);
    let (status, readiness) = app.get(&format!("/v1/families/{family}/readiness"), key).await;
    assert_eq!(status, StatusCode::OK, "{readiness}");
    let ahead = prepared_ahead(&readiness);
    let missing = missing_of(ahead);
    let position =
        |id: &str| missing.iter().position(|(f, _, _)| f == id).unwrap_or_else(|| panic!("{id}: {missing:?}"));
    assert_eq!(
        missing[position("honseki")],
        ("honseki".into(), "family".into(), Some("paperwork.registered_domicile".into()))
    );
    assert_eq!(missing[position("consent.public_records")].1, "consent");
    assert_eq!(missing[position("child.birth_time")].1, "birth_event");
    assert!(position("honseki") < position("consent.public_records"));
    assert!(position("consent.public_records") < position("child.birth_time"));
    let honseki = &ahead["missing"][position("honseki")];
    assert!(honseki["why"]["ja"].as_str().unwrap().contains("戸籍"), "{honseki}");
    assert!(!honseki["why"]["en"].as_str().unwrap().is_empty());

    // Given ahead through the family, it is no longer missing.
    let (status, patched) = app
        .patch(
            &format!("/v1/families/{family}"),
            key,
            json!({ "paperwork": { "registered_domicile": "東京都千代田区千代田1番", "insurer_number": "12-3" } }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{patched}");
    assert!(patched["fields"]["paperwork.insurer_number"].is_string(), "{patched}");
    let (_, unchanged) = app.get(&format!("/v1/families/{family}"), key).await;
    assert_eq!(unchanged["paperwork"]["registered_domicile"], Value::Null, "a refused change stores nothing");
    let (status, patched) = app
        .patch(
            &format!("/v1/families/{family}"),
            key,
            json!({ "paperwork": { "registered_domicile": "東京都千代田区千代田1番" } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["paperwork"]["registered_domicile"], "東京都千代田区千代田1番");
    let (_, readiness) = app.get(&format!("/v1/families/{family}/readiness"), key).await;
    assert!(missing_of(prepared_ahead(&readiness)).iter().all(|(f, _, _)| f != "honseki"), "{readiness}");
}

#[actix_web::test]
async fn a_consent_withdrawn_is_asked_again_and_its_history_kept() {
    let p = pregnancy(complete_paperwork()).await;
    let (app, key, family) = (&p.app, &p.key, &p.family);
    let consents = format!("/v1/families/{family}/consents");
    app.post(&consents, key, json!({ "purpose": "public_records_check", "language": "en" })).await;
    let (status, withdrawn) = app.delete(&format!("{consents}/public_records_check"), key).await;
    assert_eq!(status, StatusCode::OK, "{withdrawn}");
    assert!(withdrawn["withdrawn_at"].is_string());
    assert!(withdrawn["wording"].as_str().unwrap().contains("public records"), "{withdrawn}");
    let (status, _) = app.delete(&format!("{consents}/public_records_check"), key).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing in force any more");
    let (_, history) = app.get(&consents, key).await;
    let history: Vec<&Value> =
        history["items"].as_array().unwrap().iter().filter(|c| c["purpose"] == "public_records_check").collect();
    assert_eq!(history.len(), 1, "{history:?}");
    let (_, readiness) = app.get(&format!("/v1/families/{family}/readiness"), key).await;
    assert!(
        missing_of(prepared_ahead(&readiness))
            .iter()
            .any(|(f, with, _)| f == "consent.public_records" && with == "consent"),
        "{readiness}"
    );
}

#[actix_web::test]
async fn a_value_corrected_on_a_form_reaches_the_profile_only_when_asked() {
    let p = pregnancy(complete_paperwork()).await;
    let (app, key, family) = (&p.app, &p.key, &p.family);
    app.post(
        &format!("/v1/families/{family}/events"),
        key,
        json!({ "type": "birth", "date": tokyo_day(-1), "child_id": p.child, "birth_weight_grams": 3000, "full_name": "山田 さくら", "full_name_kana": "ヤマダ サクラ", "sex": "female" }),
    )
    .await;
    let (_, drafts) = app.get(&format!("/v1/families/{family}/drafts"), key).await;
    let claim = drafts.as_array().unwrap().iter().find(|d| d["form_id"] == "child_allowance_claim").unwrap().clone();
    let path = format!("/v1/families/{family}/drafts/{}", claim["id"].as_str().unwrap());

    // Corrected on this form only: the profile keeps its phone.
    let (status, _) = app.patch(&path, key, json!({ "values": { "applicant.phone": "03-1111-2222" } })).await;
    assert_eq!(status, StatusCode::OK);
    let (_, fam) = app.get(&format!("/v1/families/{family}"), key).await;
    assert_eq!(fam["guardians"][0]["phone"], "09012345678", "never written back silently");

    // Saved to the profile when the parent asks: the other forms follow.
    let (status, draft) = app
        .patch(
            &path,
            key,
            json!({ "values": { "applicant.phone": "03-1111-2222", "payment.use_public_account": false }, "save_to_profile": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{draft}");
    let (_, fam) = app.get(&format!("/v1/families/{family}"), key).await;
    assert_eq!(fam["guardians"][0]["phone"], "0311112222");
    assert_eq!(fam["paperwork"]["use_public_benefit_account"], false);
    assert!(field(&draft, "applicant.phone").get("profile_value").is_none(), "the form and the profile agree");
    let (_, drafts) = app.get(&format!("/v1/families/{family}/drafts"), key).await;
    let subsidy = drafts.as_array().unwrap().iter().find(|d| d["form_id"] == "infant_medical_subsidy").unwrap();
    // The birth bundle shares the field; the profile now agrees with it.
    assert_eq!(field(subsidy, "applicant.phone")["value"], "0311112222");
    assert!(field(subsidy, "applicant.phone").get("profile_value").is_none());
}
