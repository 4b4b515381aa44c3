//! `/v1/families/{family_id}/sessions`: tokens for the parent's app, one family each.

use actix_web::{delete, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::ValidJson;
use crate::app::AppState;
use crate::error::Error;
use crate::service::access;
use crate::service::principals::{self, ParentSession, Principal};

/// How long the session should last.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionInput {
    /// Lifetime in seconds (60 up to the configured maximum; the configured default when left out).
    ttl_seconds: Option<i64>,
}

/// Mint a parent session (vendor app's backend only).
///
/// The token lets the parent's app call the API directly for this one family.
#[utoipa::path(tag = "sessions", operation_id = "create_session", params(("family_id" = String, Path)),
    request_body = SessionInput,
    responses((status = 201, description = "Minted; the token is shown once", body = ParentSession)))]
#[post("/families/{family_id}/sessions")]
pub async fn create_session(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    body: ValidJson<SessionInput>,
) -> Result<HttpResponse, Error> {
    access::vendor_app(&principal)?;
    let Principal::App { key_id, .. } = &principal else {
        return Err(Error::Forbidden("only a vendor app mints sessions"));
    };
    let key_id = key_id.clone();
    let limits = &state.settings.sessions;
    let ttl = body.0.ttl_seconds.unwrap_or(limits.default_ttl_seconds);
    if !(60..=limits.max_ttl_seconds).contains(&ttl) {
        return Err(Error::field("ttl_seconds", format!("must be between 60 and {}", limits.max_ttl_seconds)));
    }
    let now = state.clock.now();
    let session = state
        .write_family(principal, path.into_inner(), move |conn, _, family| {
            principals::create_session(conn, &family.id, &key_id, chrono::Duration::seconds(ttl), now)
        })
        .await?;
    Ok(HttpResponse::Created().json(session))
}

/// End every session of a family (vendor app's backend): a lost phone, a guardian who left.
#[utoipa::path(tag = "sessions", operation_id = "delete_sessions", params(("family_id" = String, Path)),
    responses((status = 204, description = "Every session of the family ended")))]
#[delete("/families/{family_id}/sessions")]
pub async fn delete_sessions(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    access::vendor_app(&principal)?;
    state
        .write_family(principal, path.into_inner(), move |conn, _, family| {
            principals::end_family_sessions(conn, &family.id)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Log out: the parent's app ends the session it calls with.
#[utoipa::path(tag = "sessions", operation_id = "delete_current_session",
    responses((status = 204, description = "The session ended; its token no longer works")))]
#[delete("/sessions/current")]
pub async fn delete_current_session(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
) -> Result<HttpResponse, Error> {
    if !matches!(principal, Principal::Parent { .. }) {
        return Err(Error::Forbidden("only a parent session logs out; vendors revoke keys"));
    }
    let token = super::extract::bearer(&req).ok_or(Error::Unauthorized("send the session token"))?;
    state.db.write(move |conn| principals::end_session(conn, &token)).await?;
    Ok(HttpResponse::NoContent().finish())
}
