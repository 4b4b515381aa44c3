//! Turns due planned reminders into inbox entries and deliveries, exactly once each: the
//! reminder's key is the entry's dedupe key, and the reminder is marked sent in the same
//! transaction.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::rows::{FamilyRow, PlannedNotificationRow, TaskRow};
use crate::db::schema::{families, planned_notifications, tasks};
use crate::db::DbConnection;
use crate::domain::dates::tokyo_date;
use crate::error::Error;
use crate::service::inbox::{self, EntryKind, NewEntry};
use crate::service::planning::NotificationStatus;
use crate::templates::{TemplateValue, Templates};

/// Records up to `limit` due reminders; returns how many were handled.
pub fn due_reminders(
    conn: &mut DbConnection,
    templates: &Templates,
    now: NaiveDateTime,
    limit: i64,
) -> Result<usize, Error> {
    let due: Vec<(PlannedNotificationRow, TaskRow, FamilyRow)> = planned_notifications::table
        .inner_join(tasks::table)
        .inner_join(families::table.on(families::id.eq(planned_notifications::family_id)))
        .filter(planned_notifications::status.eq(NotificationStatus::Planned))
        .filter(planned_notifications::send_at.le(now))
        .order(planned_notifications::send_at.asc())
        .limit(limit)
        .select((PlannedNotificationRow::as_select(), TaskRow::as_select(), FamilyRow::as_select()))
        .load(conn)?;
    let today = tokyo_date(now.and_utc());
    for (notification, task, family) in &due {
        let due_on = task.deadline_on.unwrap_or(task.closes_on);
        let values = BTreeMap::from([
            ("opens_on".to_owned(), TemplateValue::Date(task.opens_on)),
            ("due".to_owned(), TemplateValue::Date(due_on)),
            ("days_left".to_owned(), TemplateValue::Integer((due_on - today).num_days())),
        ]);
        let status =
            match templates.render(&format!("reminder_{}", task.procedure_id), &family.preferred_language, &values) {
                Ok(rendered) => {
                    let entry = NewEntry {
                        dedupe_key: &notification.notification_key,
                        kind: EntryKind::Reminder,
                        rendered: &rendered,
                        task_id: Some(&task.id),
                        // A newer reminder of the same task replaces the older on the device
                        // (Web Push topics are at most 32 URL-safe characters: the id without dashes).
                        collapse_key: Some(task.id.replace('-', "")),
                    };
                    inbox::record(conn, family, entry, now)?;
                    NotificationStatus::Sent
                }
                Err(problem) => {
                    tracing::error!(template = %problem, "a reminder could not be rendered and is cancelled");
                    NotificationStatus::Cancelled
                }
            };
        diesel::update(planned_notifications::table.find(&notification.id))
            .set((planned_notifications::status.eq(status), planned_notifications::updated_at.eq(now)))
            .execute(conn)?;
    }
    Ok(due.len())
}
