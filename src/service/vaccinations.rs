//! 接種記録: the doses of routine vaccinations a parent records for a child. A recorded dose
//! closes its task, and the planner plans the next dose of the series from its date, at the
//! interval the law sets (the catalog's `dose` procedures).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::planning::TaskStatus;
use super::{children, new_id, utc, UseCase};
use crate::db::schema::{tasks, vaccinations};
use crate::db::DbConnection;
use crate::domain::catalog::{Procedure, ProcedureKind, Subject, Trigger};
use crate::domain::enums::ChildStatus;
use crate::error::{Error, FieldErrors};

/// A dose given.
#[derive(Debug, Serialize, ToSchema)]
pub struct Vaccination {
    pub id: String,
    pub child_id: String,
    /// The catalog's procedure for this dose (`vaccine_5in1`, `vaccine_5in1_second`, …).
    pub procedure_id: String,
    /// 接種日.
    pub given_on: NaiveDate,
    pub recorded_at: DateTime<Utc>,
}

/// A dose to record.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VaccinationInput {
    /// The catalog's procedure for this dose: a child's vaccination (`GET /v1/catalog/procedures`,
    /// kind `vaccination`), e.g. `vaccine_5in1` for the first five-in-one dose.
    #[schema(example = "vaccine_5in1", min_length = 1, max_length = 64)]
    pub procedure_id: String,
    /// 接種日: not in the future, not before the birth, and not before the minimum interval
    /// after the dose before it, when that one is recorded.
    pub given_on: NaiveDate,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = vaccinations)]
struct VaccinationRow {
    id: String,
    family_id: String,
    child_id: String,
    procedure_id: String,
    given_on: NaiveDate,
    created_at: NaiveDateTime,
}

impl From<VaccinationRow> for Vaccination {
    fn from(row: VaccinationRow) -> Self {
        Self {
            id: row.id,
            child_id: row.child_id,
            procedure_id: row.procedure_id,
            given_on: row.given_on,
            recorded_at: utc(row.created_at),
        }
    }
}

/// Records a dose; the caller re-plans the family, which closes the dose's task and plans the
/// next one.
pub fn record(
    conn: &mut DbConnection,
    uc: &UseCase,
    family_id: &str,
    child_id: &str,
    input: VaccinationInput,
) -> Result<Vaccination, Error> {
    let child = children::find(conn, family_id, child_id)?;
    if ChildStatus::from_stored(&child.status)? != ChildStatus::Born {
        return Err(Error::Conflict {
            code: "child_not_born",
            message: "a dose is recorded for a born child; record the birth first".into(),
        });
    }
    let procedure = child_vaccination(uc, &input.procedure_id).ok_or_else(|| {
        invalid("procedure_id", "is not a child's vaccination in the catalog (GET /v1/catalog/procedures)")
    })?;
    let birth = child.birth_date.unwrap_or(input.given_on);
    if input.given_on > uc.today {
        return Err(invalid("given_on", "is in the future"));
    }
    if input.given_on < birth {
        return Err(invalid("given_on", "is before the child's birth"));
    }
    if let Some(earliest) = earliest_after_dose_before(conn, uc, child_id, procedure, birth)? {
        if input.given_on < earliest {
            return Err(invalid(
                "given_on",
                &format!(
                    "is earlier than the minimum interval after the dose before allows ({earliest}); a dose given too soon does not count as a routine dose: ask the clinic"
                ),
            ));
        }
    }
    let row = VaccinationRow {
        id: new_id(),
        family_id: family_id.to_owned(),
        child_id: child_id.to_owned(),
        procedure_id: procedure.id.clone(),
        given_on: input.given_on,
        created_at: uc.now,
    };
    // One record per dose; the unique index refuses a concurrent second one as well.
    let recorded: i64 = vaccinations::table
        .filter(vaccinations::child_id.eq(child_id))
        .filter(vaccinations::procedure_id.eq(&procedure.id))
        .count()
        .get_result(conn)?;
    if recorded > 0 {
        return Err(Error::Conflict {
            code: "dose_already_recorded",
            message: format!("{} is already recorded for this child; delete that record to correct it", procedure.id),
        });
    }
    diesel::insert_into(vaccinations::table).values(&row).execute(conn)?;
    set_task_status(conn, family_id, child_id, &procedure.id, TaskStatus::Planned, TaskStatus::Done, uc.now)?;
    Ok(row.into())
}

/// The child's recorded doses, oldest first.
pub fn list(conn: &mut DbConnection, family_id: &str, child_id: &str) -> Result<Vec<Vaccination>, Error> {
    children::find(conn, family_id, child_id)?;
    Ok(vaccinations::table
        .filter(vaccinations::child_id.eq(child_id))
        .order((vaccinations::given_on.asc(), vaccinations::id.asc()))
        .select(VaccinationRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Vaccination::from)
        .collect())
}

/// Removes a dose recorded by mistake and reopens its task; the caller re-plans, which drops
/// the doses planned from it.
pub fn delete(conn: &mut DbConnection, uc: &UseCase, family_id: &str, child_id: &str, id: &str) -> Result<(), Error> {
    let procedure_id: String = vaccinations::table
        .find(id)
        .filter(vaccinations::family_id.eq(family_id))
        .filter(vaccinations::child_id.eq(child_id))
        .select(vaccinations::procedure_id)
        .first(conn)
        .optional()?
        .ok_or(Error::NotFound("vaccination"))?;
    diesel::delete(vaccinations::table.find(id)).execute(conn)?;
    set_task_status(conn, family_id, child_id, &procedure_id, TaskStatus::Done, TaskStatus::Planned, uc.now)
}

/// Moves the dose's task from one status to another (a planned task the dose closes, a closed
/// one its removal reopens). A task not yet planned is closed by the planner itself.
fn set_task_status(
    conn: &mut DbConnection,
    family_id: &str,
    child_id: &str,
    procedure_id: &str,
    from: TaskStatus,
    to: TaskStatus,
    now: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(
        tasks::table
            .filter(tasks::family_id.eq(family_id))
            .filter(tasks::child_id.eq(child_id))
            .filter(tasks::procedure_id.eq(procedure_id))
            .filter(tasks::status.eq(from)),
    )
    .set((tasks::status.eq(to), tasks::status_changed_at.eq(Some(now)), tasks::updated_at.eq(now)))
    .execute(conn)?;
    Ok(())
}

/// A vaccination of the child (not the mother's, counted from a due date) in the catalog.
fn child_vaccination<'a>(uc: &'a UseCase, id: &str) -> Option<&'a Procedure> {
    uc.planning.catalog.get(id).filter(|p| {
        p.kind == ProcedureKind::Vaccination
            && p.subject == Subject::Child
            && matches!(p.trigger, Trigger::Birth | Trigger::Dose)
    })
}

/// The first day the dose may be given after the dose it follows, when that one is recorded.
fn earliest_after_dose_before(
    conn: &mut DbConnection,
    uc: &UseCase,
    child_id: &str,
    procedure: &Procedure,
    birth: NaiveDate,
) -> Result<Option<NaiveDate>, Error> {
    let Some(follows) = &procedure.follows else { return Ok(None) };
    let before: Option<NaiveDate> = vaccinations::table
        .filter(vaccinations::child_id.eq(child_id))
        .filter(vaccinations::procedure_id.eq(follows))
        .select(vaccinations::given_on)
        .first(conn)
        .optional()?;
    let calendar = &uc.planning.calendar;
    Ok(before.map(|given| {
        let interval = procedure.opens.date(given, calendar, &[]);
        let age = procedure.not_before.as_ref().map_or(NaiveDate::MIN, |rule| rule.date(birth, calendar, &[]));
        interval.max(age)
    }))
}

fn invalid(field: &str, problem: &str) -> Error {
    Error::Validation(FieldErrors::from([(field.to_owned(), problem.to_owned())]))
}
