//! `/v1/families/{family_id}/devices`: where the family receives pushes.

use actix_web::{delete, get, post, web, HttpResponse};

use super::extract::ValidJson;
use crate::app::AppState;
use crate::error::Error;
use crate::service::devices::{self, Device, DeviceInput, Registered};
use crate::service::principals::Principal;

/// Register a device (Web Push subscription, APNs token or FCM token).
///
/// Registering the same token again returns the existing device (200) and re-enables it.
#[utoipa::path(tag = "devices", operation_id = "register_device", params(("family_id" = String, Path)), request_body = DeviceInput,
    responses(
        (status = 201, description = "Registered", body = Device),
        (status = 200, description = "Already registered", body = Device),
        (status = 409, description = "`too_many_devices`: the family already has 20 active", body = crate::error::ErrorBody),
    ))]
#[post("/families/{family_id}/devices")]
pub async fn register_device(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    body: ValidJson<DeviceInput>,
) -> Result<HttpResponse, Error> {
    let now = state.clock.now();
    let allowed = state.settings.push.web_push_allowed_hosts.clone();
    let registered = state
        .write_family_unplanned(principal, path.into_inner(), move |conn, uc, family| {
            devices::register(conn, &uc.keys, &family.id, body.0, &allowed, now)
        })
        .await?;
    Ok(match registered {
        Registered::Created(device) => HttpResponse::Created().json(device),
        Registered::Existing(device) => HttpResponse::Ok().json(device),
    })
}

/// List the family's devices (tokens are never shown).
///
/// Bounded, so not paged: a family holds at most 20 devices (`too_many_devices`).
#[utoipa::path(tag = "devices", operation_id = "list_devices", params(("family_id" = String, Path)),
    responses((status = 200, description = "The devices", body = Vec<Device>)))]
#[get("/families/{family_id}/devices")]
pub async fn list_devices(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let list = state
        .read_family(principal, path.into_inner(), |conn, uc, family| devices::list(conn, &uc.keys, &family.id))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Remove a device; nothing more is sent to it.
#[utoipa::path(tag = "devices", operation_id = "delete_device",
    params(("family_id" = String, Path), ("device_id" = String, Path)),
    responses((status = 204, description = "Removed")))]
#[delete("/families/{family_id}/devices/{device_id}")]
pub async fn delete_device(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (family_id, device_id) = path.into_inner();
    state
        .write_family_unplanned(principal, family_id, move |conn, _, family| {
            devices::remove(conn, &family.id, &device_id)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
