//! `/v1/events`: events for the vendor's backend (事業者向けイベント). The app registers one
//! webhook with the kinds it wants, rotates its secret, removes it, and reads its delivery log;
//! it sees only its own. What arrives is in the document's `webhooks` section.

use actix_web::{delete, get, post, put, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::ValidJson;
use crate::app::AppState;
use crate::error::Error;
use crate::service::access;
use crate::service::app_events::{self, AppEventDeliveryPage, AppWebhook, AppWebhookCreated, AppWebhookInput};
use crate::service::principals::Principal;

/// Receive the app's events by webhook (vendor app): each event of the chosen `kinds` about one
/// of the app's families is POSTed to `url`, signed with HMAC-SHA256 (`Nonstop-Signature:
/// t=…,v1=…`) and retried until the receiver answers 2xx. Setting it again replaces the URL,
/// the kinds and the secret; deliveries still queued go to the new URL, signed with the new
/// secret.
#[utoipa::path(tag = "events", operation_id = "update_app_webhook", request_body = AppWebhookInput,
    responses((status = 200, description = "Set; the secret is shown this once", body = AppWebhookCreated)))]
#[put("/events/webhook")]
pub async fn update_app_webhook(
    state: web::Data<AppState>,
    principal: Principal,
    body: ValidJson<AppWebhookInput>,
) -> Result<HttpResponse, Error> {
    let app_id = access::vendor_app(&principal)?.to_owned();
    let allowed = state.settings.webhooks.allowed_hosts.clone();
    let uc = state.use_case();
    let created =
        state.db.write(move |conn| app_events::set(conn, &uc.keys, &app_id, body.0, &allowed, uc.now)).await?;
    Ok(HttpResponse::Ok().json(created))
}

/// The app's webhook and how its deliveries stand (vendor app); the secret is not shown again.
#[utoipa::path(tag = "events", operation_id = "get_app_webhook",
    responses((status = 200, description = "The webhook", body = AppWebhook)))]
#[get("/events/webhook")]
pub async fn get_app_webhook(state: web::Data<AppState>, principal: Principal) -> Result<HttpResponse, Error> {
    let app_id = access::vendor_app(&principal)?.to_owned();
    let webhook = state.db.read(move |conn| app_events::get(conn, &app_id)).await?;
    Ok(HttpResponse::Ok().json(webhook))
}

/// A new signing secret for the app's webhook (vendor app), same URL and kinds: shown this
/// once, and used from now on, for deliveries still queued too.
#[utoipa::path(tag = "events", operation_id = "create_app_webhook_secret",
    responses((status = 200, description = "Rotated; the secret is shown this once", body = AppWebhookCreated)))]
#[post("/events/webhook/secret")]
pub async fn create_app_webhook_secret(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<HttpResponse, Error> {
    let app_id = access::vendor_app(&principal)?.to_owned();
    let uc = state.use_case();
    let created = state.db.write(move |conn| app_events::rotate_secret(conn, &uc.keys, &app_id, uc.now)).await?;
    Ok(HttpResponse::Ok().json(created))
}

/// Stop the app's webhook (vendor app); deliveries still queued are given up (`failed`,
/// `webhook removed`). The delivery log stays.
#[utoipa::path(tag = "events", operation_id = "delete_app_webhook",
    responses((status = 204, description = "Removed")))]
#[delete("/events/webhook")]
pub async fn delete_app_webhook(state: web::Data<AppState>, principal: Principal) -> Result<HttpResponse, Error> {
    let app_id = access::vendor_app(&principal)?.to_owned();
    state.db.write(move |conn| app_events::delete(conn, &app_id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// How many deliveries per page (1–100, default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The app's delivery log (vendor app), oldest first: each event, its payload as sent, and how
/// its delivery stands.
#[utoipa::path(tag = "events", operation_id = "list_app_event_deliveries", params(DeliveryQuery),
    responses((status = 200, description = "A page of deliveries", body = AppEventDeliveryPage)))]
#[get("/events/deliveries")]
pub async fn list_app_event_deliveries(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, Error> {
    let app_id = access::vendor_app(&principal)?.to_owned();
    let query = query.into_inner();
    let limit = super::page_limit(query.limit, 50)?;
    let page = state.db.read(move |conn| app_events::deliveries(conn, &app_id, limit, query.cursor.as_deref())).await?;
    Ok(HttpResponse::Ok().json(page))
}
