//! `/v1/families/{family_id}/tasks` and `/planned-notifications`: what the family must do, and
//! the reminders nonstop will send.

use actix_web::{get, patch, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::ValidJson;
use crate::app::AppState;
use crate::error::Error;
use crate::service::principals::Principal;
use crate::service::tasks::{self, PlannedNotification, Task, TaskState, TaskUpdate};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TaskQuery {
    /// Only tasks in this state.
    state: Option<TaskState>,
}

/// The family's tasks: upcoming, open, overdue, done; each with its window, deadline, the
/// reason it applies, where to file, and its legal basis.
///
/// Bounded, so not paged: one task per procedure of the catalog, subject (the household or
/// one of at most 20 children) and occurrence (a yearly procedure once a year, a procedure of
/// a move or a loss once per such life event, of at most 200).
#[utoipa::path(tag = "tasks", operation_id = "list_tasks", params(("family_id" = String, Path), TaskQuery),
    responses((status = 200, description = "The tasks, soonest first", body = Vec<Task>,
        headers(("Nonstop-Today" = chrono::NaiveDate,
            description = "Today in Japan (Asia/Tokyo), the day the tasks' states (upcoming, open, overdue) count from")))))]
#[get("/families/{family_id}/tasks")]
pub async fn list_tasks(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<TaskQuery>,
) -> Result<HttpResponse, Error> {
    let planning = state.planning.clone();
    let only = query.into_inner().state;
    let today = state.clock.today();
    let list = state
        .read_family(principal, path.into_inner(), move |conn, _, family| {
            tasks::list(conn, &planning, &family.id, &family.municipality_code, only, today)
        })
        .await?;
    Ok(HttpResponse::Ok().insert_header(("Nonstop-Today", today.to_string())).json(list))
}

/// Mark a task done or dismissed (its reminders stop), or reopen it.
#[utoipa::path(tag = "tasks", operation_id = "update_task", params(("family_id" = String, Path), ("task_id" = String, Path)),
    request_body = TaskUpdate,
    responses(
        (status = 200, description = "The task as it now stands", body = Task),
        (status = 409, description = "The task no longer applies (`task_cancelled`)", body = crate::error::ErrorBody),
    ))]
#[patch("/families/{family_id}/tasks/{task_id}")]
pub async fn update_task(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
    body: ValidJson<TaskUpdate>,
) -> Result<HttpResponse, Error> {
    let (family_id, task_id) = path.into_inner();
    let now = state.clock.now();
    let changed = task_id.clone();
    state
        .write_family(principal.clone(), family_id.clone(), move |conn, _, family| {
            tasks::set_status(conn, &family.id, &changed, body.0.status, now)
        })
        .await?;
    let (planning, today) = (state.planning.clone(), state.clock.today());
    let task = state
        .read_family(principal, family_id, move |conn, _, family| {
            tasks::get(conn, &planning, &family.id, &family.municipality_code, &task_id, today)
        })
        .await?;
    Ok(HttpResponse::Ok().json(task))
}

/// The reminders nonstop will send to the family, and when (always in its allowed hours).
///
/// Bounded, so not paged: the reminders the catalog names for each task (a few per task), for
/// tasks not yet done.
#[utoipa::path(tag = "tasks", operation_id = "list_planned_notifications", params(("family_id" = String, Path)),
    responses((status = 200, description = "Planned reminders, soonest first", body = Vec<PlannedNotification>)))]
#[get("/families/{family_id}/planned-notifications")]
pub async fn list_planned_notifications(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let list = state
        .read_family(principal, path.into_inner(), |conn, _, family| tasks::planned_notifications(conn, &family.id))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}
