//! Operations endpoints: liveness, readiness, metrics, and the JSON 404.

use actix_web::{web, HttpResponse};
use diesel::connection::SimpleConnection;
use serde_json::json;

use crate::app::AppState;
use crate::error::Error;

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The database answers; a load balancer sends traffic only while this is 200.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let backend = state.db.location().backend_name();
    match state.db.read(|conn| conn.batch_execute("SELECT 1").map_err(Error::from)).await {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ready", "database": backend })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(json!({ "status": "unavailable", "database": backend }))
        }
    }
}

/// Prometheus text exposition.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render(state.db.pool_state()))
}

pub async fn not_found() -> Result<HttpResponse, Error> {
    Err(Error::NotFound("route"))
}
