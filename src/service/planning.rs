//! Re-planning: runs the planner on what is stored about a family and writes the difference
//! (new, rescheduled, cancelled) in the same transaction as the change that caused it.
//!
//! Nothing downstream is edited by hand: a birth, a move, a task marked done or a municipality's
//! new settings all come here.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::families::decode_circumstances;
use super::new_id;
use super::paperwork::Paperwork;
use crate::crypto::KeyRing;
use crate::db::rows::{ChildRow, FamilyRow, MunicipalitySettingsRow, PlannedNotificationRow, TaskRow};
use crate::db::schema::{
    children, families, guardians, life_events, municipality_settings, planned_notifications, tasks, vaccinations,
};
use crate::db::DbConnection;
use crate::domain::enums::{ChildStatus, HealthInsurance, LifeEventKind, Relationship, Sex, VaccineProduct};
use crate::domain::overrides::{MunicipalityOverride, ResolvedOverride};
use crate::domain::planner::{self, ChildFacts, Closure, Ending, FamilyFacts, PlannedTask, PlanningContext};
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
    let mut diff = PlanDiff::default();

    let stored: Vec<TaskRow> =
        tasks::table.filter(tasks::family_id.eq(&family.id)).select(TaskRow::as_select()).load(conn)?;
    let mut stored: HashMap<String, TaskRow> = stored.into_iter().map(|t| (t.task_key.clone(), t)).collect();
    let mut task_ids: HashMap<String, String> = HashMap::with_capacity(plan.tasks.len());
    for task in &plan.tasks {
        let planned_status = match task.closure {
            Some(Closure::Done) => TaskStatus::Done,
            Some(Closure::Dismissed) => TaskStatus::Dismissed,
            None => TaskStatus::Planned,
        };
        match stored.remove(&task.key) {
            None => {
                let row = task_row(new_id(), &family.id, task, planned_status, now, now);
                diesel::insert_into(tasks::table).values(&row).execute(conn)?;
                diff.tasks_new += 1;
                task_ids.insert(task.key.clone(), row.id);
            }
            Some(row) => {
                // A closed task keeps its status; a cancelled one that applies again revives.
                let status = match TaskStatus::from_stored(&row.status)? {
                    TaskStatus::Cancelled => TaskStatus::Planned,
                    kept => kept,
                };
                let updated = TaskRow {
                    status_changed_at: row.status_changed_at,
                    ..task_row(row.id.clone(), &family.id, task, status, row.created_at, now)
                };
                if row.status == TaskStatus::Cancelled.as_str() {
                    diff.tasks_new += 1;
                } else if (row.opens_on, row.closes_on, row.deadline_on)
                    != (updated.opens_on, updated.closes_on, updated.deadline_on)
                {
                    diff.tasks_rescheduled += 1;
                }
                if !same_task(&row, &updated) {
                    diesel::update(tasks::table.find(&row.id)).set(&updated).execute(conn)?;
                }
                task_ids.insert(task.key.clone(), row.id);
            }
        }
    }
    // Tasks no longer planned: cancelled if still open (closed and cancelled ones stay).
    let gone: Vec<String> =
        stored.into_values().filter(|t| t.status == TaskStatus::Planned.as_str()).map(|t| t.id).collect();
    if !gone.is_empty() {
        diff.tasks_cancelled += gone.len();
        diesel::update(tasks::table.filter(tasks::id.eq_any(&gone)))
            .set((
                tasks::status.eq(TaskStatus::Cancelled),
                tasks::status_changed_at.eq(Some(now)),
                tasks::updated_at.eq(now),
            ))
            .execute(conn)?;
    }

    let stored: Vec<PlannedNotificationRow> = planned_notifications::table
        .filter(planned_notifications::family_id.eq(&family.id))
        .filter(planned_notifications::status.eq(NotificationStatus::Planned))
        .select(PlannedNotificationRow::as_select())
        .load(conn)?;
    let mut stored: BTreeMap<String, PlannedNotificationRow> =
        stored.into_iter().map(|n| (n.notification_key.clone(), n)).collect();
    for n in &plan.notifications {
        let send_at = n.send_at.naive_utc();
        match stored.remove(&n.key) {
            Some(row) if row.send_at == send_at && row.local_date == n.date => {}
            Some(row) => {
                diesel::update(planned_notifications::table.find(&row.id))
                    .set((
                        planned_notifications::send_at.eq(send_at),
                        planned_notifications::local_date.eq(n.date),
                        planned_notifications::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                diff.notifications_rescheduled += 1;
            }
            None => {
                let Some(task_id) = task_ids.get(&n.task_key) else { continue };
                let exists: i64 = planned_notifications::table
                    .filter(planned_notifications::notification_key.eq(&n.key))
                    .count()
                    .get_result(conn)?;
                if exists > 0 {
                    // Sent or cancelled before: a reminder is never sent twice, and a cancelled
                    // one that applies again is planned again.
                    let revived = diesel::update(
                        planned_notifications::table
                            .filter(planned_notifications::notification_key.eq(&n.key))
                            .filter(planned_notifications::status.eq(NotificationStatus::Cancelled)),
                    )
                    .set((
                        planned_notifications::status.eq(NotificationStatus::Planned),
                        planned_notifications::send_at.eq(send_at),
                        planned_notifications::local_date.eq(n.date),
                        planned_notifications::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                    diff.notifications_new += revived;
                    continue;
                }
                let row = PlannedNotificationRow {
                    id: new_id(),
                    family_id: family.id.clone(),
                    task_id: task_id.clone(),
                    notification_key: n.key.clone(),
                    reminder_index: n.reminder as i32,
                    local_date: n.date,
                    send_at,
                    status: NotificationStatus::Planned.as_str().to_owned(),
                    created_at: now,
                    updated_at: now,
                };
                diesel::insert_into(planned_notifications::table).values(&row).execute(conn)?;
                diff.notifications_new += 1;
            }
        }
    }
    // Reminders no longer planned are cancelled, except past-due ones of tasks still planned:
    // they belong to delivery now, which sends them late rather than never.
    let open_tasks: std::collections::HashSet<&str> = plan
        .tasks
        .iter()
        .filter(|t| t.closure.is_none())
        .filter_map(|t| task_ids.get(&t.key))
        .map(String::as_str)
        .collect();
    let cancel: Vec<String> = stored
        .into_values()
        .filter(|n| !(n.local_date < today && open_tasks.contains(n.task_id.as_str())))
        .map(|n| n.id)
        .collect();
    if !cancel.is_empty() {
        diff.notifications_cancelled += cancel.len();
        diesel::update(planned_notifications::table.filter(planned_notifications::id.eq_any(&cancel)))
            .set((
                planned_notifications::status.eq(NotificationStatus::Cancelled),
                planned_notifications::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(diff)
}

fn task_row(
    id: String,
    family_id: &str,
    task: &PlannedTask<'_>,
    status: TaskStatus,
    created_at: NaiveDateTime,
    now: NaiveDateTime,
) -> TaskRow {
    TaskRow {
        id,
        family_id: family_id.to_owned(),
        task_key: task.key.clone(),
        procedure_id: task.procedure.id.clone(),
        child_id: task.child_id.clone(),
        municipality_code: task.municipality_code.clone(),
        occurrence: task.occurrence,
        opens_on: task.opens_on,
        closes_on: task.closes_on,
        deadline_on: task.deadline,
        raw_deadline_on: task.raw_deadline,
        reasons: serde_json::to_string(&task.reasons).unwrap_or_else(|_| "[]".into()),
        status: status.as_str().to_owned(),
        status_changed_at: None,
        created_at,
        updated_at: now,
    }
}

fn same_task(a: &TaskRow, b: &TaskRow) -> bool {
    (a.opens_on, a.closes_on, a.deadline_on, a.raw_deadline_on, &a.reasons, &a.status, &a.municipality_code)
        == (b.opens_on, b.closes_on, b.deadline_on, b.raw_deadline_on, &b.reasons, &b.status, &b.municipality_code)
}
