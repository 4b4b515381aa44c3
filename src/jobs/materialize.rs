//! Turns due planned reminders into inbox entries and deliveries, exactly once each: the
//! reminder's key is the entry's dedupe key, and the reminder is marked sent in the same
//! transaction.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::rows::{FamilyRow, PlannedNotificationRow, TaskRow};
use crate::db::schema::{children, families, planned_notifications, tasks};
use crate::db::DbConnection;
use crate::domain::catalog::{self, Channel};
use crate::domain::dates::tokyo_date;
use crate::domain::enums::ChildStatus;
use crate::domain::overrides::ResolvedOverride;
use crate::domain::planner::PlanningContext;
use crate::error::Error;
use crate::service::inbox::{self, EntryKind, NewEntry};
use crate::service::planning::{self, NotificationStatus};
use crate::templates::{TemplateValue, Templates};

/// Records up to `limit` due reminders; returns how many were handled.
pub fn due_reminders(
    conn: &mut DbConnection,
    templates: &Templates,
    planning: &PlanningContext,
    now: NaiveDateTime,
    limit: i64,
) -> Result<usize, Error> {
    let due: Vec<(PlannedNotificationRow, TaskRow, FamilyRow, Option<String>)> = planned_notifications::table
        .inner_join(tasks::table)
        .inner_join(families::table.on(families::id.eq(planned_notifications::family_id)))
        .left_join(children::table.on(children::id.nullable().eq(tasks::child_id)))
        .filter(planned_notifications::status.eq(NotificationStatus::Planned))
        .filter(planned_notifications::send_at.le(now))
        .order(planned_notifications::send_at.asc())
        .limit(limit)
        .select((
            PlannedNotificationRow::as_select(),
            TaskRow::as_select(),
            FamilyRow::as_select(),
            children::status.nullable(),
        ))
        .load(conn)?;
    let today = tokyo_date(now.and_utc());
    let mut settings: HashMap<String, ResolvedOverride> = HashMap::new();
    for (notification, task, family, child_status) in &due {
        // A reminder about a child lost is never written, even one due before the event.
        if child_status.as_deref().and_then(|s| ChildStatus::from_stored(s).ok()).is_some_and(ChildStatus::withdrawn) {
            diesel::update(planned_notifications::table.find(&notification.id))
                .set((
                    planned_notifications::status.eq(NotificationStatus::Cancelled),
                    planned_notifications::updated_at.eq(now),
                ))
                .execute(conn)?;
            continue;
        }
        if !settings.contains_key(&task.municipality_code) {
            let resolved = planning::resolved_settings(conn, planning, &task.municipality_code)?;
            settings.insert(task.municipality_code.clone(), resolved);
        }
        // How the family can file where it lives decides what the reminder says (窓口, and
        // マイナポータル or 郵送 where the municipality takes them).
        let procedure = planning.catalog.get(&task.procedure_id);
        let channels = procedure
            .zip(settings.get(&task.municipality_code))
            .map(|(procedure, settings)| settings.channels(procedure))
            .unwrap_or_default();
        let template_id =
            procedure.map_or_else(|| catalog::default_reminder_template(&task.procedure_id), |p| p.reminder_template());
        // Whether the municipality's settings give the procedure's own dates: until then the
        // catalog's are an illustration (the 保育所 募集要項), and the reminder says to check.
        let window_set = settings
            .get(&task.municipality_code)
            .and_then(|s| s.procedure(&task.procedure_id))
            .is_some_and(|p| p.opens.is_some() || p.closes.is_some() || p.deadline.is_some());
        let values = reminder_values(templates, &template_id, task, channels, window_set, today);
        let status = match templates.render(&template_id, &family.preferred_language, &values) {
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

/// The facts a reminder offers its template (dates, days left, whether the municipality takes
/// the filing online or by post, the procedure), each template taking those it declares: templates refuse the others.
fn reminder_values(
    templates: &Templates,
    template_id: &str,
    task: &TaskRow,
    channels: &[Channel],
    window_set: bool,
    today: chrono::NaiveDate,
) -> BTreeMap<String, TemplateValue> {
    let due_on = task.deadline_on.unwrap_or(task.closes_on);
    let offered = [
        ("opens_on", TemplateValue::Date(task.opens_on)),
        ("due", TemplateValue::Date(due_on)),
        ("days_left", TemplateValue::Integer((due_on - today).num_days())),
        ("online", TemplateValue::Boolean(channels.contains(&Channel::Online))),
        ("mail", TemplateValue::Boolean(channels.contains(&Channel::Mail))),
        ("window_set", TemplateValue::Boolean(window_set)),
        // A template shared by several procedures (the later vaccine doses) words each its way.
        ("procedure", TemplateValue::Text(task.procedure_id.clone())),
    ];
    let declared = templates.get(template_id).map(|t| &t.meta.variables);
    offered
        .into_iter()
        .filter(|(name, _)| declared.is_some_and(|d| d.contains_key(*name)))
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}
