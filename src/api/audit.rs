//! `/v1/municipalities/{code}/audit`: the municipality's audit trail (監査記録), for its staff.

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::staff;
use crate::app::AppState;
use crate::error::Error;
use crate::service::audit::{self, AuditAction, AuditFilter, AuditPage};
use crate::service::principals::Principal;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// How many events per page (1–100, default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Deprecated: the same as `cursor` (the `next_before` of the previous page).
    before: Option<String>,
    /// Only events of this action.
    action: Option<AuditAction>,
    /// Only events at or after this instant.
    since: Option<DateTime<Utc>>,
    /// Only events before this instant.
    until: Option<DateTime<Utc>>,
}

/// The municipality's audit trail, newest first: who (a key's id, never a name) did what to
/// which record, when, and in which request (staff of the municipality).
#[utoipa::path(tag = "municipalities", operation_id = "list_audit_events", params(("code" = String, Path), AuditQuery),
    responses((status = 200, description = "A page of events", body = AuditPage)))]
#[get("/municipalities/{code}/audit")]
pub async fn list_audit_events(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, Error> {
    let (code, _) = staff(&principal, path.into_inner())?;
    let query = query.into_inner();
    let limit = super::page_limit(query.limit, 50)?;
    let filter = AuditFilter {
        municipality: Some(code.as_str().to_owned()),
        action: query.action,
        target_kind: None,
        since: query.since.map(|t| t.naive_utc()),
        until: query.until.map(|t| t.naive_utc()),
        before: query.cursor.or(query.before),
        limit,
    };
    let page = state.db.read(move |conn| audit::list(conn, &filter)).await?;
    Ok(HttpResponse::Ok().json(page))
}
