//! The document's `webhooks` section: what a municipality's receiver gets, from the document
//! alone (the event's schema, the headers, the signature, delivery and retries). utoipa has no
//! `webhooks` field, so the section is written at the top level through the document's
//! extensions; its numbers come from the sender (`jobs::webhooks`) itself.

use serde_json::{json, Value};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{OpenApi as Document, RefOr};
use utoipa::Modify;

use crate::jobs::webhooks::{MAX_ATTEMPTS, POST_TIMEOUT};

/// How the signature, delivery and retries work, for every event.
fn delivery() -> String {
    format!(
        "**Signature.** `Nonstop-Signature: t=<unix seconds>,v1=<hex>`, where `v1` is the HMAC-SHA256 of \
         `<t>.<raw body>` keyed with the webhook's secret: the whole `whsec_…` string as shown once when the \
         webhook was set (its bytes, not a decoding of them). Compare in constant time, and refuse a `t` more \
         than 5 minutes from your clock, so that a recorded delivery cannot be replayed later.\n\n\
         **Delivery.** At least once: a receiver that answers 2xx within {timeout} s has it; any other answer, \
         a timeout or no connection is retried with a backoff doubling from about 10 s up to an hour (±20 %), \
         {attempts} attempts in all (about a day), then given up (the delivery log shows it as `failed`). A \
         slow receiver therefore gets the same event again: deduplicate on `Nonstop-Event-Id` (the event's \
         `id`). Order is not guaranteed. A delivery goes to the URL, and is signed with the secret, in force \
         when its event happened: replacing them applies to later events, so that a delivery already \
         queued never goes to an address nor carries a signature the municipality did not set for it then.\n\n\
         **Personal data.** The event carries the submission as the API answers it (`Submission`): the \
         signed application, with the values its form asks (names, address, birth dates, …), and the same \
         values as `columns`, labelled as the form's CSV export labels them; it goes only to the \
         municipality's own receiver.",
        timeout = POST_TIMEOUT.as_secs(),
        attempts = MAX_ATTEMPTS,
    )
}

fn section() -> Value {
    json!({
        "submission.submitted": {
            "post": {
                "summary": "A submission addressed to the municipality (申請の受付)",
                "description": format!("Sent to the municipality's webhook (`PUT /v1/municipalities/{{code}}/webhook`) \
                                         when a family submits a signed application.\n\n{}", delivery()),
                "operationId": "submission_submitted",
                "tags": ["submissions"],
                "parameters": [
                    {"name": "Nonstop-Event-Id", "in": "header", "required": true,
                     "description": "The event's id (the body's `id`): the same on every retry of it.",
                     "schema": {"type": "string"}},
                    {"name": "Nonstop-Signature", "in": "header", "required": true,
                     "description": "`t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">`",
                     "schema": {"type": "string", "pattern": "^t=[0-9]+,v1=[0-9a-f]{64}$"}}
                ],
                "requestBody": {"required": true, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/SubmissionSubmittedEvent"}}}},
                "responses": {"2XX": {"description": "Received: nonstop sends this event no more"}}
            }
        }
    })
}

fn event_schema() -> Value {
    json!({
        "type": "object",
        "required": ["id", "type", "submission"],
        "additionalProperties": false,
        "properties": {
            "id": {"type": "string", "description": "The event's id, as in `Nonstop-Event-Id`."},
            "type": {"type": "string", "enum": ["submission.submitted"]},
            "submission": {"$ref": "#/components/schemas/Submission"},
            "columns": {
                "type": "array",
                "description": "The submission as its form's CSV export writes it (`docs/forms/<form_id>.md`): the same \
                                labels and values, in the same order (受付番号, 受信日時（日本時間）, 状態, …, then each \
                                field under the form's Japanese label). Nothing beyond the submission's own document.",
                "items": {"$ref": "#/components/schemas/ExportColumn"}
            }
        }
    })
}

/// Adds the section and the event's schema.
pub struct WebhookEvents;

impl Modify for WebhookEvents {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        if let Ok(schema) = serde_json::from_value::<Schema>(event_schema()) {
            components.schemas.insert("SubmissionSubmittedEvent".to_owned(), RefOr::T(schema));
        }
        components.schemas.insert(
            "ExportColumn".to_owned(),
            <crate::service::submissions::export::ExportColumn as utoipa::PartialSchema>::schema(),
        );
        doc.extensions.get_or_insert_with(Default::default).insert("webhooks".to_owned(), section());
    }
}
