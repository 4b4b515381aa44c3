//! What follows "a family changed" (家族情報の変更), whatever changed it: a vendor's or a
//! parent's write, the family's registration, its municipality's new settings, or a new day.
//! One function, so no path forgets a step.

use super::app_events::{self, Subject};
use super::planning::{self, PlanDiff};
use super::UseCase;
use super::{access, drafts, municipalities, notices};
use crate::db::rows::FamilyRow;
use crate::db::DbConnection;
use crate::domain::overrides::ResolvedOverride;
use crate::error::Error;

/// In the caller's transaction: re-plans the family's tasks and reminders, opens and re-fills
/// the drafts of tasks whose window opened, and delivers the municipality's standing notices
/// the family has not had (it moved in, or was just registered). A family that no longer
/// exists (it was just deleted) needs nothing.
pub fn family_changed(conn: &mut DbConnection, uc: &UseCase, family_id: &str) -> Result<PlanDiff, Error> {
    let family = match access::family_row(conn, family_id) {
        Ok(family) => family,
        Err(Error::NotFound(_)) => return Ok(PlanDiff::default()),
        Err(other) => return Err(other),
    };
    let settings = planning::resolved_settings(conn, &uc.planning, &family.municipality_code)?;
    let name = municipalities::display_name(conn, &uc.planning, &family.municipality_code)?;
    family_changed_under(conn, uc, &family, &settings, &name)
}

/// The same for a family read already, under its municipality's settings and name read
/// already (a municipality's residents, one after another, read them once).
pub fn family_changed_under(
    conn: &mut DbConnection,
    uc: &UseCase,
    family: &FamilyRow,
    settings: &ResolvedOverride,
    municipality_name: &str,
) -> Result<PlanDiff, Error> {
    let diff = planning::replan_with(conn, &uc.keys, &uc.planning, settings, family, uc.today, uc.now)?;
    if diff.tasks_new + diff.tasks_rescheduled + diff.tasks_cancelled > 0 {
        app_events::record(conn, &[(&family.id, Subject::Tasks)], uc.now)?;
    }
    drafts::sync(conn, &uc.keys, &uc.planning, family, uc.today, uc.now)?;
    notices::deliver_standing(conn, &uc.templates, family, municipality_name, uc.today, uc.now)?;
    Ok(diff)
}
