//! Who did what (issue 13): the two-person rule for notices, the signer as the card's holder,
//! records a municipality received outliving a family's deletion, sessions and keys that end
//! with their reason, and the audit trail that records each act.

use std::collections::BTreeSet;

use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{awake_quiet_hours, TestApp};
use crate::jpki_ca::Holder;
use crate::notices::approve;
use crate::submissions::{draft_of, setup, signature_body, Setup, MOTHER, MOTHER_BORN};
use nonstop::service::audit::{self, AuditEvent, AuditFilter};

/// Every event in the test's database, newest first (as the operator reads them).
fn all_events(app: &TestApp) -> Vec<AuditEvent> {
    let mut conn = app.db.get().expect("conn");
    audit::list(&mut conn, &AuditFilter { limit: 1_000, ..Default::default() }).expect("audit").items
}

fn actions(events: &[AuditEvent]) -> BTreeSet<&'static str> {
    events.iter().map(|e| e.action.as_str()).collect()
}

/// The events of one action, as JSON (what staff and the CLI read).
fn events_of(app: &TestApp, action: &str) -> Vec<Value> {
    all_events(app).iter().map(|e| serde_json::to_value(e).expect("json")).filter(|e| e["action"] == action).collect()
}

fn notice_body(title: &str) -> Value {
    json!({
        "category": "checkup",
        "texts": { "ja": { "title": title, "body": "日程と会場をご確認ください。" } },
        "links": [],
        "audience": {}
    })
}

/// The 児童手当 claim of the setup's family, filled in and confirmed: its path and the document
/// to sign.
async fn confirmed_claim(s: &Setup) -> (String, String) {
    let draft = draft_of(s, "child_allowance_claim").await;
    let path = format!("/v1/families/{}/drafts/{}", s.family, draft["id"].as_str().expect("id"));
    let values = json!({ "values": { "consent.public_records": true, "child.kana": "ヤマダ サクラ", "payment.use_public_account": true } });
    let (status, patched) = s.app.patch(&path, &s.key, values).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let (status, confirmed) = s.app.post(&format!("{path}/confirm"), &s.key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    let document = confirmed["confirmed"]["document"].as_str().expect("document").to_owned();
    (path, document)
}

#[actix_web::test]
async fn nobody_who_wrote_a_notice_approves_it_and_only_what_was_approved_goes_out() {
    let app = TestApp::spawn().await;
    let (author_id, author) = app.create_staff_key("131016", false);
    let (editor_id, editor) = app.create_staff_key("131016", false);
    let (approver_id, approver) = app.create_staff_key("131016", false);
    let (status, draft) = app.post("/v1/municipalities/131016/notices", &author, notice_body("健診のご案内")).await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    let base = format!("/v1/municipalities/131016/notices/{}", draft["id"].as_str().expect("id"));

    // B replaces the text, then tries to approve what B wrote: refused, as is the author.
    let (status, edited) = app.call(Method::PUT, &base, Some(&editor), Some(notice_body("全員に送る別の文面"))).await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["editors"], json!([author_id, editor_id]));
    for who in [&editor, &author] {
        let (status, refused) = approve(&app, &base, who).await;
        assert_eq!((status, refused["error"].as_str()), (StatusCode::CONFLICT, Some("approval_by_author")));
    }

    // A third member of staff approves; the approval is tied to the digest of what was read.
    let (status, approved) = approve(&app, &base, &approver).await;
    assert_eq!((status, approved["status"].as_str()), (StatusCode::OK, Some("approved")), "{approved}");
    assert_eq!(approved["approver_staff_id"], json!(approver_id));
    let digest = approved["approved_digest"].as_str().expect("digest").to_owned();
    assert_eq!(digest.len(), 64);

    // Contents changed behind the approval (as a bug or a direct write would) do not go out.
    {
        use nonstop::db::schema::notices;
        let mut conn = app.db.get().expect("conn");
        let content: String = notices::table.select(notices::content).first(&mut *conn).expect("content");
        diesel::update(notices::table)
            .set(notices::content.eq(content.replace("全員に送る別の文面", "差し替えた文面")))
            .execute(&mut *conn)
            .expect("tamper");
    }
    let (status, refused) = app.post(&format!("{base}/send"), &author, json!({})).await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::CONFLICT, Some("approval_outdated")), "{refused}");
    let (status, refused) =
        app.post(&format!("{base}/schedule"), &author, json!({ "send_at": "2026-12-02T01:00:00Z" })).await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::CONFLICT, Some("approval_outdated")), "{refused}");

    // An edit returns it to draft; approved again by someone who wrote none of it, it goes out.
    let (status, redrafted) =
        app.call(Method::PUT, &base, Some(&editor), Some(notice_body("健診のご案内（改）"))).await;
    assert_eq!((status, redrafted["status"].as_str()), (StatusCode::OK, Some("draft")));
    // Whoever approves next reads what changed since the approval, against what was approved
    // (not against the contents changed behind it).
    assert_eq!(
        redrafted["changes_since_approval"],
        json!([{ "field": "texts.ja.title", "approved": "全員に送る別の文面", "now": "健診のご案内（改）" }]),
        "{redrafted}"
    );
    assert!(edited.get("changes_since_approval").is_none(), "never approved: nothing to compare with");
    let (status, approved_again) = approve(&app, &base, &approver).await;
    assert_eq!(status, StatusCode::OK);
    assert!(approved_again.get("changes_since_approval").is_none(), "{approved_again}");
    let (status, sent) = app.post(&format!("{base}/send"), &author, json!({})).await;
    assert_eq!((status, sent["status"].as_str()), (StatusCode::OK, Some("sent")), "{sent}");
    assert_ne!(sent["approved_digest"], json!(digest), "the second approval is of other contents");
    let (_, figures) = app.get(&format!("{base}/figures"), &author).await;
    assert_eq!(
        (&figures["author_staff_id"], &figures["editors"], &figures["approver_staff_id"]),
        (&json!(author_id), &json!([author_id, editor_id]), &json!(approver_id))
    );

    // A cancelled notice and a scheduled one are recorded too.
    let (_, other) = app.post("/v1/municipalities/131016/notices", &author, notice_body("中止のお知らせ")).await;
    let other = format!("/v1/municipalities/131016/notices/{}", other["id"].as_str().expect("id"));
    approve(&app, &other, &approver).await;
    let (status, scheduled) =
        app.post(&format!("{other}/schedule"), &author, json!({ "send_at": "2026-12-20T01:00:00Z" })).await;
    assert_eq!((status, scheduled["status"].as_str()), (StatusCode::OK, Some("scheduled")), "{scheduled}");
    let (status, _) = app.post(&format!("{other}/cancel"), &author, json!({})).await;
    assert_eq!(status, StatusCode::OK);

    // The municipality's staff read who did each of it.
    let (status, page) = app.get("/v1/municipalities/131016/audit?limit=100", &author).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let by_action = |action: &str| -> Vec<(String, String)> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|e| e["action"] == action)
            .map(|e| {
                (e["actor_id"].as_str().unwrap_or("").to_owned(), e["target_kind"].as_str().unwrap_or("").to_owned())
            })
            .collect()
    };
    assert_eq!(by_action("notice.created").len(), 2);
    assert!(by_action("notice.created").iter().all(|(actor, kind)| *actor == author_id && kind == "notice"));
    assert_eq!(by_action("notice.updated"), vec![(editor_id.clone(), "notice".into()); 2]);
    assert_eq!(by_action("notice.approved"), vec![(approver_id.clone(), "notice".into()); 3]);
    assert_eq!(by_action("notice.sent"), vec![(author_id.clone(), "notice".into())]);
    assert_eq!(by_action("notice.scheduled"), vec![(author_id.clone(), "notice".into())]);
    assert_eq!(by_action("notice.cancelled"), vec![(author_id.clone(), "notice".into())]);
    assert!(page["items"]
        .as_array()
        .expect("items")
        .iter()
        .all(|e| e["actor_kind"] == "staff" && e["municipality_code"] == "131016"));
}

#[actix_web::test]
async fn a_card_is_registered_only_for_its_holder_and_the_municipality_sees_how_the_signer_was_matched() {
    let s = setup(3000).await;
    let (app, key, family) = (&s.app, &s.key, &s.family);
    let staff = app.create_staff("131016");
    let (_, fam) = app.get(&format!("/v1/families/{family}"), key).await;
    let mother = fam["guardians"][0]["id"].as_str().expect("guardian").to_owned();
    let register = |card: &crate::jpki_ca::Card| {
        let path = format!("/v1/families/{family}/guardians/{mother}/signing-certificate");
        let body = json!({ "certificate": card.certificate_base64() });
        async move { app.call(Method::PUT, &path, Some(key), Some(body)).await }
    };

    // Someone else born the same day: the name on the card can be compared, and differs.
    let namesake_birthday = s.ca.issue(&Holder::new("山田 花江", MOTHER_BORN));
    let (status, refused) = register(&namesake_birthday).await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("not_the_guardians_card")));
    // Another person whose card substitutes a character: what is not substituted still differs.
    let mut other = Holder::new("佐藤 花子", MOTHER_BORN);
    other.name = "佐藤\u{3000}〓子".into();
    other.name_flags = "00010".into();
    let (status, refused) = register(&s.ca.issue(&other)).await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("not_the_guardians_card")));

    // The mother's own card, whose 花 the card could not write (代替文字).
    let mut own = Holder::new(MOTHER, MOTHER_BORN);
    own.name = "山田\u{3000}〓子".into();
    own.name_flags = "00010".into();
    let card = s.ca.issue(&own);
    let (path, document) = confirmed_claim(&s).await;
    let (status, refused) = app.post(&format!("{path}/signature"), key, signature_body(&card, &document)).await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("wrong_signer")));
    let (status, registered) = register(&card).await;
    assert_eq!(status, StatusCode::OK, "{registered}");
    let (status, signed) = app.post(&format!("{path}/signature"), key, signature_body(&card, &document)).await;
    assert_eq!(status, StatusCode::CREATED, "{signed}");
    let submission = signed["submissions"][0]["id"].as_str().expect("submission").to_owned();

    // The municipality sees how the signer was matched, and the name as the card prints it.
    let (status, received) = app.get(&format!("/v1/municipalities/131016/submissions/{submission}"), &staff).await;
    assert_eq!(status, StatusCode::OK, "{received}");
    assert_eq!(received["signer"]["guardian_id"], json!(mother));
    assert_eq!(received["signer"]["matched_by"], "registered_certificate");
    assert_eq!(received["signer"]["name_on_card"], "山田\u{3000}〓子");
    let (_, accepted) = app.get("/v1/municipalities/131016/audit?action=signature.accepted", &staff).await;
    assert_eq!(accepted["items"].as_array().map(Vec::len), Some(1), "{accepted}");
    assert_eq!(accepted["items"][0]["target_id"], json!(submission));
    assert_eq!(accepted["items"][0]["detail"], "registered_certificate");
    assert_eq!(accepted["items"][0]["actor_kind"], "app");

    // The refusals are recorded with their codes and nothing personal, for the operator and in
    // the trail of the municipality the family lives in.
    let (_, municipal) = app.get("/v1/municipalities/131016/audit?action=signature.refused", &staff).await;
    assert_eq!(municipal["items"].as_array().map(Vec::len), Some(1), "{municipal}");
    assert_eq!(municipal["items"][0]["detail"], "wrong_signer");
    let (_, cards) = app.get("/v1/municipalities/131016/audit?action=signing_certificate.refused", &staff).await;
    assert_eq!(cards["items"].as_array().map(Vec::len), Some(2), "{cards}");
    let (_, elsewhere) =
        app.get("/v1/municipalities/131130/audit?action=signature.refused", &app.create_staff("131130")).await;
    assert_eq!(elsewhere["items"], json!([]), "another municipality does not see them");
    let refusals: Vec<(String, String)> = events_of(app, "signing_certificate.refused")
        .iter()
        .map(|e| (e["target_id"].as_str().unwrap_or("").to_owned(), e["detail"].as_str().unwrap_or("").to_owned()))
        .collect();
    assert_eq!(refusals, vec![(mother.clone(), "not_the_guardians_card".to_owned()); 2]);
    let refused = events_of(app, "signature.refused");
    assert_eq!(refused.len(), 1);
    assert_eq!((&refused[0]["target_kind"], &refused[0]["detail"]), (&json!("draft"), &json!("wrong_signer")));
    assert_eq!(events_of(app, "signing_certificate.registered").len(), 1);
    let trail = serde_json::to_string(&events_of(app, "signature.accepted")).expect("json");
    assert!(!trail.contains("山田") && !trail.contains(&card.certificate_base64()), "{trail}");
}

#[actix_web::test]
async fn the_applicant_named_on_the_form_is_compared_with_the_card_not_the_profile() {
    let s = setup(3000).await;
    let (app, key) = (&s.app, &s.key);
    let (path, document) = confirmed_claim(&s).await;
    // The father's own card (a guardian, matched by 基本4情報) cannot sign the mother's claim.
    let father = s.ca.issue(&Holder::new("山田 太郎", "1988-08-08"));
    let (status, refused) = app.post(&format!("{path}/signature"), key, signature_body(&father, &document)).await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("not_the_applicant")));
    // The mother's card, matched by 基本4情報, signs; the record says so.
    let card = s.ca.issue(&Holder::new(MOTHER, MOTHER_BORN));
    let (status, signed) = app.post(&format!("{path}/signature"), key, signature_body(&card, &document)).await;
    assert_eq!(status, StatusCode::CREATED, "{signed}");
    assert_eq!(signed["submissions"][0]["signer"]["matched_by"], "basic_four_match");
    assert_eq!(signed["submissions"][0]["signer"]["name_on_card"], "山田\u{3000}花子");
    let refused = events_of(app, "signature.refused");
    assert_eq!(refused.iter().map(|e| e["detail"].clone()).collect::<Vec<_>>(), vec![json!("not_the_applicant")]);
}

#[actix_web::test]
async fn a_deleted_family_leaves_the_municipality_its_submissions_until_their_retention_ends() {
    let s = setup(3000).await;
    let (app, key, family) = (&s.app, &s.key, &s.family);
    let staff = app.create_staff("131016");
    let (path, document) = confirmed_claim(&s).await;
    let card = s.ca.issue(&Holder::new(MOTHER, MOTHER_BORN));
    let (status, signed) = app.post(&format!("{path}/signature"), key, signature_body(&card, &document)).await;
    assert_eq!(status, StatusCode::CREATED, "{signed}");
    let submission = signed["submissions"][0]["id"].as_str().expect("id").to_owned();
    let staff_path = format!("/v1/municipalities/131016/submissions/{submission}");
    let (status, _) = app.post(&format!("{staff_path}/status"), &staff, json!({ "status": "received" })).await;
    assert_eq!(status, StatusCode::OK);
    let (_, before) = app.get(&staff_path, &staff).await;

    // The vendor deletes the family: its profile is gone for the vendor.
    let (status, _) = app.delete(&format!("/v1/families/{family}"), key).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&format!("/v1/families/{family}"), key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The municipality still reads the submission whole, marked family_deleted.
    let (status, kept) = app.get(&staff_path, &staff).await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert!(kept["family_deleted_at"].is_string(), "{kept}");
    for field in ["document", "signed_document", "signature", "certificate", "verification", "signer", "history"] {
        assert_eq!(kept[field], before[field], "{field} kept as received");
    }
    let (_, list) = app.get("/v1/municipalities/131016/submissions", &staff).await;
    assert!(list["items"][0]["family_deleted_at"].is_string(), "{list}");
    // Its review goes on, but no correction can be asked of a family that is gone.
    let (status, refused) = app
        .post(
            &format!("{staff_path}/status"),
            &staff,
            json!({ "status": "correction_requested", "field_comments": { "child.kana": "フリガナをご確認ください" } }),
        )
        .await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::CONFLICT, Some("family_deleted")), "{refused}");
    let (status, accepted) = app.post(&format!("{staff_path}/status"), &staff, json!({ "status": "accepted" })).await;
    assert_eq!((status, accepted["status"].as_str()), (StatusCode::OK, Some("accepted")), "{accepted}");
    let (_, deleted) = app.get("/v1/municipalities/131016/audit?action=family.deleted", &staff).await;
    assert_eq!(deleted["items"].as_array().map(Vec::len), Some(1), "{deleted}");
    assert_eq!((&deleted["items"][0]["target_id"], &deleted["items"][0]["detail"]), (&json!(family), &json!("1")));
    let (_, changes) = app.get("/v1/municipalities/131016/audit?action=submission.status_changed", &staff).await;
    let statuses: Vec<&str> =
        changes["items"].as_array().expect("items").iter().filter_map(|e| e["detail"].as_str()).collect();
    let number = kept["reference_number"].as_str().expect("受付番号");
    assert_eq!(
        statuses,
        vec![format!("accepted {number}"), format!("received {number}")],
        "newest first, with the 受付番号"
    );

    // The municipality keeps such records 1 year; the daily purge removes them after that.
    let (status, replaced) = app
        .call(
            Method::PUT,
            "/v1/municipalities/131016/settings",
            Some(&staff),
            Some(json!({ "submission_retention_years": 1 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    app.clock.advance(chrono::Duration::days(300));
    nonstop::jobs::scheduler::tick(&app.job_context()).await;
    let (status, _) = app.get(&staff_path, &staff).await;
    assert_eq!(status, StatusCode::OK, "still within its retention");
    app.clock.advance(chrono::Duration::days(70));
    nonstop::jobs::scheduler::tick(&app.job_context()).await;
    app.wait_until("the retained submission purged", |conn| {
        use nonstop::db::schema::{signatures, submissions};
        let left: i64 = submissions::table.count().get_result(conn).expect("count");
        let signed: i64 = signatures::table.count().get_result(conn).expect("count");
        left == 0 && signed == 0
    })
    .await;
    // A year on, the staff key has expired too: the member of staff reads with a new one.
    let staff = app.create_staff("131016");
    let (status, _) = app.get(&staff_path, &staff).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, purged) = app.get("/v1/municipalities/131016/audit?action=submissions.purged", &staff).await;
    assert_eq!((&purged["items"][0]["actor_kind"], &purged["items"][0]["detail"]), (&json!("system"), &json!("1")));
    let (_, settings) = app.get("/v1/municipalities/131016/audit?action=municipality.settings_replaced", &staff).await;
    assert_eq!(settings["items"].as_array().map(Vec::len), Some(1), "{settings}");
}

#[actix_web::test]
async fn sessions_end_on_logout_on_revocation_and_with_the_key_that_minted_them() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family =
        app.create_family(&key, json!({ "municipality_code": "131016", "quiet_hours": awake_quiet_hours() })).await;
    let other = app.create_family(&key, json!({ "municipality_code": "131016" })).await;
    let mint = |with: String| {
        let path = format!("/v1/families/{family}/sessions");
        let app = &app;
        async move {
            let (status, session) = app.post(&path, &with, json!({})).await;
            assert_eq!(status, StatusCode::CREATED, "{session}");
            session["token"].as_str().expect("token").to_owned()
        }
    };
    let works = |token: String| {
        let path = format!("/v1/families/{family}/tasks");
        let app = &app;
        async move { app.get(&path, &token).await.0 == StatusCode::OK }
    };

    // The parent logs out: that session ends, the family's other session does not.
    let (first, second) = (mint(key.clone()).await, mint(key.clone()).await);
    let (status, _) = app.delete(&format!("/v1/families/{other}/sessions/current"), &first).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not the session's family");
    let (status, _) = app.delete(&format!("/v1/families/{family}/sessions/current"), &key).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a vendor key is not a session");
    let (status, _) = app.delete(&format!("/v1/families/{family}/sessions/current"), &first).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!works(first).await);
    assert!(works(second.clone()).await);

    // The vendor ends every session of the family.
    let (status, _) = app.delete(&format!("/v1/families/{family}/sessions"), &key).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!works(second).await);

    // A session minted with a key ends when that key is revoked.
    let (status, created) = app.post("/v1/app/keys", &key, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (rotated_id, rotated) =
        (created["key_id"].as_str().expect("id").to_owned(), created["api_key"].as_str().expect("key").to_owned());
    let minted = mint(rotated).await;
    assert!(works(minted.clone()).await);
    let (status, _) = app.delete(&format!("/v1/app/keys/{rotated_id}"), &key).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!works(minted).await);

    // Each is in the audit trail, by key id, never by secret.
    let events = all_events(&app);
    for action in ["session.created", "session.ended", "sessions.revoked", "app_key.created", "app_key.revoked"] {
        assert!(actions(&events).contains(action), "{action} recorded: {:?}", actions(&events));
    }
    assert_eq!(events_of(&app, "session.created").len(), 3);
    assert_eq!(events_of(&app, "sessions.revoked")[0]["detail"], "1", "one session was left to end");
    assert_eq!(events_of(&app, "session.ended")[0]["actor_kind"], "parent");
    assert_eq!(events_of(&app, "app_key.revoked")[0]["target_id"], json!(rotated_id));
    let trail =
        serde_json::to_string(&events.iter().map(|e| serde_json::to_value(e).expect("json")).collect::<Vec<_>>())
            .expect("json");
    assert!(!trail.contains("nsk_") && !trail.contains("nsp_"), "no secret in the trail: {trail}");
}

#[actix_web::test]
async fn staff_keys_expire_and_an_administrator_lists_and_revokes_them() {
    let app = TestApp::spawn().await;
    let (admin_id, admin) = app.create_staff_key("131016", true);
    let (staff_id, staff) = app.create_staff_key("131016", false);
    let (_, elsewhere) = app.create_staff_key("131130", true);

    let (status, refused) = app.get("/v1/municipalities/131016/staff-keys", &staff).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only an administrator: {refused}");
    let (status, refused) = app.get("/v1/municipalities/131016/staff-keys", &elsewhere).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another municipality's administrator: {refused}");
    let (status, keys) = app.get("/v1/municipalities/131016/staff-keys", &admin).await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    let listed: BTreeSet<(String, bool)> = keys["items"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| (k["staff_id"].as_str().unwrap_or("").to_owned(), k["admin"].as_bool().unwrap_or(false)))
        .collect();
    assert_eq!(listed, BTreeSet::from([(admin_id.clone(), true), (staff_id.clone(), false)]));
    let expires = keys["items"][0]["expires_at"].as_str().expect("expires_at");
    assert!(expires.starts_with("2027-12-01"), "365 days after 2026-12-01: {expires}");
    assert!(!keys.to_string().contains("nsk_staff_"), "no secret listed");

    let (status, _) = app.delete(&format!("/v1/municipalities/131130/staff-keys/{staff_id}"), &elsewhere).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not that municipality's key");
    let (status, _) = app.delete(&format!("/v1/municipalities/131016/staff-keys/{staff_id}"), &admin).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/v1/whoami", &staff).await.0, StatusCode::UNAUTHORIZED);
    let (_, revoked) = app.get("/v1/municipalities/131016/audit?action=staff_key.revoked", &admin).await;
    assert_eq!(
        (&revoked["items"][0]["actor_id"], &revoked["items"][0]["target_id"]),
        (&json!(admin_id), &json!(staff_id)),
        "{revoked}"
    );

    // A year on, the administrator's key has expired; later the daily job purges both rows.
    assert_eq!(app.get("/v1/whoami", &admin).await.0, StatusCode::OK);
    app.clock.advance(chrono::Duration::days(366));
    assert_eq!(app.get("/v1/whoami", &admin).await.0, StatusCode::UNAUTHORIZED);
    app.clock.advance(chrono::Duration::days(91));
    nonstop::jobs::scheduler::tick(&app.job_context()).await;
    app.wait_until("expired staff keys purged", |conn| {
        use nonstop::db::schema::staff_members;
        let left: i64 = staff_members::table.count().get_result(conn).expect("count");
        left == 0
    })
    .await;
}

#[actix_web::test]
async fn the_audit_trail_is_paged_filtered_kept_to_its_municipality_and_append_only() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let staff = app.create_staff("131016");
    let elsewhere = app.create_staff("131130");
    // Three acts of 131016's staff, an hour apart, and one of 131130's.
    for url in ["http://127.0.0.1:9/hook-a", "http://127.0.0.1:9/hook-b"] {
        let (status, set) =
            app.call(Method::PUT, "/v1/municipalities/131016/webhook", Some(&staff), Some(json!({ "url": url }))).await;
        assert!(status.is_success(), "{set}");
        app.clock.advance(chrono::Duration::hours(1));
    }
    let (status, _) = app.delete("/v1/municipalities/131016/webhook", &staff).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.call(
        Method::PUT,
        "/v1/municipalities/131130/webhook",
        Some(&elsewhere),
        Some(json!({ "url": "http://127.0.0.1:9/hook-c" })),
    )
    .await;

    // Paged, newest first.
    let (status, first) = app.get("/v1/municipalities/131016/audit?limit=2", &staff).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let actions_of = |page: &Value| -> Vec<String> {
        page["items"].as_array().expect("items").iter().map(|e| e["action"].as_str().unwrap_or("").to_owned()).collect()
    };
    assert_eq!(actions_of(&first), vec!["webhook.deleted", "webhook.set"]);
    let before = first["next_before"].as_str().expect("another page");
    let (_, second) = app.get(&format!("/v1/municipalities/131016/audit?limit=2&before={before}"), &staff).await;
    assert_eq!(actions_of(&second), vec!["webhook.set"]);
    assert!(second["next_before"].is_null());
    // Filtered by action and by time.
    let (_, sets) = app.get("/v1/municipalities/131016/audit?action=webhook.set", &staff).await;
    assert_eq!(sets["items"].as_array().map(Vec::len), Some(2));
    let second_set_at = sets["items"][0]["occurred_at"].as_str().expect("at").to_owned();
    let since = second_set_at.replace('+', "%2B");
    let (_, recent) = app.get(&format!("/v1/municipalities/131016/audit?since={since}"), &staff).await;
    assert_eq!(actions_of(&recent), vec!["webhook.deleted", "webhook.set"]);
    let (_, older) = app.get(&format!("/v1/municipalities/131016/audit?until={since}"), &staff).await;
    assert_eq!(actions_of(&older), vec!["webhook.set"]);
    // Each request is named by nonstop's own id; a caller's id is kept beside it, never instead
    // of it, so no caller can give its act the id of another's.
    let response = app
        .client
        .put(format!("{}/v1/municipalities/131016/webhook", app.base))
        .bearer_auth(&staff)
        .header("X-Request-Id", "console-42")
        .json(&json!({ "url": "http://127.0.0.1:9/hook-d" }))
        .send()
        .await
        .expect("request");
    assert!(response.status().is_success());
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let ours = header("x-request-id").expect("nonstop's id");
    assert_ne!(ours, "console-42");
    assert_eq!(header("x-client-request-id").as_deref(), Some("console-42"));
    let events = all_events(&app);
    assert_eq!(events[0].request_id.as_deref(), Some(ours.as_str()), "the act is recorded under nonstop's id");
    assert!(events.iter().all(|e| e.request_id.as_deref().is_some_and(|id| !id.is_empty() && id != "console-42")));

    // Bad queries name the field; others' trails are not readable.
    let (status, bad) = app.get("/v1/municipalities/131016/audit?limit=0", &staff).await;
    assert_eq!((status, bad["fields"]["limit"].is_string()), (StatusCode::BAD_REQUEST, true), "{bad}");
    let (status, bad) = app.get("/v1/municipalities/131016/audit?action=notice.deleted", &staff).await;
    assert!(status.is_client_error(), "{bad}");
    assert_eq!(app.get("/v1/municipalities/131016/audit", &elsewhere).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/v1/municipalities/131016/audit", &key).await.0, StatusCode::FORBIDDEN);
    let (_, theirs) = app.get("/v1/municipalities/131130/audit", &elsewhere).await;
    assert_eq!(actions_of(&theirs), vec!["webhook.set"]);

    // The database refuses to change or remove an event.
    use nonstop::db::schema::audit_events;
    let mut conn = app.db.get().expect("conn");
    let changed = diesel::update(audit_events::table).set(audit_events::detail.eq(Some("forged"))).execute(&mut *conn);
    assert!(changed.is_err(), "an update is refused");
    assert!(diesel::delete(audit_events::table).execute(&mut *conn).is_err(), "a deletion is refused");
    let left: i64 = audit_events::table.count().get_result(&mut *conn).expect("count");
    assert_eq!(left, 5);
}

#[actix_web::test]
async fn a_scheduled_notice_goes_out_only_as_approved_and_the_scheduler_is_recorded() {
    let app = TestApp::spawn().await;
    let (_, author) = app.create_staff_key("131016", false);
    let (_, approver) = app.create_staff_key("131016", false);
    let mut paths = Vec::new();
    for title in ["予定どおり", "書き換えられる"] {
        let (_, draft) = app.post("/v1/municipalities/131016/notices", &author, notice_body(title)).await;
        let path = format!("/v1/municipalities/131016/notices/{}", draft["id"].as_str().expect("id"));
        approve(&app, &path, &approver).await;
        let (status, scheduled) =
            app.post(&format!("{path}/schedule"), &author, json!({ "send_at": "2026-12-01T04:00:00Z" })).await;
        assert_eq!((status, scheduled["status"].as_str()), (StatusCode::OK, Some("scheduled")), "{scheduled}");
        paths.push(path);
    }
    {
        use nonstop::db::schema::notices;
        let mut conn = app.db.get().expect("conn");
        let target = paths[1].rsplit('/').next().expect("id").to_owned();
        let content: String = notices::table.find(&target).select(notices::content).first(&mut *conn).expect("content");
        diesel::update(notices::table.find(&target))
            .set(notices::content.eq(content.replace("書き換えられる", "承認後に差し替え")))
            .execute(&mut *conn)
            .expect("tamper");
    }
    app.clock.advance(chrono::Duration::hours(2));
    nonstop::jobs::scheduler::tick(&app.job_context()).await;
    app.wait_until("the scheduled notices handled", |conn| {
        use nonstop::db::schema::notices;
        let scheduled: i64 =
            notices::table.filter(notices::status.eq("scheduled")).count().get_result(conn).expect("count");
        scheduled == 0
    })
    .await;
    let (_, sent) = app.get(&paths[0], &author).await;
    assert_eq!(sent["status"], "sent");
    let (_, returned) = app.get(&paths[1], &author).await;
    assert_eq!(returned["status"], "draft", "not what was approved: back to draft");
    let (_, trail) = app.get("/v1/municipalities/131016/audit?limit=100", &author).await;
    let by_system: Vec<(String, String)> = trail["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["actor_kind"] == "system")
        .map(|e| (e["action"].as_str().unwrap_or("").to_owned(), e["target_id"].as_str().unwrap_or("").to_owned()))
        .collect();
    let id = |path: &str| path.rsplit('/').next().expect("id").to_owned();
    assert_eq!(
        by_system.into_iter().collect::<BTreeSet<_>>(),
        BTreeSet::from([
            ("notice.sent".to_owned(), id(&paths[0])),
            ("notice.approval_outdated".to_owned(), id(&paths[1]))
        ])
    );
}

/// Each action the trail can record is read back by a test here, in `cli.rs` or in
/// `console_sign_in.rs`: a new action without one fails this.
#[test]
fn every_audit_action_is_read_back_by_a_test() {
    let tests = [
        include_str!("accountability.rs"),
        include_str!("cli.rs"),
        include_str!("console_sign_in.rs"),
        include_str!("console_desk.rs"),
        include_str!("console_hand_off.rs"),
    ]
    .concat();
    let unread: Vec<&str> = nonstop::service::audit::AuditAction::ALL
        .iter()
        .map(|a| a.as_str())
        .filter(|action| !tests.contains(&format!("\"{action}\"")) && !tests.contains(&format!("={action}")))
        .collect();
    assert!(unread.is_empty(), "audit actions no test reads back: {unread:?}");
}
