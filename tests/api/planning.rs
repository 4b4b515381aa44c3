//! The planner through the API: the right task, on the right day, by law.

use chrono::{NaiveDate, Timelike};
use nonstop::domain::calendar::Calendar;
use nonstop::domain::periods;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{tokyo_day, TestApp};

fn tasks_by_procedure<'a>(tasks: &'a Value, procedure: &str) -> Vec<&'a Value> {
    tasks.as_array().expect("tasks").iter().filter(|t| t["procedure_id"] == procedure).collect()
}

fn one<'a>(tasks: &'a Value, procedure: &str) -> &'a Value {
    let found = tasks_by_procedure(tasks, procedure);
    assert_eq!(found.len(), 1, "{procedure}: {found:?}");
    found[0]
}

fn has(tasks: &Value, procedure: &str, state: Option<&str>) -> bool {
    tasks_by_procedure(tasks, procedure).iter().any(|t| state.is_none_or(|s| t["state"] == s))
}

fn date(value: &Value) -> NaiveDate {
    value.as_str().and_then(|s| s.parse().ok()).expect("a date")
}

#[actix_web::test]
async fn a_birth_recorded_brings_the_post_birth_tasks_with_their_deadlines() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family = app
        .create_family(&key, json!({ "municipality_code": "131016", "health_insurance": "national", "children": [{ "status": "expected", "due_date": tokyo_day(3) }] }))
        .await;
    let path = format!("/v1/families/{family}/tasks");
    let (status, before) = app.get(&path, &key).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert!(has(&before, "prenatal_checkups", None));
    assert!(!has(&before, "birth_registration", None), "no birth tasks before the birth");

    let (_, read) = app.get(&format!("/v1/families/{family}"), &key).await;
    let child = read["children"][0]["id"].as_str().expect("child").to_owned();
    let birth = tokyo_day(-1);
    let (status, _) = app
        .post(
            &format!("/v1/families/{family}/events"),
            &key,
            json!({ "type": "birth", "date": birth, "child_id": child, "birth_weight_grams": 3100 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, after) = app.get(&path, &key).await;

    let born: NaiveDate = birth.parse().expect("date");
    let calendar = Calendar::shipped();
    let registration = one(&after, "birth_registration");
    assert_eq!(date(&registration["raw_deadline"]), periods::koseki_days(born, 14));
    assert_eq!(date(&registration["deadline"]), calendar.next_open_day(periods::koseki_days(born, 14), &[]));
    assert_eq!(registration["state"], "open");
    assert_eq!(registration["files_with"], "municipality");
    assert!(registration["legal_basis"].as_str().is_some_and(|b| b.contains("戸籍法")));
    assert!(registration["reasons"][0].as_str().is_some_and(|r| r.contains(&birth)));
    assert_eq!(registration["office"]["name"], "千代田区役所 戸籍住民課");
    let allowance = one(&after, "child_allowance_claim");
    assert_eq!(date(&allowance["deadline"]), periods::child_allowance_deadline(born, &calendar, &[]));
    assert_eq!(
        date(&one(&after, "kokuho_enrollment")["deadline"]),
        calendar.next_open_day(periods::civil_days(born, 14), &[])
    );
    assert!(!has(&after, "low_birth_weight_notification", None), "3,100 g");
    assert!(!has(&after, "employee_insurance_dependent", None));
    // The pregnancy tasks no longer apply.
    assert!(has(&after, "prenatal_checkups", Some("cancelled")));
    assert!(has(&after, "checkup_18_months", Some("upcoming")));

    let (_, open) = app.get(&format!("{path}?state=open"), &key).await;
    assert!(open.as_array().expect("tasks").iter().all(|t| t["state"] == "open"));
}

#[actix_web::test]
async fn a_child_allowance_claim_after_its_15_day_date_is_still_open_and_worded_so() {
    // 児童手当法 第8条第2項: paid from the month after the claim. The 15-day date only decides
    // whether the birth month's claim is kept; a later claim is valid and loses months only.
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let born = tokyo_day(-25);
    let family = app
        .create_family(
            &key,
            json!({ "municipality_code": "131016", "health_insurance": "national",
                    "children": [{ "status": "born", "birth_date": born, "birth_weight_grams": 3000 }] }),
        )
        .await;
    let (_, tasks) = app.get(&format!("/v1/families/{family}/tasks"), &key).await;
    let claim = one(&tasks, "child_allowance_claim");
    assert_eq!(claim["deadline_kind"], "benefit_starts_next_month");
    assert!(date(&claim["deadline"]) < date(&json!(tokyo_day(0))), "{claim}");
    assert_eq!(claim["state"], "open", "a late claim is still a claim: {claim}");
    // A statutory deadline passed is overdue (国保 資格取得届, 14 days).
    assert_eq!(one(&tasks, "kokuho_enrollment")["state"], "overdue");
    // One reminder after the date says the claim is still possible.
    let (_, planned) = app.get(&format!("/v1/families/{family}/planned-notifications"), &key).await;
    let after_date = planned
        .as_array()
        .expect("planned")
        .iter()
        .filter(|p| p["task_id"] == claim["id"] && date(&p["local_date"]) > date(&claim["deadline"]));
    assert_eq!(after_date.count(), 1, "{planned}");

    // No language calls the date a deadline; each says what a later claim costs.
    let variables = json!({ "opens_on": born, "due": "2026-12-10", "online": true });
    never_called_a_deadline(&app, &key, "reminder_child_allowance_claim", variables, &[10, 3, 0, -5]).await;
    let preview = |days_left: i64| {
        let body = json!({ "language": "ja", "variables": { "opens_on": born, "due": "2026-12-10", "days_left": days_left, "online": true } });
        app.post("/v1/templates/reminder_child_allowance_claim/preview", &key, body)
    };
    let (_, before) = preview(3).await;
    assert!(
        before["body"].as_str().is_some_and(
            |b| b.contains("令和8年12月10日（木）までに申請すると") && b.contains("遅れた月の分は受け取れません")
        ),
        "{before}"
    );
    let (_, late) = preview(-5).await;
    assert!(late["title"].as_str().is_some_and(|t| t.contains("まだ申請できます")), "{late}");
}

#[actix_web::test]
async fn a_reminder_names_the_ways_the_municipality_takes_the_filing() {
    // Most municipalities take the 出生届 on paper at a counter; one that takes it online says
    // so in its settings, and its families' reminders say so too. 戸籍法 第25条・第51条: it may
    // also be filed where the baby was born or at the 本籍地.
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let born = json!({ "municipality_code": "131016", "preferred_language": "ja",
                       "children": [{ "status": "born", "birth_date": tokyo_day(-1), "birth_weight_grams": 3000 }] });
    let counter_only = app.create_family(&key, born.clone()).await;
    let (_, tasks) = app.get(&format!("/v1/families/{counter_only}/tasks"), &key).await;
    assert_eq!(one(&tasks, "birth_registration")["channels"], json!(["counter"]));
    assert_eq!(one(&tasks, "child_allowance_claim")["channels"], json!(["online", "counter"]));
    let reminder_of = |family: String, procedure: &'static str| {
        let app = &app;
        let key = &key;
        async move {
            app.make_due(&family, procedure).await;
            let (_, inbox) = app.get(&format!("/v1/families/{family}/inbox"), key).await;
            let entry = inbox["items"]
                .as_array()
                .expect("items")
                .iter()
                .find(|e| e["template_id"] == format!("reminder_{procedure}"))
                .cloned();
            entry.expect("the reminder")["body"].as_str().unwrap_or_default().to_owned()
        }
    };
    let reminder = |family: String| reminder_of(family, "birth_registration");
    let text = reminder(counter_only.clone()).await;
    assert!(text.contains("窓口で行います") && !text.contains("マイナポータル"), "{text}");
    assert!(text.contains("出生地や本籍地"), "{text}");
    // The 出生連絡票 goes by post in most municipalities, and its reminder says so.
    let card = reminder_of(counter_only, "birth_notification_card").await;
    assert!(card.contains("郵送"), "{card}");

    let staff = app.create_staff("131016");
    let online = json!({ "procedures": { "birth_registration": { "channels": ["online", "counter"] } } });
    let (status, body) =
        app.call(reqwest::Method::PUT, "/v1/municipalities/131016/settings", Some(&staff), Some(online)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let takes_online = app.create_family(&key, born).await;
    let (_, tasks) = app.get(&format!("/v1/families/{takes_online}/tasks"), &key).await;
    assert_eq!(one(&tasks, "birth_registration")["channels"], json!(["online", "counter"]));
    let text = reminder(takes_online.clone()).await;
    assert!(text.contains("マイナポータル"), "{text}");
    let counter_card = json!({ "procedures": { "birth_notification_card": { "channels": ["counter"] } } });
    let (status, body) =
        app.call(reqwest::Method::PUT, "/v1/municipalities/131016/settings", Some(&staff), Some(counter_card)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let no_post = app
        .create_family(
            &key,
            json!({ "municipality_code": "131016", "preferred_language": "ja",
        "children": [{ "status": "born", "birth_date": tokyo_day(-1) }] }),
        )
        .await;
    let card = reminder_of(no_post, "birth_notification_card").await;
    assert!(!card.contains("郵送"), "a municipality that takes it at the counter only: {card}");
    // A channel named twice, or none, is refused naming the setting.
    let twice = json!({ "procedures": { "birth_registration": { "channels": ["counter", "counter"] } } });
    let (status, error) =
        app.call(reqwest::Method::PUT, "/v1/municipalities/131016/settings", Some(&staff), Some(twice)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert!(error["fields"]["procedures.birth_registration.channels"].is_string(), "{error}");
}

/// The word each language uses for a deadline that ends a procedure.
const DEADLINE_WORDS: [(&str, &str); 9] = [
    ("ja", "期限"),
    ("ja-x-easy", "しめきり"),
    ("en", "deadline"),
    ("vi", "Hạn chót"),
    ("pt-BR", "prazo"),
    ("zh-Hans", "截止"),
    ("ko", "마감"),
    ("tl", "huling araw"),
    ("ne", "अन्तिम मिति"),
];

/// Renders the template in every language (its own text, not a fallback) with `variables` at each
/// number of days left, and finds no word for a deadline in it.
async fn never_called_a_deadline(app: &TestApp, key: &str, template: &str, variables: Value, days: &[i64]) {
    for (language, word) in DEADLINE_WORDS {
        for days_left in days {
            let mut variables = variables.clone();
            variables["days_left"] = json!(days_left);
            let body = json!({ "language": language, "variables": variables });
            let (status, text) = app.post(&format!("/v1/templates/{template}/preview"), key, body).await;
            assert_eq!(status, StatusCode::OK, "{text}");
            assert_eq!(text["language"], language, "written in {language}, not a fallback");
            let words = format!("{} {}", text["title"], text["body"]);
            assert!(!words.to_lowercase().contains(&word.to_lowercase()), "{template} {language} {days_left}: {words}");
        }
    }
}

#[actix_web::test]
async fn the_childbirth_lump_sum_is_information_for_families_who_did_not_use_direct_payment() {
    // Most births use the 直接支払制度 (健康保険法 第101条; the insurer pays the hospital): then
    // there is nothing to file, so nonstop never sounds an alarm about it.
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family = app
        .create_family(
            &key,
            json!({ "municipality_code": "131016",
                    "children": [{ "status": "born", "birth_date": tokyo_day(-3), "birth_weight_grams": 3000 }] }),
        )
        .await;
    let (_, tasks) = app.get(&format!("/v1/families/{family}/tasks"), &key).await;
    assert_eq!(one(&tasks, "childbirth_lump_sum")["kind"], "information");
    let variables = json!({ "opens_on": "2026-11-20", "due": "2028-11-20" });
    never_called_a_deadline(&app, &key, "reminder_childbirth_lump_sum", variables, &[700, 60, 0]).await;
    let body =
        json!({ "language": "ja", "variables": { "opens_on": "2026-11-20", "due": "2028-11-20", "days_left": 700 } });
    let (_, ja) = app.post("/v1/templates/reminder_childbirth_lump_sum/preview", &key, body).await;
    let text = ja["body"].as_str().unwrap_or_default();
    assert!(text.contains("直接支払制度を使わなかった場合") && text.contains("手続きは要りません"), "{ja}");
}

#[actix_web::test]
async fn birth_weight_and_insurance_choose_the_tasks() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family = |grams: i32, insurance: &str| {
        json!({ "municipality_code": "131016", "health_insurance": insurance,
                "children": [{ "status": "born", "birth_date": tokyo_day(-2), "birth_weight_grams": grams }] })
    };
    let light = app.create_family(&key, family(2400, "national")).await;
    let heavy = app.create_family(&key, family(3000, "employee")).await;
    let (_, light) = app.get(&format!("/v1/families/{light}/tasks"), &key).await;
    let (_, heavy) = app.get(&format!("/v1/families/{heavy}/tasks"), &key).await;
    assert!(has(&light, "low_birth_weight_notification", Some("open")));
    assert!(!has(&heavy, "low_birth_weight_notification", None));
    assert!(has(&light, "kokuho_enrollment", None) && !has(&light, "employee_insurance_dependent", None));
    assert!(has(&heavy, "employee_insurance_dependent", None) && !has(&heavy, "kokuho_enrollment", None));
    assert!(one(&light, "low_birth_weight_notification")["reasons"].to_string().contains("2400 g"));
}

#[actix_web::test]
async fn a_move_plans_under_the_new_municipality_and_cancels_the_old() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family = app
        .create_family(
            &key,
            json!({ "municipality_code": "131016", "health_insurance": "national",
                    "children": [{ "status": "born", "birth_date": tokyo_day(-3), "birth_weight_grams": 3000 }] }),
        )
        .await;
    let (status, _) = app
        .post(
            &format!("/v1/families/{family}/events"),
            &key,
            json!({ "type": "moved", "date": tokyo_day(0), "municipality_code": "141003" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, tasks) = app.get(&format!("/v1/families/{family}/tasks"), &key).await;
    let live: Vec<&Value> = tasks.as_array().expect("tasks").iter().filter(|t| t["state"] != "cancelled").collect();
    assert!(
        live.iter().filter(|t| t["files_with"] == "municipality").all(|t| t["municipality_code"] == "141003"),
        "{live:?}"
    );
    let cancelled: Vec<&Value> =
        tasks.as_array().expect("tasks").iter().filter(|t| t["state"] == "cancelled").collect();
    assert!(!cancelled.is_empty() && cancelled.iter().all(|t| t["municipality_code"] == "131016"));
    assert!(has(&tasks, "child_allowance_transfer_claim", Some("open")));
    assert!(has(&tasks, "kokuho_transfer", Some("open")));
    // No reminder is planned for the old municipality's tasks.
    let (_, planned) = app.get(&format!("/v1/families/{family}/planned-notifications"), &key).await;
    let cancelled_ids: Vec<&Value> = cancelled.iter().map(|t| &t["id"]).collect();
    assert!(planned.as_array().expect("planned").iter().all(|n| !cancelled_ids.contains(&&n["task_id"])));
}

#[actix_web::test]
async fn a_task_marked_done_has_no_more_reminders_and_can_be_reopened() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family = app
        .create_family(
            &key,
            json!({ "municipality_code": "131016", "quiet_hours": { "start": "19:00", "end": "10:30" },
                    "children": [{ "status": "born", "birth_date": tokyo_day(0), "birth_weight_grams": 3000 }] }),
        )
        .await;
    let (_, tasks) = app.get(&format!("/v1/families/{family}/tasks"), &key).await;
    let registration = one(&tasks, "birth_registration")["id"].as_str().expect("id").to_owned();
    let planned_path = format!("/v1/families/{family}/planned-notifications");
    let (_, planned) = app.get(&planned_path, &key).await;
    let for_task = |planned: &Value| {
        planned.as_array().expect("planned").iter().filter(|n| n["task_id"] == registration.as_str()).count()
    };
    assert!(for_task(&planned) >= 2, "{planned}");
    for n in planned.as_array().expect("planned") {
        let at: chrono::DateTime<chrono::Utc> = n["send_at"].as_str().and_then(|s| s.parse().ok()).expect("instant");
        let local = at.with_timezone(&chrono_tz::Asia::Tokyo);
        assert_eq!((local.hour(), local.minute()), (10, 30), "never in the quiet hours: {n}");
    }

    let task_path = format!("/v1/families/{family}/tasks/{registration}");
    let (status, done) = app.patch(&task_path, &key, json!({ "status": "done" })).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["state"], "done");
    assert!(done["status_changed_at"].is_string());
    let (_, planned) = app.get(&planned_path, &key).await;
    assert_eq!(for_task(&planned), 0, "no reminder for a done task");

    let (status, reopened) = app.patch(&task_path, &key, json!({ "status": "open" })).await;
    assert_eq!((status, reopened["state"].as_str()), (StatusCode::OK, Some("open")));
    let (_, planned) = app.get(&planned_path, &key).await;
    assert!(for_task(&planned) >= 2);

    let (status, error) = app.patch(&task_path, &key, json!({ "status": "finished" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["fields"]["status"].is_string());
}

#[actix_web::test]
async fn municipal_staff_replace_their_settings_and_residents_are_replanned() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family = app
        .create_family(&key, json!({ "municipality_code": "131130", "children": [{ "status": "born", "birth_date": tokyo_day(-5), "birth_weight_grams": 3000 }] }))
        .await;
    let staff = app.create_staff("131130");
    let settings_path = "/v1/municipalities/131130/settings";
    let (status, current) = app.get(settings_path, &staff).await;
    assert_eq!(status, StatusCode::OK, "{current}");
    assert_eq!(current["source"], "shipped");
    let (_, tasks) = app.get(&format!("/v1/families/{family}/tasks"), &key).await;
    assert!(!has(&tasks, "checkup_9_10_months", None), "渋谷区's shipped settings switch it off");

    // A bad document is refused with the field named, and the old settings stay in force.
    let bad = json!({ "procedures": { "checkup_9_10_months": { "enabled": true }, "birth_registration": { "deadline": { "rule": "koseki_days", "n": 0 } } } });
    let (status, error) = app.call(reqwest::Method::PUT, settings_path, Some(&staff), Some(bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert!(error["fields"]["procedures.birth_registration.deadline"].is_string(), "{error}");
    let (_, still) = app.get(settings_path, &staff).await;
    assert_eq!(still, current);

    let good = json!({
        "name": "渋谷区",
        "procedures": {
            "checkup_9_10_months": { "enabled": true },
            "checkup_3_4_months": { "enabled": false },
            "birth_registration": { "office": { "name": "渋谷区役所 戸籍係", "url": "https://www.city.shibuya.tokyo.jp/", "phone": "03-3463-1211" } }
        }
    });
    let (status, replaced) = app.call(reqwest::Method::PUT, settings_path, Some(&staff), Some(good)).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["families_replanned"], 1);
    assert_eq!(replaced["settings"]["source"], "staff");
    let (_, tasks) = app.get(&format!("/v1/families/{family}/tasks"), &key).await;
    assert!(has(&tasks, "checkup_9_10_months", Some("upcoming")));
    assert!(has(&tasks, "checkup_3_4_months", Some("cancelled")));
    assert_eq!(one(&tasks, "birth_registration")["office"]["name"], "渋谷区役所 戸籍係");
    // The shipped 30-day subsidy deadline was replaced along with the rest.
    let subsidy = one(&tasks, "infant_medical_subsidy");
    assert_eq!((date(&subsidy["raw_deadline"]) - date(&json!(tokyo_day(-5)))).num_days(), 15);

    // Nobody else manages 渋谷区's settings.
    let other_staff = app.create_staff("131016");
    let (status, _) = app.get(settings_path, &other_staff).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.call(reqwest::Method::PUT, settings_path, Some(&key), Some(json!({}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.get("/v1/municipalities/131131/settings", &staff).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn the_catalog_is_published() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let (status, procedures) = app.get("/v1/procedures", &key).await;
    assert_eq!(status, StatusCode::OK);
    let registration =
        procedures.as_array().expect("list").iter().find(|p| p["id"] == "birth_registration").expect("出生届");
    assert_eq!(registration["deadline"], json!({ "rule": "koseki_days", "n": 14, "days": 0, "closed_day": "next" }));
}

#[actix_web::test]
async fn residents_are_replanned_a_batch_at_a_time_and_a_second_change_starts_again_under_the_newest_settings() {
    use nonstop::db::write_transaction;
    use nonstop::service::batches::{self, BatchWork, Step};
    use nonstop::service::{municipalities, replan};
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let mut families = Vec::new();
    for _ in 0..5 {
        let body = json!({ "municipality_code": "131130", "children": [{ "status": "born", "birth_date": tokyo_day(-5), "birth_weight_grams": 3000 }] });
        families.push(app.create_family(&key, body).await);
    }
    let ctx = app.job_context();
    let replanner = ctx.replanner();
    let code = nonstop::domain::MunicipalityCode::parse("131130").expect("code");
    let settings = |procedure: &str, enabled: bool| -> nonstop::domain::overrides::MunicipalityOverride {
        serde_json::from_value(json!({ "procedures": { procedure: { "enabled": enabled } } })).expect("settings")
    };
    let mut conn = app.db.get().expect("conn");
    // The settings are saved at once; the residents wait for the re-planning.
    write_transaction(&mut conn, |c| {
        municipalities::replace(c, &ctx.use_case(), &code, settings("checkup_3_4_months", false), "staff")
    })
    .expect("saved");
    let claimed = write_transaction(&mut conn, |c| {
        batches::claim(c, BatchWork::Replan, "131130", "a", app.clock.now(), replanner.lease)
    })
    .expect("claim");
    assert!(claimed);
    let batch = |conn: &mut nonstop::db::DbConnection, owner: &str| {
        write_transaction(conn, |c| replan::replan_batch(c, &replanner, "131130", owner, 2)).expect("batch")
    };
    assert!(matches!(batch(&mut conn, "a"), Step::More((2, _))), "two families at a time");
    let cancelled = |tasks: &Value| has(tasks, "checkup_3_4_months", Some("cancelled"));
    let mut reached = 0;
    for family in &families {
        reached += usize::from(cancelled(&app.get(&format!("/v1/families/{family}/tasks"), &key).await.1));
    }
    assert_eq!(reached, 2, "the first batch only");

    // Changed again before the work is through: whoever was doing it stops, and it starts again
    // from the first family under the newest settings.
    write_transaction(&mut conn, |c| {
        municipalities::replace(c, &ctx.use_case(), &code, settings("checkup_9_10_months", true), "staff")
    })
    .expect("saved again");
    assert_eq!(batch(&mut conn, "a"), Step::NotMine);
    drop(conn);
    let (replanned, _) = replanner.resume().await.expect("resumed");
    assert_eq!(replanned, 5, "every resident, once more from the first");
    for family in &families {
        let (_, tasks) = app.get(&format!("/v1/families/{family}/tasks"), &key).await;
        assert!(has(&tasks, "checkup_9_10_months", Some("upcoming")), "the newest settings hold: {tasks}");
        assert!(!cancelled(&tasks), "the first settings no longer do: {tasks}");
    }
    assert_eq!(replanner.resume().await.expect("nothing left").0, 0);
}
