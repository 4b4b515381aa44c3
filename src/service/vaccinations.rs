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
use crate::domain::enums::{ChildStatus, VaccineProduct};
use crate::domain::series::{Dose, NextDose, Series};
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
    /// The product, where the vaccine's products differ (ロタウイルス), when recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<VaccineProduct>,
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
    /// The product (ロタウイルス only: `rotarix`, 2 doses by 出生24週0日後; `rotateq`, 3 doses by
    /// 32週0日後), the same for every dose of the series. With it, nonstop plans the 3rd dose of
    /// `rotateq` (none for `rotarix`) and ends the 2nd dose's window by the product; without it,
    /// the 2nd dose's window ends at 24週0日 and the 3rd is planned, its reminder saying that it
    /// is needed for `rotateq` only.
    #[serde(default)]
    pub product: Option<VaccineProduct>,
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
    product: Option<String>,
}

impl TryFrom<VaccinationRow> for Vaccination {
    type Error = Error;

    fn try_from(row: VaccinationRow) -> Result<Self, Error> {
        Ok(Self {
            id: row.id,
            child_id: row.child_id,
            procedure_id: row.procedure_id,
            given_on: row.given_on,
            product: row.product.as_deref().map(VaccineProduct::from_stored).transpose()?,
            recorded_at: utc(row.created_at),
        })
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
    let doses = recorded_doses(conn, child_id)?;
    let series = Series::new(&uc.planning.catalog, &doses, birth, &uc.planning.calendar, &[]);
    if let Some(product) = input.product {
        if !procedure.products.contains(&product) {
            return Err(invalid("product", "is not a product of this vaccination (only rotavirus doses take one)"));
        }
        if series.product(procedure).is_some_and(|recorded| recorded != product) {
            return Err(invalid(
                "product",
                "differs from the product recorded for this series: a series keeps one product throughout",
            ));
        }
    }
    // The interval after the dose before (not the wait the plan adds after a dose passed over:
    // a dose the clinic gave instead of it is a fact to record).
    let earliest =
        series.next(procedure).map(|next| series.window(procedure, &NextDose { not_before: None, ..next }).opens);
    if let Some(earliest) = earliest {
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
        product: input.product.map(|p| p.as_str().to_owned()),
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
    row.try_into()
}

/// The child's recorded doses, oldest first.
pub fn list(conn: &mut DbConnection, family_id: &str, child_id: &str) -> Result<Vec<Vaccination>, Error> {
    children::find(conn, family_id, child_id)?;
    vaccinations::table
        .filter(vaccinations::child_id.eq(child_id))
        .order((vaccinations::given_on.asc(), vaccinations::id.asc()))
        .select(VaccinationRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Vaccination::try_from)
        .collect()
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

/// The child's recorded doses, as the series reads them.
fn recorded_doses(conn: &mut DbConnection, child_id: &str) -> Result<Vec<Dose>, Error> {
    let rows: Vec<(String, NaiveDate, Option<String>)> = vaccinations::table
        .filter(vaccinations::child_id.eq(child_id))
        .select((vaccinations::procedure_id, vaccinations::given_on, vaccinations::product))
        .load(conn)?;
    rows.into_iter()
        .map(|(procedure, given_on, product)| {
            Ok(Dose { procedure, given_on, product: product.as_deref().map(VaccineProduct::from_stored).transpose()? })
        })
        .collect()
}

fn invalid(field: &str, problem: &str) -> Error {
    Error::Validation(FieldErrors::from([(field.to_owned(), problem.to_owned())]))
}
