//! What each provider receives, as schemas of the OpenAPI document (`WebPushPayload`,
//! `ApnsPayload`, `FcmMessage`), so an app's developer knows what a push carries and how to
//! open the right screen from it. The tests below hold them to what the senders really send.

use serde_json::{json, Value};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{OpenApi as Document, RefOr};
use utoipa::Modify;

const OPEN: &str = "Open the task `task_id` when present, else the inbox entry `entry_id`, and mark the \
                    entry read; details come from the API with the parent session, never from the push.";

fn ids() -> Value {
    json!({
        "entry_id": {"type": "string", "description": "The inbox entry this push belongs to (always)."},
        "task_id": {"type": "string", "description": "The task it reminds of; absent for a municipal notice."}
    })
}

fn texts(what: &str) -> Value {
    json!({
        "title": {"type": "string", "description": format!("The template's title in the family's language ({what}); no personal value.")},
        "body": {"type": "string", "description": "The template's text; no personal value."}
    })
}

/// The three schemas, by name.
pub fn schemas() -> Vec<(&'static str, Value)> {
    let mut web = json!({
        "type": "object",
        "description": format!("A Web Push body after decryption (RFC 8291, aes128gcm): at most 3,993 bytes of JSON. \
                                Sent with TTL, Urgency and Topic headers. {OPEN}"),
        "required": ["title", "body", "entry_id"],
        "additionalProperties": false,
    });
    let mut properties = texts("lock screen");
    properties.as_object_mut().expect("object").extend(ids().as_object().expect("object").clone());
    web["properties"] = properties;

    let mut apns = json!({
        "type": "object",
        "description": format!("An APNs payload (apns-push-type alert; apns-collapse-id, apns-expiration, \
                                apns-priority 10, or 5 for low urgency): the `aps` dictionary and nonstop's ids, \
                                at most 4,096 bytes. {OPEN}"),
        "required": ["aps", "entry_id"],
        "additionalProperties": false,
        "properties": {
            "aps": {
                "type": "object", "required": ["alert", "sound"], "additionalProperties": false,
                "properties": {
                    "alert": {"type": "object", "required": ["title", "body"], "additionalProperties": false,
                              "properties": texts("alert")},
                    "sound": {"type": "string", "enum": ["default"]},
                    "thread-id": {"type": "string", "description": "Groups the pushes of one child."}
                }
            }
        }
    });
    apns["properties"].as_object_mut().expect("object").extend(ids().as_object().expect("object").clone());

    let fcm = json!({
        "type": "object",
        "description": format!("The FCM HTTP v1 request nonstop makes: `notification` shows the push, `data` \
                                (string values) carries the ids to the app, at most 4,096 bytes. {OPEN}"),
        "required": ["message"],
        "additionalProperties": false,
        "properties": {"message": {
            "type": "object", "required": ["token", "notification", "data", "android"], "additionalProperties": false,
            "properties": {
                "token": {"type": "string", "description": "The device's registration token."},
                "notification": {"type": "object", "required": ["title", "body"], "additionalProperties": false,
                                 "properties": texts("notification")},
                "data": {"type": "object", "required": ["entry_id"], "additionalProperties": false, "properties": ids()},
                "android": {"type": "object", "required": ["ttl", "priority"], "additionalProperties": false,
                            "properties": {
                                "ttl": {"type": "string", "description": "The entry's remaining life, as `86400s`."},
                                "priority": {"type": "string", "enum": ["HIGH", "NORMAL"]},
                                "collapse_key": {"type": "string", "description": "A newer push replaces an older one."}
                            }}
            }
        }}
    });
    vec![("WebPushPayload", web), ("ApnsPayload", apns), ("FcmMessage", fcm)]
}

/// Adds the schemas to the document's components.
pub struct PushPayloads;

impl Modify for PushPayloads {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, schema) in schemas() {
            if let Ok(schema) = serde_json::from_value::<Schema>(schema) {
                components.schemas.insert(name.to_owned(), RefOr::T(schema));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::Value;

    use super::schemas;
    use crate::push::PushMessage;
    use crate::templates::Urgency;

    /// `value` has every required field of `schema` and no field it does not describe.
    fn conforms(schema: &Value, value: &Value, at: &str) {
        let Some(fields) = value.as_object() else { return };
        for required in schema["required"].as_array().into_iter().flatten() {
            assert!(fields.contains_key(required.as_str().unwrap_or_default()), "{at}: {required} missing in {value}");
        }
        for (name, field) in fields {
            let property = &schema["properties"][name];
            assert!(property.is_object(), "{at}.{name} is sent but not documented");
            conforms(property, field, &format!("{at}.{name}"));
        }
    }

    fn message(task: Option<&str>) -> PushMessage {
        PushMessage {
            entry_id: "entry".into(),
            task_id: task.map(str::to_owned),
            title: "出生届の期限が近づいています".into(),
            body: "本文".into(),
            urgency: Urgency::Normal,
            ttl: Duration::from_secs(86_400),
            collapse_key: Some("birth_registration".into()),
            thread_id: Some("child".into()),
        }
    }

    #[test]
    fn each_provider_receives_what_the_document_says() {
        let documented: std::collections::BTreeMap<_, _> = schemas().into_iter().collect();
        let in_document = crate::api::openapi().components.expect("components").schemas;
        for name in documented.keys() {
            assert!(in_document.contains_key(*name), "{name} is in the document");
        }
        for task in [Some("task"), None] {
            let message = message(task);
            let web: Value = serde_json::from_slice(&message.payload_bytes().expect("fits")).expect("json");
            conforms(&documented["WebPushPayload"], &web, "web push");
            let apns =
                serde_json::to_value(crate::push::apns::payload("token", "jp.example.app", &message, 0)).expect("json");
            conforms(&documented["ApnsPayload"], &apns, "apns");
            conforms(&documented["FcmMessage"], &crate::push::fcm::body("token", &message), "fcm");
        }
    }
}
