//! `/v1/families/{family_id}/sessions`: tokens for the parent's app, one family each.

use actix_web::{post, web, HttpResponse};
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
    let limits = &state.settings.sessions;
    let ttl = body.0.ttl_seconds.unwrap_or(limits.default_ttl_seconds);
    if !(60..=limits.max_ttl_seconds).contains(&ttl) {
        return Err(Error::field("ttl_seconds", format!("must be between 60 and {}", limits.max_ttl_seconds)));
    }
    let now = state.clock.now();
    let session = state
        .write_family(principal, path.into_inner(), move |conn, _, family| {
            principals::create_session(conn, &family.id, chrono::Duration::seconds(ttl), now)
        })
        .await?;
    Ok(HttpResponse::Created().json(session))
}
