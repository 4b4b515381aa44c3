//! `/v1/families/{family_id}/children/{child_id}/vaccinations`: 接種記録, the doses a child was
//! given. Each closes its task and plans the next dose of the series.

use actix_web::{delete, get, post, web, HttpResponse};

use super::extract::ValidJson;
use crate::app::AppState;
use crate::error::Error;
use crate::service::principals::Principal;
use crate::service::vaccinations::{self, Vaccination, VaccinationInput};

/// Record a dose given: its task is done, and the next dose of the series is planned from its
/// date at the minimum interval the law sets (see `GET …/tasks`).
#[utoipa::path(tag = "children", operation_id = "record_vaccination",
    params(("family_id" = String, Path), ("child_id" = String, Path)), request_body = VaccinationInput,
    responses(
        (status = 201, description = "Recorded; the family's tasks are re-planned", body = Vaccination),
        (status = 409, description = "`child_not_born`, or `dose_already_recorded` (delete that record to correct it)", body = crate::error::ErrorBody),
        (status = 422, description = "`procedure_id` is not a child's vaccination, or `given_on` is in the future, before the birth or before the minimum interval", body = crate::error::ErrorBody),
    ))]
#[post("/families/{family_id}/children/{child_id}/vaccinations")]
pub async fn record_vaccination(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
    body: ValidJson<VaccinationInput>,
) -> Result<HttpResponse, Error> {
    let (family_id, child_id) = path.into_inner();
    let recorded = state
        .write_family(principal, family_id, move |conn, uc, family| {
            vaccinations::record(conn, uc, &family.id, &child_id, body.0)
        })
        .await?;
    Ok(HttpResponse::Created().json(recorded))
}

/// The doses recorded for the child, oldest first.
///
/// Bounded, so not paged: one record per dose, and a dose is one of the catalog's routine
/// vaccinations of a child (`kind = vaccination`).
#[utoipa::path(tag = "children", operation_id = "list_vaccinations",
    params(("family_id" = String, Path), ("child_id" = String, Path)),
    responses((status = 200, description = "The doses", body = Vec<Vaccination>)))]
#[get("/families/{family_id}/children/{child_id}/vaccinations")]
pub async fn list_vaccinations(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (family_id, child_id) = path.into_inner();
    let list = state
        .read_family(principal, family_id, move |conn, _, family| vaccinations::list(conn, &family.id, &child_id))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Remove a dose recorded by mistake: its task opens again, and the doses planned from it go.
#[utoipa::path(tag = "children", operation_id = "delete_vaccination",
    params(("family_id" = String, Path), ("child_id" = String, Path), ("vaccination_id" = String, Path)),
    responses((status = 204, description = "Removed")))]
#[delete("/families/{family_id}/children/{child_id}/vaccinations/{vaccination_id}")]
pub async fn delete_vaccination(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, Error> {
    let (family_id, child_id, id) = path.into_inner();
    state
        .write_family(principal, family_id, move |conn, uc, family| {
            vaccinations::delete(conn, uc, &family.id, &child_id, &id)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
