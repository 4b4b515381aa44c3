//! 再計画の差分: what a new plan changes in a family's stored tasks and reminders, computed
//! without the database, as sets that `planning` then writes a statement per kind of change
//! (a life event re-plans a family in a few statements, not one per task).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{NaiveDate, NaiveDateTime};

use super::planning::{NotificationStatus, PlanDiff, TaskStatus};
use crate::db::rows::{PlannedNotificationRow, TaskRow};
use crate::domain::planner::{Closure, Plan, PlannedTask};
use crate::error::Error;

/// The rows a re-planning writes, by kind of change, and the counts it reports.
#[derive(Debug, Default)]
pub struct PlanChanges {
    /// Tasks planned for the first time.
    pub new_tasks: Vec<TaskRow>,
    /// Stored tasks whose planned values changed (dates, reasons, municipality) or that apply
    /// again after being cancelled: each whole row as it is to be stored.
    pub changed_tasks: Vec<TaskRow>,
    /// Open tasks the plan no longer has, by id (sorted).
    pub cancelled_tasks: Vec<String>,
    /// Reminders planned for the first time.
    pub new_notifications: Vec<PlannedNotificationRow>,
    /// Stored reminders moved to another day, or cancelled ones that apply again: each whole
    /// row as it is to be stored.
    pub changed_notifications: Vec<PlannedNotificationRow>,
    /// Planned reminders no longer planned, by id (sorted).
    pub cancelled_notifications: Vec<String>,
    pub counts: PlanDiff,
}

impl PlanChanges {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.new_tasks.is_empty()
            && self.changed_tasks.is_empty()
            && self.cancelled_tasks.is_empty()
            && self.new_notifications.is_empty()
            && self.changed_notifications.is_empty()
            && self.cancelled_notifications.is_empty()
    }
}

/// What `plan` changes in the family's stored `tasks` and `notifications` (every one of the
/// family's, whatever its status), on `today` at `now`; `new_id` names each new row.
///
/// The rules: a closed task keeps its status, a cancelled one that applies again is planned
/// again, an open one the plan lost is cancelled (closed and cancelled ones stay as they are).
/// A reminder sent is never planned again; a cancelled one that applies again is; one the plan
/// lost is cancelled, except a past-due one of a task still open: it belongs to delivery, which
/// sends it late rather than never.
pub fn plan_changes(
    family_id: &str,
    plan: &Plan<'_>,
    tasks: Vec<TaskRow>,
    notifications: Vec<PlannedNotificationRow>,
    (today, now): (NaiveDate, NaiveDateTime),
    mut new_id: impl FnMut() -> String,
) -> Result<PlanChanges, Error> {
    let mut changes = PlanChanges::default();
    let diff = &mut changes.counts;
    let mut stored: HashMap<String, TaskRow> = tasks.into_iter().map(|t| (t.task_key.clone(), t)).collect();
    let mut task_ids: HashMap<&str, String> = HashMap::with_capacity(plan.tasks.len());
    for task in &plan.tasks {
        let planned_status = match task.closure {
            Some(Closure::Done) => TaskStatus::Done,
            Some(Closure::Dismissed) => TaskStatus::Dismissed,
            None => TaskStatus::Planned,
        };
        match stored.remove(&task.key) {
            None => {
                let row = task_row(new_id(), family_id, task, planned_status, now, now);
                diff.tasks_new += 1;
                task_ids.insert(&task.key, row.id.clone());
                changes.new_tasks.push(row);
            }
            Some(row) => {
                let was = TaskStatus::from_stored(&row.status)?;
                // A closed task keeps its status; a cancelled one that applies again revives.
                let status = if was == TaskStatus::Cancelled { TaskStatus::Planned } else { was };
                let updated = TaskRow {
                    status_changed_at: row.status_changed_at,
                    ..task_row(row.id.clone(), family_id, task, status, row.created_at, now)
                };
                if was == TaskStatus::Cancelled {
                    diff.tasks_new += 1;
                } else if (row.opens_on, row.closes_on, row.deadline_on)
                    != (updated.opens_on, updated.closes_on, updated.deadline_on)
                {
                    diff.tasks_rescheduled += 1;
                }
                task_ids.insert(&task.key, row.id.clone());
                if !same_task(&row, &updated) {
                    changes.changed_tasks.push(updated);
                }
            }
        }
    }
    let mut gone: Vec<String> =
        stored.into_values().filter(|t| t.status == TaskStatus::Planned.as_str()).map(|t| t.id).collect();
    gone.sort();
    diff.tasks_cancelled = gone.len();
    changes.cancelled_tasks = gone;

    let (planned, earlier): (Vec<_>, Vec<_>) =
        notifications.into_iter().partition(|n| n.status == NotificationStatus::Planned.as_str());
    let mut planned: BTreeMap<String, PlannedNotificationRow> =
        planned.into_iter().map(|n| (n.notification_key.clone(), n)).collect();
    let earlier: HashMap<String, PlannedNotificationRow> =
        earlier.into_iter().map(|n| (n.notification_key.clone(), n)).collect();
    for n in &plan.notifications {
        let send_at = n.send_at.naive_utc();
        match planned.remove(&n.key) {
            Some(row) if row.send_at == send_at && row.local_date == n.date => {}
            Some(row) => {
                diff.notifications_rescheduled += 1;
                changes.changed_notifications.push(PlannedNotificationRow {
                    send_at,
                    local_date: n.date,
                    updated_at: now,
                    ..row
                });
            }
            None => {
                let Some(task_id) = task_ids.get(n.task_key.as_str()) else { continue };
                if let Some(row) = earlier.get(&n.key) {
                    // Sent or cancelled before: a reminder is never sent twice, and a cancelled
                    // one that applies again is planned again.
                    if row.status == NotificationStatus::Cancelled.as_str() {
                        diff.notifications_new += 1;
                        changes.changed_notifications.push(PlannedNotificationRow {
                            status: NotificationStatus::Planned.as_str().to_owned(),
                            send_at,
                            local_date: n.date,
                            updated_at: now,
                            ..row.clone()
                        });
                    }
                    continue;
                }
                diff.notifications_new += 1;
                changes.new_notifications.push(PlannedNotificationRow {
                    id: new_id(),
                    family_id: family_id.to_owned(),
                    task_id: task_id.clone(),
                    notification_key: n.key.clone(),
                    reminder_index: n.reminder as i32,
                    local_date: n.date,
                    send_at,
                    status: NotificationStatus::Planned.as_str().to_owned(),
                    created_at: now,
                    updated_at: now,
                });
            }
        }
    }
    // Reminders no longer planned are cancelled, except past-due ones of tasks still planned:
    // they belong to delivery now, which sends them late rather than never.
    let open_tasks: HashSet<&str> = plan
        .tasks
        .iter()
        .filter(|t| t.closure.is_none())
        .filter_map(|t| task_ids.get(t.key.as_str()))
        .map(String::as_str)
        .collect();
    let mut cancel: Vec<String> = planned
        .into_values()
        .filter(|n| !(n.local_date < today && open_tasks.contains(n.task_id.as_str())))
        .map(|n| n.id)
        .collect();
    cancel.sort();
    diff.notifications_cancelled = cancel.len();
    changes.cancelled_notifications = cancel;
    Ok(changes)
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

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::domain::catalog::{Catalog, Procedure};
    use crate::domain::planner::PlannedNotification;

    const FAMILY: &str = "fam";

    fn d(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
    }

    /// 09:00 in Japan on `date` (00:00 UTC), as reminders are sent.
    fn nine(date: &str) -> DateTime<Utc> {
        d(date).and_hms_opt(0, 0, 0).expect("time").and_utc()
    }

    fn today_now() -> (NaiveDate, NaiveDateTime) {
        (d("2026-12-01"), d("2026-12-01").and_hms_opt(3, 0, 0).expect("now"))
    }

    fn earlier() -> NaiveDateTime {
        d("2026-10-01").and_hms_opt(3, 0, 0).expect("earlier")
    }

    /// A task of the plan, open unless `closure`, due on `deadline`.
    fn planned<'a>(procedure: &'a Procedure, key: &str, deadline: &str, closure: Option<Closure>) -> PlannedTask<'a> {
        PlannedTask {
            key: key.to_owned(),
            closure_key: key.to_owned(),
            procedure,
            child_id: Some("child".into()),
            municipality_code: "131016".into(),
            occurrence: 0,
            opens_on: d("2026-11-01"),
            closes_on: d(deadline),
            deadline: Some(d(deadline)),
            raw_deadline: Some(d(deadline)),
            reasons: vec!["妊娠".into()],
            office: None,
            closure,
        }
    }

    /// A stored task as the planner last wrote it, due on `deadline`, with `status`.
    fn stored(id: &str, key: &str, deadline: &str, status: TaskStatus) -> TaskRow {
        TaskRow {
            id: id.to_owned(),
            family_id: FAMILY.into(),
            task_key: key.to_owned(),
            procedure_id: "pregnancy_notification".into(),
            child_id: Some("child".into()),
            municipality_code: "131016".into(),
            occurrence: 0,
            opens_on: d("2026-11-01"),
            closes_on: d(deadline),
            deadline_on: Some(d(deadline)),
            raw_deadline_on: Some(d(deadline)),
            reasons: r#"["妊娠"]"#.into(),
            status: status.as_str().to_owned(),
            status_changed_at: None,
            created_at: earlier(),
            updated_at: earlier(),
        }
    }

    fn reminder(key: &str, task_key: &str, date: &str) -> PlannedNotification {
        PlannedNotification {
            key: key.to_owned(),
            task_key: task_key.to_owned(),
            reminder: 0,
            date: d(date),
            send_at: nine(date),
        }
    }

    fn stored_reminder(
        id: &str,
        key: &str,
        task_id: &str,
        date: &str,
        status: NotificationStatus,
    ) -> PlannedNotificationRow {
        PlannedNotificationRow {
            id: id.to_owned(),
            family_id: FAMILY.into(),
            task_id: task_id.to_owned(),
            notification_key: key.to_owned(),
            reminder_index: 0,
            local_date: d(date),
            send_at: nine(date).naive_utc(),
            status: status.as_str().to_owned(),
            created_at: earlier(),
            updated_at: earlier(),
        }
    }

    fn ids<'a>(rows: impl IntoIterator<Item = &'a String>) -> Vec<&'a str> {
        rows.into_iter().map(String::as_str).collect()
    }

    /// Every rule of re-planning at once: each stored task and reminder meets the new plan,
    /// and lands in exactly one set (or none, when nothing changes for it).
    #[test]
    fn each_stored_row_meets_the_plan_in_one_set() {
        let catalog = Catalog::shipped();
        let procedure = catalog.get("pregnancy_notification").expect("procedure");
        let plan = Plan {
            tasks: vec![
                planned(procedure, "same", "2026-12-20", None),
                planned(procedure, "moved", "2027-01-10", None),
                planned(procedure, "done", "2026-12-20", Some(Closure::Done)),
                planned(procedure, "again", "2026-12-20", None),
                planned(procedure, "fresh", "2027-02-01", None),
            ],
            notifications: vec![
                reminder("fam/same/r0", "same", "2026-12-10"),
                reminder("fam/moved/r0", "moved", "2027-01-05"),
                reminder("fam/same/r1", "same", "2026-12-15"),
                reminder("fam/again/r0", "again", "2026-12-18"),
                reminder("fam/fresh/r0", "fresh", "2027-01-25"),
                reminder("fam/unplanned/r0", "unplanned", "2027-01-25"),
            ],
        };
        let tasks = vec![
            stored("t-same", "same", "2026-12-20", TaskStatus::Planned),
            stored("t-moved", "moved", "2026-12-31", TaskStatus::Planned),
            stored("t-done", "done", "2026-12-20", TaskStatus::Done),
            stored("t-again", "again", "2026-12-20", TaskStatus::Cancelled),
            stored("t-lost", "lost", "2026-12-20", TaskStatus::Planned),
            stored("t-lost-done", "lost-done", "2026-12-20", TaskStatus::Done),
        ];
        let notifications = vec![
            stored_reminder("n-same", "fam/same/r0", "t-same", "2026-12-10", NotificationStatus::Planned),
            stored_reminder("n-moved", "fam/moved/r0", "t-moved", "2026-12-26", NotificationStatus::Planned),
            stored_reminder("n-sent", "fam/same/r1", "t-same", "2026-11-20", NotificationStatus::Sent),
            stored_reminder("n-again", "fam/again/r0", "t-again", "2026-12-18", NotificationStatus::Cancelled),
            stored_reminder("n-lost", "fam/lost/r0", "t-lost", "2026-12-10", NotificationStatus::Planned),
            stored_reminder("n-past-due", "fam/same/r9", "t-same", "2026-11-30", NotificationStatus::Planned),
        ];
        let mut next = 0;
        let changes = plan_changes(FAMILY, &plan, tasks, notifications, today_now(), || {
            next += 1;
            format!("new-{next}")
        })
        .expect("diff");
        let (_, now) = today_now();

        // New: the task never stored, with a new id, open.
        assert_eq!(changes.new_tasks.len(), 1);
        let fresh = &changes.new_tasks[0];
        assert_eq!((fresh.id.as_str(), fresh.task_key.as_str(), fresh.status.as_str()), ("new-1", "fresh", "planned"));
        assert_eq!(
            (fresh.deadline_on, fresh.created_at, fresh.family_id.as_str()),
            (Some(d("2027-02-01")), now, FAMILY)
        );
        // Changed: the task whose deadline moved, and the cancelled one that applies again
        // (planned again); the unchanged and the done one are not written.
        let changed: Vec<(&str, &str, Option<NaiveDate>)> =
            changes.changed_tasks.iter().map(|t| (t.id.as_str(), t.status.as_str(), t.deadline_on)).collect();
        assert_eq!(
            changed,
            vec![("t-moved", "planned", Some(d("2027-01-10"))), ("t-again", "planned", Some(d("2026-12-20")))]
        );
        assert!(changes.changed_tasks.iter().all(|t| t.created_at == earlier() && t.updated_at == now));
        // Cancelled: only the open task the plan lost; the done one it lost stays done.
        assert_eq!(ids(&changes.cancelled_tasks), vec!["t-lost"]);

        // Reminders: the fresh task's is new and points at the fresh task's new id; the one of a
        // task the plan does not have is not planned.
        let new: Vec<(&str, &str, &str)> = changes
            .new_notifications
            .iter()
            .map(|n| (n.id.as_str(), n.notification_key.as_str(), n.task_id.as_str()))
            .collect();
        assert_eq!(new, vec![("new-2", "fam/fresh/r0", "new-1")]);
        assert_eq!(changes.new_notifications[0].send_at, nine("2027-01-25").naive_utc());
        // Changed: the moved one to its new day, the cancelled one planned again; the sent one
        // is never planned again.
        let changed: Vec<(&str, &str, NaiveDate, NaiveDateTime)> = changes
            .changed_notifications
            .iter()
            .map(|n| (n.id.as_str(), n.status.as_str(), n.local_date, n.send_at))
            .collect();
        assert_eq!(
            changed,
            vec![
                ("n-moved", "planned", d("2027-01-05"), nine("2027-01-05").naive_utc()),
                ("n-again", "planned", d("2026-12-18"), nine("2026-12-18").naive_utc()),
            ]
        );
        // Cancelled: the lost task's; the past-due one of an open task is left to delivery.
        assert_eq!(ids(&changes.cancelled_notifications), vec!["n-lost"]);

        assert_eq!(
            changes.counts,
            PlanDiff {
                tasks_new: 2,
                tasks_rescheduled: 1,
                tasks_cancelled: 1,
                notifications_new: 2,
                notifications_rescheduled: 1,
                notifications_cancelled: 1,
            }
        );
    }

    /// Planning what is stored already writes nothing: a re-planning after any write that
    /// changed nothing planned costs only its reads.
    #[test]
    fn the_plan_already_stored_changes_nothing() {
        let catalog = Catalog::shipped();
        let procedure = catalog.get("pregnancy_notification").expect("procedure");
        let plan = Plan {
            tasks: vec![planned(procedure, "same", "2026-12-20", None)],
            notifications: vec![reminder("fam/same/r0", "same", "2026-12-10")],
        };
        let tasks = vec![stored("t-same", "same", "2026-12-20", TaskStatus::Planned)];
        let notifications =
            vec![stored_reminder("n-same", "fam/same/r0", "t-same", "2026-12-10", NotificationStatus::Planned)];
        let changes = plan_changes(FAMILY, &plan, tasks, notifications, today_now(), || unreachable!("no new row"))
            .expect("diff");
        assert!(changes.is_empty(), "{changes:?}");
        assert_eq!(changes.counts, PlanDiff::default());
    }

    /// A family planned for the first time: every task and reminder is new, none is cancelled.
    #[test]
    fn a_first_plan_inserts_everything() {
        let catalog = Catalog::shipped();
        let procedure = catalog.get("pregnancy_notification").expect("procedure");
        let plan = Plan {
            tasks: vec![planned(procedure, "a", "2026-12-20", None), planned(procedure, "b", "2027-01-20", None)],
            notifications: vec![reminder("fam/a/r0", "a", "2026-12-10"), reminder("fam/b/r0", "b", "2027-01-10")],
        };
        let mut next = 0;
        let changes = plan_changes(FAMILY, &plan, Vec::new(), Vec::new(), today_now(), || {
            next += 1;
            format!("id-{next}")
        })
        .expect("diff");
        assert_eq!(ids(changes.new_tasks.iter().map(|t| &t.id)), vec!["id-1", "id-2"]);
        assert_eq!(ids(changes.new_notifications.iter().map(|n| &n.task_id)), vec!["id-1", "id-2"]);
        assert!(changes.changed_tasks.is_empty() && changes.cancelled_tasks.is_empty());
        assert!(changes.changed_notifications.is_empty() && changes.cancelled_notifications.is_empty());
        assert_eq!((changes.counts.tasks_new, changes.counts.notifications_new), (2, 2));
    }
}
