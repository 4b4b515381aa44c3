//! Sending safely from the console, in a real browser (issue 30 items 7, 11, 12, 13, 15): what
//! cannot be undone is said in words and confirmed (with the keyboard alone, and without
//! JavaScript), problems are caught before saving and shown at their fields in the console's
//! language, every act is followed by a message, the header names the municipality, staff read
//! no system words, and two-step sign-in is set up from a QR code drawn by the server.

use fantoccini::{Client, Locator};
use reqwest::StatusCode;
use serde_json::json;

use crate::console::{
    assert_accessible, click_through, fill, path, sign_in, staff_account, text, wait_for_text, Driver, PASSWORD,
};
use crate::helpers::TestApp;
use crate::jpki_ca::Holder;
use crate::notices::born_months_ago;
use crate::submissions::{draft_of, setup, signature_body, MOTHER, MOTHER_BORN};

/// WebDriver's keys (W3C WebDriver, "Keyboard actions").
const TAB: &str = "\u{e004}";
const ENTER: &str = "\u{e007}";

/// Words staff should not have to learn (issue 30 item 13): none on any page they read.
async fn assert_plain_words(c: &Client, page: &str) {
    let shown = text(c, "body").await;
    for word in ["カタログ", "常設", "バイト", "あきらめた送信"] {
        assert!(!shown.contains(word), "{page} says {word:?}: {shown}");
    }
    let bare_n = shown.split(|ch: char| !ch.is_ascii_alphanumeric()).any(|w| w == "n");
    assert!(!bare_n, "{page} shows a bare \"n\": {shown}");
}

/// The id of the element that has the focus.
async fn focused(c: &Client) -> String {
    let id = c.execute("return document.activeElement && document.activeElement.id", vec![]).await.expect("focus");
    id.as_str().unwrap_or_default().to_owned()
}

/// Presses `key` on whatever has the focus.
async fn press(c: &Client, key: &str) {
    // Pressed on the keyboard, not typed into the focused element: a file input would take typed
    // keys for a file name.
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let key = key.chars().next().expect("a key");
    let press =
        KeyActions::new("keyboard".into()).then(KeyAction::Down { value: key }).then(KeyAction::Up { value: key });
    c.perform_actions(press).await.expect("key");
}

/// Presses Enter on the focused element and waits for the page it leads to.
async fn press_enter_through(c: &Client) {
    let old = c.find(Locator::Css("html")).await.expect("page");
    press(c, ENTER).await;
    for _ in 0..100 {
        if old.tag_name().await.is_err() {
            let ready = c.execute("return document.readyState", vec![]).await.expect("state");
            if ready == "complete" {
                return;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("Enter led nowhere from {}", path(c).await);
}

/// Sets an input's value as a date or time picker would (typing into one depends on the locale).
async fn set_value(c: &Client, id: &str, value: &str) {
    c.execute("document.getElementById(arguments[0]).value = arguments[1];", vec![json!(id), json!(value)])
        .await
        .expect("value set");
}

async fn attr(c: &Client, css: &str, name: &str) -> Option<String> {
    c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).attr(name).await.expect("attribute")
}

async fn value(c: &Client, id: &str) -> String {
    let element = c.find(Locator::Id(id)).await.unwrap_or_else(|e| panic!("{id}: {e}"));
    element.prop("value").await.expect("value").unwrap_or_default()
}

/// A field shown refused: `aria-invalid`, its message named by `aria-describedby`, and the
/// summary linking to it.
async fn assert_refused_at(c: &Client, id: &str, message: &str) {
    assert_eq!(attr(c, &format!("#{id}"), "aria-invalid").await.as_deref(), Some("true"), "{id}");
    let described = attr(c, &format!("#{id}"), "aria-describedby").await.unwrap_or_default();
    assert!(described.split(' ').any(|d| d == format!("{id}-error")), "{id}: {described}");
    assert_eq!(text(c, &format!("#{id}-error")).await, message, "{id}");
    assert!(c.find(Locator::Css(&format!("#error-summary a[href='#{id}']"))).await.is_ok(), "{id} in the summary");
}

#[actix_web::test]
async fn sending_says_how_many_families_and_when_and_problems_are_caught_at_their_fields_before_saving() {
    // Every count shown exactly (the threshold has its own test).
    let app = TestApp::spawn_with(|s| s.notices.audience_count_threshold = 0).await;
    let base = app.base.clone();
    let (_, key) = app.create_app("vendor");
    // Two families keep the usual おやすみ時間 (20:00-09:00); one is awake until 23:00.
    for (months, quiet) in [(2, None), (10, None), (4, Some(json!({ "start": "23:00", "end": "06:00" })))] {
        let mut family = json!({ "municipality_code": "131016",
            "guardians": [{ "relationship": "mother", "full_name": format!("住民 {months}") }],
            "children": [{ "status": "born", "birth_date": born_months_ago(months), "birth_weight_grams": 3000 }] });
        if let Some(quiet) = quiet {
            family["quiet_hours"] = quiet;
        }
        app.create_family(&key, family).await;
    }
    staff_account(&app, "131016", "佐藤 花子", "sato");
    staff_account(&app, "131016", "鈴木 一郎", "suzuki");
    let driver = Driver::start().await;
    let author = driver.browser().await;
    sign_in(&author, &base, "sato", PASSWORD).await;
    assert_eq!(text(&author, "#municipality-name").await, "千代田区", "the header names the municipality");

    // First round: what the composer itself reads (a month that is no number, an end already past).
    author.goto(&format!("{base}/console/notices/new")).await.expect("goto");
    wait_for_text(&author, "#audience-size", "3").await;
    author.find(Locator::Id("category")).await.expect("category").select_by_value("event").await.expect("select");
    fill(&author, "ja_title", "子育て広場のご案内").await;
    fill(&author, "ja_body", "毎週水曜に子育て広場を開きます。").await;
    fill(&author, "age_max", "十二").await;
    set_value(&author, "expires_on", "2026-11-30").await;
    click_through(&author, "#compose button[type=submit]").await;
    assert_eq!(focused(&author).await, "error-summary", "the summary takes the focus");
    assert_eq!(text(&author, "#error-summary h2").await, "入力を確かめてください（2 件）");
    assert_refused_at(&author, "age_max", "数字で入力してください").await;
    assert_refused_at(&author, "expires_on", "掲載終了日が今日より前です。今日以降の日を選んでください。").await;
    assert_eq!(value(&author, "ja_title").await, "子育て広場のご案内", "nothing typed is lost");
    assert_eq!(value(&author, "age_max").await, "十二");
    assert!(author.find(Locator::Css("#ja_title[aria-invalid]")).await.is_err(), "a good field is not marked");
    assert_accessible(&author, "notice-compose-problems").await;
    // The summary's link takes the keyboard to the field.
    click_through_link(&author, "#error-summary a[href='#age_max']").await;
    assert_eq!(focused(&author).await, "age_max");

    // Second round: the use case's own problem, in Japanese, at its field.
    fill(&author, "age_max", "12").await;
    set_value(&author, "expires_on", "").await;
    fill(&author, "links", "会場の地図 http://www.city.example.lg.jp/map.pdf").await;
    click_through(&author, "#compose button[type=submit]").await;
    assert_refused_at(&author, "links", "https:// で始まる URL を入力してください。").await;
    assert!(text(&author, "#error-summary").await.contains("リンク・添付: https:// で始まる URL"));
    assert!(!text(&author, "main").await.contains("must be"), "no English from the API");

    // Third round: conditions that reach no family are caught before saving.
    fill(&author, "links", "会場の地図 https://www.city.example.lg.jp/map.pdf").await;
    author.find(Locator::Id("single_parent")).await.expect("field").select_by_value("yes").await.expect("select");
    click_through(&author, "#compose button[type=submit]").await;
    assert_eq!(
        text(&author, "#audience-error").await,
        "この条件に当てはまる住民の世帯は、いま 0 世帯です。条件を見直してください。"
    );
    assert_eq!(attr(&author, "#error-summary a", "href").await.as_deref(), Some("#audience"));
    assert_accessible(&author, "notice-compose-nobody").await;

    // Saved at last, with a message; before sending, the notice counts its families (never 0).
    author.find(Locator::Id("single_parent")).await.expect("field").select_by_value("").await.expect("select");
    click_through(&author, "#compose button[type=submit]").await;
    assert_eq!(text(&author, "#done").await, "下書きを保存しました。送信には、ほかの職員の承認が必要です。");
    assert_eq!(text(&author, "#audience-figure").await, "3");
    assert_plain_words(&author, "notice").await;
    let notice_path = path(&author).await;

    let colleague = driver.browser().await;
    sign_in(&colleague, &base, "suzuki", PASSWORD).await;
    colleague.goto(&format!("{base}{notice_path}")).await.expect("goto");
    click_through(&colleague, "form[action$='/approve'] button").await;
    assert_eq!(text(&colleague, "#done").await, "承認しました。");

    // Sending now is said with its count, and going back sends nothing.
    click_through(&colleague, "form[action$='/send'] button").await;
    assert_eq!(text(&colleague, "#confirm-heading").await, "3世帯に送信します");
    assert!(colleague.find(Locator::Css("#confirm-details li:nth-child(2)")).await.is_err(), "none held at noon");
    assert_accessible(&colleague, "confirm-send").await;
    assert_plain_words(&colleague, "confirm-send").await;
    click_through(&colleague, "#confirm-back").await;
    assert_eq!(text(&colleague, "#notice-status").await, "承認済み", "nothing was sent");

    // A time in the past is refused at its field, as typed.
    set_value(&colleague, "send_at", "2026-11-30T09:00").await;
    click_through(&colleague, "form[action$='/schedule'] button").await;
    assert_refused_at(&colleague, "send_at", "過去の日時は選べません。").await;
    assert_eq!(value(&colleague, "send_at").await, "2026-11-30T09:00");
    assert_accessible(&colleague, "notice-schedule-problem").await;

    // Scheduled for 21:00 with the keyboard alone: the confirmation says that the two families
    // asleep then get it at 09:00 the next morning (their おやすみ時間 end), and is confirmed
    // with Tab and Enter.
    set_value(&colleague, "send_at", "2026-12-01T21:00").await;
    colleague.execute("document.getElementById('send_at').focus();", vec![]).await.expect("focus");
    press_enter_through(&colleague).await;
    assert_eq!(text(&colleague, "#confirm-heading").await, "3世帯に送信します");
    let details = text(&colleague, "#confirm-details").await;
    assert!(details.contains("送信日時: 2026-12-01 21:00"), "{details}");
    assert!(
        details.contains("うち 2世帯は、おやすみ時間（通知を鳴らさない時間帯）のため 2026-12-02 09:00 に届きます。"),
        "{details}"
    );
    assert_eq!(focused(&colleague).await, "confirm-heading", "the confirmation is read first");
    press(&colleague, TAB).await;
    assert_eq!(focused(&colleague).await, "confirm-button");
    press_enter_through(&colleague).await;
    assert_eq!(text(&colleague, "#done").await, "送信を予約しました。");
    assert_eq!(text(&colleague, "#notice-status").await, "予約");
    assert_eq!(text(&colleague, "#audience-figure").await, "3", "scheduled, still counted before it goes");

    // Cancelling, without JavaScript: the confirmation is a page of its own.
    let plain = driver.browser_without_script().await;
    sign_in(&plain, &base, "suzuki", PASSWORD).await;
    plain.goto(&format!("{base}{notice_path}")).await.expect("goto");
    click_through(&plain, "form[action$='/cancel'] button").await;
    assert_eq!(text(&plain, "#confirm-heading").await, "「子育て広場のご案内」を取り消します");
    // (axe-core runs as a script: the same page is checked with scripts on, as confirm-send.)
    click_through(&plain, "#confirm-button").await;
    assert_eq!(text(&plain, "#done").await, "お知らせを取り消しました。");
    assert_eq!(text(&plain, "#notice-status").await, "取消");

    // A form posted again after the act (another tab) is answered on the notice's page, in words.
    let cookie = plain.get_named_cookie("nonstop_console").await.expect("cookie");
    let csrf = attr(&plain, "form[action='/console/sign-out'] input[name=csrf]", "value").await.expect("token");
    let again = reqwest::Client::new()
        .post(format!("{base}{notice_path}/send"))
        .header("Cookie", format!("nonstop_console={}", cookie.value()))
        .form(&[("csrf", csrf.as_str()), ("confirmed", "yes")])
        .send()
        .await
        .expect("posted");
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let page = again.text().await.expect("page");
    assert!(page.contains("承認されたお知らせだけを送信できます") && page.contains("id=\"notice-status\""), "{page}");
    for c in [author, colleague, plain] {
        c.close().await.expect("close");
    }
}

/// Follows an in-page link (`#field`) and waits until the focus has moved.
async fn click_through_link(c: &Client, css: &str) {
    c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.expect("click");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
}

#[actix_web::test]
async fn rejecting_and_a_new_webhook_key_are_confirmed_and_two_step_is_set_up_from_a_qr_code_or_its_text() {
    let s = setup(3000).await;
    let (app, key, family) = (&s.app, &s.key, &s.family);
    let base = app.base.clone();
    let draft = draft_of(&s, "child_allowance_claim").await;
    let draft_path = format!("/v1/families/{family}/drafts/{}", draft["id"].as_str().expect("id"));
    let values = json!({ "values": { "consent.public_records": true, "child.kana": "ヤマダ サクラ", "payment.use_public_account": true } });
    assert_eq!(app.patch(&draft_path, key, values).await.0, StatusCode::OK);
    let (_, confirmed) = app.post(&format!("{draft_path}/confirm"), key, json!({})).await;
    let document = confirmed["confirmed"]["document"].as_str().expect("document").to_owned();
    let card = s.ca.issue(&Holder::new(MOTHER, MOTHER_BORN));
    let (status, signed) = app.post(&format!("{draft_path}/signature"), key, signature_body(&card, &document)).await;
    assert_eq!(status, StatusCode::CREATED, "{signed}");
    let submission_id = signed["submissions"][0]["id"].as_str().expect("submission").to_owned();

    staff_account(app, "131016", "佐藤 花子", "sato");
    let driver = Driver::start().await;
    let c = driver.browser().await;
    sign_in(&c, &base, "sato", PASSWORD).await;

    // 却下 without a reason: confirmed, then refused at the comment, with the choice kept.
    c.goto(&format!("{base}/console/submissions/{submission_id}")).await.expect("goto");
    let number = text(&c, "#reference-number").await.replace("受付番号 ", "");
    c.find(Locator::Id("new-status")).await.expect("status").select_by_value("rejected").await.expect("select");
    click_through(&c, "#status-heading ~ button").await;
    assert_eq!(text(&c, "#confirm-heading").await, format!("受付番号 {number} の申請を却下します"));
    click_through(&c, "#confirm-button").await;
    assert_refused_at(&c, "comment", "却下のときは、保護者に理由を書いてください。").await;
    assert_eq!(value(&c, "new-status").await, "rejected", "the choice is kept");
    assert_eq!(text(&c, "#submission-status").await, "未受付", "nothing changed");
    assert_accessible(&c, "submission-problem").await;

    // With its reason: the confirmation repeats it, and the keyboard confirms.
    fill(&c, "comment", "対象となる児童の住所が区外のため").await;
    click_through(&c, "#status-heading ~ button").await;
    assert!(text(&c, "#confirm-details").await.contains("理由: 対象となる児童の住所が区外のため"));
    assert_accessible(&c, "confirm-reject").await;
    assert_eq!(focused(&c).await, "confirm-heading");
    // The decision document (処分通知) may be chosen here; a file cannot ride in a hidden field.
    press(&c, TAB).await;
    assert_eq!(focused(&c).await, "decision-document");
    press(&c, TAB).await;
    assert_eq!(focused(&c).await, "confirm-button");
    press_enter_through(&c).await;
    assert_eq!(text(&c, "#submission-status").await, "却下");
    assert_eq!(text(&c, "#done").await, "状態を変えました。保護者に知らせます。");

    // Settings: problems at their fields, what was typed kept.
    c.goto(&format!("{base}/console/settings")).await.expect("goto");
    assert_plain_words(&c, "settings").await;
    fill(&c, "days", "06-23\n13-45").await;
    click_through(&c, "form[action$='closed-days'] button").await;
    assert_refused_at(&c, "days", "「13-45」は MM-DD の形の日付ではありません（例: 06-23）。").await;
    assert_eq!(value(&c, "days").await, "06-23\n13-45");
    fill(&c, "days", "06-23").await;
    click_through(&c, "form[action$='closed-days'] button").await;
    assert_eq!(text(&c, "#done").await, "閉庁日を保存しました。住民の世帯の期限を計算し直します。");
    fill(&c, "url", "https://10.0.0.8/nonstop").await;
    click_through(&c, "form[action$='webhook'] button").await;
    assert_refused_at(&c, "url", "IP アドレスではなく、ホスト名にしてください。").await;
    assert_eq!(value(&c, "url").await, "https://10.0.0.8/nonstop");
    assert_accessible(&c, "settings-problems").await;

    // The first webhook needs no confirmation; a new key for it does.
    fill(&c, "url", "https://intake.city.example.jp/nonstop").await;
    click_through(&c, "form[action$='webhook'] button").await;
    let first = text(&c, "#webhook-secret").await;
    assert_eq!(text(&c, "#done").await, "Webhook を設定しました。");
    fill(&c, "url", "https://intake.city.example.jp/v2").await;
    click_through(&c, "form[action$='webhook'] button").await;
    assert_eq!(text(&c, "#confirm-heading").await, "Webhook の署名の鍵を作り直します");
    assert!(text(&c, "#confirm-details").await.contains("いまの送信先: https://intake.city.example.jp/nonstop"));
    assert_accessible(&c, "confirm-webhook").await;
    click_through(&c, "#confirm-back").await;
    assert!(text(&c, "#webhook-state").await.contains("https://intake.city.example.jp/nonstop"), "unchanged");
    fill(&c, "url", "https://intake.city.example.jp/v2").await;
    click_through(&c, "form[action$='webhook'] button").await;
    click_through(&c, "#confirm-button").await;
    let second = text(&c, "#webhook-secret").await;
    assert!(second.starts_with("whsec_") && second != first, "a new key, shown once");
    assert!(text(&c, "#webhook-state").await.contains("https://intake.city.example.jp/v2"));

    // Two-step: a QR code drawn on the page (the symbol of the URI shown under it) and the key
    // as text for a desk without a phone camera.
    c.goto(&format!("{base}/console/two-step")).await.expect("goto");
    let secret = text(&c, "#totp-secret").await;
    let uri = text(&c, "#totp-uri").await;
    assert!(
        secret.len() >= 16 && uri.starts_with("otpauth://totp/") && uri.contains(&format!("secret={secret}")),
        "{uri}"
    );
    let drawn = c.find(Locator::Css("#totp-qr svg")).await.expect("a QR code").html(false).await.expect("svg");
    let symbol = qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M).expect("code");
    let expected = symbol.render::<qrcode::render::svg::Color<'_>>().module_dimensions(1, 1).quiet_zone(true).build();
    let path_of = |svg: &str| svg.split(" d=\"").nth(1).and_then(|r| r.split('"').next()).map(str::to_owned);
    assert!(path_of(&drawn).is_some(), "{drawn}");
    assert_eq!(path_of(&drawn), path_of(&expected), "the page draws the URI's own symbol");
    assert_eq!(attr(&c, "#totp-qr svg", "role").await.as_deref(), Some("img"));
    assert_accessible(&c, "two-step").await;
    assert_plain_words(&c, "two-step").await;
    c.close().await.expect("close");
}
