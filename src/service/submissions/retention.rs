//! Records a municipality received outlive the family: kept, marked `family_deleted_at`, when
//! the family is deleted, and removed once the municipality's retention has passed.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{signatures, submission_decision_documents, submission_events, submission_notes, submissions};
use crate::db::DbConnection;
use crate::domain::planner::PlanningContext;
use crate::domain::MunicipalityCode;
use crate::error::Error;
use crate::service::audit;
use crate::service::municipalities;

/// Marks the submissions of a family being deleted: each municipality keeps those it received.
/// Returns, per municipality, how many it keeps.
pub fn keep_for_municipality(
    conn: &mut DbConnection,
    family_id: &str,
    now: NaiveDateTime,
) -> Result<Vec<(String, i64)>, Error> {
    let kept: Vec<(String, i64)> = submissions::table
        .filter(submissions::family_id.eq(family_id))
        .group_by(submissions::municipality_code)
        .select((submissions::municipality_code, diesel::dsl::count_star()))
        .order(submissions::municipality_code)
        .load(conn)?;
    diesel::update(submissions::table.filter(submissions::family_id.eq(family_id)))
        .set(submissions::family_deleted_at.eq(Some(now)))
        .execute(conn)?;
    Ok(kept)
}

/// Removes the kept submissions of deleted families whose retention has ended (counted from
/// the submission, in whole years, per municipality), with their history and signatures.
/// Each municipality's audit trail records how many of its submissions went. Returns how many
/// were removed.
pub fn purge_retained(
    conn: &mut DbConnection,
    ctx: &PlanningContext,
    actor: &audit::Actor,
    now: NaiveDateTime,
) -> Result<usize, Error> {
    let codes: Vec<String> = submissions::table
        .filter(submissions::family_deleted_at.is_not_null())
        .select(submissions::municipality_code)
        .distinct()
        .load(conn)?;
    let mut removed = 0;
    for code in codes {
        let years = match MunicipalityCode::parse(&code) {
            Ok(parsed) => municipalities::get(conn, ctx, &parsed)?.settings.retention_years(),
            Err(_) => crate::domain::overrides::DEFAULT_RETENTION_YEARS,
        };
        let cutoff = now.checked_sub_months(chrono::Months::new(12 * u32::from(years))).unwrap_or(now);
        let expired: Vec<(String, String)> = submissions::table
            .filter(submissions::municipality_code.eq(&code))
            .filter(submissions::family_deleted_at.is_not_null())
            .filter(submissions::submitted_at.lt(cutoff))
            .select((submissions::id, submissions::signature_id))
            .load(conn)?;
        if expired.is_empty() {
            continue;
        }
        let (ids, signature_ids): (Vec<String>, Vec<String>) = expired.into_iter().unzip();
        // The decision documents (処分通知) go first: they name their status events.
        diesel::delete(
            submission_decision_documents::table.filter(submission_decision_documents::submission_id.eq_any(&ids)),
        )
        .execute(conn)?;
        diesel::delete(submission_events::table.filter(submission_events::submission_id.eq_any(&ids))).execute(conn)?;
        diesel::delete(submission_notes::table.filter(submission_notes::submission_id.eq_any(&ids))).execute(conn)?;
        let purged = diesel::delete(submissions::table.filter(submissions::id.eq_any(&ids))).execute(conn)?;
        removed += purged;
        let event = audit::Event::new(audit::AuditAction::SubmissionsPurged, "municipality", code.clone())
            .in_municipality(code.clone())
            .detail(purged.to_string());
        audit::record(conn, actor, event, now)?;
        // A bundle's signature covers several submissions: it goes with the last of them.
        let still_used: Vec<String> = submissions::table
            .filter(submissions::signature_id.eq_any(&signature_ids))
            .select(submissions::signature_id)
            .load(conn)?;
        let unused: Vec<&String> = signature_ids.iter().filter(|id| !still_used.contains(id)).collect();
        diesel::delete(signatures::table.filter(signatures::id.eq_any(unused))).execute(conn)?;
    }
    Ok(removed)
}
