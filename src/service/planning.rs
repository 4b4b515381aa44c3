//! Re-planning: runs the planner on what is stored about a family and writes the difference
//! (new, rescheduled, cancelled) in the same transaction as the change that caused it.
//!
//! Nothing downstream is edited by hand: a birth, a move, a task marked done or a municipality's
//! new settings all come here.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::families::decode_circumstances;
use super::new_id;
use super::paperwork::Paperwork;
use super::plan_diff::{plan_changes, PlanChanges};
use crate::crypto::KeyRing;
use crate::db::rows::{ChildRow, FamilyRow, MunicipalitySettingsRow, PlannedNotificationRow, TaskRow};
use crate::db::schema::{
    children, families, guardians, life_events, municipality_settings, planned_notifications, tasks, vaccinations,
};
use crate::db::DbConnection;
use crate::domain::enums::{ChildStatus, HealthInsurance, LifeEventKind, Relationship, Sex, VaccineProduct};
use crate::domain::overrides::{MunicipalityOverride, ResolvedOverride};
use crate::domain::planner::{self, ChildFacts, Closure, Ending, FamilyFacts, PlanningContext};
use crate::domain::series::Dose;
use crate::domain::QuietHours;
use crate::error::Error;
use crate::text_enum;

text_enum! {
    /// The stored state of a task.
    pub enum TaskStatus {
        /// Planned and not closed by the family.
        Planned => "planned",
        /// 完了: the family did it.
        Done => "done",
        /// The family says it does not apply to them.
        Dismissed => "dismissed",
        /// No longer applies (a move, a changed fact, a municipality's settings).
        Cancelled => "cancelled",
    }
}

text_enum! {
    /// The stored state of a planned notification.
    pub enum NotificationStatus {
        Planned => "planned",
        Cancelled => "cancelled",
        /// Handed to delivery (the inbox).
        Sent => "sent",
    }
}

/// What a re-planning changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct PlanDiff {
    pub tasks_new: usize,
    pub tasks_rescheduled: usize,
    pub tasks_cancelled: usize,
    pub notifications_new: usize,
    pub notifications_rescheduled: usize,
    pub notifications_cancelled: usize,
}

impl std::ops::AddAssign for PlanDiff {
    fn add_assign(&mut self, o: Self) {
        self.tasks_new += o.tasks_new;
        self.tasks_rescheduled += o.tasks_rescheduled;
        self.tasks_cancelled += o.tasks_cancelled;
        self.notifications_new += o.notifications_new;
        self.notifications_rescheduled += o.notifications_rescheduled;
        self.notifications_cancelled += o.notifications_cancelled;
    }
}

/// The settings a municipality's staff stored, if any.
pub fn staff_settings(conn: &mut DbConnection, municipality: &str) -> Result<Option<MunicipalityOverride>, Error> {
    let row: Option<MunicipalitySettingsRow> = municipality_settings::table
        .find(municipality)
        .select(MunicipalitySettingsRow::as_select())
        .first(conn)
        .optional()?;
    row.map(|r| serde_json::from_str(&r.document).map_err(|e| Error::unreadable("municipality_settings.document", &e)))
        .transpose()
}

/// The settings in force for a municipality.
pub fn resolved_settings(
    conn: &mut DbConnection,
    ctx: &PlanningContext,
    municipality: &str,
) -> Result<ResolvedOverride, Error> {
    let staff = staff_settings(conn, municipality)?;
    Ok(ctx.resolve(municipality, staff.as_ref()))
}

/// Reads what the planner needs to know about a family.
/// The birth weights are opened with `keys` (sealed, 要配慮個人情報).
pub fn facts(conn: &mut DbConnection, keys: &KeyRing, family: &FamilyRow) -> Result<FamilyFacts, Error> {
    let child_rows: Vec<ChildRow> =
        children::table.filter(children::family_id.eq(&family.id)).select(ChildRow::as_select()).load(conn)?;
    let last_move: Option<(NaiveDate, String)> = life_events::table
        .filter(life_events::family_id.eq(&family.id))
        .filter(life_events::kind.eq(LifeEventKind::Moved))
        .order((life_events::occurred_on.desc(), life_events::id.desc()))
        .select((life_events::occurred_on, life_events::details))
        .first(conn)
        .optional()?;
    let moved_on = last_move.as_ref().map(|(on, _)| *on);
    let move_details = last_move.as_ref().map(|(_, details)| event_details(details)).transpose()?;
    let planned_move_out_on = move_details
        .as_ref()
        .and_then(|d| d.get(super::life_events::PLANNED_MOVE_OUT))
        .and_then(|d| d.as_str())
        .and_then(|d| d.parse().ok());
    let moved_within_municipality =
        move_details.as_ref().and_then(|d| d.get(super::life_events::WITHIN_MUNICIPALITY)).and_then(|w| w.as_bool())
            == Some(true);
    let losses: Vec<(Option<String>, NaiveDate, String)> = life_events::table
        .filter(life_events::family_id.eq(&family.id))
        .filter(life_events::kind.eq_any([LifeEventKind::PregnancyEnded.as_str(), LifeEventKind::ChildDied.as_str()]))
        .select((life_events::child_id, life_events::occurred_on, life_events::details))
        .load(conn)?;
    let mut endings: HashMap<String, Ending> = HashMap::with_capacity(losses.len());
    for (child, on, details) in losses {
        let details = event_details(&details)?;
        let reached = |key: &str| details.get(key).and_then(|v| v.as_bool()) == Some(true);
        if let Some(child) = child {
            let ending = Ending {
                on,
                from_12_weeks: reached(super::life_events::FROM_12_WEEKS),
                from_85_days: reached(super::life_events::FROM_85_DAYS),
            };
            endings.insert(child, ending);
        }
    }
    let doses: Vec<(String, String, NaiveDate, Option<String>)> = vaccinations::table
        .filter(vaccinations::family_id.eq(&family.id))
        .select((vaccinations::child_id, vaccinations::procedure_id, vaccinations::given_on, vaccinations::product))
        .load(conn)?;
    let guardians: Vec<(String, Option<String>)> = guardians::table
        .filter(guardians::family_id.eq(&family.id))
        .select((guardians::relationship, guardians::nationality))
        .load(conn)?;
    let guardian_relationships =
        guardians.iter().map(|(relationship, _)| Relationship::from_stored(relationship)).collect::<Result<_, _>>()?;
    let guardian_nationalities = guardians.into_iter().map(|(_, nationality)| nationality).collect();
    // Whether the parents are married decides a Japanese father's part in the child's nationality.
    let parents_married = Paperwork::open(keys, family.paperwork.as_deref())?.parents_married;
    let closed: Vec<(String, String)> = tasks::table
        .filter(tasks::family_id.eq(&family.id))
        .filter(tasks::status.eq_any([TaskStatus::Done.as_str(), TaskStatus::Dismissed.as_str()]))
        .select((tasks::task_key, tasks::status))
        .load(conn)?;
    Ok(FamilyFacts {
        family_id: family.id.clone(),
        municipality_code: family.municipality_code.clone(),
        health_insurance: family.health_insurance.as_deref().map(HealthInsurance::from_stored).transpose()?,
        single_parent: family.single_parent,
        circumstances: decode_circumstances(&family.circumstances)?,
        guardian_nationalities,
        guardian_relationships,
        parents_married,
        quiet_hours: QuietHours::from_minutes(family.quiet_hours_start, family.quiet_hours_end).unwrap_or_default(),
        moved_on,
        planned_move_out_on,
        moved_within_municipality,
        children: child_rows
            .into_iter()
            .map(|c| {
                Ok(ChildFacts {
                    status: ChildStatus::from_stored(&c.status)?,
                    doses: doses
                        .iter()
                        .filter(|(child, ..)| *child == c.id)
                        .map(|(_, procedure, on, product)| {
                            Ok(Dose {
                                procedure: procedure.clone(),
                                given_on: *on,
                                product: product.as_deref().map(VaccineProduct::from_stored).transpose()?,
                            })
                        })
                        .collect::<Result<_, Error>>()?,
                    sex: c.sex.as_deref().map(Sex::from_stored).transpose()?,
                    ending: endings.remove(&c.id),
                    recorded_on: Some(crate::domain::dates::tokyo_date(c.created_at.and_utc())),
                    id: c.id,
                    due_date: c.due_date,
                    birth_date: c.birth_date,
                    birth_weight_grams: keys
                        .open_value(crate::db::sealed::CHILDREN_BIRTH_WEIGHT, c.birth_weight_sealed.as_deref())?,
                })
            })
            .collect::<Result<_, Error>>()?,
        closed: closed
            .into_iter()
            .map(|(key, status)| {
                let closure = if status == TaskStatus::Done.as_str() { Closure::Done } else { Closure::Dismissed };
                (closure_key(&key).to_owned(), closure)
            })
            .collect(),
    })
}

fn event_details(details: &str) -> Result<serde_json::Value, Error> {
    serde_json::from_str(details).map_err(|e| Error::unreadable("life_events.details", &e))
}

/// A task key without its municipality: what "done" is remembered by across a move.
pub fn closure_key(task_key: &str) -> &str {
    task_key.split_once('@').map_or(task_key, |(k, _)| k)
}

/// Re-plans the family if it still exists.
pub fn replan(
    conn: &mut DbConnection,
    keys: &KeyRing,
    ctx: &PlanningContext,
    family_id: &str,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<PlanDiff, Error> {
    let family: Option<FamilyRow> =
        families::table.find(family_id).select(FamilyRow::as_select()).first(conn).optional()?;
    let Some(family) = family else {
        return Ok(PlanDiff::default());
    };
    let settings = resolved_settings(conn, ctx, &family.municipality_code)?;
    replan_with(conn, keys, ctx, &settings, &family, today, now)
}

/// Re-plans one family under already resolved settings (for batches of one municipality).
pub fn replan_with(
    conn: &mut DbConnection,
    keys: &KeyRing,
    ctx: &PlanningContext,
    settings: &ResolvedOverride,
    family: &FamilyRow,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<PlanDiff, Error> {
    let facts = facts(conn, keys, family)?;
    let plan = planner::plan(&facts, ctx, settings, today);
    let tasks: Vec<TaskRow> =
        tasks::table.filter(tasks::family_id.eq(&family.id)).select(TaskRow::as_select()).load(conn)?;
    let notifications: Vec<PlannedNotificationRow> = planned_notifications::table
        .filter(planned_notifications::family_id.eq(&family.id))
        .select(PlannedNotificationRow::as_select())
        .load(conn)?;
    let changes = plan_changes(&family.id, &plan, tasks, notifications, (today, now), new_id)?;
    write_changes(conn, &changes, now)?;
    Ok(changes.counts)
}

/// Writes a re-planning's changes, a statement per kind (and per thousand rows): new rows in
/// one insert, changed rows in one upsert by id, cancellations in one update by ids. Tasks
/// first: the new reminders name them.
fn write_changes(conn: &mut DbConnection, changes: &PlanChanges, now: NaiveDateTime) -> Result<(), Error> {
    crate::db::insert_tasks(conn, &changes.new_tasks)?;
    crate::db::rewrite_tasks(conn, &changes.changed_tasks)?;
    if !changes.cancelled_tasks.is_empty() {
        diesel::update(tasks::table.filter(tasks::id.eq_any(&changes.cancelled_tasks)))
            .set((
                tasks::status.eq(TaskStatus::Cancelled),
                tasks::status_changed_at.eq(Some(now)),
                tasks::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    crate::db::insert_planned_notifications(conn, &changes.new_notifications)?;
    crate::db::reschedule_planned_notifications(conn, &changes.changed_notifications)?;
    if !changes.cancelled_notifications.is_empty() {
        let cancelled = planned_notifications::id.eq_any(&changes.cancelled_notifications);
        diesel::update(planned_notifications::table.filter(cancelled))
            .set((
                planned_notifications::status.eq(NotificationStatus::Cancelled),
                planned_notifications::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}
