//! The submissions desk in a real browser: each submission's 受付番号, the worklist (applicant
//! and child, days waiting, counts per status, search by name, kana or number, paging with the
//! total), taking a submission (担当) and keeping notes on it, walked with the keyboard alone.

use std::time::Duration;

use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::console::{assert_accessible, click_through, fill, path, sign_in, staff_account, text, Driver, PASSWORD};
use crate::jpki_ca::Holder;
use crate::submissions::{draft_of, setup, signature_body, Setup, MOTHER, MOTHER_BORN};

/// The family's guardian named `mother` signs the 児童手当 claim of their child; returns the
/// submission as the parent's app reads it.
pub async fn sign_claim(s: &Setup, family: &str, mother: (&str, &str), child_kana: &str, more: Value) -> Value {
    let (app, key) = (&s.app, &s.key);
    let draft = app.open_draft(key, family, "child_allowance_claim").await;
    let draft_path = format!("/v1/families/{family}/drafts/{}", draft["id"].as_str().expect("id"));
    let mut values =
        json!({ "consent.public_records": true, "child.kana": child_kana, "payment.use_public_account": true });
    values.as_object_mut().expect("values").extend(more.as_object().cloned().unwrap_or_default());
    let values = json!({ "values": values });
    let (status, patched) = app.patch(&draft_path, key, values).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let (_, confirmed) = app.post(&format!("{draft_path}/confirm"), key, json!({})).await;
    let document = confirmed["confirmed"]["document"].as_str().unwrap_or_else(|| panic!("{confirmed}")).to_owned();
    let card = s.ca.issue(&Holder::new(mother.0, mother.1));
    let (status, signed) = app.post(&format!("{draft_path}/signature"), key, signature_body(&card, &document)).await;
    assert_eq!(status, StatusCode::CREATED, "{signed}");
    signed["submissions"][0].clone()
}

/// A second family of 131016, whose child was born two days ago.
async fn another_family(s: &Setup) -> String {
    let family = s
        .app
        .create_family(
            &s.key,
            json!({
                "municipality_code": "131016",
                "postal_code": "1000001",
                "address": "千代田2-2-2",
                "health_insurance": "national",
                "guardians": [{ "relationship": "mother", "full_name": "鈴木 美咲", "full_name_kana": "スズキ ミサキ", "birth_date": "1992-05-05", "phone": "090-2222-3333" }]
            }),
        )
        .await;
    let (status, born) = s
        .app
        .post(
            &format!("/v1/families/{family}/events"),
            &s.key,
            json!({ "type": "birth", "date": crate::helpers::tokyo_day(-2), "birth_weight_grams": 3100, "full_name": "鈴木 はると", "sex": "male" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{born}");
    family
}

/// Presses Tab until the focused element matches `css` (at most 80 presses).
async fn tab_to(c: &Client, css: &str) {
    for _ in 0..80 {
        let focused = c
            .execute(
                "return !!document.activeElement && document.activeElement.matches(arguments[0]);",
                vec![json!(css)],
            )
            .await
            .expect("focus");
        if focused == json!(true) {
            return;
        }
        // Pressed on the keyboard, not typed into the focused element: a file input would take
        // typed keys for a file name.
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let tab = char::from(Key::Tab);
        let press =
            KeyActions::new("keyboard".into()).then(KeyAction::Down { value: tab }).then(KeyAction::Up { value: tab });
        c.perform_actions(press).await.expect("tab");
    }
    panic!("Tab never reached {css} on {}", path(c).await);
}

/// Presses a key on the focused element and waits for the page it leads to.
async fn press_through(c: &Client, key: Key) {
    let old = c.find(Locator::Css("html")).await.expect("page");
    c.active_element().await.expect("focus").send_keys(&char::from(key).to_string()).await.expect("key");
    for _ in 0..100 {
        if old.tag_name().await.is_err()
            && c.execute("return document.readyState", vec![]).await.expect("state") == "complete"
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the key led nowhere from {}", path(c).await);
}

/// Types into the focused element.
async fn type_here(c: &Client, text: &str) {
    c.active_element().await.expect("focus").send_keys(text).await.expect("type");
}

#[actix_web::test]
async fn staff_find_take_and_annotate_a_submission_by_number_name_or_kana_with_the_keyboard_alone() {
    let s = setup(3000).await;
    let (app, key) = (&s.app, &s.key);
    let base = app.base.clone();
    let first = sign_claim(&s, &s.family, (MOTHER, MOTHER_BORN), "ヤマダ サクラ", json!({})).await;
    let suzuki = another_family(&s).await;
    let second =
        sign_claim(&s, &suzuki, ("鈴木 美咲", "1992-05-05"), "スズキ ハルト", json!({ "spouse.exists": false })).await;
    // 受付番号: the municipality's count for 2026, in the order received; the parent's app sees it.
    assert_eq!(
        (first["reference_number"].as_str(), second["reference_number"].as_str()),
        (Some("2026-000001"), Some("2026-000002"))
    );
    let (_, seen) =
        app.get(&format!("/v1/families/{suzuki}/submissions/{}", second["id"].as_str().expect("id")), key).await;
    assert_eq!(seen["reference_number"], "2026-000002", "{seen}");
    let _ = draft_of(&s, "birth_registration").await;

    // Two days later in Japan, the worklist: who applied, for which child, how long it waited.
    app.clock.advance(chrono::Duration::days(2));
    staff_account(app, "131016", "佐藤 花子", "sato");
    let driver = Driver::start().await;
    let c = driver.browser().await;
    sign_in(&c, &base, "sato", PASSWORD).await;
    c.goto(&format!("{base}/console/submissions")).await.expect("goto");
    let rows = text(&c, "#worklist tbody").await;
    for expected in [
        "2026-000001",
        "2026-000002",
        MOTHER,
        "ヤマダ ハナコ",
        "山田 さくら",
        "鈴木 美咲",
        "スズキ ハルト",
        "2日",
        "未受付",
        "（なし）",
    ] {
        assert!(rows.contains(expected), "{expected} in {rows}");
    }
    assert_eq!(text(&c, "#result-count").await, "2件中 1〜2件目");
    assert!(text(&c, "#count-submitted").await.contains("2件"));
    assert!(text(&c, "#count-accepted").await.contains("0件"));
    assert_accessible(&c, "submissions-desk").await;

    // Found by kana typed in hiragana, by part of a name, and by number.
    for (query, expected, other) in [
        ("すずき", "2026-000002", "2026-000001"),
        ("山田", "2026-000001", "2026-000002"),
        ("000002", "2026-000002", "2026-000001"),
    ] {
        fill(&c, "q", query).await;
        click_through(&c, "form.filters button[type=submit]").await;
        let rows = text(&c, "#worklist tbody").await;
        assert!(rows.contains(expected) && !rows.contains(other), "{query}: {rows}");
        assert_eq!(text(&c, "#result-count").await, "1件中 1〜1件目", "{query}");
    }

    // With the keyboard alone: search, open, take it, leave a note.
    c.goto(&format!("{base}/console/submissions")).await.expect("goto");
    tab_to(&c, "#q").await;
    type_here(&c, "ヤマダ").await;
    press_through(&c, Key::Enter).await;
    tab_to(&c, "#worklist tbody a").await;
    press_through(&c, Key::Enter).await;
    assert_eq!(path(&c).await, format!("/console/submissions/{}", first["id"].as_str().expect("id")));
    assert!(text(&c, "#reference-number").await.contains("2026-000001"));
    tab_to(&c, "#take").await;
    press_through(&c, Key::Enter).await;
    assert_eq!(text(&c, "#done").await, "担当になりました。");
    assert_eq!(text(&c, "#assignee").await, "担当: 佐藤 花子");
    tab_to(&c, "#note").await;
    type_here(&c, "電話で口座を確認済み").await;
    tab_to(&c, "form[action$='/notes'] button").await;
    press_through(&c, Key::Enter).await;
    assert_eq!(text(&c, "#done").await, "メモを残しました。");
    assert!(text(&c, "#notes").await.contains("佐藤 花子: 電話で口座を確認済み"));
    assert_accessible(&c, "submission-desk").await;

    // A status set through the API by another member of staff: the history names who.
    let staff = app.create_staff("131016");
    let staff_path = format!("/v1/municipalities/131016/submissions/{}", first["id"].as_str().expect("id"));
    let (status, received) = app.post(&format!("{staff_path}/status"), &staff, json!({ "status": "received" })).await;
    assert_eq!(status, StatusCode::OK, "{received}");
    c.refresh().await.expect("reload");
    assert!(text(&c, "#history").await.contains("受付（窓口 担当）"), "{}", text(&c, "#history").await);

    // 自分の担当: only the one taken.
    c.goto(&format!("{base}/console/submissions?assigned=mine")).await.expect("goto");
    let rows = text(&c, "#worklist tbody").await;
    assert!(rows.contains("2026-000001") && rows.contains("佐藤 花子") && !rows.contains("2026-000002"), "{rows}");

    // Given back; the audit trail has both acts and the note, without its text.
    c.goto(&format!("{base}/console/submissions/{}", first["id"].as_str().expect("id"))).await.expect("goto");
    click_through(&c, "button[value=release]").await;
    assert_eq!(text(&c, "#assignee").await, "担当はまだいません。");
    let (_, assigned) = app.get("/v1/municipalities/131016/audit?action=submission.assigned", &staff).await;
    let details: Vec<&str> =
        assigned["items"].as_array().expect("items").iter().filter_map(|e| e["detail"].as_str()).collect();
    assert_eq!(details, vec!["released", "taken"], "{assigned}");
    let (_, noted) = app.get("/v1/municipalities/131016/audit?action=submission.note_added", &staff).await;
    assert_eq!(noted["items"].as_array().map(Vec::len), Some(1), "{noted}");
    assert!(!noted.to_string().contains("口座"), "the note's text stays out of the trail");
    c.close().await.expect("close");
}

#[actix_web::test]
async fn the_worklist_pages_through_every_submission_and_says_how_many() {
    let s = setup(2400).await;
    let (app, key, family) = (&s.app, &s.key, &s.family);
    // The birth bundle: one signature, several submissions.
    let draft = draft_of(&s, "child_allowance_claim").await;
    let bundle = draft["bundle_id"].as_str().expect("bundle").to_owned();
    let path_ = format!("/v1/families/{family}/bundles/{bundle}");
    let (_, opened) = app.get(&path_, key).await;
    let answers = json!({
        "legitimacy": "嫡出子", "surname_kana": "ヤマダ", "birth_order": "長女", "child.birth_time": "09:15",
        "child.birth_place": "千代田区千代田2-2-2", "honseki": "東京都千代田区千代田1番", "honseki_head": "山田 太郎",
        "household_main_work": "4 勤労者（3以外）・役員", "child.gestation_weeks": 36, "consent.public_records": true,
        "payment.use_public_account": true, "insurance.pending": true, "child.kana": "ヤマダ サクラ"
    });
    let values: serde_json::Map<String, Value> = opened["to_fill"]
        .as_array()
        .expect("to fill")
        .iter()
        .filter_map(Value::as_str)
        .map(|id| (id.to_owned(), answers[id].clone()))
        .collect();
    let (status, filled) = app.patch(&path_, key, json!({ "values": values })).await;
    assert_eq!(status, StatusCode::OK, "{filled}");
    let (_, confirmed) = app.post(&format!("{path_}/confirm"), key, json!({})).await;
    let document = confirmed["confirmed"]["document"].as_str().expect("document").to_owned();
    let card = s.ca.issue(&Holder::new(MOTHER, MOTHER_BORN));
    let (status, signed) = app.post(&format!("{path_}/signature"), key, signature_body(&card, &document)).await;
    assert_eq!(status, StatusCode::CREATED, "{signed}");
    let made = signed["submissions"].as_array().expect("submissions").len() as i64;
    assert!(made >= 3, "{signed}");

    // Two to a page: every submission on one page or the next, the total said on each.
    let mut conn = app.db.get().expect("conn");
    let keys = app.settings.key_ring().expect("keys");
    let ctx = nonstop::domain::planner::PlanningContext::shipped();
    let code = nonstop::domain::MunicipalityCode::parse("131016").expect("code");
    let today = nonstop::domain::dates::tokyo_date(app.clock.now().and_utc());
    use nonstop::service::submissions::desk::{worklist, DeskQuery};
    let mut seen = Vec::new();
    let pages = (made + 1) / 2;
    for page in 1..=pages + 1 {
        let query = DeskQuery { page, per_page: Some(2), ..Default::default() };
        let listed = worklist(&mut conn, &keys, &ctx, &code, "nobody", &query, today).expect("worklist");
        assert_eq!((listed.total, listed.pages, listed.page), (made, pages, page));
        let expected_rows = if page <= pages { (made - 2 * (page - 1)).min(2) } else { 0 };
        assert_eq!(listed.rows.len() as i64, expected_rows, "page {page}");
        seen.extend(listed.rows.into_iter().map(|r| r.reference_number));
    }
    let expected: Vec<String> = (1..=made).rev().map(|n| format!("2026-{n:06}")).collect();
    assert_eq!(seen, expected, "newest first, each once");
}
