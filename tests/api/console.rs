//! The municipal console in a real browser: Debian's chromium through chromedriver (WebDriver),
//! against nonstop on a temporary database. Every page visited is checked with axe-core
//! (vendored), failing on serious or critical violations.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;
use crate::jpki_ca::Holder;
use crate::notices::born_months_ago;
use crate::submissions::{draft_of, setup, signature_body, MOTHER, MOTHER_BORN};

const AXE: &str = include_str!("../assets/axe.min.js");
pub const PASSWORD: &str = "a long enough password";

/// A chromedriver of its own, on a free port, stopped when dropped.
pub struct Driver {
    process: Child,
    url: String,
}

impl Driver {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
        let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let mut process = Command::new(&binary)
            .arg(format!("--port={port}"))
            // The browser is the staff's own machine, not nonstop: it keeps the real clock when
            // CI runs the suite under libfaketime (a faked clock in chromium breaks its startup).
            .env_remove("LD_PRELOAD")
            .env_remove("FAKETIME")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{binary}: {e}; run the suite with scripts/test, which installs chromium and chromium-driver")
            });
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if reqwest::get(format!("{url}/status")).await.is_ok_and(|r| r.status().is_success()) {
                return Self { process, url };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = process.kill();
        let _ = process.wait();
        panic!("chromedriver did not start");
    }

    /// The chromedriver's address, for WebDriver commands fantoccini does not wrap (Print Page).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A browser window of its own (its own cookies), at an office screen's size.
    pub async fn browser(&self) -> Client {
        self.browser_with(json!({})).await
    }

    /// A browser with JavaScript turned off, as some offices' policies have it.
    pub async fn browser_without_script(&self) -> Client {
        self.browser_with(json!({ "profile.managed_default_content_settings.javascript": 2 })).await
    }

    async fn browser_with(&self, prefs: serde_json::Value) -> Client {
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let capabilities = json!({ "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1366,768", "--lang=ja"],
            "prefs": prefs,
        }});
        let serde_json::Value::Object(capabilities) = capabilities else { unreachable!() };
        ClientBuilder::native().capabilities(capabilities).connect(&self.url).await.expect("browser session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A member of staff who signs in with `login` and `PASSWORD` (the one-time password already
/// changed).
pub fn staff_account(app: &TestApp, code: &str, name: &str, login: &str) -> String {
    account_with_role(app, code, name, login, false)
}

/// The same, as the municipality's administrator (`admin`) or not.
pub fn account_with_role(app: &TestApp, code: &str, name: &str, login: &str, admin: bool) -> String {
    use nonstop::service::staff_accounts;
    let mut conn = app.db.get().expect("conn");
    let code = nonstop::domain::MunicipalityCode::parse(code).expect("code");
    let account = staff_accounts::create(&mut conn, &code, name, login, admin, app.clock.now()).expect("account");
    let hash = staff_accounts::new_password_hash(&account.one_time_password, true, PASSWORD).expect("hash");
    staff_accounts::set_password(&mut conn, &account.staff_id, "", &hash).expect("set");
    account.staff_id
}

pub async fn sign_in(c: &Client, base: &str, login: &str, password: &str) {
    c.goto(&format!("{base}/console/sign-in")).await.expect("goto");
    c.find(Locator::Id("login")).await.expect("login").send_keys(login).await.expect("type");
    c.find(Locator::Id("password")).await.expect("password").send_keys(password).await.expect("type");
    click_through(c, "form button[type=submit]").await;
}

/// Clicks what `css` finds and waits for the page it leads to (the old page gone, the new one
/// loaded), so that the next look is at the new page.
pub async fn click_through(c: &Client, css: &str) {
    let old = c.find(Locator::Css("html")).await.expect("page");
    c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.expect("click");
    for _ in 0..100 {
        if old.tag_name().await.is_err() {
            let ready = c.execute("return document.readyState", vec![]).await.expect("state");
            if ready == "complete" {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{css} led nowhere");
}

pub async fn text(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(element) => element.text().await.expect("text"),
        Err(e) => panic!("{css}: {e} at {}: {}", path(c).await, c.source().await.unwrap_or_default()),
    }
}

/// Waits until the element's text is `expected` (a live part of the page).
pub async fn wait_for_text(c: &Client, css: &str, expected: &str) {
    for _ in 0..100 {
        if let Ok(element) = c.find(Locator::Css(css)).await {
            if element.text().await.is_ok_and(|t| t.trim() == expected) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never read {expected:?}: {}", c.source().await.unwrap_or_default());
}

pub async fn fill(c: &Client, id: &str, value: &str) {
    let element = match c.find(Locator::Id(id)).await {
        Ok(element) => element,
        Err(e) => panic!("{id}: {e} at {}: {}", path(c).await, c.source().await.unwrap_or_default()),
    };
    element.clear().await.expect("clear");
    element.send_keys(value).await.expect("type");
}

pub async fn path(c: &Client) -> String {
    c.current_url().await.expect("url").path().to_owned()
}

/// Runs axe-core on the page; serious and critical violations fail the test. The page itself
/// must work without inline script: the check is injected by the driver, not by the page.
pub async fn assert_accessible(c: &Client, page: &str) {
    c.execute(AXE, vec![]).await.expect("axe loads");
    let violations = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] }).then(r => done(r.violations
               .filter(v => v.impact === 'serious' || v.impact === 'critical')
               .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))));",
            vec![],
        )
        .await
        .expect("axe runs");
    assert_eq!(violations, json!([]), "accessibility of {page}");
    screenshot(c, page).await;
}

/// With `NONSTOP_SCREENSHOTS=<dir>`, the page as the browser shows it (for the README).
async fn screenshot(c: &Client, page: &str) {
    let Ok(dir) = std::env::var("NONSTOP_SCREENSHOTS") else { return };
    c.execute("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);", vec![])
        .await
        .expect("scroll");
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(std::path::Path::new(&dir).join(format!("{page}.png")), png).expect("write screenshot");
}

#[actix_web::test]
async fn staff_write_a_notice_a_colleague_approves_and_sends_it_and_replies_reach_the_figures() {
    // Every count shown exactly (the threshold has its own test).
    let app = TestApp::spawn_with(|s| s.notices.audience_count_threshold = 0).await;
    let base = app.base.clone();
    let (_, key) = app.create_app("vendor");
    let mut families = Vec::new();
    for months in [2, 10] {
        families.push(
            app.create_family(
                &key,
                json!({ "municipality_code": "131016",
                        "guardians": [{ "relationship": "mother", "full_name": format!("住民 {months}") }],
                        "children": [{ "status": "born", "birth_date": born_months_ago(months), "birth_weight_grams": 3000 }] }),
            )
            .await,
        );
    }
    let driver = Driver::start().await;

    // A new account: the one-time password printed by `nonstop staff create`, changed first.
    let one_time = {
        let mut conn = app.db.get().expect("conn");
        let code = nonstop::domain::MunicipalityCode::parse("131016").expect("code");
        nonstop::service::staff_accounts::create(&mut conn, &code, "佐藤 花子", "sato", false, app.clock.now())
            .expect("account")
            .one_time_password
    };
    let author = driver.browser().await;
    author.goto(&format!("{base}/console/notices")).await.expect("goto");
    assert_eq!(path(&author).await, "/console/sign-in", "signed out: to the sign-in page");
    assert_accessible(&author, "sign-in").await;
    sign_in(&author, &base, "sato", "not the password").await;
    assert_eq!(text(&author, "#sign-in-error").await, "ログイン名、パスワードまたは確認コードが違います。");
    sign_in(&author, &base, "sato", &one_time).await;
    assert_eq!(path(&author).await, "/console/password", "the one-time password is changed first");
    assert_accessible(&author, "password").await;
    fill(&author, "current_password", &one_time).await;
    fill(&author, "new_password", PASSWORD).await;
    fill(&author, "new_password_again", PASSWORD).await;
    click_through(&author, "main form button").await;
    assert_eq!(path(&author).await, "/console/notices");

    // Compose in Japanese and English with a questionnaire; the audience count follows the conditions.
    author.goto(&format!("{base}/console/notices/new")).await.expect("goto");
    wait_for_text(&author, "#audience-size", "2").await;
    author.find(Locator::Id("category")).await.expect("category").select_by_value("checkup").await.expect("select");
    fill(&author, "ja_title", "4か月児健診のご案内").await;
    fill(&author, "ja_body", "保健センターで4か月児健診を行います。").await;
    fill(&author, "en_title", "Your baby's 4-month checkup").await;
    fill(&author, "en_body", "The health centre holds the 4-month checkup.").await;
    fill(&author, "question", "参加しますか").await;
    fill(&author, "choices", "参加する\n参加しない").await;
    fill(&author, "age_max", "6").await;
    // The count updates when a condition changes (leaving the field fires `change`).
    author.find(Locator::Id("single_parent")).await.expect("field").click().await.expect("focus");
    wait_for_text(&author, "#audience-size", "1").await;
    assert_accessible(&author, "notice-compose").await;
    click_through(&author, "#compose button[type=submit]").await;
    let notice_path = path(&author).await;
    assert!(notice_path.starts_with("/console/notices/"), "{notice_path}");
    let notice_id = notice_path.rsplit('/').next().expect("id").to_owned();
    let previews = text(&author, ".previews").await;
    assert!(previews.contains("4か月児健診のご案内") && previews.contains("Your baby's 4-month checkup"), "{previews}");
    assert_eq!(text(&author, "#notice-status").await, "下書き");
    assert!(author.find(Locator::Css("form[action$='/approve']")).await.is_err(), "the author cannot approve");
    assert_accessible(&author, "notice").await;

    // A colleague, in a browser of their own, approves exactly this and sends it.
    staff_account(&app, "131016", "鈴木 一郎", "suzuki");
    let colleague = driver.browser().await;
    sign_in(&colleague, &base, "suzuki", PASSWORD).await;
    assert!(text(&colleague, "main").await.contains("承認を待っている"), "the queue shows it");
    assert_accessible(&colleague, "notices").await;
    colleague.goto(&format!("{base}{notice_path}")).await.expect("goto");
    click_through(&colleague, "form[action$='/approve'] button").await;
    assert_eq!(text(&colleague, "#notice-status").await, "承認済み");

    // The author changes the title and adds a link: back to draft, and the colleague reads what
    // changed since the approval, before approving again.
    author.goto(&format!("{base}{notice_path}")).await.expect("goto");
    click_through(&author, "#edit").await;
    assert_eq!(
        author.find(Locator::Id("ja_title")).await.expect("title").prop("value").await.expect("value"),
        Some("4か月児健診のご案内".to_owned()),
        "the composer opens filled"
    );
    fill(&author, "ja_title", "4か月児健診のご案内（会場変更）").await;
    fill(&author, "links", "会場の地図 https://www.city.example.lg.jp/map.pdf").await;
    assert_accessible(&author, "notice-edit").await;
    click_through(&author, "#compose button[type=submit]").await;
    assert_eq!(text(&author, "#notice-status").await, "下書き");
    assert!(text(&author, "#links").await.contains("会場の地図"));
    colleague.goto(&format!("{base}/console/notices")).await.expect("goto");
    assert!(text(&colleague, "tbody").await.contains("承認後に 2 項目の変更"), "the queue says it changed");
    colleague.goto(&format!("{base}{notice_path}")).await.expect("goto");
    let title_row = text(&colleague, "#changes tr[data-field='texts.ja.title']").await;
    assert!(title_row.contains("4か月児健診のご案内") && title_row.contains("（会場変更）"), "{title_row}");
    assert!(colleague.find(Locator::Css("#changes tr[data-field='links']")).await.is_ok());
    assert_accessible(&colleague, "notice-changes").await;
    click_through(&colleague, "form[action$='/approve'] button").await;
    assert_eq!(text(&colleague, "#notice-status").await, "承認済み");
    click_through(&colleague, "form[action$='/send'] button").await;
    // Sending is said with its count first (the one family of 6 months or younger), then confirmed.
    assert_eq!(text(&colleague, "#confirm-heading").await, "1世帯に送信します");
    click_through(&colleague, "#confirm-button").await;
    assert_eq!(text(&colleague, "#notice-status").await, "送信済み");
    assert_eq!(text(&colleague, "#done").await, "送信しました。届いた数はこのページで見られます。");
    // Delivery and reads over time, drawn on the server.
    assert!(text(&colleague, "#chart-heading").await.contains("送信後の推移"));
    let described = colleague.find(Locator::Css("#chart-desc")).await.expect("chart").html(true).await.expect("desc");
    assert!(described.contains("1 世帯のうち"), "{described}");

    // In English, on the same page; the choice stays for the next pages, until switched back.
    click_through(&colleague, "#language-switch").await;
    assert_eq!(path(&colleague).await, notice_path, "back on the page it was chosen on");
    assert_eq!(text(&colleague, "#notice-status").await, "Sent");
    assert_eq!(text(&colleague, "#figures-heading").await, "Delivery");
    let lang = colleague.find(Locator::Css("html")).await.expect("html").attr("lang").await.expect("lang");
    assert_eq!(lang.as_deref(), Some("en"));
    assert_accessible(&colleague, "notice-en").await;
    colleague.goto(&format!("{base}/console/notices/new")).await.expect("goto");
    assert_eq!(text(&colleague, "h1").await, "Write a notice");
    assert!(text(&colleague, "#audience").await.contains("Child's age in months"));
    for heading in ["h1", "nav", "label[for=category]", "legend"] {
        let shown = text(&colleague, heading).await;
        assert!(!shown.chars().any(|c| ('\u{3041}'..='\u{30ff}').contains(&c)), "{heading}: {shown}");
    }
    click_through(&colleague, "#language-switch").await;
    assert_eq!(text(&colleague, "h1").await, "お知らせを書く");

    // A parent replies through the API; the figures show it.
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            &format!("/v1/families/{}/notices/{notice_id}/reply", families[0]),
            Some(&key),
            Some(json!({ "choices": [0] })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    author.goto(&format!("{base}{notice_path}")).await.expect("goto");
    assert_eq!(text(&author, "#replied").await, "1");
    assert!(text(&author, "#figures").await.contains('1'));
    let csv = author.find(Locator::Css("a[href$='replies.csv']")).await.expect("csv link");
    assert!(csv.attr("href").await.expect("href").is_some());

    // Without JavaScript, staff still sign in and read the lists and the details.
    let plain = driver.browser_without_script().await;
    sign_in(&plain, &base, "suzuki", PASSWORD).await;
    assert_eq!(path(&plain).await, "/console/notices");
    assert!(text(&plain, "tbody").await.contains("4か月児健診のご案内（会場変更）"));
    plain.goto(&format!("{base}{notice_path}")).await.expect("goto");
    assert_eq!(text(&plain, "#replied").await, "1");
    plain.goto(&format!("{base}/console/submissions")).await.expect("goto");
    assert!(text(&plain, "h1").await.contains("申請"));
    // (Scripts really are off: the composer's live count never replaces its placeholder.)
    plain.goto(&format!("{base}/console/notices/new")).await.expect("goto");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(text(&plain, "#audience-count").await.contains("JavaScript"), "no script ran");
    plain.close().await.expect("close");

    // On a tablet held upright nothing runs off the side of the page.
    author.set_window_size(768, 1024).await.expect("resize");
    for page in ["/console/notices", "/console/notices/new", notice_path.as_str()] {
        author.goto(&format!("{base}{page}")).await.expect("goto");
        let overflow = author
            .execute("return document.documentElement.scrollWidth - document.documentElement.clientWidth", vec![])
            .await
            .expect("measured");
        assert_eq!(overflow, json!(0), "{page} is wider than a tablet");
    }

    // Another municipality's staff see none of it.
    staff_account(&app, "131130", "田中 次郎", "tanaka");
    let outsider = driver.browser().await;
    sign_in(&outsider, &base, "tanaka", PASSWORD).await;
    assert!(text(&outsider, "tbody").await.contains("お知らせはありません"));
    outsider.goto(&format!("{base}{notice_path}")).await.expect("goto");
    assert!(text(&outsider, "main").await.contains("404"), "another municipality's notice is not found");

    // Signing out ends the session.
    click_through(&author, "form[action='/console/sign-out'] button").await;
    author.goto(&format!("{base}/console/notices")).await.expect("goto");
    assert_eq!(path(&author).await, "/console/sign-in");
    for c in [author, colleague, outsider] {
        c.close().await.expect("close");
    }
}

#[actix_web::test]
async fn staff_open_a_submission_ask_for_a_correction_and_see_the_corrected_one_linked() {
    let s = setup(3000).await;
    let (app, key, family) = (&s.app, &s.key, &s.family);
    let base = app.base.clone();
    // The parent signs the 児童手当 claim.
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
    c.goto(&format!("{base}/console/submissions?form=child_allowance_claim")).await.expect("goto");
    assert_accessible(&c, "submissions").await;
    click_through(&c, &format!("a[href='/console/submissions/{submission_id}']")).await;
    let page = text(&c, "main").await;
    assert!(
        page.contains("児童手当 認定請求書") && page.contains("申請者（届出人）氏名") && page.contains(MOTHER),
        "{page}"
    );
    assert!(page.contains("未確認"), "revocation not checked is said plainly");
    assert_accessible(&c, "submission").await;

    // 補正依頼 with a comment on one field.
    c.find(Locator::Css("input[data-field='applicant.phone']"))
        .await
        .expect("field")
        .send_keys("日中つながる番号をご記入ください")
        .await
        .expect("type");
    c.find(Locator::Id("new-status"))
        .await
        .expect("status")
        .select_by_value("correction_requested")
        .await
        .expect("select");
    click_through(&c, "#status-heading ~ button").await;
    assert_eq!(text(&c, "#submission-status").await, "補正依頼");
    assert!(text(&c, "main").await.contains("日中つながる番号をご記入ください"));

    // The webhook, set now: its secret is shown once, and the corrected submission is queued to it.
    c.goto(&format!("{base}/console/settings")).await.expect("goto");
    fill(&c, "url", "https://intake.city.example.jp/nonstop").await;
    click_through(&c, "form[action$='webhook'] button").await;
    assert!(text(&c, "#webhook-secret").await.starts_with("whsec_"));
    assert!(text(&c, "#webhook-state").await.contains("https://intake.city.example.jp/nonstop"));
    assert!(c.find(Locator::Id("webhook-deliveries")).await.is_err(), "nothing sent yet");
    c.goto(&format!("{base}/console/settings")).await.expect("goto");
    assert!(c.find(Locator::Id("webhook-secret")).await.is_err(), "the secret is shown once");

    // The parent corrects and signs again; the new submission links to the first.
    let (_, detail) = app.get(&format!("/v1/families/{family}/submissions/{submission_id}"), key).await;
    let correction = detail["correction_draft_id"].as_str().expect("a correction draft").to_owned();
    let fix = format!("/v1/families/{family}/drafts/{correction}");
    assert_eq!(
        app.patch(&fix, key, json!({ "values": { "applicant.phone": "03-1111-2222" } })).await.0,
        StatusCode::OK
    );
    let (_, confirmed) = app.post(&format!("{fix}/confirm"), key, json!({})).await;
    let document = confirmed["confirmed"]["document"].as_str().expect("document").to_owned();
    let (status, signed) = app.post(&format!("{fix}/signature"), key, signature_body(&card, &document)).await;
    assert_eq!(status, StatusCode::CREATED, "{signed}");
    let corrected = signed["submissions"][0]["id"].as_str().expect("id").to_owned();
    c.goto(&format!("{base}/console/submissions/{corrected}")).await.expect("goto");
    let link = c.find(Locator::Id("corrects-link")).await.expect("linked to the first");
    assert_eq!(link.attr("href").await.expect("href"), Some(format!("/console/submissions/{submission_id}")));

    // The same submission in English: the form's English labels and the status's English name.
    click_through(&c, "#language-switch").await;
    let page = text(&c, "main").await;
    assert!(page.contains("Received") && page.contains("not checked"), "{page}");
    assert!(!text(&c, "#form-heading").await.chars().any(|ch| ('\u{3041}'..='\u{30ff}').contains(&ch)));
    assert_accessible(&c, "submission-en").await;
    click_through(&c, "#language-switch").await;

    // The signed bytes download as they were signed.
    let cookie = c.get_named_cookie("nonstop_console").await.expect("cookie");
    assert!(cookie.http_only().unwrap_or(false) && format!("{:?}", cookie.same_site()) == "Some(Strict)");
    let downloaded = reqwest::Client::new()
        .get(format!("{base}/console/submissions/{submission_id}/signed-document"))
        .header("Cookie", format!("nonstop_console={}", cookie.value()))
        .send()
        .await
        .expect("download");
    assert_eq!(downloaded.text().await.expect("body"), document_of(app, key, family, &submission_id).await);

    // Settings: closed days (a wrong one refused, nothing stored) and the webhook's secret, once.
    c.goto(&format!("{base}/console/settings")).await.expect("goto");
    fill(&c, "days", "06-23\n13-45").await;
    click_through(&c, "form[action$='closed-days'] button").await;
    assert!(text(&c, "#days-error").await.contains("13-45"));
    assert!(c.find(Locator::Id("closed-days")).await.is_err(), "nothing stored");
    fill(&c, "days", "06-23").await;
    click_through(&c, "form[action$='closed-days'] button").await;
    assert_eq!(text(&c, "#closed-days").await, "06-23");
    // The webhook's latest deliveries: the corrected submission, waiting for its attempt.
    let deliveries = text(&c, "#webhook-deliveries").await;
    assert!(deliveries.contains(&format!("submission:{corrected}")) && deliveries.contains("送信待ち"), "{deliveries}");
    assert_accessible(&c, "settings").await;

    // The closed days on a calendar: 06-23 is the municipality's own, every year.
    click_through(&c, "#calendar-link").await;
    let cell = c.find(Locator::Css("td[data-date$='-06-23']")).await.expect("23 June");
    assert!(cell.attr("class").await.expect("class").unwrap_or_default().contains("day-municipal"));
    let cell = c.find(Locator::Css("td[data-date$='-01-01']")).await.expect("1 January");
    assert!(cell.attr("class").await.expect("class").unwrap_or_default().contains("day-year_end"));
    assert_accessible(&c, "calendar").await;

    // A procedure run differently here: 30 days, moved to the next open day, not taken online.
    c.goto(&format!("{base}/console/settings")).await.expect("goto");
    click_through(&c, "a[href='/console/settings/procedures/infant_medical_subsidy']").await;
    assert_accessible(&c, "procedure-setting").await;
    fill(&c, "deadline_n", "30").await;
    c.find(Locator::Id("deadline_closed_day")).await.expect("select").select_by_value("next").await.expect("next");
    c.find(Locator::Css("input[name=channel_online]")).await.expect("online").click().await.expect("uncheck");
    click_through(&c, "#procedure-setting button[type=submit]:not([name])").await;
    assert!(text(&c, "#procedure-infant_medical_subsidy").await.contains("変更あり"));
    let staff_key = app.create_staff("131016");
    let (_, settings) = app.get("/v1/municipalities/131016/settings", &staff_key).await;
    let setting = &settings["settings"]["procedures"]["infant_medical_subsidy"];
    assert_eq!(
        (setting["deadline"]["n"].as_i64(), setting["deadline"]["closed_day"].as_str()),
        (Some(30), Some("next")),
        "{settings}"
    );
    assert_eq!(setting["channels"], json!(["counter", "mail"]), "{setting}");
    assert_eq!(settings["settings"]["extra_closed_days"], json!(["06-23"]), "other settings kept");
    // Back to the standard.
    click_through(&c, "a[href='/console/settings/procedures/infant_medical_subsidy']").await;
    click_through(&c, "button[name=reset]").await;
    assert!(text(&c, "#procedure-infant_medical_subsidy").await.contains("標準どおり"));
    let (_, settings) = app.get("/v1/municipalities/131016/settings", &staff_key).await;
    assert!(settings["settings"]["procedures"].get("infant_medical_subsidy").is_none(), "{settings}");

    // Two-step sign-in: the authenticator app's code, each accepted once.
    c.goto(&format!("{base}/console/two-step")).await.expect("goto");
    assert_accessible(&c, "two-step").await;
    let secret = text(&c, "#totp-secret").await;
    let code = nonstop::service::staff_totp::code_at(&secret, app.clock.now()).expect("code");
    fill(&c, "totp-code", &code).await;
    fill(&c, "two-step-password", PASSWORD).await;
    click_through(&c, "main form button").await;
    assert!(c.find(Locator::Id("two-step-state")).await.is_ok(), "turned on");
    click_through(&c, "form[action='/console/sign-out'] button").await;
    sign_in(&c, &base, "sato", PASSWORD).await;
    assert_eq!(path(&c).await, "/console/sign-in", "the password alone no longer signs in");
    fill(&c, "login", "sato").await;
    fill(&c, "password", PASSWORD).await;
    fill(&c, "code", &code).await;
    click_through(&c, "form button[type=submit]").await;
    assert_eq!(path(&c).await, "/console/sign-in", "a code is accepted once");
    app.clock.advance(chrono::Duration::seconds(60));
    let code = nonstop::service::staff_totp::code_at(&secret, app.clock.now()).expect("code");
    fill(&c, "login", "sato").await;
    fill(&c, "password", PASSWORD).await;
    fill(&c, "code", &code).await;
    click_through(&c, "form button[type=submit]").await;
    assert_eq!(path(&c).await, "/console/notices", "password and a fresh code sign in");

    // Pages allow no inline script and nothing from elsewhere.
    let page = reqwest::get(format!("{base}/console/sign-in")).await.expect("page");
    let policy = page.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"), "{policy}");
    let html = page.text().await.expect("html");
    assert!(!html.contains("<script>") && !html.contains("http://") && !html.contains("https://"), "{html}");
    c.close().await.expect("close");
}

async fn document_of(app: &TestApp, key: &str, family: &str, id: &str) -> String {
    let (_, submission) = app.get(&format!("/v1/families/{family}/submissions/{id}"), key).await;
    submission["signed_document"].as_str().expect("signed").to_owned()
}

#[actix_web::test]
async fn the_api_page_renders_under_its_content_security_policy() {
    let app = TestApp::spawn().await;
    let driver = Driver::start().await;
    let c = driver.browser().await;
    c.goto(&format!("{}/docs", app.base)).await.expect("goto");
    // The inline script ran (its hash is in the policy), fetched the document and rendered it.
    for _ in 0..100 {
        if c.find(Locator::Css("#ops details")).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        c.find(Locator::Css("#ops details summary .method")).await.is_ok(),
        "{}",
        c.source().await.unwrap_or_default()
    );
    assert!(c.find(Locator::Css("#intro .md")).await.is_ok(), "descriptions rendered");
    // And the inline style sheet applied: the header is the page's dark blue.
    let background = c
        .execute("return getComputedStyle(document.querySelector('header')).backgroundColor", vec![])
        .await
        .expect("style");
    assert_eq!(background, json!("rgb(29, 53, 87)"));
    c.close().await.expect("close");
}

/// Issue 29, item 3: the colleague's page was read before the author's edit; its approve button
/// approves nothing, and the page comes back with what changed.
#[actix_web::test]
async fn an_approval_from_a_page_read_before_an_edit_is_refused_and_shows_what_changed() {
    let app = TestApp::spawn().await;
    let base = app.base.clone();
    let (_, key) = app.create_app("vendor");
    for months in [3, 4] {
        app.create_family(
            &key,
            json!({ "municipality_code": "131016",
                    "children": [{ "status": "born", "birth_date": born_months_ago(months), "birth_weight_grams": 3000 }] }),
        )
        .await;
    }
    staff_account(&app, "131016", "佐藤 花子", "sato");
    staff_account(&app, "131016", "鈴木 一郎", "suzuki");
    let driver = Driver::start().await;
    let author = driver.browser().await;
    sign_in(&author, &base, "sato", PASSWORD).await;
    author.goto(&format!("{base}/console/notices/new")).await.expect("goto");
    // Two families: fewer than the threshold, so the composer does not say how many.
    wait_for_text(&author, "#audience-size", "5 世帯未満").await;
    author.find(Locator::Id("category")).await.expect("category").select_by_value("event").await.expect("select");
    fill(&author, "ja_title", "子育て広場のお知らせ").await;
    fill(&author, "ja_body", "毎週水曜日に開いています。").await;
    click_through(&author, "#compose button[type=submit]").await;
    let notice_path = path(&author).await;

    // The colleague opens the notice and reads it.
    let colleague = driver.browser().await;
    sign_in(&colleague, &base, "suzuki", PASSWORD).await;
    colleague.goto(&format!("{base}{notice_path}")).await.expect("goto");
    assert!(text(&colleague, ".previews").await.contains("毎週水曜日に開いています。"));

    // Meanwhile the author rewrites the body.
    author.goto(&format!("{base}{notice_path}/edit")).await.expect("goto");
    fill(&author, "ja_body", "還付金があります。こちらから口座番号を入力してください。").await;
    click_through(&author, "#compose button[type=submit]").await;

    // The colleague's click on the page read before: refused, the change shown, nothing approved.
    click_through(&colleague, "form[action$='/approve'] button").await;
    assert_eq!(path(&colleague).await, format!("{notice_path}/approve"));
    assert!(text(&colleague, "#stale-heading").await.contains("承認していません"));
    let body_row = text(&colleague, "#stale-changes tr[data-field='texts.ja.body']").await;
    assert!(body_row.contains("毎週水曜日に開いています。") && body_row.contains("口座番号"), "{body_row}");
    assert_eq!(text(&colleague, "#notice-status").await, "下書き");
    assert_accessible(&colleague, "notice-stale").await;
    {
        use diesel::prelude::*;
        use nonstop::db::schema::notice_approvals;
        let mut conn = app.db.get().expect("conn");
        let approvals: i64 = notice_approvals::table.count().get_result(&mut *conn).expect("count");
        assert_eq!(approvals, 0, "nothing was approved");
    }

    // The page now shows the contents as they are: approving from it approves them.
    click_through(&colleague, "form[action$='/approve'] button").await;
    assert_eq!(text(&colleague, "#notice-status").await, "承認済み");
}
