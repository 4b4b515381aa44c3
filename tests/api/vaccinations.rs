//! 接種記録 through the API: a recorded dose closes its task and plans the next from its date;
//! a dose too soon, in the future, twice or for an unborn child is refused, naming the problem.
//! And the guardians' nationality, which decides whether a newborn needs a status of residence.

use chrono::NaiveDate;
use nonstop::domain::periods;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{tokyo_day, TestApp};

fn task<'a>(tasks: &'a Value, procedure: &str) -> Option<&'a Value> {
    tasks.as_array().expect("tasks").iter().find(|t| t["procedure_id"] == procedure)
}

fn day(text: &str) -> NaiveDate {
    text.parse().expect("date")
}

#[actix_web::test]
async fn a_recorded_dose_closes_its_task_and_plans_the_next_one() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family = app
        .create_family(
            &key,
            json!({ "municipality_code": "131016", "children": [
                { "status": "born", "birth_date": tokyo_day(-80) },
                { "status": "expected", "due_date": tokyo_day(60) }
            ] }),
        )
        .await;
    let (_, read) = app.get(&format!("/v1/families/{family}"), &key).await;
    let child_of = |status: &str| {
        read["children"].as_array().expect("children").iter().find(|c| c["status"] == status).expect("child")["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    let (child, unborn) = (child_of("born"), child_of("expected"));
    let doses = format!("/v1/families/{family}/children/{child}/vaccinations");
    let tasks_path = format!("/v1/families/{family}/tasks");

    let (_, before) = app.get(&tasks_path, &key).await;
    assert_eq!(task(&before, "vaccine_5in1").expect("first dose")["state"], "open");
    assert!(task(&before, "vaccine_5in1_second").is_none());

    let given = tokyo_day(-1);
    let (status, recorded) = app.post(&doses, &key, json!({ "procedure_id": "vaccine_5in1", "given_on": given })).await;
    assert_eq!(status, StatusCode::CREATED, "{recorded}");
    assert_eq!(
        (recorded["procedure_id"].as_str(), recorded["given_on"].as_str()),
        (Some("vaccine_5in1"), Some(given.as_str()))
    );
    let (_, after) = app.get(&tasks_path, &key).await;
    assert_eq!(task(&after, "vaccine_5in1").expect("first dose")["state"], "done");
    let second = task(&after, "vaccine_5in1_second").expect("the second dose is planned");
    // 20日以上の間隔 (jp-rules C10): from the dose's date + 21.
    assert_eq!(second["opens_on"], periods::interval_days(day(&given), 20).to_string());
    assert_eq!(second["deadline"], periods::interval_days(day(&given), 56).to_string());

    // Refusals name the field and the problem, and store nothing.
    let refusals = [
        (
            json!({ "procedure_id": "vaccine_5in1_second", "given_on": tokyo_day(0) }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "given_on",
            "minimum interval",
        ),
        (
            json!({ "procedure_id": "vaccine_bcg", "given_on": tokyo_day(1) }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "given_on",
            "future",
        ),
        (
            json!({ "procedure_id": "vaccine_bcg", "given_on": tokyo_day(-81) }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "given_on",
            "birth",
        ),
        (
            json!({ "procedure_id": "maternal_rsv_vaccine", "given_on": tokyo_day(0) }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "procedure_id",
            "vaccination",
        ),
        (
            json!({ "procedure_id": "birth_registration", "given_on": tokyo_day(0) }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "procedure_id",
            "vaccination",
        ),
    ];
    for (body, expected, field, words) in refusals {
        let (status, error) = app.post(&doses, &key, body.clone()).await;
        assert_eq!(status, expected, "{body}: {error}");
        assert!(error["fields"][field].as_str().is_some_and(|p| p.contains(words)), "{body}: {error}");
    }
    let (status, error) =
        app.post(&doses, &key, json!({ "procedure_id": "vaccine_5in1", "given_on": tokyo_day(0) })).await;
    assert_eq!((status, error["error"].as_str()), (StatusCode::CONFLICT, Some("dose_already_recorded")), "{error}");
    let (status, error) = app
        .post(
            &format!("/v1/families/{family}/children/{unborn}/vaccinations"),
            &key,
            json!({ "procedure_id": "vaccine_5in1", "given_on": tokyo_day(0) }),
        )
        .await;
    assert_eq!((status, error["error"].as_str()), (StatusCode::CONFLICT, Some("child_not_born")), "{error}");
    let (_, list) = app.get(&doses, &key).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");

    // Removing a dose recorded by mistake reopens its task, and the next dose goes.
    let id = recorded["id"].as_str().expect("id");
    let (status, _) = app.delete(&format!("{doses}/{id}"), &key).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, reopened) = app.get(&tasks_path, &key).await;
    assert_eq!(task(&reopened, "vaccine_5in1").expect("first dose")["state"], "open");
    assert!(task(&reopened, "vaccine_5in1_second").is_none_or(|t| t["state"] == "cancelled"), "{reopened}");
    let (status, _) = app.delete(&format!("{doses}/{id}"), &key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn a_newborn_of_foreign_parents_is_asked_for_a_status_of_residence_and_a_japanese_married_father_ends_it() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family = app
        .create_family(
            &key,
            json!({
                "municipality_code": "131016",
                "guardians": [
                    { "relationship": "mother", "full_name": "グエン 花", "nationality": "VN" },
                    { "relationship": "father", "full_name": "グエン 太郎", "nationality": "VN" }
                ],
                "children": [{ "status": "born", "birth_date": tokyo_day(-2) }]
            }),
        )
        .await;
    let tasks_path = format!("/v1/families/{family}/tasks");
    let (_, tasks) = app.get(&tasks_path, &key).await;
    let status = task(&tasks, "residence_status_on_birth").expect("在留資格取得");
    assert_eq!(status["files_with"], "immigration_bureau");
    assert_eq!(status["raw_deadline"], periods::civil_days(day(&tokyo_day(-2)), 30).to_string());
    assert!(task(&tasks, "home_country_birth_registration").is_some());

    let (_, read) = app.get(&format!("/v1/families/{family}"), &key).await;
    assert_eq!(read["guardians"][0]["nationality"], "VN");
    let father = read["guardians"][1]["id"].as_str().expect("guardian").to_owned();
    let guardian_path = format!("/v1/families/{family}/guardians/{father}");
    for wrong in ["vn", "VNM", "1A"] {
        let (status, error) = app.patch(&guardian_path, &key, json!({ "nationality": wrong })).await;
        assert!(status.is_client_error(), "{wrong}: {status}");
        assert!(error.to_string().contains("nationality"), "{wrong}: {error}");
    }
    // 国籍法 第2条: a Japanese father makes the child Japanese at birth only through marriage to
    // the mother (or 胎児認知, never recorded): until the marriage is known, the task stays.
    let (status, _) = app.patch(&guardian_path, &key, json!({ "nationality": "JP" })).await;
    assert_eq!(status, StatusCode::OK);
    let (_, unsure) = app.get(&tasks_path, &key).await;
    assert_ne!(task(&unsure, "residence_status_on_birth").expect("still planned")["state"], "cancelled", "{unsure}");
    let family_path = format!("/v1/families/{family}");
    let (status, _) = app.patch(&family_path, &key, json!({ "paperwork": { "parents_married": true } })).await;
    assert_eq!(status, StatusCode::OK);
    let (_, after) = app.get(&tasks_path, &key).await;
    assert_eq!(task(&after, "residence_status_on_birth").expect("kept as cancelled")["state"], "cancelled");
}

#[actix_web::test]
async fn the_rotavirus_product_on_the_dose_decides_the_third_dose_and_the_window() {
    // ロタウイルス (定期接種実施要領): ロタリックス 2 doses by 出生24週0日後, ロタテック 3 doses by
    // 32週0日後, 27日以上 apart, one product throughout.
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let born = tokyo_day(-120);
    let family = app
        .create_family(
            &key,
            json!({ "municipality_code": "131016", "children": [
                { "status": "born", "birth_date": born },
                { "status": "born", "birth_date": born }
            ] }),
        )
        .await;
    let (_, read) = app.get(&format!("/v1/families/{family}"), &key).await;
    let ids: Vec<String> = read["children"]
        .as_array()
        .expect("children")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_owned())
        .collect();
    let tasks_path = format!("/v1/families/{family}/tasks");
    let child_task = |tasks: &Value, child: &str, procedure: &str| {
        tasks
            .as_array()
            .expect("tasks")
            .iter()
            .find(|t| t["procedure_id"] == procedure && t["child_id"] == child)
            .cloned()
    };
    let birth = day(&born);
    for (child, product) in ids.iter().zip(["rotateq", "rotarix"]) {
        let doses = format!("/v1/families/{family}/children/{child}/vaccinations");
        let (status, first) = app
            .post(
                &doses,
                &key,
                json!({ "procedure_id": "vaccine_rotavirus", "given_on": tokyo_day(-70), "product": product }),
            )
            .await;
        assert_eq!((status, first["product"].as_str()), (StatusCode::CREATED, Some(product)), "{first}");
        let (_, tasks) = app.get(&tasks_path, &key).await;
        let second = child_task(&tasks, child, "vaccine_rotavirus_second").expect("second dose");
        let end = if product == "rotateq" { 32 } else { 24 };
        assert_eq!(second["closes_on"], periods::weeks_days_after(birth, end, 0).to_string(), "{product}");
        // One product throughout the series.
        let other = if product == "rotateq" { "rotarix" } else { "rotateq" };
        let (status, error) = app
            .post(
                &doses,
                &key,
                json!({ "procedure_id": "vaccine_rotavirus_second", "given_on": tokyo_day(-40), "product": other }),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
        assert!(error["fields"]["product"].as_str().is_some_and(|p| p.contains("throughout")), "{error}");
        let (status, second) = app
            .post(&doses, &key, json!({ "procedure_id": "vaccine_rotavirus_second", "given_on": tokyo_day(-40) }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{second}");
        assert!(second.get("product").is_none(), "not recorded on this dose: {second}");
    }
    let (_, tasks) = app.get(&tasks_path, &key).await;
    let third = child_task(&tasks, &ids[0], "vaccine_rotavirus_third").expect("RotaTeq has a third dose");
    assert_eq!(third["opens_on"], periods::interval_days(day(&tokyo_day(-40)), 27).to_string());
    assert_eq!(third["closes_on"], periods::weeks_days_after(birth, 32, 0).to_string());
    assert!(child_task(&tasks, &ids[1], "vaccine_rotavirus_third").is_none(), "Rotarix ends with two doses");

    // A product belongs to the rotavirus doses only.
    let (status, error) = app
        .post(
            &format!("/v1/families/{family}/children/{}/vaccinations", ids[1]),
            &key,
            json!({ "procedure_id": "vaccine_bcg", "given_on": tokyo_day(-1), "product": "rotarix" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert!(error["fields"]["product"].as_str().is_some(), "{error}");
    let (_, list) = app.get(&format!("/v1/families/{family}/children/{}/vaccinations", ids[0]), &key).await;
    assert_eq!(list[0]["product"], "rotateq", "{list}");
}
