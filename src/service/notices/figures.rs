//! A notice's figures: families, each counted once, never deliveries.

use std::collections::{BTreeMap, HashSet};

use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::editors_of;
use super::lifecycle::find;
use crate::db::schema::{deliveries, inbox_entries, notice_recipients, notice_replies};
use crate::db::DbConnection;
use crate::domain::MunicipalityCode;
use crate::error::Error;
use crate::service::inbox::DeliveryStatus;

/// The figures of a sent notice. Each counts families, never a family twice.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct NoticeFigures {
    /// Who wrote it, who else changed it, and who approved what went out.
    pub author_staff_id: String,
    pub editors: Vec<String>,
    pub approver_staff_id: Option<String>,
    /// Families the notice was for.
    pub audience: i64,
    /// Recorded in their inbox.
    pub recorded: i64,
    /// At least one push accepted by a provider.
    pub pushed: i64,
    /// Per provider: families with a push accepted by it.
    pub delivered_by_provider: BTreeMap<String, i64>,
    /// Recorded, had devices, and no push accepted (all failed, expired or dead).
    pub failed: i64,
    /// Opened in the app.
    pub read: i64,
    /// Answered the questionnaire.
    pub replied: i64,
    /// Official notifications to families without consent: post them a letter.
    pub needs_paper: i64,
}

/// The figures of a notice, counting families.
pub fn figures(conn: &mut DbConnection, code: &MunicipalityCode, id: &str) -> Result<NoticeFigures, Error> {
    let row = find(conn, code, id)?;
    let recipients = notice_recipients::table.filter(notice_recipients::notice_id.eq(&row.id));
    let audience: i64 = recipients.count().get_result(conn)?;
    let needs_paper: i64 = recipients.filter(notice_recipients::needs_paper.eq(true)).count().get_result(conn)?;
    let recorded: i64 = recipients.filter(notice_recipients::entry_id.is_not_null()).count().get_result(conn)?;
    let read: i64 = notice_recipients::table
        .inner_join(inbox_entries::table.on(inbox_entries::id.nullable().eq(notice_recipients::entry_id)))
        .filter(notice_recipients::notice_id.eq(&row.id))
        .filter(inbox_entries::read_at.is_not_null())
        .count()
        .get_result(conn)?;
    let outcomes: Vec<(String, String, String)> = notice_recipients::table
        .inner_join(deliveries::table.on(deliveries::entry_id.nullable().eq(notice_recipients::entry_id)))
        .filter(notice_recipients::notice_id.eq(&row.id))
        .select((notice_recipients::family_id, deliveries::provider, deliveries::status))
        .load(conn)?;
    let replied: i64 = notice_replies::table.filter(notice_replies::notice_id.eq(&row.id)).count().get_result(conn)?;
    let mut figures = NoticeFigures {
        editors: editors_of(&row)?,
        author_staff_id: row.author_staff_id.clone(),
        approver_staff_id: row.approver_staff_id.clone(),
        audience,
        recorded,
        read,
        replied,
        needs_paper,
        ..Default::default()
    };
    let mut pushed: HashSet<&str> = HashSet::new();
    let mut by_provider: BTreeMap<String, HashSet<&str>> = BTreeMap::new();
    let mut settled_without: HashSet<&str> = HashSet::new();
    for (family, provider, status) in &outcomes {
        if status == DeliveryStatus::Sent.as_str() {
            pushed.insert(family);
            by_provider.entry(provider.clone()).or_default().insert(family);
        } else if status != DeliveryStatus::Pending.as_str() {
            settled_without.insert(family);
        }
    }
    figures.pushed = pushed.len() as i64;
    figures.failed = settled_without.iter().filter(|f| !pushed.contains(*f)).count() as i64;
    figures.delivered_by_provider = by_provider.into_iter().map(|(p, f)| (p, f.len() as i64)).collect();
    Ok(figures)
}

/// One step of a notice's progress: how many families had a push accepted, and had read it,
/// by `hours_after` the notice was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub hours_after: i64,
    pub pushed: i64,
    pub read: i64,
}

/// The notice's progress hour by hour from its sending to `now` (at most `max_hours`), each family
/// counted once, at its first accepted push and its first reading. Empty before it is sent.
pub fn progress(
    conn: &mut DbConnection,
    code: &MunicipalityCode,
    id: &str,
    now: chrono::NaiveDateTime,
    max_hours: i64,
) -> Result<Vec<Progress>, Error> {
    let row = find(conn, code, id)?;
    let Some(sent_at) = row.sent_at else { return Ok(Vec::new()) };
    let pushes: Vec<(String, Option<chrono::NaiveDateTime>)> = notice_recipients::table
        .inner_join(deliveries::table.on(deliveries::entry_id.nullable().eq(notice_recipients::entry_id)))
        .filter(notice_recipients::notice_id.eq(&row.id))
        .filter(deliveries::status.eq(DeliveryStatus::Sent))
        .select((notice_recipients::family_id, deliveries::sent_at))
        .load(conn)?;
    let reads: Vec<Option<chrono::NaiveDateTime>> = notice_recipients::table
        .inner_join(inbox_entries::table.on(inbox_entries::id.nullable().eq(notice_recipients::entry_id)))
        .filter(notice_recipients::notice_id.eq(&row.id))
        .select(inbox_entries::read_at)
        .load(conn)?;
    let mut first_push: BTreeMap<&str, chrono::NaiveDateTime> = BTreeMap::new();
    for (family, at) in &pushes {
        let Some(at) = at else { continue };
        first_push.entry(family.as_str()).and_modify(|t| *t = (*t).min(*at)).or_insert(*at);
    }
    Ok(cumulative(sent_at, now, max_hours, first_push.into_values().collect(), reads.into_iter().flatten().collect()))
}

/// Counts, for each whole hour after `start` up to `now` (and at most `max_hours`), the instants
/// at or before its end.
fn cumulative(
    start: chrono::NaiveDateTime,
    now: chrono::NaiveDateTime,
    max_hours: i64,
    pushed: Vec<chrono::NaiveDateTime>,
    read: Vec<chrono::NaiveDateTime>,
) -> Vec<Progress> {
    let hours = ((now - start).num_minutes() + 59).div_euclid(60).clamp(1, max_hours);
    (0..=hours)
        .map(|h| {
            let end = start + chrono::Duration::hours(h);
            let count = |times: &[chrono::NaiveDateTime]| times.iter().filter(|t| **t <= end).count() as i64;
            Progress { hours_after: h, pushed: count(&pushed), read: count(&read) }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    #[test]
    fn progress_counts_each_instant_in_the_hour_it_falls_in_and_after() {
        let at =
            |h: u32, m: u32| NaiveDate::from_ymd_opt(2026, 12, 1).and_then(|d| d.and_hms_opt(h, m, 0)).expect("time");
        let points =
            cumulative(at(9, 0), at(11, 30), 72, vec![at(9, 0), at(9, 1), at(10, 30)], vec![at(10, 59), at(11, 10)]);
        let rows: Vec<(i64, i64, i64)> = points.iter().map(|p| (p.hours_after, p.pushed, p.read)).collect();
        assert_eq!(rows, [(0, 1, 0), (1, 2, 0), (2, 3, 1), (3, 3, 2)]);
        assert_eq!(cumulative(at(9, 0), at(9, 0), 72, vec![], vec![]).len(), 2, "at least the first hour");
        assert_eq!(cumulative(at(9, 0), at(23, 0), 5, vec![], vec![]).len(), 6, "at most max_hours");
    }
}
