//! Who a notice reaches: the conditions, and the resident families that meet them, read a
//! batch at a time.

use std::collections::HashSet;

use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::rows::{ChildRow, FamilyRow};
use crate::db::schema::{children, tasks};
use crate::db::DbConnection;
use crate::domain::enums::{ChildStatus, HealthInsurance};
use crate::domain::{periods, MunicipalityCode};
use crate::error::{Error, FieldCheck};
use crate::service::planning::TaskStatus;

/// Families read per query while resolving an audience: memory stays bounded.
const BATCH: i64 = 1_000;

/// Who a notice is for: every condition given must hold (none: every resident family).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Audience {
    /// A child whose age in completed months lies in this range (inclusive).
    pub child_age_months: Option<MonthRange>,
    /// A child born in this range of dates (inclusive).
    pub child_born_between: Option<DateRange>,
    /// An expected child due in this range (inclusive).
    pub due_between: Option<DateRange>,
    /// A task of this procedure still open (e.g. `checkup_18_months`).
    pub open_procedure: Option<String>,
    pub health_insurance: Option<HealthInsurance>,
    pub single_parent: Option<bool>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonthRange {
    #[schema(minimum = 0, maximum = 276)]
    pub min: i64,
    /// At least `min`.
    #[schema(minimum = 0, maximum = 276)]
    pub max: i64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DateRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

pub(super) fn matches(
    audience: &Audience,
    family: &FamilyRow,
    kids: &[ChildRow],
    open: &HashSet<String>,
    today: NaiveDate,
) -> bool {
    let born: Vec<NaiveDate> =
        kids.iter().filter(|c| c.status == ChildStatus::Born.as_str()).filter_map(|c| c.birth_date).collect();
    let due: Vec<NaiveDate> =
        kids.iter().filter(|c| c.status == ChildStatus::Expected.as_str()).filter_map(|c| c.due_date).collect();
    audience
        .child_age_months
        .is_none_or(|r| born.iter().any(|b| (r.min..=r.max).contains(&periods::age_in_months(*b, today))))
        && audience.child_born_between.is_none_or(|r| born.iter().any(|b| (r.from..=r.to).contains(b)))
        && audience.due_between.is_none_or(|r| due.iter().any(|d| (r.from..=r.to).contains(d)))
        && (audience.open_procedure.is_none() || open.contains(&family.id))
        && audience.health_insurance.is_none_or(|h| family.health_insurance.as_deref() == Some(h.as_str()))
        && audience.single_parent.is_none_or(|s| family.single_parent == s)
}

/// Streams the resident families matching the audience to `each`, a batch at a time.
pub(super) fn for_each_recipient(
    conn: &mut DbConnection,
    code: &str,
    audience: &Audience,
    today: NaiveDate,
    mut each: impl FnMut(&mut DbConnection, &FamilyRow) -> Result<(), Error>,
) -> Result<i64, Error> {
    let mut after = String::new();
    let mut count = 0;
    loop {
        let page = recipients_after(conn, code, audience, today, &after, BATCH)?;
        for family in &page.families {
            count += 1;
            each(conn, family)?;
        }
        match page.last_read {
            Some(last) if page.read == BATCH as usize => after = last,
            _ => return Ok(count),
        }
    }
}

/// One page of an audience: of the `limit` resident families that follow `after` in id order,
/// those the audience reaches.
pub(super) struct RecipientPage {
    pub families: Vec<FamilyRow>,
    /// How many families were read (fewer than asked: the municipality's last page).
    pub read: usize,
    /// The id of the last family read, where the next page starts.
    pub last_read: Option<String>,
}

pub(super) fn recipients_after(
    conn: &mut DbConnection,
    code: &str,
    audience: &Audience,
    today: NaiveDate,
    after: &str,
    limit: i64,
) -> Result<RecipientPage, Error> {
    let batch = crate::service::batches::residents_after(conn, code, after, limit)?;
    let ids: Vec<&str> = batch.iter().map(|f| f.id.as_str()).collect();
    let kids: Vec<ChildRow> =
        children::table.filter(children::family_id.eq_any(&ids)).select(ChildRow::as_select()).load(conn)?;
    let open = with_open_procedure(conn, audience, &ids)?;
    let (read, last_read) = (batch.len(), batch.last().map(|f| f.id.clone()));
    let families = batch
        .into_iter()
        .filter(|family| {
            let own: Vec<ChildRow> = kids.iter().filter(|c| c.family_id == family.id).cloned().collect();
            matches(audience, family, &own, &open, today)
        })
        .collect();
    Ok(RecipientPage { families, read, last_read })
}

impl Audience {
    /// Refuses ranges that select nothing or lie beyond what nonstop holds; fields are named
    /// under `prefix` (`audience.` inside a notice).
    pub fn check(&self, check: &mut FieldCheck, prefix: &str) {
        if let Some(r) = self.child_age_months {
            if r.min < 0 || r.max < r.min || r.max > 12 * 23 {
                check.fail(&format!("{prefix}child_age_months"), "needs 0 <= min <= max <= 276");
            }
        }
        for (field, range) in [("child_born_between", self.child_born_between), ("due_between", self.due_between)] {
            if range.is_some_and(|r| r.to < r.from) {
                check.fail(&format!("{prefix}{field}"), "`to` must not be before `from`");
            }
        }
    }
}

/// How many resident families the audience reaches (never who).
pub fn audience_size(
    conn: &mut DbConnection,
    code: &MunicipalityCode,
    audience: &Audience,
    today: NaiveDate,
) -> Result<i64, Error> {
    let mut check = FieldCheck::default();
    audience.check(&mut check, "");
    check.finish()?;
    for_each_recipient(conn, code.as_str(), audience, today, |_, _| Ok(()))
}

pub(super) fn family_matches(
    conn: &mut DbConnection,
    audience: &Audience,
    family: &FamilyRow,
    today: NaiveDate,
) -> Result<bool, Error> {
    let kids: Vec<ChildRow> =
        children::table.filter(children::family_id.eq(&family.id)).select(ChildRow::as_select()).load(conn)?;
    let open = with_open_procedure(conn, audience, &[family.id.as_str()])?;
    Ok(matches(audience, family, &kids, &open, today))
}

/// The families among `ids` with a task of the audience's `open_procedure` still to do (none
/// when the audience names no procedure).
fn with_open_procedure(conn: &mut DbConnection, audience: &Audience, ids: &[&str]) -> Result<HashSet<String>, Error> {
    let Some(procedure) = &audience.open_procedure else { return Ok(HashSet::new()) };
    Ok(tasks::table
        .filter(tasks::family_id.eq_any(ids))
        .filter(tasks::procedure_id.eq(procedure))
        .filter(tasks::status.eq(TaskStatus::Planned))
        .select(tasks::family_id)
        .load::<String>(conn)?
        .into_iter()
        .collect())
}
