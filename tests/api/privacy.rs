//! Personal data at rest is sealed: the database holds no plaintext name, address, phone
//! number or device token.

use serde_json::json;

use crate::helpers::TestApp;

const NAME: &str = "木下 彩葉";
const KANA: &str = "キノシタ イロハ";
const ADDRESS: &str = "霞が関3-1-1 秘密マンション";
const PHONE: &str = "08055556666";
const FCM_TOKEN: &str = "cPrivacyTokenZZ9:APA91bPRIVATEprivateToken_xyz";
const ENDPOINT_ID: &str = "PrivateSubscriptionId0042";

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
                "guardians": [{ "relationship": "mother", "full_name": NAME, "full_name_kana": KANA, "phone": PHONE }],
                "children": [{ "status": "born", "birth_date": "2025-01-15", "full_name": "木下 陽葵" }]
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

    let secrets = [NAME, KANA, ADDRESS, PHONE, FCM_TOKEN, ENDPOINT_ID, "木下", "陽葵"];
    crate::helpers::assert_not_stored(&app, &secrets);
}
