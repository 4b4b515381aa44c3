//! 事業者向けイベント (events for the vendor's backend): an app registers one webhook, chooses the
//! kinds it wants, and nonstop posts each event of its own families there, signed and retried
//! as the municipal webhook's are (`jobs::webhooks`). An event is queued in the transaction of
//! the change it reports, so it is never lost and never sent for a change that rolled back.
//!
//! Payloads carry ids and kinds only, never a name, an address or a text: the vendor reads the
//! values through the API, under its own credential. Being free of personal data, they are
//! stored as they go out (unsealed); the secret is sealed.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::webhooks::WebhookDeliveryStatus;
use super::{new_id, utc};
use crate::crypto::{new_secret, KeyRing};
use crate::db::rows::AppEventDeliveryRow;
use crate::db::schema::{app_event_deliveries, app_webhooks, families};
use crate::db::sealed;
use crate::db::DbConnection;
use crate::error::{Error, FieldErrors};

crate::text_enum! {
    /// イベント種別: what happened to one of the app's families.
    pub enum AppEventKind {
        /// The family's plan changed: tasks were added, moved or cancelled (`GET /v1/families/{id}/tasks`).
        TasksChanged => "tasks.changed",
        /// An entry arrived in the family's inbox (`entry_id`, `entry_kind`).
        InboxEntryArrived => "inbox.entry_arrived",
        /// A draft was opened for the family (`draft_id`, `form_id`).
        DraftOpened => "draft.opened",
        /// The municipality moved a submission's status (`submission_id`, `status`).
        SubmissionStatusChanged => "submission.status_changed",
        /// A device was disabled because its push token died (`device_id`, `reason`).
        DeviceDisabled => "device.disabled",
    }
}

/// What an event is about, beyond its family: ids and kinds only.
#[derive(Debug, Clone)]
pub enum Subject {
    Tasks,
    Entry { entry_id: String, entry_kind: String },
    Draft { draft_id: String, form_id: String },
    Submission { submission_id: String, status: String },
    Device { device_id: String, reason: String },
}

impl Subject {
    pub fn kind(&self) -> AppEventKind {
        match self {
            Subject::Tasks => AppEventKind::TasksChanged,
            Subject::Entry { .. } => AppEventKind::InboxEntryArrived,
            Subject::Draft { .. } => AppEventKind::DraftOpened,
            Subject::Submission { .. } => AppEventKind::SubmissionStatusChanged,
            Subject::Device { .. } => AppEventKind::DeviceDisabled,
        }
    }

    /// The event as sent: `id`, `type`, `occurred_at`, `family_id` and the subject's ids.
    fn payload(&self, id: &str, family_id: &str, now: NaiveDateTime) -> serde_json::Value {
        let mut event = serde_json::json!({
            "id": id,
            "type": self.kind().as_str(),
            "occurred_at": utc(now),
            "family_id": family_id,
        });
        let more = match self {
            Subject::Tasks => serde_json::json!({}),
            Subject::Entry { entry_id, entry_kind } => {
                serde_json::json!({"entry_id": entry_id, "entry_kind": entry_kind})
            }
            Subject::Draft { draft_id, form_id } => serde_json::json!({"draft_id": draft_id, "form_id": form_id}),
            Subject::Submission { submission_id, status } => {
                serde_json::json!({"submission_id": submission_id, "status": status})
            }
            Subject::Device { device_id, reason } => serde_json::json!({"device_id": device_id, "reason": reason}),
        };
        if let (Some(event), serde_json::Value::Object(more)) = (event.as_object_mut(), more) {
            event.extend(more);
        }
        event
    }
}

/// Queues the events of these families for their apps' webhooks, each app only the kinds it
/// chose: one read and one insert whatever their number (a notice's page of a thousand
/// families). Families of apps without a webhook cost the read only.
pub fn record(conn: &mut DbConnection, events: &[(&str, Subject)], now: NaiveDateTime) -> Result<(), Error> {
    if events.is_empty() {
        return Ok(());
    }
    let family_ids: Vec<&str> = events.iter().map(|(family, _)| *family).collect();
    let subscribed: Vec<(String, String, String)> = families::table
        .inner_join(app_webhooks::table.on(app_webhooks::app_id.eq(families::app_id)))
        .filter(families::id.eq_any(&family_ids))
        .select((families::id, app_webhooks::app_id, app_webhooks::kinds))
        .load(conn)?;
    if subscribed.is_empty() {
        return Ok(());
    }
    let mut rows = Vec::new();
    for (family_id, subject) in events {
        let Some((_, app_id, kinds)) = subscribed.iter().find(|(f, _, _)| f == family_id) else { continue };
        let kind = subject.kind();
        if !kinds.split(',').any(|k| k == kind.as_str()) {
            continue;
        }
        let id = new_id();
        let payload =
            serde_json::to_string(&subject.payload(&id, family_id, now)).map_err(|e| Error::internal(e.to_string()))?;
        rows.push(AppEventDeliveryRow {
            id,
            app_id: app_id.clone(),
            kind: kind.as_str().to_owned(),
            payload,
            status: WebhookDeliveryStatus::Pending.as_str().to_owned(),
            attempts: 0,
            next_attempt_at: now,
            created_at: now,
        });
    }
    if !rows.is_empty() {
        crate::db::insert_app_event_deliveries(conn, &rows)?;
    }
    Ok(())
}

/// Where to post the app's events, and which.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppWebhookInput {
    /// An `https://` URL on a public host name (no IP address, no internal name); requests go
    /// only to public addresses and follow no redirects.
    #[schema(max_length = 2048)]
    pub url: String,
    /// The kinds to receive (at least one; repeats count once).
    #[schema(min_items = 1)]
    pub kinds: Vec<AppEventKind>,
}

/// The app's webhook just set, with its signing secret: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppWebhookCreated {
    pub url: String,
    pub kinds: Vec<AppEventKind>,
    /// HMAC-SHA256 key (the whole `whsec_…` string): each request carries
    /// `Nonstop-Signature: t=<unix time>,v1=<hex of HMAC(secret, "<t>.<body>")>`.
    pub secret: String,
}

/// The app's webhook and how its deliveries stand (the secret is never shown again).
#[derive(Debug, Serialize, ToSchema)]
pub struct AppWebhook {
    pub url: String,
    pub kinds: Vec<AppEventKind>,
    pub pending: i64,
    pub delivered: i64,
    /// Given up after every retry, or dropped when the webhook was removed.
    pub failed: i64,
    pub updated_at: DateTime<Utc>,
}

/// One event and its delivery to the app's webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppEventDelivery {
    /// The event's id, as in `Nonstop-Event-Id`.
    pub id: String,
    pub kind: AppEventKind,
    pub status: WebhookDeliveryStatus,
    pub attempts: i32,
    /// The class of the last failure: `http_status`, `unreachable`, `address_not_allowed`
    /// (see the `webhooks` section), or `webhook removed`; null when none failed.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When it is tried again; null unless pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Null until delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// The event as sent (the webhook's payload for its kind).
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
}

/// A page of the app's delivery log, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppEventDeliveryPage {
    pub items: Vec<AppEventDelivery>,
    /// The cursor of the next page; null on the last.
    pub next_cursor: Option<String>,
}

fn check(input: &AppWebhookInput, allowed_hosts: &[String]) -> Result<(String, String), Error> {
    let mut errors = FieldErrors::new();
    let url = super::webhooks::check_url(&input.url, allowed_hosts)
        .map_err(|e| match e {
            Error::Validation(found) => errors.extend(found),
            other => {
                errors.insert("url".into(), other.to_string());
            }
        })
        .ok();
    if input.kinds.is_empty() {
        errors.insert("kinds".into(), "must name at least one kind".into());
    }
    match url {
        Some(url) if errors.is_empty() => Ok((url, encode_kinds(&input.kinds))),
        _ => Err(Error::Validation(errors)),
    }
}

/// Stored sorted and comma-separated: a set.
fn encode_kinds(kinds: &[AppEventKind]) -> String {
    let set: std::collections::BTreeSet<&str> = kinds.iter().map(|k| k.as_str()).collect();
    set.into_iter().collect::<Vec<_>>().join(",")
}

fn decode_kinds(stored: &str) -> Result<Vec<AppEventKind>, Error> {
    stored.split(',').filter(|s| !s.is_empty()).map(AppEventKind::from_stored).collect()
}

/// Sets (or replaces) the app's webhook with a new secret.
pub fn set(
    conn: &mut DbConnection,
    keys: &KeyRing,
    app_id: &str,
    input: AppWebhookInput,
    allowed_hosts: &[String],
    now: NaiveDateTime,
) -> Result<AppWebhookCreated, Error> {
    let (url, kinds) = check(&input, allowed_hosts)?;
    let secret = new_secret("whsec_");
    let sealed_secret = keys.seal(sealed::APP_WEBHOOKS_SECRET, &secret)?;
    let created_at: Option<NaiveDateTime> =
        app_webhooks::table.find(app_id).select(app_webhooks::created_at).first(conn).optional()?;
    diesel::delete(app_webhooks::table.find(app_id)).execute(conn)?;
    diesel::insert_into(app_webhooks::table)
        .values((
            app_webhooks::app_id.eq(app_id),
            app_webhooks::url.eq(&url),
            app_webhooks::secret.eq(sealed_secret),
            app_webhooks::kinds.eq(&kinds),
            app_webhooks::created_at.eq(created_at.unwrap_or(now)),
            app_webhooks::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(AppWebhookCreated { url, kinds: decode_kinds(&kinds)?, secret })
}

/// A new secret for the app's webhook, same URL and kinds; deliveries still queued are signed
/// with it.
pub fn rotate_secret(
    conn: &mut DbConnection,
    keys: &KeyRing,
    app_id: &str,
    now: NaiveDateTime,
) -> Result<AppWebhookCreated, Error> {
    let (url, kinds): (String, String) = app_webhooks::table
        .find(app_id)
        .select((app_webhooks::url, app_webhooks::kinds))
        .first(conn)
        .optional()?
        .ok_or(Error::NotFound("webhook"))?;
    let secret = new_secret("whsec_");
    diesel::update(app_webhooks::table.find(app_id))
        .set((
            app_webhooks::secret.eq(keys.seal(sealed::APP_WEBHOOKS_SECRET, &secret)?),
            app_webhooks::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(AppWebhookCreated { url, kinds: decode_kinds(&kinds)?, secret })
}

pub fn get(conn: &mut DbConnection, app_id: &str) -> Result<AppWebhook, Error> {
    let (url, kinds, updated_at): (String, String, NaiveDateTime) = app_webhooks::table
        .find(app_id)
        .select((app_webhooks::url, app_webhooks::kinds, app_webhooks::updated_at))
        .first(conn)
        .optional()?
        .ok_or(Error::NotFound("webhook"))?;
    let count = |conn: &mut DbConnection, status: WebhookDeliveryStatus| -> Result<i64, Error> {
        Ok(app_event_deliveries::table
            .filter(app_event_deliveries::app_id.eq(app_id))
            .filter(app_event_deliveries::status.eq(status.as_str()))
            .count()
            .get_result(conn)?)
    };
    Ok(AppWebhook {
        url,
        kinds: decode_kinds(&kinds)?,
        pending: count(conn, WebhookDeliveryStatus::Pending)?,
        delivered: count(conn, WebhookDeliveryStatus::Delivered)?,
        failed: count(conn, WebhookDeliveryStatus::Failed)?,
        updated_at: utc(updated_at),
    })
}

/// Removes the app's webhook; what is still queued is given up (the records stay in the API).
pub fn delete(conn: &mut DbConnection, app_id: &str) -> Result<(), Error> {
    if diesel::delete(app_webhooks::table.find(app_id)).execute(conn)? == 0 {
        return Err(Error::NotFound("webhook"));
    }
    diesel::update(
        app_event_deliveries::table
            .filter(app_event_deliveries::app_id.eq(app_id))
            .filter(app_event_deliveries::status.eq(WebhookDeliveryStatus::Pending.as_str())),
    )
    .set((
        app_event_deliveries::status.eq(WebhookDeliveryStatus::Failed.as_str()),
        app_event_deliveries::last_error.eq(Some("webhook removed")),
    ))
    .execute(conn)?;
    Ok(())
}

/// A page of the app's deliveries, oldest first (ids are UUIDv7: creation order).
pub fn deliveries(
    conn: &mut DbConnection,
    app_id: &str,
    limit: i64,
    cursor: Option<&str>,
) -> Result<AppEventDeliveryPage, Error> {
    type Row =
        (String, String, String, i32, Option<String>, NaiveDateTime, NaiveDateTime, Option<NaiveDateTime>, String);
    let mut query = app_event_deliveries::table
        .filter(app_event_deliveries::app_id.eq(app_id))
        .select((
            app_event_deliveries::id,
            app_event_deliveries::kind,
            app_event_deliveries::status,
            app_event_deliveries::attempts,
            app_event_deliveries::last_error,
            app_event_deliveries::created_at,
            app_event_deliveries::next_attempt_at,
            app_event_deliveries::delivered_at,
            app_event_deliveries::payload,
        ))
        .into_boxed();
    if let Some(cursor) = cursor {
        query = query.filter(app_event_deliveries::id.gt(cursor.to_owned()));
    }
    let rows: Vec<Row> = query.order(app_event_deliveries::id.asc()).limit(limit + 1).load(conn)?;
    let (rows, next_cursor) = super::paging::cut(rows, limit, |row| row.0.as_str());
    let items = rows
        .into_iter()
        .map(|(id, kind, status, attempts, last_error, created_at, next_attempt_at, delivered_at, payload)| {
            let status = WebhookDeliveryStatus::from_stored(&status)?;
            Ok(AppEventDelivery {
                id,
                kind: AppEventKind::from_stored(&kind)?,
                attempts,
                last_error,
                created_at: utc(created_at),
                next_attempt_at: (status == WebhookDeliveryStatus::Pending).then(|| utc(next_attempt_at)),
                delivered_at: delivered_at.map(utc),
                status,
                event: serde_json::from_str(&payload).map_err(|e| Error::internal(e.to_string()))?,
            })
        })
        .collect::<Result<_, Error>>()?;
    Ok(AppEventDeliveryPage { items, next_cursor })
}
