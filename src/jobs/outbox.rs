//! The outbox store: claim due deliveries with a lease, and record what the provider said.
//!
//! Claiming takes the outboxes' one lease (`jobs::lease`), then reads the rows carrying its
//! token with what each send needs. Sends happen outside any transaction.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use rand::Rng;

use crate::crypto::KeyRing;
use crate::db::by_id::TextById;
use crate::db::schema::{children, deliveries, devices, families, inbox_entries, tasks};
use crate::db::sealed;
use crate::db::DbConnection;
use crate::domain::enums::{ApnsEnvironment, ChildStatus, DeviceKind};
use crate::domain::push_target::PushTarget;
use crate::error::Error;
use crate::push::{PushMessage, SendOutcome};
use crate::service::inbox::DeliveryStatus;
use crate::service::push_credentials;
use crate::templates::Urgency;

/// A claimed delivery with everything needed to send it.
pub struct Claimed {
    pub delivery_id: String,
    pub owner: String,
    pub attempts: i32,
    pub app_id: String,
    pub kind: DeviceKind,
    pub device_id: String,
    pub target: Result<PushTarget, String>,
    pub message: PushMessage,
    pub expires_at: NaiveDateTime,
}

/// What a send needs of its inbox entry: the push's text, not the inbox's own.
#[derive(Queryable, Selectable)]
#[diesel(table_name = inbox_entries)]
struct EntryToSend {
    id: String,
    task_id: Option<String>,
    title: String,
    body: String,
    urgency: String,
    collapse_key: Option<String>,
    expires_at: NaiveDateTime,
}

/// A device's address as stored (sealed).
#[derive(Queryable, Selectable)]
#[diesel(table_name = devices)]
struct SealedAddress {
    id: String,
    kind: String,
    token: String,
    p256dh: Option<String>,
    auth_secret: Option<String>,
    apns_environment: Option<String>,
}

/// A claimed delivery as read: (its id, its attempts so far), its entry, its device, the
/// family's app, and the child of the entry's task (the push's thread) with its status.
type ClaimRow = ((String, i32), EntryToSend, SealedAddress, String, Option<String>, Option<String>);

/// Claims up to `limit` due deliveries for `lease`. Only the columns a send needs are read: the
/// claim runs for every delivery, and each timestamp read is a parse on SQLite.
pub fn claim(
    conn: &mut DbConnection,
    keys: &KeyRing,
    now: NaiveDateTime,
    lease: chrono::Duration,
    limit: i64,
) -> Result<Vec<Claimed>, Error> {
    let Some(owner) = super::lease::lease_due!(conn, deliveries, DeliveryStatus::Pending, now, lease, limit) else {
        return Ok(Vec::new());
    };
    let rows: Vec<ClaimRow> = deliveries::table
        .inner_join(inbox_entries::table.inner_join(families::table))
        .inner_join(devices::table)
        .left_join(tasks::table.on(tasks::id.nullable().eq(inbox_entries::task_id)))
        .left_join(children::table.on(children::id.nullable().eq(tasks::child_id)))
        .filter(deliveries::lease_owner.eq(&owner))
        .select((
            (deliveries::id, deliveries::attempts),
            EntryToSend::as_select(),
            SealedAddress::as_select(),
            families::app_id,
            tasks::child_id.nullable(),
            children::status.nullable(),
        ))
        .load(conn)?;
    // Checked at send time too: a push about a lost child claimed before the event never leaves.
    let (withdrawn, rows): (Vec<ClaimRow>, Vec<ClaimRow>) = rows.into_iter().partition(|row| {
        row.5.as_deref().and_then(|s| ChildStatus::from_stored(s).ok()).is_some_and(ChildStatus::withdrawn)
    });
    if !withdrawn.is_empty() {
        let ids: Vec<&str> = withdrawn.iter().map(|row| row.0 .0.as_str()).collect();
        diesel::update(deliveries::table.filter(deliveries::id.eq_any(ids)).filter(deliveries::lease_owner.eq(&owner)))
            .set(crate::service::inbox::withdrawn(now))
            .execute(conn)?;
    }
    rows.into_iter()
        .map(|((delivery_id, attempts), entry, device, app_id, child_id, _)| {
            let kind = DeviceKind::from_stored(&device.kind)?;
            let remaining = (entry.expires_at - now).num_seconds().max(0) as u64;
            Ok(Claimed {
                target: open_target(keys, &device, kind),
                message: PushMessage {
                    entry_id: entry.id,
                    task_id: entry.task_id,
                    title: entry.title,
                    body: entry.body,
                    urgency: Urgency::from_stored(&entry.urgency)?,
                    ttl: Duration::from_secs(remaining),
                    collapse_key: entry.collapse_key,
                    thread_id: child_id,
                },
                delivery_id,
                owner: owner.clone(),
                attempts,
                app_id,
                kind,
                device_id: device.id,
                expires_at: entry.expires_at,
            })
        })
        .collect()
}

/// The device's address, opened; a row that cannot be opened is reported, not sent.
fn open_target(keys: &KeyRing, device: &SealedAddress, kind: DeviceKind) -> Result<PushTarget, String> {
    let open = |context: &str, value: &str| keys.open(context, value).map_err(|e| e.to_string());
    let address = open(sealed::DEVICES_TOKEN, &device.token)?;
    Ok(match kind {
        DeviceKind::WebPush => PushTarget::WebPush {
            endpoint: address,
            p256dh: open(sealed::DEVICES_P256DH, device.p256dh.as_deref().unwrap_or_default())?,
            auth: open(sealed::DEVICES_AUTH_SECRET, device.auth_secret.as_deref().unwrap_or_default())?,
        },
        DeviceKind::Apns => PushTarget::Apns {
            token: address,
            environment: device
                .apns_environment
                .as_deref()
                .map(ApnsEnvironment::from_stored)
                .transpose()
                .map_err(|e| e.to_string())?
                .unwrap_or(ApnsEnvironment::Production),
        },
        DeviceKind::Fcm => PushTarget::Fcm { token: address },
    })
}

/// Exponential backoff with jitter: about 5 s, 10 s, 20 s … capped at an hour.
pub fn backoff(attempts: i32) -> Duration {
    let base = 5.0 * 2f64.powi(attempts.clamp(0, 12));
    let jittered = base * rand::thread_rng().gen_range(0.8..1.2);
    Duration::from_secs_f64(jittered.min(3_600.0))
}

/// How many sent deliveries one statement records: the id is matched against each `WHEN` in
/// turn, so the cost per row grows with this.
const SENT_PER_STATEMENT: usize = 200;

/// Records a batch's outcomes and returns the status written for each. Sends that went through
/// (nearly all of them) are written a few hundred per statement; the others one by one.
pub fn record_all(
    conn: &mut DbConnection,
    outcomes: &[(Claimed, SendOutcome)],
    now: NaiveDateTime,
) -> Result<Vec<DeliveryStatus>, Error> {
    let mut sent: std::collections::BTreeMap<&str, Vec<(&str, Option<&str>)>> = Default::default();
    for (claimed, outcome) in outcomes {
        if let SendOutcome::Sent { message_id } = outcome {
            sent.entry(&claimed.owner).or_default().push((&claimed.delivery_id, message_id.as_deref()));
        }
    }
    for (owner, deliveries) in sent {
        for chunk in deliveries.chunks(SENT_PER_STATEMENT) {
            record_sent(conn, owner, chunk, now)?;
        }
    }
    outcomes
        .iter()
        .map(|(claimed, outcome)| match outcome {
            SendOutcome::Sent { .. } => Ok(DeliveryStatus::Sent),
            _ => record(conn, claimed, outcome, now),
        })
        .collect()
}

/// Marks deliveries (id, the provider's message id) sent, those whose lease `owner` still holds.
fn record_sent(
    conn: &mut DbConnection,
    owner: &str,
    sent: &[(&str, Option<&str>)],
    now: NaiveDateTime,
) -> Result<(), Error> {
    let ids: Vec<&str> = sent.iter().map(|(id, _)| *id).collect();
    let message_ids =
        sent.iter().filter_map(|(id, message_id)| message_id.map(|m| (id.to_string(), m.to_string()))).collect();
    diesel::update(deliveries::table.filter(deliveries::id.eq_any(ids)).filter(deliveries::lease_owner.eq(owner)))
        .set((
            deliveries::status.eq(DeliveryStatus::Sent),
            // The lease held since the claim, so the row's count is the claim's.
            deliveries::attempts.eq(deliveries::attempts + 1),
            deliveries::sent_at.eq(Some(now)),
            deliveries::provider_message_id.eq(TextById::new(deliveries::id, message_ids)),
            deliveries::last_error.eq(None::<String>),
            deliveries::updated_at.eq(now),
            deliveries::lease_owner.eq(None::<String>),
            deliveries::lease_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records an outcome, if the claim still holds the lease (a worker whose lease expired and
/// was re-claimed must not overwrite the newer attempt). Returns the status written.
pub fn record(
    conn: &mut DbConnection,
    claimed: &Claimed,
    outcome: &SendOutcome,
    now: NaiveDateTime,
) -> Result<DeliveryStatus, Error> {
    let attempts = claimed.attempts + 1;
    let mine = deliveries::table
        .filter(deliveries::id.eq(&claimed.delivery_id))
        .filter(deliveries::lease_owner.eq(&claimed.owner));
    let release = (deliveries::lease_owner.eq(None::<String>), deliveries::lease_until.eq(None::<NaiveDateTime>));
    let status = match outcome {
        SendOutcome::Sent { message_id } => {
            record_sent(conn, &claimed.owner, &[(&claimed.delivery_id, message_id.as_deref())], now)?;
            DeliveryStatus::Sent
        }
        SendOutcome::Retry { after, class } => retry_or_expire(conn, claimed, attempts, *after, class, now)?,
        // Not sent (its host paused, its lease running out): no attempt spent.
        SendOutcome::Deferred { after, class } => {
            retry_or_expire(conn, claimed, claimed.attempts, Some(*after), class, now)?
        }
        SendOutcome::ConfigError { reason } => {
            push_credentials::report_config_error(conn, &claimed.app_id, claimed.kind, reason, now)?;
            // Pending deliveries go through once the vendor fixes the credentials, within the TTL.
            retry_or_expire(conn, claimed, attempts, Some(Duration::from_secs(300)), "config_error", now)?
        }
        SendOutcome::DeadToken { reason } => {
            diesel::update(mine)
                .set((
                    deliveries::status.eq(DeliveryStatus::Dead),
                    deliveries::attempts.eq(attempts),
                    deliveries::last_error.eq(Some("dead_token")),
                    deliveries::updated_at.eq(now),
                    release,
                ))
                .execute(conn)?;
            disable_device(conn, &claimed.device_id, reason, now)?;
            DeliveryStatus::Dead
        }
        SendOutcome::Failed { class } => {
            diesel::update(mine)
                .set((
                    deliveries::status.eq(DeliveryStatus::Failed),
                    deliveries::attempts.eq(attempts),
                    deliveries::last_error.eq(Some(class.as_str())),
                    deliveries::updated_at.eq(now),
                    release,
                ))
                .execute(conn)?;
            DeliveryStatus::Failed
        }
    };
    Ok(status)
}

fn retry_or_expire(
    conn: &mut DbConnection,
    claimed: &Claimed,
    attempts: i32,
    after: Option<Duration>,
    class: &str,
    now: NaiveDateTime,
) -> Result<DeliveryStatus, Error> {
    let wait = after.unwrap_or_else(|| backoff(attempts));
    let next = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1));
    let mine = deliveries::table
        .filter(deliveries::id.eq(&claimed.delivery_id))
        .filter(deliveries::lease_owner.eq(&claimed.owner));
    let status = if next >= claimed.expires_at { DeliveryStatus::Expired } else { DeliveryStatus::Pending };
    diesel::update(mine)
        .set((
            deliveries::status.eq(status),
            deliveries::attempts.eq(attempts),
            deliveries::next_attempt_at.eq(next),
            deliveries::last_error.eq(Some(class)),
            deliveries::updated_at.eq(now),
            deliveries::lease_owner.eq(None::<String>),
            deliveries::lease_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(status)
}

/// A dead token: the device is disabled with the reason, and nothing pending goes to it.
pub fn disable_device(conn: &mut DbConnection, device_id: &str, reason: &str, now: NaiveDateTime) -> Result<(), Error> {
    let disabled = diesel::update(devices::table.find(device_id).filter(devices::disabled_at.is_null()))
        .set((devices::disabled_at.eq(Some(now)), devices::disabled_reason.eq(Some(reason))))
        .execute(conn)?;
    if disabled > 0 {
        let family_id: String = devices::table.find(device_id).select(devices::family_id).first(conn)?;
        let died =
            crate::service::app_events::Subject::Device { device_id: device_id.to_owned(), reason: reason.to_owned() };
        crate::service::app_events::record(conn, &[(&family_id, died)], now)?;
    }
    diesel::update(
        deliveries::table
            .filter(deliveries::device_id.eq(device_id))
            .filter(deliveries::status.eq(DeliveryStatus::Pending)),
    )
    .set((
        deliveries::status.eq(DeliveryStatus::Dead),
        deliveries::last_error.eq(Some("device_disabled")),
        deliveries::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(())
}

/// Queue depth (due now) and the age in seconds of the oldest due delivery, for the metrics.
pub fn queue_figures(conn: &mut DbConnection, now: NaiveDateTime) -> Result<(i64, i64), Error> {
    let due = deliveries::table
        .filter(deliveries::status.eq(DeliveryStatus::Pending))
        .filter(deliveries::next_attempt_at.le(now));
    let depth: i64 = due.count().get_result(conn)?;
    let oldest: Option<NaiveDateTime> = deliveries::table
        .filter(deliveries::status.eq(DeliveryStatus::Pending))
        .filter(deliveries::next_attempt_at.le(now))
        .select(diesel::dsl::min(deliveries::next_attempt_at))
        .first(conn)?;
    Ok((depth, oldest.map_or(0, |o| (now - o).num_seconds().max(0))))
}

/// Deletes finished deliveries older than `before` (their entries stay in the inbox).
pub fn purge(conn: &mut DbConnection, before: NaiveDateTime) -> Result<usize, Error> {
    let finished = [DeliveryStatus::Sent, DeliveryStatus::Dead, DeliveryStatus::Expired, DeliveryStatus::Failed]
        .map(|s| s.as_str());
    Ok(diesel::delete(
        deliveries::table.filter(deliveries::status.eq_any(finished)).filter(deliveries::updated_at.lt(before)),
    )
    .execute(conn)?)
}
