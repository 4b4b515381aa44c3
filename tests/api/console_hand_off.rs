//! What leaves the console for the paper file and the municipality's own systems, in a real
//! browser: the print view (printed to PDF by Chromium and read back with `pdftotext`), the CSV
//! export per form for the 基幹 system (UTF-8 with BOM, Shift_JIS, refused where Shift_JIS has
//! no code, audited), and the decision document (処分通知) attached to a decision and read by
//! the family's app.

use std::process::Command;

use base64::Engine;
use fantoccini::{Client, Locator};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::console::{assert_accessible, click_through, fill, path, sign_in, staff_account, text, Driver, PASSWORD};
use crate::console_desk::sign_claim;
use crate::submissions::{setup, Setup, MOTHER, MOTHER_BORN};

/// A console page's bytes, fetched with the browser's session (a download the browser would save).
async fn download(c: &Client, base: &str, path_and_query: &str) -> (StatusCode, String, Vec<u8>) {
    let cookie = c.get_named_cookie("nonstop_console").await.expect("cookie");
    let answer = reqwest::Client::new()
        .get(format!("{base}{path_and_query}"))
        .header("Cookie", format!("nonstop_console={}", cookie.value()))
        .send()
        .await
        .expect("download");
    let status = answer.status();
    let kind = answer.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (status, kind, answer.bytes().await.expect("body").to_vec())
}

/// A family of 131016 living at an address with 𠮷 (U+20BB7), which Shift_JIS cannot write.
async fn family_beyond_shift_jis(s: &Setup) -> String {
    let family = s
        .app
        .create_family(
            &s.key,
            json!({
                "municipality_code": "131016",
                "postal_code": "1000001",
                "address": "千代田2-2-2 𠮷野ハイツ101",
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

/// The cells of each line of a CSV whose every cell is quoted (as the export writes them).
fn rows(csv: &str) -> Vec<Vec<String>> {
    csv.split("\r\n")
        .filter(|line| !line.is_empty())
        .map(|line| {
            line.trim_matches('"').split("\",\"").map(|cell| cell.replace("\"\"", "\"")).collect::<Vec<String>>()
        })
        .collect()
}

#[actix_web::test]
async fn a_submission_prints_on_a4_as_its_form_with_its_number_signature_and_digest_qr() {
    let s = setup(3000).await;
    let (app, base) = (&s.app, s.app.base.clone());
    let submission = sign_claim(&s, &s.family, (MOTHER, MOTHER_BORN), "ヤマダ サクラ", json!({})).await;
    let id = submission["id"].as_str().expect("id").to_owned();
    staff_account(app, "131016", "佐藤 花子", "sato");
    let driver = Driver::start().await;
    let c = driver.browser().await;
    sign_in(&c, &base, "sato", PASSWORD).await;
    c.goto(&format!("{base}/console/submissions/{id}")).await.expect("goto");
    click_through(&c, "#print-link").await;
    assert_eq!(path(&c).await, format!("/console/submissions/{id}/print"));
    assert_accessible(&c, "submission-print").await;
    // The sheet alone: no console header, menu or button on it; the QR code drawn inline.
    assert!(c.find(Locator::Css("header.bar")).await.is_err(), "no console header");
    assert!(c.find(Locator::Css("#sheet button, #sheet form")).await.is_err(), "no button on the sheet");
    assert!(c.find(Locator::Css("#sheet .qr svg path")).await.is_ok(), "the digest's QR code");

    // Printed by Chromium (WebDriver's Print Page) on A4, as the browser's print would.
    let session = c.session_id().await.expect("session").expect("a session id");
    let printed: Value = reqwest::Client::new()
        .post(format!("{}/session/{session}/print", driver.url()))
        .json(&json!({ "page": { "width": 21.0, "height": 29.7 }, "background": true }))
        .send()
        .await
        .expect("print")
        .json()
        .await
        .expect("print answer");
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(printed["value"].as_str().unwrap_or_else(|| panic!("{printed}")))
        .expect("base64 PDF");
    assert!(pdf.starts_with(b"%PDF-"));
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("submission.pdf");
    std::fs::write(&file, &pdf).expect("written");
    let extracted =
        Command::new("pdftotext").arg(&file).arg("-").output().unwrap_or_else(|e| {
            panic!("pdftotext: {e}; run the suite with scripts/test, which installs poppler-utils")
        });
    let words = String::from_utf8(extracted.stdout).expect("text");
    let serial = submission["verification"]["certificate_serial"].as_str().expect("serial");
    for expected in [
        "2026-000001",          // 受付番号
        "児童手当",             // the form's name
        "申請者（届出人）氏名", // a label of the form
        MOTHER,                 // its value
        "ヤマダ サクラ",        // the child's kana, as typed
        "電子署名",
        &serial[..8.min(serial.len())],
        "千代田区長",
    ] {
        assert!(words.contains(expected), "{expected:?} not in the printed PDF:\n{words}");
    }
    for absent in ["申請に戻る", "職員コンソール", "状態を変える", "Ctrl+P"] {
        assert!(!words.contains(absent), "{absent:?} printed:\n{words}");
    }
    c.close().await.expect("close");
}

#[actix_web::test]
async fn staff_export_a_forms_submissions_as_csv_for_the_kikan_system_in_utf8_or_shift_jis() {
    let s = setup(3000).await;
    let (app, base) = (&s.app, s.app.base.clone());
    let first = sign_claim(&s, &s.family, (MOTHER, MOTHER_BORN), "ヤマダ サクラ", json!({})).await;
    let other = family_beyond_shift_jis(&s).await;
    let second =
        sign_claim(&s, &other, ("鈴木 美咲", "1992-05-05"), "スズキ ハルト", json!({ "spouse.exists": false })).await;
    let staff = app.create_staff("131016");
    let first_id = first["id"].as_str().expect("id");
    let (status, accepted) = app
        .post(
            &format!("/v1/municipalities/131016/submissions/{first_id}/status"),
            &staff,
            json!({ "status": "accepted" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");

    staff_account(app, "131016", "佐藤 花子", "sato");
    let driver = Driver::start().await;
    let c = driver.browser().await;
    sign_in(&c, &base, "sato", PASSWORD).await;
    c.goto(&format!("{base}/console/submissions")).await.expect("goto");
    click_through(&c, "#export-link").await;
    assert_eq!(path(&c).await, "/console/submissions/export");
    assert_accessible(&c, "submissions-export").await;

    // UTF-8 with BOM: the form's layout, oldest first, both submissions.
    let today = crate::helpers::tokyo_day(0);
    let (status, kind, bytes) = download(
        &c,
        &base,
        &format!("/console/submissions/export.csv?form=child_allowance_claim&from={today}&to={today}"),
    )
    .await;
    assert_eq!((status, kind.as_str()), (StatusCode::OK, "text/csv; charset=utf-8"));
    assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "a byte order mark");
    let csv = String::from_utf8(bytes[3..].to_vec()).expect("UTF-8");
    let table = rows(&csv);
    assert_eq!(&table[0][..3], ["受付番号", "受信日時（日本時間）", "状態"]);
    let column =
        |label: &str| table[0].iter().position(|c| c == label).unwrap_or_else(|| panic!("{label}: {:?}", table[0]));
    assert_eq!(table.len(), 3, "{csv}");
    assert_eq!((table[1][0].as_str(), table[1][2].as_str()), ("2026-000001", "受理"));
    assert_eq!((table[2][0].as_str(), table[2][2].as_str()), ("2026-000002", "未受付"));
    assert_eq!(table[1][column("申請者（届出人）氏名")], MOTHER);
    assert_eq!(table[2][column("申請者（届出人）氏名")], "鈴木 美咲");
    assert!(table[2][column("住所")].contains("𠮷野ハイツ"), "UTF-8 keeps every character: {:?}", table[2]);
    // 受信日時 in Japan: the instant the API gave, nine hours on.
    let submitted = chrono::DateTime::parse_from_rfc3339(first["submitted_at"].as_str().expect("at")).expect("rfc3339");
    let tokyo = submitted.with_timezone(&chrono_tz::Asia::Tokyo).format("%Y-%m-%d %H:%M:%S").to_string();
    assert_eq!(table[1][1], tokyo);

    // The webhook body's `columns` are the same, labelled and valued alike.
    let ctx = nonstop::domain::planner::PlanningContext::shipped();
    let form = ctx.forms.get("child_allowance_claim").expect("form");
    let mut conn = app.db.get().expect("conn");
    let keys = app.settings.key_ring().expect("keys");
    let code = nonstop::domain::MunicipalityCode::parse("131016").expect("code");
    let read =
        nonstop::service::submissions::get_for_municipality(&mut conn, &keys, &ctx, &code, first_id).expect("read");
    let columns = nonstop::service::submissions::export::columns(form, &read).expect("columns");
    assert_eq!(columns.iter().map(|c| c.label.clone()).collect::<Vec<_>>(), table[0]);
    assert_eq!(columns.iter().map(|c| c.value.clone()).collect::<Vec<_>>(), table[1]);
    drop(conn);

    // Shift_JIS: refused while a value has no Shift_JIS code, naming the 受付番号 and the field;
    // nothing is exported and nothing recorded.
    c.find(Locator::Css("#export-form-id option[value=child_allowance_claim]"))
        .await
        .expect("the form")
        .click()
        .await
        .expect("select");
    c.find(Locator::Id("encoding-sjis")).await.expect("radio").click().await.expect("choose");
    click_through(&c, "#export-submit").await;
    let refusal = text(&c, "main").await;
    assert!(refusal.contains("2026-000002") && refusal.contains("住所") && refusal.contains("𠮷"), "{refusal}");
    assert_accessible(&c, "submissions-export-refused").await;

    // Only the accepted ones (the 𠮷 is not among them): Shift_JIS bytes, no BOM.
    let (status, kind, bytes) = download(
        &c,
        &base,
        "/console/submissions/export.csv?form=child_allowance_claim&status=accepted&encoding=shift_jis",
    )
    .await;
    assert_eq!((status, kind.as_str()), (StatusCode::OK, "text/csv; charset=Shift_JIS"));
    assert!(std::str::from_utf8(&bytes).is_err(), "not UTF-8");
    let (decoded, _, unmappable) = encoding_rs::SHIFT_JIS.decode(&bytes);
    assert!(!unmappable);
    let sjis = rows(&decoded);
    assert_eq!(sjis.len(), 2, "{decoded}");
    // The same cells, the few JIS characters Windows codes differently (a label's —) as Windows
    // writes them (―).
    let as_windows = |row: &Vec<String>| -> Vec<String> {
        row.iter().map(|c| nonstop::service::submissions::export::shift_jis_text(c).expect("held")).collect()
    };
    assert!(table[0].iter().any(|c| c.contains('\u{2014}')) && sjis[0].iter().any(|c| c.contains('\u{2015}')));
    assert_eq!(sjis[0], as_windows(&table[0]));
    assert_eq!(sjis[1], as_windows(&table[1]));

    // Chosen by the days received: none tomorrow.
    let tomorrow = crate::helpers::tokyo_day(1);
    let (_, _, bytes) =
        download(&c, &base, &format!("/console/submissions/export.csv?form=child_allowance_claim&from={tomorrow}"))
            .await;
    assert_eq!(rows(&String::from_utf8_lossy(&bytes[3..])).len(), 1, "the header alone");

    // The municipal API gives the same file to the municipality's RPA.
    let (status, api_csv) = app
        .get("/v1/municipalities/131016/submissions/export?form_id=child_allowance_claim&status=accepted", &staff)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        rows(api_csv.as_str().expect("text").trim_start_matches('\u{feff}')),
        vec![table[0].clone(), table[1].clone()]
    );
    let (status, _) = app
        .get("/v1/municipalities/131016/submissions/export?form_id=child_allowance_claim", &app.create_staff("131130"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another municipality's staff");
    let (status, refused) = app
        .get("/v1/municipalities/131016/submissions/export?form_id=child_allowance_claim&encoding=shift_jis", &staff)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused["fields"]["encoding"].as_str().is_some_and(|m| m.contains("2026-000002")), "{refused}");

    // Each export is in the audit trail: the form, the rows, the encoding and the conditions.
    let (_, exported) = app.get("/v1/municipalities/131016/audit?action=submissions.exported", &staff).await;
    let details: Vec<&str> =
        exported["items"].as_array().expect("items").iter().filter_map(|e| e["detail"].as_str()).collect();
    assert_eq!(
        details,
        vec![
            "child_allowance_claim rows=1 utf-8 status=accepted".to_owned(),
            format!("child_allowance_claim rows=0 utf-8 from={tomorrow}"),
            "child_allowance_claim rows=1 shift_jis status=accepted".to_owned(),
            format!("child_allowance_claim rows=2 utf-8 from={today} to={today}"),
        ],
        "{exported}"
    );
    assert!(!exported.to_string().contains(MOTHER), "no names in the trail");
    let _ = second;
    c.close().await.expect("close");
}

#[actix_web::test]
async fn a_decision_goes_back_with_its_pdf_to_the_familys_inbox_and_app() {
    let s = setup(3000).await;
    let (app, key, family, base) = (&s.app, &s.key, &s.family, s.app.base.clone());
    let submission = sign_claim(&s, family, (MOTHER, MOTHER_BORN), "ヤマダ サクラ", json!({})).await;
    let id = submission["id"].as_str().expect("id").to_owned();
    staff_account(app, "131016", "佐藤 花子", "sato");
    let driver = Driver::start().await;
    let c = driver.browser().await;
    sign_in(&c, &base, "sato", PASSWORD).await;
    let dir = tempfile::tempdir().expect("dir");
    let pdf: Vec<u8> = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%% \xe6\xb1\xba\xe5\xae\x9a\n%%EOF\n".to_vec();
    let files = [
        ("kettei.pdf", pdf.clone()),
        ("not-a-pdf.pdf", b"PK\x03\x04 a zip file named .pdf".to_vec()),
        // Over the 5 MB default of submissions.decision_document_max_bytes.
        ("huge.pdf", [b"%PDF-1.7\n".to_vec(), vec![b'0'; 6 * 1024 * 1024]].concat()),
    ];
    for (name, bytes) in &files {
        std::fs::write(dir.path().join(name), bytes).expect("file");
    }
    let choose = |name: &str| dir.path().join(name).display().to_string();

    // A file that is not a PDF, and one too large, are refused; nothing changes.
    for (file, problem) in [("not-a-pdf.pdf", "PDF ではありません"), ("huge.pdf", "PDF が大きすぎます")] {
        c.goto(&format!("{base}/console/submissions/{id}")).await.expect("goto");
        c.find(Locator::Css("#new-status option[value=accepted]"))
            .await
            .expect("accepted")
            .click()
            .await
            .expect("select");
        c.find(Locator::Id("decision-document"))
            .await
            .expect("file input")
            .send_keys(&choose(file))
            .await
            .expect("file");
        click_through(&c, "form[action$='/status'] button[type=submit]").await;
        let at_field = text(&c, "#decision-document-error").await;
        assert!(at_field.contains(problem), "{file}: {at_field}");
    }
    let (_, unchanged) = app.get(&format!("/v1/families/{family}/submissions/{id}"), key).await;
    assert_eq!(unchanged["status"], "submitted", "{unchanged}");

    // 受理 with the decision document and a message.
    c.goto(&format!("{base}/console/submissions/{id}")).await.expect("goto");
    assert_accessible(&c, "submission-decision").await;
    c.find(Locator::Css("#new-status option[value=accepted]")).await.expect("accepted").click().await.expect("select");
    fill(&c, "comment", "児童手当の認定通知書をお送りします。").await;
    c.find(Locator::Id("decision-document"))
        .await
        .expect("file input")
        .send_keys(&choose("kettei.pdf"))
        .await
        .expect("file");
    click_through(&c, "form[action$='/status'] button[type=submit]").await;
    assert_eq!(text(&c, "#done").await, "状態を変えました。保護者に知らせます。");
    // Kept with the submission: its history links the PDF, which downloads as it was sent.
    let link = c.find(Locator::Css("#history a.decision-document")).await.expect("the document in the history");
    assert!(link.text().await.expect("text").contains("決定通知書"));
    let href = link.attr("href").await.expect("href").expect("a link");
    let (status, kind, bytes) = download(&c, &base, &href).await;
    assert_eq!((status, kind.as_str(), bytes), (StatusCode::OK, "application/pdf", pdf.clone()));
    assert_accessible(&c, "submission-decided").await;

    // The family's app reads the decision and the PDF; the inbox says it came.
    let (_, seen) = app.get(&format!("/v1/families/{family}/submissions/{id}"), key).await;
    let decided = seen["history"].as_array().expect("history").last().cloned().expect("an event");
    assert_eq!(
        (decided["status"].as_str(), decided["comment"].as_str()),
        (Some("accepted"), Some("児童手当の認定通知書をお送りします。"))
    );
    let document = &decided["decision_document"];
    assert_eq!(document["content_type"], "application/pdf");
    assert_eq!(document["size_bytes"].as_i64(), Some(pdf.len() as i64));
    use sha2::Digest;
    assert_eq!(document["sha256"].as_str(), Some(hex::encode(sha2::Sha256::digest(&pdf)).as_str()));
    let pdf_path =
        format!("/v1/families/{family}/submissions/{id}/decision-documents/{}", document["id"].as_str().expect("id"));
    let answer = reqwest::Client::new().get(format!("{base}{pdf_path}")).bearer_auth(key).send().await.expect("read");
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()["content-type"], "application/pdf");
    assert_eq!(answer.bytes().await.expect("pdf").to_vec(), pdf);
    // Another vendor's app does not reach it.
    let (_, other_key) = app.create_app("another vendor");
    let (status, _) = app.get(&pdf_path, &other_key).await;
    assert!(matches!(status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN), "{status}");
    let (_, inbox) = app.get(&format!("/v1/families/{family}/inbox"), key).await;
    let entry = inbox["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["template_id"] == "submission_decision_document")
        .unwrap_or_else(|| panic!("{inbox}"));
    assert!(entry["title"].as_str().is_some_and(|t| t.contains("決定通知書")), "{entry}");

    // The audit trail says a decision document went with the status (never its contents).
    let staff = app.create_staff("131016");
    let (_, changed) = app.get("/v1/municipalities/131016/audit?action=submission.status_changed", &staff).await;
    assert_eq!(changed["items"][0]["detail"], "accepted 2026-000001 decision_document", "{changed}");
    c.close().await.expect("close");
}

/// `docs/forms/<form>.md`, each form's CSV layout, stay as the catalog makes them
/// (`NONSTOP_WRITE_FORM_DOCS=1` rewrites them).
#[test]
fn csv_layout_pages_stay_in_step_with_the_catalog() {
    let ctx = nonstop::domain::planner::PlanningContext::shipped();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/forms");
    let rewrite = std::env::var_os("NONSTOP_WRITE_FORM_DOCS").is_some();
    let mut stale = Vec::new();
    for form in ctx.forms.all() {
        let page = nonstop::service::submissions::export::layout_markdown(form);
        // Every column of the export has its line on the page, in the export's order.
        let header = nonstop::service::submissions::export::header(form);
        let mut at = 0;
        for label in &header {
            at = page[at..]
                .find(&format!("| {label} |"))
                .map(|i| at + i)
                .unwrap_or_else(|| panic!("{label} in {}", form.id));
        }
        let file = dir.join(format!("{}.md", form.id));
        if rewrite {
            std::fs::create_dir_all(&dir).expect("docs/forms");
            std::fs::write(&file, &page).expect("written");
        } else if std::fs::read_to_string(&file).ok().as_deref() != Some(page.as_str()) {
            stale.push(file.display().to_string());
        }
    }
    assert!(stale.is_empty(), "out of step with catalog/forms.toml (NONSTOP_WRITE_FORM_DOCS=1 rewrites): {stale:?}");
}
