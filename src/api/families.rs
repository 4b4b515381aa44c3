//! `/v1/families`: register, read, correct and delete families.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::etag::IfMatch;
use super::extract::{Caller, JsonWithRuleProblems};
use crate::app::AppState;
use crate::error::Error;
use crate::service::access;
use crate::service::families::{self, Family, FamilyInput, FamilyPage, FamilyPatch};
use crate::service::family_changed::family_changed;
use crate::service::principals::Principal;

/// Register a family (vendor app).
///
/// Guardians and children may be given at once; every field of every part is checked before
/// anything is stored.
#[utoipa::path(tag = "families", operation_id = "create_family", request_body = FamilyInput,
    responses((status = 201, description = "Registered", body = Family)))]
#[post("/families")]
pub async fn create_family(
    state: web::Data<AppState>,
    principal: Principal,
    body: JsonWithRuleProblems<FamilyInput>,
) -> Result<HttpResponse, Error> {
    let app_id = access::vendor_app(&principal)?.to_owned();
    let uc = state.use_case();
    let family = state
        .db
        .write(move |conn| {
            let family =
                families::create_naming_all(conn, &uc.keys, &app_id, body.value, body.rule_problems, uc.today, uc.now)?;
            family_changed(conn, &uc, &family.id)?;
            Ok(family)
        })
        .await?;
    Ok(HttpResponse::Created().json(family))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// How many families per page (1–100, default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Deprecated: the same as `cursor` (the `next_after` of the previous page).
    after: Option<String>,
}

/// List the app's families (vendor app), oldest first.
#[utoipa::path(tag = "families", operation_id = "list_families", params(PageQuery),
    responses((status = 200, description = "A page of families", body = FamilyPage)))]
#[get("/families")]
pub async fn list_families(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Error> {
    let app_id = access::vendor_app(&principal)?.to_owned();
    let query = query.into_inner();
    let limit = super::page_limit(query.limit, 50)?;
    let keys = state.keys.clone();
    let page = state
        .db
        .read(move |conn| families::list(conn, &keys, &app_id, limit, query.cursor.or(query.after).as_deref()))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Read a family with its guardians, children and devices.
#[utoipa::path(tag = "families", operation_id = "get_family", params(("family_id" = String, Path)),
    responses((status = 200, description = "The family", body = Family)))]
#[get("/families/{family_id}")]
pub async fn get_family(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let family =
        state.read_family(principal, path.into_inner(), |conn, uc, row| families::get(conn, &uc.keys, row)).await?;
    Ok(HttpResponse::Ok().json(family))
}

/// Correct a family's profile; a refused change leaves it as it was.
#[utoipa::path(tag = "families", operation_id = "update_family", params(("family_id" = String, Path)), request_body = FamilyPatch,
    responses((status = 200, description = "The family as now stored", body = Family)))]
#[patch("/families/{family_id}")]
pub async fn update_family(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    body: JsonWithRuleProblems<FamilyPatch>,
    if_match: IfMatch,
) -> Result<HttpResponse, Error> {
    let family = state
        .write_family(principal, path.into_inner(), move |conn, uc, row| {
            // Checked after the change is validated and applied (a refused body is named first);
            // a stale tag then rolls the whole transaction back.
            let current = families::get(conn, &uc.keys, row.clone())?;
            let updated = families::update_naming_all(conn, &uc.keys, row, body.value, body.rule_problems, uc.now)?;
            if_match.check(&current)?;
            Ok(updated)
        })
        .await?;
    Ok(HttpResponse::Ok().json(family))
}

/// Delete a family and everything nonstop holds about it (vendor app).
#[utoipa::path(tag = "families", operation_id = "delete_family", params(("family_id" = String, Path)),
    responses((status = 204, description = "Deleted")))]
#[delete("/families/{family_id}")]
pub async fn delete_family(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    access::vendor_app(&caller.principal)?;
    let (family_id, now, keys) = (path.into_inner(), state.clock.now(), state.keys.clone());
    // Not `write_family`: nothing is re-planned for a family that is gone.
    state
        .db
        .write(move |conn| {
            let row = access::family_for(conn, &caller.principal, &family_id)?;
            families::delete(conn, &keys, row, &caller.actor, now)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
