//! `/v1/families/{family_id}/inbox`: what the family received, read state, and the delivery
//! ledger of each entry.

use actix_web::{get, post, web, HttpResponse};

use crate::app::AppState;
use crate::error::Error;
use crate::service::inbox::{self, Delivery, InboxEntry, InboxPage, InboxQuery};
use crate::service::principals::Principal;

/// The family's inbox, newest first, with the unread count.
#[utoipa::path(tag = "inbox", operation_id = "list_inbox", params(("family_id" = String, Path), InboxQuery),
    responses((status = 200, description = "A page of entries", body = InboxPage)))]
#[get("/families/{family_id}/inbox")]
pub async fn list_inbox(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<InboxQuery>,
) -> Result<HttpResponse, Error> {
    let query = query.into_inner();
    let limit = super::page_limit(query.limit, 20)?;
    let page = state
        .read_family(principal, path.into_inner(), move |conn, _, family| {
            inbox::list(conn, &family.id, limit, query.cursor.or(query.before).as_deref())
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Mark an entry read.
#[utoipa::path(tag = "inbox", operation_id = "update_inbox_entry_read", params(("family_id" = String, Path), ("entry_id" = String, Path)),
    responses((status = 200, description = "The entry, now read", body = InboxEntry)))]
#[post("/families/{family_id}/inbox/{entry_id}/read")]
pub async fn update_inbox_entry_read(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (family_id, entry_id) = path.into_inner();
    let now = state.clock.now();
    let entry = state
        .db
        .write(move |conn| {
            let family = crate::service::access::family_for(conn, &principal, &family_id)?;
            inbox::mark_read(conn, &family.id, &entry_id, now)
        })
        .await?;
    Ok(HttpResponse::Ok().json(entry))
}

/// The delivery ledger of an entry: per device, status, attempts, last error class and the
/// provider's message id.
///
/// Bounded, so not paged: one delivery per device the entry went to, and a family holds at
/// most 20 devices.
#[utoipa::path(tag = "inbox", operation_id = "list_deliveries", params(("family_id" = String, Path), ("entry_id" = String, Path)),
    responses((status = 200, description = "One delivery per device", body = Vec<Delivery>)))]
#[get("/families/{family_id}/inbox/{entry_id}/deliveries")]
pub async fn list_deliveries(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (family_id, entry_id) = path.into_inner();
    let list = state
        .read_family(principal, family_id, move |conn, _, family| inbox::deliveries_of(conn, &family.id, &entry_id))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}
