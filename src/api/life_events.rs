//! `/v1/families/{family_id}/events`: ライフイベント.

use actix_web::{get, post, web, HttpResponse};

use super::extract::ValidJson;
use crate::app::AppState;
use crate::error::Error;
use crate::service::life_events::{self, LifeEvent, LifeEventInput};
use crate::service::principals::Principal;

/// Record a life event (pregnancy, birth, move, …) and apply it to the profile.
#[utoipa::path(tag = "life events", operation_id = "record_life_event", params(("family_id" = String, Path)),
    request_body = LifeEventInput,
    responses(
        (status = 201, description = "Recorded and applied", body = LifeEvent),
        (status = 409, description = "The event contradicts what is stored (e.g. `child_already_born`)", body = crate::error::ErrorBody),
    ))]
#[post("/families/{family_id}/events")]
pub async fn record_life_event(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    body: ValidJson<LifeEventInput>,
) -> Result<HttpResponse, Error> {
    let (today, now) = (state.clock.today(), state.clock.now());
    let event = state
        .write_family(principal, path.into_inner(), move |conn, uc, family| {
            life_events::record(conn, &uc.keys, family, body.0, today, now)
        })
        .await?;
    Ok(HttpResponse::Created().json(event))
}

/// The family's life events, most recent first.
///
/// Bounded, so not paged: a family records at most 200 life events (`too_many_events`).
#[utoipa::path(tag = "life events", operation_id = "list_life_events", params(("family_id" = String, Path)),
    responses((status = 200, description = "The events", body = Vec<LifeEvent>)))]
#[get("/families/{family_id}/events")]
pub async fn list_life_events(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let events =
        state.read_family(principal, path.into_inner(), |conn, _, family| life_events::list(conn, &family.id)).await?;
    Ok(HttpResponse::Ok().json(events))
}
