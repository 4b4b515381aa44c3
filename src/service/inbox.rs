//! 受信箱: every notification a family receives is an inbox entry first, recorded exactly once
//! (its dedupe key) at the instant that is its legal moment of arrival; one delivery per active
//! device is written in the same transaction (the outbox).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::app_events::Subject;
use super::{new_id, utc};
use crate::db::rows::{DeliveryRow, DeviceRow, FamilyRow, InboxEntryRow};
use crate::db::schema::{deliveries, devices, inbox_entries};
use crate::db::DbConnection;
use crate::domain::planner::local_instant;
use crate::domain::QuietHours;
use crate::error::Error;
use crate::templates::Rendered;
use crate::text_enum;

text_enum! {
    /// What an inbox entry is.
    pub enum EntryKind {
        /// A reminder of a task.
        Reminder => "reminder",
        /// A change in the status of a submission.
        Status => "status",
        /// A municipality's notice.
        Notice => "notice",
    }
}

text_enum! {
    /// Where a delivery stands.
    pub enum DeliveryStatus {
        /// Waiting to be sent, or to be retried at `next_attempt_at`.
        Pending => "pending",
        Sent => "sent",
        /// The device's token is gone; the device is disabled.
        Dead => "dead",
        /// The entry's TTL ran out before the provider accepted it.
        Expired => "expired",
        /// A failure retrying would not fix.
        Failed => "failed",
        /// Never sent: it was about a child whose pregnancy ended or who died
        /// (`ChildStatus::withdrawn`), recorded before it went out.
        Withdrawn => "withdrawn",
    }
}

/// An inbox entry as the parent's app shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboxEntry {
    pub id: String,
    pub kind: EntryKind,
    pub template_id: String,
    /// The language the texts are in (the family's, or Japanese where the template lacks it).
    pub language: String,
    pub title: String,
    pub body: String,
    /// The longer text for the inbox.
    pub inbox_text: String,
    pub task_id: Option<String>,
    /// When nonstop recorded it: its moment of arrival.
    pub recorded_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

/// A page of the inbox, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboxPage {
    pub items: Vec<InboxEntry>,
    pub unread_count: i64,
    /// Pass as `cursor` for the next (older) page; `null` on the last one.
    pub next_cursor: Option<String>,
    /// Deprecated: the same as `next_cursor`, for clients that page with `before`.
    pub next_before: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InboxQuery {
    /// Entries per page (1–100, default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Deprecated: the same as `cursor` (the `next_before` of the previous page).
    pub before: Option<String>,
}

/// One delivery of an entry, for the ledger.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    pub id: String,
    pub device_id: String,
    pub provider: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    /// The class of the last error (`rate_limited`, `provider_500`, `dead_token`, …).
    pub last_error: Option<String>,
    pub provider_message_id: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// What to record.
pub struct NewEntry<'a> {
    pub dedupe_key: &'a str,
    pub kind: EntryKind,
    pub rendered: &'a Rendered,
    pub task_id: Option<&'a str>,
    pub collapse_key: Option<String>,
}

/// Records an entry and its deliveries, once: a second call with the same dedupe key returns
/// `None` and writes nothing. Deliveries wait for the family's allowed hours.
pub fn record(
    conn: &mut DbConnection,
    family: &FamilyRow,
    entry: NewEntry<'_>,
    now: NaiveDateTime,
) -> Result<Option<String>, Error> {
    Ok(record_many(conn, vec![(family, entry)], now)?.pop().flatten())
}

/// Records many families' entries and their deliveries as `record` does each (once per dedupe
/// key), in a few statements whatever their number: a notice's page of a thousand families
/// costs four (keys taken, entries, devices, deliveries), not four thousand. Returns each entry's id, in order (`None` where
/// the key was recorded before).
pub fn record_many(
    conn: &mut DbConnection,
    entries: Vec<(&FamilyRow, NewEntry<'_>)>,
    now: NaiveDateTime,
) -> Result<Vec<Option<String>>, Error> {
    let keys: Vec<&str> = entries.iter().map(|(_, e)| e.dedupe_key).collect();
    let mut taken: HashSet<String> = inbox_entries::table
        .filter(inbox_entries::dedupe_key.eq_any(&keys))
        .select(inbox_entries::dedupe_key)
        .load(conn)?
        .into_iter()
        .collect();
    let mut ids = Vec::with_capacity(entries.len());
    let (mut rows, mut first_attempts) = (Vec::new(), Vec::new());
    for (family, entry) in entries {
        // `insert` is false for a key recorded before, or twice in this call.
        if !taken.insert(entry.dedupe_key.to_owned()) {
            ids.push(None);
            continue;
        }
        let first_attempt = first_attempt_for(family, now);
        let row = entry_row(family, entry, first_attempt, now);
        ids.push(Some(row.id.clone()));
        rows.push(row);
        first_attempts.push(first_attempt);
    }
    if rows.is_empty() {
        return Ok(ids);
    }
    crate::db::insert_inbox_entries(conn, &rows)?;
    let arrived: Vec<(&str, Subject)> = rows
        .iter()
        .map(|r| (r.family_id.as_str(), Subject::Entry { entry_id: r.id.clone(), entry_kind: r.kind.clone() }))
        .collect();
    super::app_events::record(conn, &arrived, now)?;
    let families: Vec<&str> = rows.iter().map(|r| r.family_id.as_str()).collect();
    let mut targets: HashMap<String, Vec<DeviceRow>> = HashMap::new();
    for device in devices::table
        .filter(devices::family_id.eq_any(&families))
        .filter(devices::disabled_at.is_null())
        .select(DeviceRow::as_select())
        .load(conn)?
    {
        targets.entry(device.family_id.clone()).or_default().push(device);
    }
    let deliveries: Vec<DeliveryRow> = rows
        .iter()
        .zip(first_attempts)
        .flat_map(|(entry, first_attempt)| {
            // A family may have more than one entry in the call: each gets every device.
            let devices = targets.get(&entry.family_id).map(Vec::as_slice).unwrap_or_default();
            devices.iter().map(move |device| delivery_row(&entry.id, device, first_attempt, now))
        })
        .collect();
    if !deliveries.is_empty() {
        crate::db::insert_deliveries(conn, &deliveries)?;
    }
    Ok(ids)
}

/// The entry's row: it arrives now, and its lifetime counts from its first push, which waits for
/// the family's allowed hours (`first_attempt`).
fn entry_row(
    family: &FamilyRow,
    entry: NewEntry<'_>,
    first_attempt: NaiveDateTime,
    now: NaiveDateTime,
) -> InboxEntryRow {
    InboxEntryRow {
        id: new_id(),
        family_id: family.id.clone(),
        dedupe_key: entry.dedupe_key.to_owned(),
        kind: entry.kind.as_str().to_owned(),
        template_id: entry.rendered.template_id.clone(),
        language: entry.rendered.language.clone(),
        title: entry.rendered.title.clone(),
        body: entry.rendered.body.clone(),
        inbox_text: entry.rendered.inbox_text.clone(),
        task_id: entry.task_id.map(str::to_owned),
        urgency: entry.rendered.urgency.as_str().to_owned(),
        collapse_key: entry.collapse_key,
        recorded_at: now,
        expires_at: first_attempt + chrono::Duration::seconds(i64::from(entry.rendered.ttl_seconds)),
        read_at: None,
    }
}

/// Withdraws the deliveries of `child_id`'s reminders that have not left (a lost pregnancy, a
/// child's death): they are never sent, even those already due. The entries stay in the inbox.
pub fn withdraw_pending_about_child(
    conn: &mut DbConnection,
    child_id: &str,
    now: NaiveDateTime,
) -> Result<usize, Error> {
    use crate::db::schema::tasks;
    let about_child = tasks::table.filter(tasks::child_id.eq(child_id)).select(tasks::id.nullable());
    let entries = inbox_entries::table.filter(inbox_entries::task_id.eq_any(about_child)).select(inbox_entries::id);
    Ok(diesel::update(
        deliveries::table
            .filter(deliveries::status.eq(DeliveryStatus::Pending))
            .filter(deliveries::entry_id.eq_any(entries)),
    )
    .set(withdrawn(now))
    .execute(conn)?)
}

/// What a withdrawn delivery's row becomes (its lease, if any, released).
#[allow(clippy::type_complexity)]
pub fn withdrawn(
    now: NaiveDateTime,
) -> (
    diesel::dsl::Eq<deliveries::status, DeliveryStatus>,
    diesel::dsl::Eq<deliveries::last_error, Option<&'static str>>,
    diesel::dsl::Eq<deliveries::updated_at, NaiveDateTime>,
    diesel::dsl::Eq<deliveries::lease_owner, Option<String>>,
    diesel::dsl::Eq<deliveries::lease_until, Option<NaiveDateTime>>,
) {
    (
        deliveries::status.eq(DeliveryStatus::Withdrawn),
        deliveries::last_error.eq(Some("child_withdrawn")),
        deliveries::updated_at.eq(now),
        deliveries::lease_owner.eq(None::<String>),
        deliveries::lease_until.eq(None::<NaiveDateTime>),
    )
}

/// A pending delivery of entry `entry_id` to `device`, first tried at `first_attempt`.
fn delivery_row(entry_id: &str, device: &DeviceRow, first_attempt: NaiveDateTime, now: NaiveDateTime) -> DeliveryRow {
    DeliveryRow {
        id: new_id(),
        entry_id: entry_id.to_owned(),
        device_id: device.id.clone(),
        provider: device.kind.clone(),
        status: DeliveryStatus::Pending.as_str().to_owned(),
        attempts: 0,
        next_attempt_at: first_attempt,
        lease_owner: None,
        lease_until: None,
        last_error: None,
        provider_message_id: None,
        due_at: now,
        sent_at: None,
        created_at: now,
        updated_at: now,
    }
}

/// When a push recorded for `family` at `now` (UTC) may first go out: at once, or when its
/// おやすみ時間 end (the same for every sender, and for the console's "when it will arrive").
pub fn first_attempt_for(family: &FamilyRow, now: NaiveDateTime) -> NaiveDateTime {
    let quiet = QuietHours::from_minutes(family.quiet_hours_start, family.quiet_hours_end).unwrap_or_default();
    allowed_from(now, quiet)
}

/// The first instant at or after `now` (UTC) outside the quiet hours, in UTC.
pub fn allowed_from(now: NaiveDateTime, quiet: QuietHours) -> NaiveDateTime {
    let local = now.and_utc().with_timezone(&chrono_tz::Asia::Tokyo).naive_local();
    local_instant(quiet.next_allowed(local)).naive_utc()
}

fn view(row: InboxEntryRow) -> Result<InboxEntry, Error> {
    Ok(InboxEntry {
        kind: EntryKind::from_stored(&row.kind)?,
        template_id: row.template_id,
        language: row.language,
        title: row.title,
        body: row.body,
        inbox_text: row.inbox_text,
        task_id: row.task_id,
        recorded_at: utc(row.recorded_at),
        read_at: row.read_at.map(utc),
        id: row.id,
    })
}

/// A page of the family's inbox, newest first, with the unread count.
pub fn list(conn: &mut DbConnection, family_id: &str, limit: i64, before: Option<&str>) -> Result<InboxPage, Error> {
    // Without a cursor, every id is "before" the first page's: entry ids are UUIDs (hex digits
    // and hyphens), all below "~". One query shape either way, so its prepared statement is
    // cached.
    let mut rows: Vec<InboxEntryRow> = inbox_entries::table
        .filter(inbox_entries::family_id.eq(family_id))
        .filter(inbox_entries::id.lt(before.unwrap_or("~")))
        .select(InboxEntryRow::as_select())
        .order(inbox_entries::id.desc())
        .limit(limit + 1)
        .load(conn)?;
    let next_before = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id.clone())
    } else {
        None
    };
    let unread_count = inbox_entries::table
        .filter(inbox_entries::family_id.eq(family_id))
        .filter(inbox_entries::read_at.is_null())
        .count()
        .get_result(conn)?;
    let items = rows.into_iter().map(view).collect::<Result<_, _>>()?;
    Ok(InboxPage { items, unread_count, next_cursor: next_before.clone(), next_before })
}

/// Marks an entry read (the first reading counts; reading again changes nothing).
pub fn mark_read(
    conn: &mut DbConnection,
    family_id: &str,
    entry_id: &str,
    now: NaiveDateTime,
) -> Result<InboxEntry, Error> {
    let row = find(conn, family_id, entry_id)?;
    if row.read_at.is_none() {
        diesel::update(inbox_entries::table.find(&row.id)).set(inbox_entries::read_at.eq(Some(now))).execute(conn)?;
    }
    view(find(conn, family_id, entry_id)?)
}

fn find(conn: &mut DbConnection, family_id: &str, entry_id: &str) -> Result<InboxEntryRow, Error> {
    inbox_entries::table
        .find(entry_id)
        .filter(inbox_entries::family_id.eq(family_id))
        .select(InboxEntryRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(Error::NotFound("inbox entry"))
}

/// The deliveries of an entry, per device.
pub fn deliveries_of(conn: &mut DbConnection, family_id: &str, entry_id: &str) -> Result<Vec<Delivery>, Error> {
    let entry = find(conn, family_id, entry_id)?;
    let rows: Vec<DeliveryRow> = deliveries::table
        .filter(deliveries::entry_id.eq(&entry.id))
        .order(deliveries::id.asc())
        .select(DeliveryRow::as_select())
        .load(conn)?;
    rows.into_iter()
        .map(|row| {
            let status = DeliveryStatus::from_stored(&row.status)?;
            Ok(Delivery {
                next_attempt_at: (status == DeliveryStatus::Pending).then(|| utc(row.next_attempt_at)),
                status,
                device_id: row.device_id,
                provider: row.provider,
                attempts: row.attempts,
                last_error: row.last_error,
                provider_message_id: row.provider_message_id,
                sent_at: row.sent_at.map(utc),
                id: row.id,
            })
        })
        .collect()
}
