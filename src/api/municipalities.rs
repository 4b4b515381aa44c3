//! `/v1/municipalities/{code}/settings` and `/v1/procedures`: the catalog, and what each
//! municipality does differently.

use actix_web::{get, put, web, HttpResponse};

use super::extract::{Caller, ValidJson};
use crate::app::AppState;
use crate::domain::catalog::Procedure;
use crate::domain::overrides::MunicipalityOverride;
use crate::domain::MunicipalityCode;
use crate::error::Error;
use crate::service::municipalities::{self, MunicipalitySettings, SettingsReplaced};
use crate::service::principals::Principal;

fn code(path: String) -> Result<MunicipalityCode, Error> {
    MunicipalityCode::parse(&path).map_err(|_| Error::NotFound("municipality"))
}

/// The procedure catalog nonstop plans from (any caller).
///
/// Bounded, so not paged: the catalog nonstop was built with (`catalog/procedures.toml`).
#[utoipa::path(tag = "procedures", operation_id = "list_procedures",
    responses((status = 200, description = "Every procedure with its rules and legal basis", body = Vec<Procedure>)))]
#[get("/procedures")]
pub async fn list_procedures(state: web::Data<AppState>, _principal: Principal) -> HttpResponse {
    HttpResponse::Ok().json(&state.planning.catalog.procedures)
}

/// Read the municipality's settings (its staff only).
#[utoipa::path(tag = "municipalities", operation_id = "get_municipality_settings", params(("code" = String, Path)),
    responses((status = 200, description = "The settings in force", body = MunicipalitySettings)))]
#[get("/municipalities/{code}/settings")]
pub async fn get_municipality_settings(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let code = code(path.into_inner())?;
    municipalities::staff_of(&principal, &code)?;
    let planning = state.planning.clone();
    let settings = state.db.read(move |conn| municipalities::get(conn, &planning, &code)).await?;
    Ok(HttpResponse::Ok().json(settings))
}

/// Replace the municipality's settings (its staff only): checkup ages, deadlines, extra closed
/// days, offices. Every resident family is re-planned; a refused document changes nothing.
#[utoipa::path(tag = "municipalities", operation_id = "update_municipality_settings", params(("code" = String, Path)),
    request_body = MunicipalityOverride,
    responses((status = 200, description = "Stored and applied", body = SettingsReplaced)))]
#[put("/municipalities/{code}/settings")]
pub async fn update_municipality_settings(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: ValidJson<MunicipalityOverride>,
) -> Result<HttpResponse, Error> {
    let code = code(path.into_inner())?;
    let staff_id = municipalities::staff_of(&caller.principal, &code)?.to_owned();
    let replaced = state.replace_settings(caller.actor, code, staff_id, move |_| body.0).await?;
    Ok(HttpResponse::Ok().json(replaced))
}
