//! `/v1/families/{family_id}/guardians`: 保護者.

use actix_web::{delete, patch, post, web, HttpResponse};

use super::extract::ValidJson;
use crate::app::AppState;
use crate::error::Error;
use crate::service::guardians::{self, Guardian, GuardianInput, GuardianPatch};
use crate::service::principals::Principal;

/// Add a guardian.
#[utoipa::path(tag = "guardians", operation_id = "create_guardian", params(("family_id" = String, Path)), request_body = GuardianInput,
    responses((status = 201, description = "Added", body = Guardian),
        (status = 409, description = "`too_many_guardians`: the family already has 4", body = crate::error::ErrorBody)))]
#[post("/families/{family_id}/guardians")]
pub async fn create_guardian(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    body: ValidJson<GuardianInput>,
) -> Result<HttpResponse, Error> {
    let (today, now) = (state.clock.today(), state.clock.now());
    let guardian = state
        .write_family(principal, path.into_inner(), move |conn, uc, family| {
            let valid = guardians::prepare(body.0, today, "").map_err(Error::Validation)?;
            guardians::insert(conn, &uc.keys, &family.id, valid, now)
        })
        .await?;
    Ok(HttpResponse::Created().json(guardian))
}

/// Correct a guardian; a field left out keeps its value, `null` clears it.
#[utoipa::path(tag = "guardians", operation_id = "update_guardian",
    params(("family_id" = String, Path), ("guardian_id" = String, Path)), request_body = GuardianPatch,
    responses((status = 200, description = "The guardian as now stored", body = Guardian)))]
#[patch("/families/{family_id}/guardians/{guardian_id}")]
pub async fn update_guardian(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
    body: ValidJson<GuardianPatch>,
) -> Result<HttpResponse, Error> {
    let (family_id, guardian_id) = path.into_inner();
    let guardian = state
        .write_family(principal, family_id, move |conn, uc, family| {
            guardians::update(conn, uc, &family.id, &guardian_id, body.0)
        })
        .await?;
    Ok(HttpResponse::Ok().json(guardian))
}

/// Remove a guardian.
#[utoipa::path(tag = "guardians", operation_id = "delete_guardian",
    params(("family_id" = String, Path), ("guardian_id" = String, Path)),
    responses((status = 204, description = "Removed")))]
#[delete("/families/{family_id}/guardians/{guardian_id}")]
pub async fn delete_guardian(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (family_id, guardian_id) = path.into_inner();
    state
        .write_family(principal, family_id, move |conn, _, family| guardians::delete(conn, &family.id, &guardian_id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
