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

/// The database answers, this process's keys open every key canary (so it can read what any
/// replica sealed) and, where this process delivers pushes, its worker is making progress; a
/// load balancer or an orchestrator acts on anything but 200.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let backend = state.db.location().backend_name();
    let keys = state.keys.clone();
    let checked = state
        .db
        .read(move |conn| {
            conn.batch_execute("SELECT 1").map_err(Error::from)?;
            Ok(crate::db::canary::canaries_open(conn, &keys))
        })
        .await;
    match checked {
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            return HttpResponse::ServiceUnavailable().json(json!({ "status": "unavailable", "database": backend }));
        }
        Ok(Err(problem)) => {
            tracing::warn!(problem = %problem, "readiness check failed: sealed data cannot be opened");
            return HttpResponse::ServiceUnavailable()
                .json(json!({ "status": "unavailable", "database": backend, "keys": "cannot_open_sealed_data" }));
        }
        Ok(Ok(())) => {}
    }
    if state.settings.jobs.enabled && worker_stalled(&state) {
        tracing::warn!("readiness check failed: the delivery worker is not making progress");
        return HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "unavailable", "database": backend, "worker": "stalled" }));
    }
    HttpResponse::Ok().json(json!({ "status": "ready", "database": backend }))
}

/// No pass of the delivery worker finished within two leases: it is stuck or gone.
fn worker_stalled(state: &AppState) -> bool {
    let allowed = chrono::Duration::seconds(2 * state.settings.jobs.lease_seconds);
    state.metrics.worker_last_progress().is_some_and(|last| state.clock.now_utc() - last > allowed)
}

/// Prometheus text exposition. The queue figures need two database counts: they are read at
/// most every few seconds, so scraping (which needs no key) cannot load the database.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    if state.metrics.queue_figures_due() {
        let now = state.clock.now();
        match state.db.read(move |conn| crate::jobs::outbox::queue_figures(conn, now)).await {
            Ok((depth, oldest)) => {
                state.metrics.queue_depth.set(depth);
                state.metrics.oldest_due_seconds.set(oldest);
            }
            Err(e) => tracing::warn!(error = %e, "queue figures unavailable"),
        }
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render(state.db.pool_state()))
}

/// No route matched: 405 with `Allow` when the path is the API's and only the method is wrong,
/// else the JSON 404.
pub async fn not_found(
    req: actix_web::HttpRequest,
    known: web::Data<super::routes::KnownPaths>,
) -> Result<HttpResponse, Error> {
    match known.allowed(req.path()) {
        Some(allow) => Err(Error::MethodNotAllowed { allow }),
        None => Err(Error::NotFound("route")),
    }
}
