//! `/v1/whoami` and `/v1/app/keys`: the caller's identity and the vendor's API keys.

use actix_web::{delete, get, post, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::Caller;
use crate::app::AppState;
use crate::error::Error;
use crate::service::access;
use crate::service::audit::{AuditAction, Event};
use crate::service::principals::{self, AppKeyPage, IssuedKey, Principal};

/// Who the credential belongs to, and the service's present as it plans.
#[derive(Debug, Serialize, ToSchema)]
pub struct Whoami {
    /// `app`, `staff` or `parent`.
    pub role: String,
    pub app_id: Option<String>,
    pub municipality_code: Option<String>,
    pub family_id: Option<String>,
    /// Today in Japan (Asia/Tokyo), the day nonstop plans from: deadlines, ages and reminders
    /// count from it. Before 09:00 in Japan it is already the next day of UTC's.
    pub today: chrono::NaiveDate,
    /// The service's present instant (UTC), which `today` is the Japanese date of.
    pub now: chrono::DateTime<chrono::Utc>,
}

/// Tell who the credential belongs to (any caller), and which day nonstop counts as today.
#[utoipa::path(tag = "keys", operation_id = "get_whoami", responses((status = 200, description = "The caller", body = Whoami)))]
#[get("/whoami")]
pub async fn get_whoami(state: web::Data<AppState>, principal: Principal) -> HttpResponse {
    let (role, app_id, municipality_code, family_id) = match principal {
        Principal::App { app_id, .. } => ("app", Some(app_id), None, None),
        Principal::Staff { municipality, .. } => ("staff", None, Some(municipality.into()), None),
        Principal::Parent { family_id, app_id } => ("parent", Some(app_id), None, Some(family_id)),
    };
    let whoami = Whoami {
        role: role.into(),
        app_id,
        municipality_code,
        family_id,
        today: state.clock.today(),
        now: state.clock.now_utc(),
    };
    HttpResponse::Ok().json(whoami)
}

/// List the app's API keys (vendor app), oldest first, a page at a time. Revoked keys stay
/// listed, so the list grows with every rotation.
#[utoipa::path(tag = "keys", operation_id = "list_app_keys", params(super::PageQuery),
    responses((status = 200, description = "A page of keys, without secrets", body = AppKeyPage)))]
#[get("/app/keys")]
pub async fn list_app_keys(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<super::PageQuery>,
) -> Result<HttpResponse, Error> {
    let app_id = access::vendor_app(&principal)?.to_owned();
    let (limit, cursor) = query.into_inner().read()?;
    let keys = state.db.read(move |conn| principals::page_app_keys(conn, &app_id, limit, cursor.as_deref())).await?;
    Ok(HttpResponse::Ok().json(keys))
}

/// Create another API key, e.g. to rotate keys without downtime (vendor app).
#[utoipa::path(tag = "keys", operation_id = "create_app_key", responses((status = 201, description = "Created; the secret is shown once", body = IssuedKey),
        (status = 409, description = "`too_many_keys`: the app already has 5 active", body = crate::error::ErrorBody)))]
#[post("/app/keys")]
pub async fn create_app_key(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, Error> {
    let app_id = access::vendor_app(&caller.principal)?.to_owned();
    let key = state
        .write_audited(caller.actor, move |conn, uc| {
            let key = principals::create_app_key(conn, &app_id, uc.now)?;
            let event = Event::new(AuditAction::AppKeyCreated, "app_key", key.key_id.clone());
            Ok((key, event))
        })
        .await?;
    Ok(HttpResponse::Created().json(key))
}

/// Revoke one of the app's API keys; it is refused from then on, and so are the parent
/// sessions it minted (vendor app).
#[utoipa::path(tag = "keys", operation_id = "revoke_app_key", params(("key_id" = String, Path)),
    responses((status = 204, description = "Revoked")))]
#[delete("/app/keys/{key_id}")]
pub async fn revoke_app_key(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let app_id = access::vendor_app(&caller.principal)?.to_owned();
    let key_id = path.into_inner();
    state
        .write_audited(caller.actor, move |conn, uc| {
            principals::revoke_app_key(conn, &app_id, &key_id, uc.now)?;
            Ok(((), Event::new(AuditAction::AppKeyRevoked, "app_key", key_id)))
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
