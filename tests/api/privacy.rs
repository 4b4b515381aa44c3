//! Personal data at rest is sealed: the database holds no plaintext name, address, phone
//! number, device token, guardian's date of birth, postal code or birth weight, and what an older
//! version kept in the clear is sealed at the first start.

use serde_json::json;

use crate::helpers::TestApp;

const NAME: &str = "木下 彩葉";
const KANA: &str = "キノシタ イロハ";
const ADDRESS: &str = "霞が関3-1-1 秘密マンション";
const PHONE: &str = "08055556666";
const FCM_TOKEN: &str = "cPrivacyTokenZZ9:APA91bPRIVATEprivateToken_xyz";
const ENDPOINT_ID: &str = "PrivateSubscriptionId0042";
const GUARDIAN_BORN: &str = "1991-07-23";
const POSTAL_CODE: &str = "100-0013";
const WEIGHT: i32 = 2987;

/// How many values the old clear columns still hold (they are emptied, never read).
fn clear_values(app: &TestApp) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = app.db.get().expect("conn");
    let query = "SELECT (SELECT COUNT(*) FROM children WHERE birth_weight_grams IS NOT NULL) \
                 + (SELECT COUNT(*) FROM guardians WHERE birth_date IS NOT NULL) \
                 + (SELECT COUNT(*) FROM families WHERE postal_code IS NOT NULL) AS n";
    let counted: Count = diesel::RunQueryDsl::get_result(diesel::sql_query(query), &mut *conn).expect("count");
    counted.n
}

#[actix_web::test]
async fn the_database_holds_no_plaintext_personal_data() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family = app
        .create_family(
            &key,
            json!({
                "municipality_code": "131016",
                "address": ADDRESS,
                "postal_code": POSTAL_CODE,
                "guardians": [{ "relationship": "mother", "full_name": NAME, "full_name_kana": KANA, "phone": PHONE, "birth_date": GUARDIAN_BORN }],
                "children": [{ "status": "born", "birth_date": "2025-01-15", "full_name": "木下 陽葵", "birth_weight_grams": WEIGHT }]
            }),
        )
        .await;
    let devices = format!("/v1/families/{family}/devices");
    let (status, _) = app.post(&devices, &key, json!({ "kind": "fcm", "token": FCM_TOKEN })).await;
    assert!(status.is_success());
    let (status, _) = app
        .post(
            &devices,
            &key,
            crate::helpers::web_push_device(&format!("https://fcm.googleapis.com/fcm/send/{ENDPOINT_ID}")),
        )
        .await;
    assert!(status.is_success());
    let (_, read) = app.get(&format!("/v1/families/{family}"), &key).await;
    assert_eq!(read["guardians"][0]["full_name"], NAME, "the API still shows the parent their data");
    assert_eq!(read["guardians"][0]["birth_date"], GUARDIAN_BORN);
    assert_eq!(read["postal_code"], POSTAL_CODE);
    assert_eq!(read["children"][0]["birth_weight_grams"], WEIGHT);

    let secrets = [NAME, KANA, ADDRESS, PHONE, FCM_TOKEN, ENDPOINT_ID, "木下", "陽葵", GUARDIAN_BORN, POSTAL_CODE];
    crate::helpers::assert_not_stored(&app, &secrets);
    assert_eq!(clear_values(&app), 0, "the birth weight is not kept in the clear");
}

#[actix_web::test]
async fn what_an_older_version_kept_in_the_clear_is_sealed_at_the_first_start_and_reads_the_same() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("vendor");
    let family = app
        .create_family(
            &key,
            json!({
                "municipality_code": "131016",
                "guardians": [{ "relationship": "mother", "full_name": NAME }],
                "children": [{ "status": "born", "birth_date": "2025-01-15" }]
            }),
        )
        .await;
    let (_, read) = app.get(&format!("/v1/families/{family}"), &key).await;
    let (guardian, child) =
        (read["guardians"][0]["id"].as_str().expect("id"), read["children"][0]["id"].as_str().expect("id"));
    {
        let mut conn = app.db.get().expect("conn");
        let born = chrono::NaiveDate::parse_from_str(GUARDIAN_BORN, "%Y-%m-%d").expect("date");
        nonstop::db::sealing::write_as_older_version(
            &mut conn,
            Some((child, WEIGHT)),
            Some((guardian, born)),
            Some((&family, POSTAL_CODE)),
        )
        .expect("older version's rows");
    }
    assert_eq!(clear_values(&app), 3);

    // The next start seals them (here, the same step on the app's keys).
    let keys = app.settings.key_ring().expect("keys");
    let sealed = nonstop::db::sealing::seal_clear_values(&mut app.db.get().expect("conn"), &keys).expect("sealed");
    assert_eq!(sealed, 3);
    assert_eq!(clear_values(&app), 0);
    let (_, read) = app.get(&format!("/v1/families/{family}"), &key).await;
    assert_eq!(
        (&read["children"][0]["birth_weight_grams"], &read["guardians"][0]["birth_date"], &read["postal_code"]),
        (&json!(WEIGHT), &json!(GUARDIAN_BORN), &json!(POSTAL_CODE)),
        "{read}"
    );
    crate::helpers::assert_not_stored(&app, &[GUARDIAN_BORN, POSTAL_CODE]);
    let again = nonstop::db::sealing::seal_clear_values(&mut app.db.get().expect("conn"), &keys).expect("again");
    assert_eq!(again, 0, "a start that finds nothing does nothing");
}
