//! 30.16 in a real browser: staff start a notice from a starting text (ひな形) and must write
//! over its blanks, and copy a notice into a new draft that keeps its languages but not its
//! dates.

use fantoccini::Locator;
use serde_json::json;

use crate::console::{assert_accessible, click_through, fill, path, sign_in, staff_account, text, Driver, PASSWORD};
use crate::helpers::TestApp;

#[actix_web::test]
async fn staff_start_from_a_starter_and_must_write_over_its_blanks() {
    let app = TestApp::spawn().await;
    let base = app.base.clone();
    resident_family(&app).await;
    staff_account(&app, "131016", "佐藤 花子", "sato");
    let driver = Driver::start().await;
    let c = driver.browser().await;
    sign_in(&c, &base, "sato", PASSWORD).await;
    c.goto(&format!("{base}/console/notices/new")).await.expect("goto");
    let offered = text(&c, "#starters").await;
    for name in ["乳幼児健診のご案内", "予防接種のお知らせ", "子育て広場のご案内"] {
        assert!(offered.contains(name), "{offered}");
    }
    assert_accessible(&c, "notice-starters").await;

    click_through(&c, "#starters a[href$='starter=checkup']").await;
    let value = |id: &'static str| {
        let c = c.clone();
        async move {
            let element = c.find(Locator::Id(id)).await.expect(id);
            element.prop("value").await.expect("value").unwrap_or_default()
        }
    };
    assert_eq!(value("category").await, "checkup");
    assert!(value("ja_body").await.contains("母子健康手帳"));
    assert!(value("en_title").await.starts_with("Health checkup"));

    // Saved as it came: each blank left is named at its field, and what was typed stays.
    fill(&c, "ja_title", "4か月児健康診査のご案内").await;
    click_through(&c, "#compose button[type=submit]").await;
    assert_eq!(path(&c).await, "/console/notices");
    assert!(text(&c, "#ja_body-error").await.contains("ひな形の［ ］の部分を書き換えてください"));
    assert!(text(&c, "#en_title-error").await.contains("ひな形の［ ］"));
    assert_eq!(value("ja_title").await, "4か月児健康診査のご案内");
    assert_accessible(&c, "notice-starter-blanks").await;

    fill(&c, "ja_body", "日時：1月14日 13時から\n会場：中央保健センター\n持ち物：母子健康手帳").await;
    fill(&c, "en_title", "Health checkup at 4 months").await;
    fill(&c, "en_body", "14 January from 1 pm at the Central Health Centre.").await;
    click_through(&c, "#compose button[type=submit]").await;
    assert!(path(&c).await.starts_with("/console/notices/0"), "saved: {}", path(&c).await);
    assert!(text(&c, ".previews").await.contains("中央保健センター"));
}

#[actix_web::test]
async fn a_copied_notice_is_a_new_draft_with_every_language_and_without_the_old_dates() {
    let app = TestApp::spawn().await;
    let base = app.base.clone();
    resident_family(&app).await;
    staff_account(&app, "131016", "佐藤 花子", "sato");
    let now = app.clock.now();
    let code = nonstop::domain::MunicipalityCode::parse("131016").expect("code");
    let input = serde_json::from_value(json!({
        "category": "event",
        "texts": {
            "ja": { "title": "子育て広場", "body": "毎週水曜日に開いています。" },
            "en": { "title": "Play space", "body": "Open every Wednesday." },
            "vi": { "title": "Không gian vui chơi", "body": "Mở cửa vào thứ Tư hằng tuần." }
        },
        "questionnaire": { "question": "来ますか", "kind": "single", "choices": ["はい", "いいえ"],
                           "reply_deadline": (app.clock.now_utc() + chrono::Duration::days(7)).to_rfc3339() },
        "expires_at": (app.clock.now_utc() + chrono::Duration::days(30)).to_rfc3339()
    }))
    .expect("notice");
    let source = {
        let mut conn = app.db.get().expect("conn");
        nonstop::db::write_transaction(&mut conn, |c| nonstop::service::notices::create(c, &code, "author", input, now))
            .expect("notice")
    };

    let driver = Driver::start().await;
    let c = driver.browser().await;
    sign_in(&c, &base, "sato", PASSWORD).await;
    c.goto(&format!("{base}/console/notices/{}", source.id)).await.expect("goto");
    click_through(&c, "#duplicate").await;
    assert!(text(&c, "#copied").await.contains("写し"));
    assert_accessible(&c, "notice-copy").await;
    fill(&c, "ja_title", "子育て広場（2月）").await;
    click_through(&c, "#compose button[type=submit]").await;
    let copy_id = path(&c).await.trim_start_matches("/console/notices/").to_owned();
    assert_ne!(copy_id, source.id);
    assert_eq!(text(&c, "#notice-status").await, "下書き");

    let mut conn = app.db.get().expect("conn");
    let copy = nonstop::service::notices::get(&mut conn, &code, &copy_id).expect("copy");
    assert_eq!(copy.texts["ja"].title, "子育て広場（2月）");
    assert_eq!(copy.texts["vi"].body, "Mở cửa vào thứ Tư hằng tuần.", "the languages the composer does not show");
    assert!(copy.expires_at.is_none(), "the source's end date is not copied");
    let question = copy.questionnaire.as_ref().expect("questionnaire");
    assert_eq!((question.choices.len(), question.reply_deadline), (2, None));
    let original = nonstop::service::notices::get(&mut conn, &code, &source.id).expect("source");
    assert_eq!(original.texts["ja"].title, "子育て広場", "the source is unchanged");
}

/// A family living in 千代田区 with a child of four months: a notice reaches someone (a notice
/// reaching no family is refused before saving).
async fn resident_family(app: &TestApp) {
    let (_, key) = app.create_app("vendor");
    app.create_family(
        &key,
        json!({ "municipality_code": "131016",
                "children": [{ "status": "born", "birth_date": crate::notices::born_months_ago(4), "birth_weight_grams": 3000 }] }),
    )
    .await;
}
