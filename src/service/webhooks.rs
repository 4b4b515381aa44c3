//! A municipality's webhook: each submission addressed to it is also pushed to its own system,
//! signed with HMAC-SHA256 and retried through an outbox (`webhook_deliveries`) written in the
//! same transaction as the submission. The API stays the record; the webhook is a convenience.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::submissions::Submission;
use super::{new_id, utc};
use crate::crypto::{new_secret, KeyRing};
use crate::db::schema::{municipal_webhooks, webhook_deliveries};
use crate::db::sealed;
use crate::db::DbConnection;
use crate::domain::MunicipalityCode;
use crate::error::Error;

crate::text_enum! {
    /// Where one webhook delivery stands.
    pub enum WebhookDeliveryStatus {
        /// Waiting for its next attempt.
        Pending => "pending",
        /// The receiver answered 2xx.
        Delivered => "delivered",
        /// Given up: out of attempts, or the webhook was removed.
        Failed => "failed",
    }
}

/// Where to push the municipality's submissions.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// An `https://` URL on a public host name (no IP address, no internal name); requests go
    /// only to public addresses and follow no redirects.
    #[schema(max_length = 2048)]
    pub url: String,
}

/// The webhook just set, with its signing secret: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookCreated {
    pub url: String,
    /// HMAC-SHA256 key: each request carries `Nonstop-Signature: t=<unix time>,v1=<hex of
    /// HMAC(secret, "<t>.<body>")>`.
    pub secret: String,
}

/// The webhook and how its deliveries stand.
#[derive(Debug, Serialize, ToSchema)]
pub struct Webhook {
    pub url: String,
    pub pending: i64,
    pub delivered: i64,
    /// Given up after every retry; the submissions are still in the API.
    pub failed: i64,
    /// What went wrong last, as a class: `http_status` (the receiver answered other than 2xx),
    /// `unreachable` (no HTTP answer: the name, the connection, TLS or the answer failed or took
    /// too long; which of them is not said, so that no one learns whether a port is open) or
    /// `address_not_allowed` (the host resolves to no public address). Older deliveries may
    /// say `timeout`, `tls` or `refused`.
    pub last_error: Option<String>,
    pub updated_at: DateTime<Utc>,
    /// The latest deliveries, newest first (at most `RECENT_DELIVERIES`).
    pub recent: Vec<WebhookDelivery>,
}

/// How many deliveries the webhook shows.
pub const RECENT_DELIVERIES: i64 = 20;

/// One delivery of one submission to the webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDelivery {
    pub id: String,
    /// `submission:<submission id>`.
    pub event_key: String,
    pub status: WebhookDeliveryStatus,
    pub attempts: i32,
    /// The class of the last failure (see `Webhook.last_error`), if any.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When it is tried again (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// The municipality's latest deliveries, newest first.
fn recent_deliveries(conn: &mut DbConnection, code: &MunicipalityCode) -> Result<Vec<WebhookDelivery>, Error> {
    type Row = (String, String, String, i32, Option<String>, NaiveDateTime, NaiveDateTime, Option<NaiveDateTime>);
    let rows: Vec<Row> = webhook_deliveries::table
        .filter(webhook_deliveries::municipality_code.eq(code.as_str()))
        .order((webhook_deliveries::created_at.desc(), webhook_deliveries::id.desc()))
        .limit(RECENT_DELIVERIES)
        .select((
            webhook_deliveries::id,
            webhook_deliveries::event_key,
            webhook_deliveries::status,
            webhook_deliveries::attempts,
            webhook_deliveries::last_error,
            webhook_deliveries::created_at,
            webhook_deliveries::next_attempt_at,
            webhook_deliveries::delivered_at,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, event_key, status, attempts, last_error, created_at, next_attempt_at, delivered_at)| {
            let status = WebhookDeliveryStatus::from_stored(&status)?;
            Ok(WebhookDelivery {
                id,
                event_key,
                attempts,
                last_error,
                created_at: utc(created_at),
                next_attempt_at: (status == WebhookDeliveryStatus::Pending).then(|| utc(next_attempt_at)),
                delivered_at: delivered_at.map(utc),
                status,
            })
        })
        .collect()
}

/// The URL, if its shape lets nonstop call it (`outbound::check_url`).
pub(crate) fn check_url(input: &str, allowed_hosts: &[String]) -> Result<String, Error> {
    if input.len() > 2048 {
        return Err(Error::field("url", "must be at most 2048 characters"));
    }
    let url = url::Url::parse(input.trim()).map_err(|_| Error::field("url", "must be an absolute URL"))?;
    crate::outbound::check_url(&url, allowed_hosts).map_err(|problem| Error::field("url", problem))?;
    Ok(url.to_string())
}

/// Sets (or replaces) the webhook with a new secret.
pub fn set(
    conn: &mut DbConnection,
    keys: &KeyRing,
    code: &MunicipalityCode,
    input: WebhookInput,
    allowed_hosts: &[String],
    now: NaiveDateTime,
) -> Result<WebhookCreated, Error> {
    let url = check_url(&input.url, allowed_hosts)?;
    let secret = new_secret("whsec_");
    diesel::delete(municipal_webhooks::table.find(code.as_str())).execute(conn)?;
    diesel::insert_into(municipal_webhooks::table)
        .values((
            municipal_webhooks::municipality_code.eq(code.as_str()),
            municipal_webhooks::url.eq(&url),
            municipal_webhooks::secret.eq(keys.seal(sealed::MUNICIPAL_WEBHOOKS_SECRET, &secret)?),
            municipal_webhooks::created_at.eq(now),
            municipal_webhooks::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(WebhookCreated { url, secret })
}

/// Sets the webhook, with the audit event that records it (API and console).
pub fn set_audited(
    conn: &mut DbConnection,
    keys: &KeyRing,
    code: &MunicipalityCode,
    input: WebhookInput,
    allowed_hosts: &[String],
    now: NaiveDateTime,
) -> Result<(WebhookCreated, crate::service::audit::Event), Error> {
    use crate::service::audit::{AuditAction, Event};
    let created = set(conn, keys, code, input, allowed_hosts, now)?;
    Ok((created, Event::new(AuditAction::WebhookSet, "webhook", code.as_str()).in_municipality(code.as_str())))
}

pub fn get(conn: &mut DbConnection, code: &MunicipalityCode) -> Result<Webhook, Error> {
    let (url, updated_at): (String, NaiveDateTime) = municipal_webhooks::table
        .find(code.as_str())
        .select((municipal_webhooks::url, municipal_webhooks::updated_at))
        .first(conn)
        .optional()?
        .ok_or(Error::NotFound("webhook"))?;
    let count = |conn: &mut DbConnection, status: WebhookDeliveryStatus| -> Result<i64, Error> {
        Ok(webhook_deliveries::table
            .filter(webhook_deliveries::municipality_code.eq(code.as_str()))
            .filter(webhook_deliveries::status.eq(status))
            .count()
            .get_result(conn)?)
    };
    let last_error: Option<Option<String>> = webhook_deliveries::table
        .filter(webhook_deliveries::municipality_code.eq(code.as_str()))
        .filter(webhook_deliveries::last_error.is_not_null())
        .order(webhook_deliveries::id.desc())
        .select(webhook_deliveries::last_error)
        .first(conn)
        .optional()?;
    Ok(Webhook {
        url,
        pending: count(conn, WebhookDeliveryStatus::Pending)?,
        delivered: count(conn, WebhookDeliveryStatus::Delivered)?,
        failed: count(conn, WebhookDeliveryStatus::Failed)?,
        last_error: last_error.flatten(),
        updated_at: utc(updated_at),
        recent: recent_deliveries(conn, code)?,
    })
}

pub fn delete(conn: &mut DbConnection, code: &MunicipalityCode) -> Result<(), Error> {
    let removed = diesel::delete(municipal_webhooks::table.find(code.as_str())).execute(conn)?;
    if removed == 0 {
        return Err(Error::NotFound("webhook"));
    }
    // Nothing more goes out to the removed address.
    diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::municipality_code.eq(code.as_str()))
            .filter(webhook_deliveries::status.eq(WebhookDeliveryStatus::Pending)),
    )
    .set((
        webhook_deliveries::status.eq(WebhookDeliveryStatus::Failed),
        webhook_deliveries::last_error.eq(Some("webhook removed")),
    ))
    .execute(conn)?;
    Ok(())
}

/// Queues the submission for the municipality's webhook, if it has one (same transaction as
/// the submission, so it is never lost and never sent for a submission that was rolled back).
pub fn enqueue_submission(
    conn: &mut DbConnection,
    keys: &KeyRing,
    ctx: &crate::domain::planner::PlanningContext,
    submission: &Submission,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let event_key = format!("submission:{}", submission.id);
    // `columns`: the submission as its form's CSV layout writes it (the same labels and values).
    let columns = match ctx.forms.get(&submission.form_id) {
        Some(form) => crate::service::submissions::export::columns(form, submission)?,
        None => Vec::new(),
    };
    enqueue(
        conn,
        keys,
        &submission.municipality_code,
        &event_key,
        now,
        |id| serde_json::json!({ "id": id, "type": "submission.submitted", "submission": submission, "columns": columns }),
    )
}

/// Queues the municipality's own status change (受付, 受理, 補正依頼, 却下, 完了): ids, the
/// status and the 受付番号 only; the values stay in the submission.
pub fn enqueue_status_changed(
    conn: &mut DbConnection,
    keys: &KeyRing,
    submission: &Submission,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let event_key = format!("status:{}:{}", submission.id, new_id());
    enqueue(conn, keys, &submission.municipality_code, &event_key, now, |id| {
        serde_json::json!({
            "id": id,
            "type": "submission.status_changed",
            "occurred_at": utc(now),
            "submission_id": submission.id,
            "reference_number": submission.reference_number,
            "form_id": submission.form_id,
            "status": submission.status,
        })
    })
}

/// Queues a family's deletion for each municipality that keeps some of its submissions: the
/// family's id and those submissions' ids and 受付番号, nothing else.
pub fn enqueue_family_deleted(
    conn: &mut DbConnection,
    keys: &KeyRing,
    family_id: &str,
    now: NaiveDateTime,
) -> Result<(), Error> {
    use crate::db::schema::{submission_desk, submissions};
    let kept: Vec<(String, String, Option<String>)> = submissions::table
        .left_join(submission_desk::table)
        .filter(submissions::family_id.eq(family_id))
        .order((submissions::municipality_code.asc(), submissions::id.asc()))
        .select((submissions::municipality_code, submissions::id, submission_desk::reference_number.nullable()))
        .load(conn)?;
    let mut codes: Vec<&str> = kept.iter().map(|(code, _, _)| code.as_str()).collect();
    codes.dedup();
    for code in codes {
        let theirs: Vec<serde_json::Value> = kept
            .iter()
            .filter(|(c, _, _)| c == code)
            .map(|(_, id, number)| serde_json::json!({"submission_id": id, "reference_number": number}))
            .collect();
        enqueue(conn, keys, code, &format!("family_deleted:{family_id}:{code}"), now, |id| {
            serde_json::json!({
                "id": id,
                "type": "family.deleted",
                "occurred_at": utc(now),
                "family_id": family_id,
                "submissions": theirs,
            })
        })?;
    }
    Ok(())
}

/// Queues one event for the municipality's webhook, if it has one. The delivery keeps no URL
/// or secret: it goes where the webhook points, signed with its secret, when it is sent
/// (`jobs::webhooks::claim`), so a URL or secret replaced because it moved or leaked applies to
/// what is still queued.
fn enqueue(
    conn: &mut DbConnection,
    keys: &KeyRing,
    code: &str,
    event_key: &str,
    now: NaiveDateTime,
    payload: impl FnOnce(&str) -> serde_json::Value,
) -> Result<(), Error> {
    let has_webhook: i64 = municipal_webhooks::table.find(code).count().get_result(conn)?;
    if has_webhook == 0 {
        return Ok(());
    }
    let id = new_id();
    let payload = serde_json::to_string(&payload(&id)).map_err(|e| Error::internal(e.to_string()))?;
    diesel::insert_into(webhook_deliveries::table)
        .values((
            webhook_deliveries::id.eq(&id),
            webhook_deliveries::municipality_code.eq(code),
            webhook_deliveries::event_key.eq(event_key),
            webhook_deliveries::payload.eq(keys.seal(sealed::WEBHOOK_DELIVERIES_PAYLOAD, &payload)?),
            webhook_deliveries::status.eq(WebhookDeliveryStatus::Pending),
            webhook_deliveries::attempts.eq(0),
            webhook_deliveries::next_attempt_at.eq(now),
            webhook_deliveries::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}
