//! タスク: what the family must do, as the planner last planned it, and the reminders planned.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::planning::{NotificationStatus, TaskStatus};
use super::utc;
use crate::db::rows::TaskRow;
use crate::db::schema::{planned_notifications, tasks};
use crate::db::DbConnection;
use crate::domain::catalog::{Channel, DeadlineKind, FilesWith, Names, ProcedureKind};
use crate::domain::overrides::{Office, ResolvedOverride};
use crate::domain::planner::PlanningContext;
use crate::error::Error;
use crate::text_enum;

text_enum! {
    /// Where a task stands today.
    pub enum TaskState {
        /// Its window has not opened yet.
        Upcoming => "upcoming",
        /// Its window is open and the deadline not passed.
        Open => "open",
        /// The deadline (or the window) has passed and it is not done.
        Overdue => "overdue",
        Done => "done",
        Dismissed => "dismissed",
        /// It no longer applies (after a move or a change of facts).
        Cancelled => "cancelled",
    }
}

/// A task with everything the parent needs to act on it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Task {
    pub id: String,
    pub procedure_id: String,
    pub name: Names,
    pub category: String,
    pub kind: ProcedureKind,
    pub child_id: Option<String>,
    /// The municipality the task belongs to.
    pub municipality_code: String,
    pub state: TaskState,
    /// When the window opens.
    pub opens_on: NaiveDate,
    /// When the window ends.
    pub closes_on: NaiveDate,
    /// The deadline, moved off a closed day where the law allows.
    pub deadline: Option<NaiveDate>,
    /// The deadline as the law counts it, before any move off a closed day.
    pub raw_deadline: Option<NaiveDate>,
    pub deadline_kind: Option<DeadlineKind>,
    /// Why the task applies to this family.
    pub reasons: Vec<String>,
    /// Who files.
    pub who: Names,
    /// Where it is filed.
    pub files_with: FilesWith,
    /// The municipality's office for it, when the municipality named one.
    pub office: Option<Office>,
    /// How a filing with the municipality can be made there (online, counter, mail, hospital).
    pub channels: Vec<Channel>,
    /// 根拠法令.
    pub legal_basis: String,
    pub source: String,
    pub note: Option<String>,
    /// When the family marked it done or dismissed (or nonstop cancelled it).
    pub status_changed_at: Option<DateTime<Utc>>,
}

/// How the family closes or reopens a task.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskUpdate {
    pub status: TaskAction,
}

text_enum! {
    /// What the family says about a task.
    pub enum TaskAction {
        /// Done: no more reminders.
        Done => "done",
        /// Does not apply to us: no more reminders.
        Dismissed => "dismissed",
        /// Reopen a task marked done or dismissed by mistake.
        Open => "open",
    }
}

/// A reminder nonstop will send.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlannedNotification {
    pub id: String,
    pub task_id: String,
    pub procedure_id: String,
    /// The day it is meant for (Asia/Tokyo).
    pub local_date: NaiveDate,
    /// When it will be sent: within the family's allowed hours.
    pub send_at: DateTime<Utc>,
}

/// A planned task is overdue once its window has passed, or a deadline someone enforces (the
/// law's, the municipality's); a passed recommended date, or a benefit's date after which a
/// claim is still valid, leaves it open (a vaccine started late is still allowed).
pub fn state(row: &TaskRow, deadline_kind: DeadlineKind, today: NaiveDate) -> Result<TaskState, Error> {
    let enforced = matches!(deadline_kind, DeadlineKind::Legal | DeadlineKind::Municipal);
    let enforced_deadline = row.deadline_on.filter(|_| enforced);
    Ok(match TaskStatus::from_stored(&row.status)? {
        TaskStatus::Done => TaskState::Done,
        TaskStatus::Dismissed => TaskState::Dismissed,
        TaskStatus::Cancelled => TaskState::Cancelled,
        TaskStatus::Planned if today < row.opens_on => TaskState::Upcoming,
        TaskStatus::Planned if today > row.closes_on || enforced_deadline.is_some_and(|d| today > d) => {
            TaskState::Overdue
        }
        TaskStatus::Planned => TaskState::Open,
    })
}

fn view(row: TaskRow, ctx: &PlanningContext, settings: &ResolvedOverride, today: NaiveDate) -> Result<Task, Error> {
    let procedure = ctx
        .catalog
        .get(&row.procedure_id)
        .ok_or_else(|| Error::internal(format!("task of unknown procedure '{}'", row.procedure_id)))?;
    Ok(Task {
        state: state(&row, procedure.deadline_kind, today)?,
        procedure_id: row.procedure_id.clone(),
        name: procedure.name.clone(),
        category: procedure.category.clone(),
        kind: procedure.kind,
        child_id: row.child_id.clone(),
        opens_on: row.opens_on,
        closes_on: row.closes_on,
        deadline: row.deadline_on,
        raw_deadline: row.raw_deadline_on,
        deadline_kind: procedure.deadline.as_ref().map(|_| procedure.deadline_kind),
        reasons: serde_json::from_str(&row.reasons).map_err(|e| Error::unreadable("tasks.reasons", &e))?,
        who: procedure.who.clone(),
        files_with: procedure.files_with,
        office: settings.procedure(&row.procedure_id).and_then(|s| s.office.clone()),
        channels: settings.channels(procedure).to_vec(),
        legal_basis: procedure.legal_basis.clone(),
        source: procedure.source.clone(),
        note: procedure.note.clone(),
        status_changed_at: row.status_changed_at.map(utc),
        municipality_code: row.municipality_code,
        id: row.id,
    })
}

/// The family's tasks, soonest first, optionally only those in one state.
pub fn list(
    conn: &mut DbConnection,
    ctx: &PlanningContext,
    family_id: &str,
    municipality: &str,
    only: Option<TaskState>,
    today: NaiveDate,
) -> Result<Vec<Task>, Error> {
    let settings = super::planning::resolved_settings(conn, ctx, municipality)?;
    let rows: Vec<TaskRow> = tasks::table
        .filter(tasks::family_id.eq(family_id))
        .order((tasks::closes_on.asc(), tasks::opens_on.asc(), tasks::task_key.asc()))
        .select(TaskRow::as_select())
        .load(conn)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let task = view(row, ctx, &settings, today)?;
        if only.is_none_or(|s| s == task.state) {
            out.push(task);
        }
    }
    Ok(out)
}

/// Marks a task done or dismissed, or reopens it. The caller re-plans afterwards, which
/// removes (or restores) its reminders.
pub fn set_status(
    conn: &mut DbConnection,
    family_id: &str,
    task_id: &str,
    action: TaskAction,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let row = find(conn, family_id, task_id)?;
    if row.status == TaskStatus::Cancelled.as_str() {
        return Err(Error::Conflict {
            code: "task_cancelled",
            message: "this task no longer applies to the family".into(),
        });
    }
    let status = match action {
        TaskAction::Done => TaskStatus::Done,
        TaskAction::Dismissed => TaskStatus::Dismissed,
        TaskAction::Open => TaskStatus::Planned,
    };
    diesel::update(tasks::table.find(&row.id))
        .set((tasks::status.eq(status), tasks::status_changed_at.eq(Some(now)), tasks::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

/// One task, for the response after a change.
pub fn get(
    conn: &mut DbConnection,
    ctx: &PlanningContext,
    family_id: &str,
    municipality: &str,
    task_id: &str,
    today: NaiveDate,
) -> Result<Task, Error> {
    let settings = super::planning::resolved_settings(conn, ctx, municipality)?;
    let row = find(conn, family_id, task_id)?;
    view(row, ctx, &settings, today)
}

/// A task of the family, or "not found".
fn find(conn: &mut DbConnection, family_id: &str, task_id: &str) -> Result<TaskRow, Error> {
    tasks::table
        .find(task_id)
        .filter(tasks::family_id.eq(family_id))
        .select(TaskRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(Error::NotFound("task"))
}

/// The reminders nonstop will send, soonest first.
pub fn planned_notifications(conn: &mut DbConnection, family_id: &str) -> Result<Vec<PlannedNotification>, Error> {
    let rows: Vec<(String, String, String, NaiveDate, NaiveDateTime)> = planned_notifications::table
        .inner_join(tasks::table)
        .filter(planned_notifications::family_id.eq(family_id))
        .filter(planned_notifications::status.eq(NotificationStatus::Planned))
        .order((planned_notifications::send_at.asc(), planned_notifications::notification_key.asc()))
        .select((
            planned_notifications::id,
            planned_notifications::task_id,
            tasks::procedure_id,
            planned_notifications::local_date,
            planned_notifications::send_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, task_id, procedure_id, local_date, send_at)| PlannedNotification {
            id,
            task_id,
            procedure_id,
            local_date,
            send_at: utc(send_at),
        })
        .collect())
}
