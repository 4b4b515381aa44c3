//! `/v1/families/{family_id}/sessions`: tokens for the parent's app, one family each.

use actix_web::{delete, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::{Caller, ValidJson};
use crate::app::AppState;
use crate::error::Error;
use crate::service::access;
use crate::service::audit::{self, AuditAction, Event};
use crate::service::principals::{self, ParentSession, Principal};

/// How long the session should last.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionInput {
    /// Lifetime in seconds (60 up to the configured maximum, 86400 unless the operator
    /// chose another; the configured default when left out).
    #[schema(minimum = 60, maximum = 86400)]
    ttl_seconds: Option<i64>,
}

/// Mint a parent session (vendor app's backend only).
///
/// The token lets the parent's app call the API directly for this one family.
#[utoipa::path(tag = "sessions", operation_id = "create_session", params(("family_id" = String, Path)),
    request_body = SessionInput,
    responses((status = 201, description = "Minted; the token is shown once", body = ParentSession),
        (status = 409, description = "`too_many_sessions`: the family already has 20 active", body = crate::error::ErrorBody)))]
#[post("/families/{family_id}/sessions")]
pub async fn create_session(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: ValidJson<SessionInput>,
) -> Result<HttpResponse, Error> {
    let Caller { principal, actor } = caller;
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
    let session = state
        .write_family(principal, path.into_inner(), move |conn, uc, family| {
            let session =
                principals::create_session(conn, &family.id, &key_id, chrono::Duration::seconds(ttl), uc.now)?;
            audit::record(conn, &actor, Event::new(AuditAction::SessionCreated, "family", family.id), uc.now)?;
            Ok(session)
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
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let Caller { principal, actor } = caller;
    access::vendor_app(&principal)?;
    state
        .write_family(principal, path.into_inner(), move |conn, uc, family| {
            let ended = principals::end_family_sessions(conn, &family.id)?;
            let event = Event::new(AuditAction::SessionsRevoked, "family", family.id).detail(ended.to_string());
            audit::record(conn, &actor, event, uc.now)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Log out: the parent's app ends the session it calls with.
#[utoipa::path(tag = "sessions", operation_id = "delete_family_current_session", params(("family_id" = String, Path)),
    responses((status = 204, description = "The session ended; its token no longer works")))]
#[delete("/families/{family_id}/sessions/current")]
pub async fn delete_family_current_session(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, Error> {
    match &caller.principal {
        Principal::Parent { family_id, .. } if *family_id == path.into_inner() => {}
        Principal::Parent { .. } => return Err(Error::NotFound("family")),
        _ => {
            return Err(Error::Forbidden("only a parent session logs out; vendors end sessions with DELETE …/sessions"))
        }
    }
    log_out(state, caller, req).await
}

/// Log out: the parent's app ends the session it calls with (the same as
/// `DELETE /v1/families/{family_id}/sessions/current`, for apps that do not keep the family id).
#[utoipa::path(tag = "sessions", operation_id = "delete_current_session",
    responses((status = 204, description = "The session ended; its token no longer works")))]
#[delete("/sessions/current")]
pub async fn delete_current_session(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, Error> {
    if !matches!(caller.principal, Principal::Parent { .. }) {
        return Err(Error::Forbidden("only a parent session logs out; vendors end sessions with DELETE …/sessions"));
    }
    log_out(state, caller, req).await
}

async fn log_out(state: web::Data<AppState>, caller: Caller, req: HttpRequest) -> Result<HttpResponse, Error> {
    let Principal::Parent { family_id, .. } = caller.principal else {
        return Err(Error::Forbidden("only a parent session logs out"));
    };
    let token = super::extract::bearer(&req).ok_or(Error::Unauthorized("send the session token"))?;
    state
        .write_audited(caller.actor, move |conn, _| {
            principals::end_session(conn, &token)?;
            Ok(((), Event::new(AuditAction::SessionEnded, "family", family_id)))
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
