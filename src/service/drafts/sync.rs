//! Keeping drafts in step with the family: a draft opens when its task's window opens, and every
//! change to the profile re-fills the open drafts (never what the parent typed).

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::edit::save_content;
use super::prefill::{prefill, FamilyProfile};
use super::{form_of, insert, open_content, Content, DraftStatus, NewDraft};
use crate::crypto::KeyRing;
use crate::db::rows::{DraftRow, FamilyRow, TaskRow};
use crate::db::schema::{drafts, tasks};
use crate::db::DbConnection;
use crate::domain::forms::BIRTH_BUNDLE;
use crate::domain::planner::PlanningContext;
use crate::error::Error;
use crate::service::planning::TaskStatus;

/// Keeps the family's drafts in step with its tasks and profile: a draft for each task whose
/// window has opened and whose procedure has a form; open drafts re-filled from the profile
/// (what the parent typed stays); drafts of tasks that no longer apply withdrawn.
pub fn sync(
    conn: &mut DbConnection,
    keys: &KeyRing,
    ctx: &PlanningContext,
    family: &FamilyRow,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let form_ids: Vec<&str> = ctx.forms.ids().collect();
    let open_tasks: Vec<TaskRow> = tasks::table
        .filter(tasks::family_id.eq(&family.id))
        .filter(tasks::status.eq(TaskStatus::Planned))
        .filter(tasks::opens_on.le(today))
        .filter(tasks::procedure_id.eq_any(&form_ids))
        .filter(tasks::municipality_code.eq(&family.municipality_code))
        .select(TaskRow::as_select())
        .load(conn)?;
    let existing: Vec<DraftRow> =
        drafts::table.filter(drafts::family_id.eq(&family.id)).select(DraftRow::as_select()).load(conn)?;
    // Withdraw open drafts whose task is no longer open (cancelled after a move, dismissed, or
    // marked done by the parent who filed on paper). Correction drafts stay.
    for draft in existing.iter().filter(|d| d.status == DraftStatus::Open.as_str() && d.draft_key.starts_with("task:"))
    {
        if !open_tasks.iter().any(|t| Some(&t.id) == draft.task_id.as_ref()) {
            diesel::update(drafts::table.find(&draft.id))
                .set((drafts::status.eq(DraftStatus::Withdrawn), drafts::updated_at.eq(now)))
                .execute(conn)?;
        }
    }
    let missing: Vec<&TaskRow> =
        open_tasks.iter().filter(|t| !existing.iter().any(|d| d.draft_key == format!("task:{}", t.id))).collect();
    let refresh: Vec<&DraftRow> = existing.iter().filter(|d| d.status == DraftStatus::Open.as_str()).collect();
    if missing.is_empty() && refresh.is_empty() {
        return Ok(());
    }
    let profile = FamilyProfile::load(conn, keys, ctx, family)?;
    for task in missing {
        let form = form_of(ctx, &task.procedure_id)?;
        let values = profile.values(task.child_id.as_deref());
        let mut content = Content::default();
        prefill(form, &values, &mut content, today);
        let bundle_id = match (&task.child_id, BIRTH_BUNDLE.contains(&form.id.as_str())) {
            (Some(child), true) => Some(crate::service::bundles::ensure_birth_bundle(conn, &family.id, child, now)?),
            _ => None,
        };
        insert(
            conn,
            keys,
            NewDraft {
                family_id: &family.id,
                key: format!("task:{}", task.id),
                form,
                task_id: Some(&task.id),
                child_id: task.child_id.as_deref(),
                bundle_id,
                corrects: None,
                content: &content,
            },
            now,
        )?;
    }
    for draft in refresh {
        let form = form_of(ctx, &draft.form_id)?;
        let values = profile.values(draft.child_id.as_deref());
        let mut content = open_content(keys, draft)?;
        if prefill(form, &values, &mut content, today) {
            save_content(conn, keys, &draft.id, &content, now)?;
        }
    }
    Ok(())
}

/// Families with a task whose window opened in the last `days` days and whose procedure has
/// a form: the daily job gives them their drafts (a window opens by the calendar too, not
/// only at a family write).
pub fn families_with_opened_windows(
    conn: &mut DbConnection,
    ctx: &PlanningContext,
    today: NaiveDate,
    days: i64,
) -> Result<Vec<String>, Error> {
    let form_ids: Vec<&str> = ctx.forms.ids().collect();
    Ok(tasks::table
        .filter(tasks::status.eq(TaskStatus::Planned))
        .filter(tasks::opens_on.le(today))
        .filter(tasks::opens_on.gt(today - chrono::Duration::days(days)))
        .filter(tasks::procedure_id.eq_any(&form_ids))
        .select(tasks::family_id)
        .distinct()
        .load(conn)?)
}
