//! `/v1/municipalities/{code}/staff-keys`: a municipality's administrator lists and revokes its
//! staff keys (new keys are made by the operator: `nonstop staff create`).

use actix_web::{delete, get, web, HttpResponse};

use super::extract::Caller;
use super::staff;
use crate::app::AppState;
use crate::domain::MunicipalityCode;
use crate::error::Error;
use crate::service::audit::{AuditAction, Event};
use crate::service::principals::{self, Principal, StaffKeyPage};

/// The municipality of an administrator's key (a staff key made with `--admin`).
fn administrator(principal: &Principal, code: String) -> Result<MunicipalityCode, Error> {
    let (code, _) = staff(principal, code)?;
    match principal {
        Principal::Staff { admin: true, .. } => Ok(code),
        _ => Err(Error::Forbidden(
            "only the municipality's administrator (a staff key made with --admin) manages staff keys",
        )),
    }
}

/// The municipality's staff keys, newest first, a page at a time, without their secrets
/// (administrator). Revoked and expired keys stay listed until the daily purge.
#[utoipa::path(tag = "municipalities", operation_id = "list_staff_keys", params(("code" = String, Path), super::PageQuery),
    responses((status = 200, description = "A page of keys, with who they were made for and when they expire", body = StaffKeyPage)))]
#[get("/municipalities/{code}/staff-keys")]
pub async fn list_staff_keys(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<super::PageQuery>,
) -> Result<HttpResponse, Error> {
    let code = administrator(&caller.principal, path.into_inner())?;
    let (limit, cursor) = query.into_inner().read()?;
    let keys = state.db.read(move |conn| principals::page_staff(conn, &code, limit, cursor.as_deref())).await?;
    Ok(HttpResponse::Ok().json(keys))
}

/// Revoke a staff key of the municipality; it is refused from then on (administrator).
#[utoipa::path(tag = "municipalities", operation_id = "revoke_staff_key", params(("code" = String, Path), ("staff_id" = String, Path)),
    responses((status = 204, description = "Revoked")))]
#[delete("/municipalities/{code}/staff-keys/{staff_id}")]
pub async fn revoke_staff_key(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (code, staff_id) = path.into_inner();
    let code = administrator(&caller.principal, code)?;
    state
        .write_audited(caller.actor, move |conn, uc| {
            principals::revoke_staff(conn, &staff_id, Some(&code), uc.now)?;
            Ok(((), Event::new(AuditAction::StaffKeyRevoked, "staff_key", staff_id).in_municipality(code.as_str())))
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
