//! `/v1/families/{family_id}/children`: 子 (expected or born).

use actix_web::{delete, patch, post, web, HttpResponse};

use super::extract::ValidJson;
use crate::app::AppState;
use crate::error::Error;
use crate::service::children::{self, Child, ChildInput, ChildPatch};
use crate::service::principals::Principal;

/// Add a child: `expected` with a due date, or `born` with a birth date.
#[utoipa::path(tag = "children", operation_id = "create_child", params(("family_id" = String, Path)), request_body = ChildInput,
    responses((status = 201, description = "Added", body = Child),
        (status = 409, description = "`too_many_children`: the family already has 20", body = crate::error::ErrorBody)))]
#[post("/families/{family_id}/children")]
pub async fn create_child(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    body: ValidJson<ChildInput>,
) -> Result<HttpResponse, Error> {
    let (today, now) = (state.clock.today(), state.clock.now());
    let child = state
        .write_family(principal, path.into_inner(), move |conn, uc, family| {
            let valid = children::prepare(body.0, today, "").map_err(Error::Validation)?;
            children::insert(conn, &uc.keys, &family.id, valid, now)
        })
        .await?;
    Ok(HttpResponse::Created().json(child))
}

/// Correct a child (a birth is recorded as a `birth` event); a field left out keeps its value, `null` clears it.
#[utoipa::path(tag = "children", operation_id = "update_child",
    params(("family_id" = String, Path), ("child_id" = String, Path)), request_body = ChildPatch,
    responses((status = 200, description = "The child as now stored", body = Child)))]
#[patch("/families/{family_id}/children/{child_id}")]
pub async fn update_child(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
    body: ValidJson<ChildPatch>,
) -> Result<HttpResponse, Error> {
    let (family_id, child_id) = path.into_inner();
    let child = state
        .write_family(principal, family_id, move |conn, uc, family| {
            children::update(conn, uc, &family.id, &child_id, body.0)
        })
        .await?;
    Ok(HttpResponse::Ok().json(child))
}

/// Remove a child.
#[utoipa::path(tag = "children", operation_id = "delete_child",
    params(("family_id" = String, Path), ("child_id" = String, Path)),
    responses((status = 204, description = "Removed")))]
#[delete("/families/{family_id}/children/{child_id}")]
pub async fn delete_child(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (family_id, child_id) = path.into_inner();
    state
        .write_family(principal, family_id, move |conn, _, family| children::delete(conn, &family.id, &child_id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
