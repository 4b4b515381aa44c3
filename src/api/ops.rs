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

/// Prometheus text exposition (the queue figures are read now).
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let now = state.clock.now();
    match state.db.read(move |conn| crate::jobs::outbox::queue_figures(conn, now)).await {
        Ok((depth, oldest)) => {
            state.metrics.queue_depth.set(depth);
            state.metrics.oldest_due_seconds.set(oldest);
        }
        Err(e) => tracing::warn!(error = %e, "queue figures unavailable"),
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render(state.db.pool_state()))
}

pub async fn not_found() -> Result<HttpResponse, Error> {
    Err(Error::NotFound("route"))
}
