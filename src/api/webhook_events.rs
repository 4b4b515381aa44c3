//! The document's `webhooks` section: what a municipality's receiver gets, from the document
//! alone (the event's schema, the headers, the signature, delivery and retries). utoipa has no
//! `webhooks` field, so the section is written at the top level through the document's
//! extensions; its numbers come from the sender (`jobs::webhooks`) itself. The municipal events
//! (`submission.*`, `family.deleted`) and the apps' (`app.*`, their `type` without the prefix)
//! share the signature and the delivery.

use serde_json::{json, Value};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{OpenApi as Document, RefOr};
use utoipa::Modify;

use crate::jobs::webhooks::{MAX_ATTEMPTS, POST_TIMEOUT};

/// How the signature, delivery and retries work, for every event; `receiver` says whose
/// webhook it is and where it is set, `personal` which personal data the event carries.
fn delivery(personal: &str) -> String {
    format!(
        "**Signature.** `Nonstop-Signature: t=<unix seconds>,v1=<hex>`, where `v1` is the HMAC-SHA256 of \
         `<t>.<raw body>` keyed with the webhook's secret: the whole `whsec_…` string as shown once when the \
         webhook was set (its bytes, not a decoding of them). Compare in constant time, and refuse a `t` more \
         than 5 minutes from your clock, so that a recorded delivery cannot be replayed later.\n\n\
         **Delivery.** At least once: a receiver that answers 2xx within {timeout} s has it; any other answer, \
         a timeout or no connection is retried with a backoff doubling from about 10 s up to an hour (±20 %), \
         {attempts} attempts in all (about a day), then given up (the delivery log shows it as `failed`). A \
         slow receiver therefore gets the same event again: deduplicate on `Nonstop-Event-Id` (the event's \
         `id`). Order is not guaranteed. After a failure, the rest of that receiver's due deliveries wait for \
         the next round; other receivers are not held up. A delivery goes to the URL, and is signed with the \
         secret, that the webhook has when it is sent: replacing them (a receiver that moved, a secret that \
         leaked) applies to deliveries still queued too; removing the webhook gives them up.\n\n\
         **Personal data.** {personal}",
        timeout = POST_TIMEOUT.as_secs(),
        attempts = MAX_ATTEMPTS,
    )
}

const MUNICIPAL_IDS_ONLY: &str = "None: ids, the status and the 受付番号 only. Read the submission itself \
    through `GET /v1/municipalities/{code}/submissions/{id}`.";
const APP_IDS_ONLY: &str = "None: ids and kinds only, never a name, an address or a text. Read the values \
    through the API with the app's key.";

/// One event of the section: its name, summary, where it is sent from and its schema.
struct Described {
    name: &'static str,
    summary: &'static str,
    when: &'static str,
    personal: &'static str,
    schema: &'static str,
}

const MUNICIPAL: &str = "Sent to the municipality's webhook (`PUT /v1/municipalities/{code}/webhook`)";
const APP: &str = "Sent to the app's webhook (`PUT /v1/events/webhook`), if it chose this kind,";

fn events() -> Vec<Described> {
    vec![
        Described {
            name: "submission.submitted",
            summary: "A submission addressed to the municipality (申請の受付)",
            when: "when a family submits a signed application.",
            personal: "The event carries the submission as the API answers it (`Submission`): the signed \
                       application, with the values its form asks (names, address, birth dates, …), and the \
                       same values as `columns`, labelled as the form's CSV export labels them; it goes only to \
                       the municipality's own receiver.",
            schema: "SubmissionSubmittedEvent",
        },
        Described {
            name: "submission.status_changed",
            summary: "The municipality moved a submission's status (受付, 受理, 補正依頼, 却下, 完了)",
            when: "when its staff set a status, in the console or through the API.",
            personal: MUNICIPAL_IDS_ONLY,
            schema: "SubmissionStatusChangedEvent",
        },
        Described {
            name: "family.deleted",
            summary: "A family whose submissions the municipality keeps was deleted",
            when: "when a family is deleted, to each municipality that keeps some of its submissions (they stay \
                   until its retention ends, marked `family_deleted`).",
            personal: MUNICIPAL_IDS_ONLY,
            schema: "FamilyDeletedEvent",
        },
        Described {
            name: "app.tasks.changed",
            summary: "A family's plan changed (タスクの変更)",
            when: "when tasks of one of the app's families were added, rescheduled or cancelled (a write, a new \
                   day, the municipality's settings).",
            personal: APP_IDS_ONLY,
            schema: "TasksChangedEvent",
        },
        Described {
            name: "app.inbox.entry_arrived",
            summary: "An entry arrived in a family's inbox (受信箱)",
            when: "when a reminder, a status notification or a municipality's notice is recorded for one of \
                   the app's families.",
            personal: APP_IDS_ONLY,
            schema: "InboxEntryArrivedEvent",
        },
        Described {
            name: "app.draft.opened",
            summary: "A draft was opened for a family (申請書の下書き)",
            when: "when a task's window opens a pre-filled draft, or a correction request (補正依頼) opens one.",
            personal: APP_IDS_ONLY,
            schema: "DraftOpenedEvent",
        },
        Described {
            name: "app.submission.status_changed",
            summary: "The municipality moved one of the family's submissions",
            when: "when the municipality sets a status on a submission of one of the app's families.",
            personal: APP_IDS_ONLY,
            schema: "AppSubmissionStatusChangedEvent",
        },
        Described {
            name: "app.device.disabled",
            summary: "A device's push token died",
            when: "when a push provider reports a device's token dead and nonstop disables the device (register \
                   it again with a fresh token).",
            personal: APP_IDS_ONLY,
            schema: "DeviceDisabledEvent",
        },
    ]
}

fn section() -> Value {
    let mut section = serde_json::Map::new();
    for event in events() {
        let (receiver, operation_id) = match event.name.strip_prefix("app.") {
            Some(kind) => (APP, format!("app_{}", kind.replace('.', "_"))),
            None => (MUNICIPAL, event.name.replace('.', "_")),
        };
        section.insert(
            event.name.to_owned(),
            json!({
                "post": {
                    "summary": event.summary,
                    "description": format!("{receiver} {}\n\n{}", event.when, delivery(event.personal)),
                    "operationId": operation_id,
                    "tags": [if receiver == APP { "events" } else { "submissions" }],
                    "parameters": [
                        {"name": "Nonstop-Event-Id", "in": "header", "required": true,
                         "description": "The event's id (the body's `id`): the same on every retry of it.",
                         "schema": {"type": "string"}},
                        {"name": "Nonstop-Signature", "in": "header", "required": true,
                         "description": "`t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">`",
                         "schema": {"type": "string", "pattern": "^t=[0-9]+,v1=[0-9a-f]{64}$"}}
                    ],
                    "requestBody": {"required": true, "content": {"application/json": {
                        "schema": {"$ref": format!("#/components/schemas/{}", event.schema)}}}},
                    "responses": {"2XX": {"description": "Received: nonstop sends this event no more"}}
                }
            }),
        );
    }
    Value::Object(section)
}

/// An event's schema: `id`, `type` and the given properties, all required.
fn schema_of(kind: &str, properties: Value) -> Value {
    let mut all = json!({
        "id": {"type": "string", "description": "The event's id, as in `Nonstop-Event-Id`."},
        "type": {"type": "string", "enum": [kind]},
    });
    if let (Some(all), Value::Object(more)) = (all.as_object_mut(), properties) {
        all.extend(more);
    }
    let required: Vec<&String> = all.as_object().map(|m| m.keys().collect()).unwrap_or_default();
    json!({"type": "object", "required": required, "additionalProperties": false, "properties": all})
}

fn schemas() -> Vec<(&'static str, Value)> {
    let id = |about: &str| json!({"type": "string", "description": about});
    let occurred = json!({"type": "string", "format": "date-time", "description": "When it happened (UTC)."});
    let family = id("The family's id (`GET /v1/families/{family_id}`).");
    let app_event = |kind: &str, more: Value| {
        let mut properties = json!({"occurred_at": occurred, "family_id": family});
        if let (Some(p), Value::Object(more)) = (properties.as_object_mut(), more) {
            p.extend(more);
        }
        schema_of(kind, properties)
    };
    let status = json!({"$ref": "#/components/schemas/SubmissionStatus"});
    vec![
        (
            "SubmissionSubmittedEvent",
            schema_of(
                "submission.submitted",
                json!({
                    "submission": {"$ref": "#/components/schemas/Submission"},
                    "columns": {
                        "type": "array",
                        "description": "The submission as its form's CSV export writes it (`docs/forms/<form_id>.md`): \
                                        the same labels and values, in the same order (受付番号, 受信日時（日本時間）, 状態, …, \
                                        then each field under the form's Japanese label). Nothing beyond the submission's own \
                                        document.",
                        "items": {"$ref": "#/components/schemas/ExportColumn"}
                    }
                }),
            ),
        ),
        (
            "SubmissionStatusChangedEvent",
            schema_of(
                "submission.status_changed",
                json!({
                    "occurred_at": occurred,
                    "submission_id": id("The submission's id."),
                    "reference_number": id("受付番号, as in `Submission.reference_number`."),
                    "form_id": id("The form (様式) submitted."),
                    "status": status,
                }),
            ),
        ),
        (
            "FamilyDeletedEvent",
            schema_of(
                "family.deleted",
                json!({
                    "occurred_at": occurred,
                    "family_id": id("The deleted family's id, as in `Submission.family_id`."),
                    "submissions": {"type": "array", "description": "The municipality's submissions of the family, kept until their retention ends.",
                        "items": {"type": "object", "required": ["submission_id", "reference_number"], "additionalProperties": false,
                            "properties": {"submission_id": {"type": "string"},
                                           "reference_number": {"type": ["string", "null"], "description": "受付番号"}}}},
                }),
            ),
        ),
        ("TasksChangedEvent", app_event("tasks.changed", json!({}))),
        (
            "InboxEntryArrivedEvent",
            app_event(
                "inbox.entry_arrived",
                json!({
                    "entry_id": id("The inbox entry's id (`GET /v1/families/{family_id}/inbox`)."),
                    "entry_kind": {"$ref": "#/components/schemas/EntryKind"},
                }),
            ),
        ),
        (
            "DraftOpenedEvent",
            app_event(
                "draft.opened",
                json!({
                    "draft_id": id("The draft's id (`GET /v1/families/{family_id}/drafts/{draft_id}`)."),
                    "form_id": id("The form (様式) the draft fills."),
                }),
            ),
        ),
        (
            "AppSubmissionStatusChangedEvent",
            app_event(
                "submission.status_changed",
                json!({
                    "submission_id": id("The submission's id (`GET /v1/families/{family_id}/submissions`)."),
                    "status": status,
                }),
            ),
        ),
        (
            "DeviceDisabledEvent",
            app_event(
                "device.disabled",
                json!({
                    "device_id": id("The disabled device's id."),
                    "reason": id("Why, as the provider said it (`Unregistered`, `BadDeviceToken`, `gone`, …)."),
                }),
            ),
        ),
    ]
}

/// Adds the section and the events' schemas.
pub struct WebhookEvents;

impl Modify for WebhookEvents {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, schema) in schemas() {
            if let Ok(schema) = serde_json::from_value::<Schema>(schema) {
                components.schemas.insert(name.to_owned(), RefOr::T(schema));
            }
        }
        components.schemas.insert(
            "ExportColumn".to_owned(),
            <crate::service::submissions::export::ExportColumn as utoipa::PartialSchema>::schema(),
        );
        doc.extensions.get_or_insert_with(Default::default).insert("webhooks".to_owned(), section());
    }
}
