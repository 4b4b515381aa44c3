//! `/v1/municipalities/{code}/submissions`: the applications addressed to a municipality, for
//! its own staff only: list, read (document, signature, certificate, verification), and set
//! their status.

use actix_web::{get, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::ValidJson;
use crate::app::AppState;
use crate::domain::MunicipalityCode;
use crate::error::Error;
use crate::service::principals::Principal;
use crate::service::submissions::{self, StatusChange, Submission, SubmissionStatus, SubmissionSummary};
use crate::service::{municipalities, now};

fn staff(principal: &Principal, code: String) -> Result<(MunicipalityCode, String), Error> {
    let code = MunicipalityCode::parse(&code).map_err(|_| Error::NotFound("municipality"))?;
    let staff_id = municipalities::staff_of(principal, &code)?.to_owned();
    Ok((code, staff_id))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SubmissionQuery {
    /// Only submissions in this status (`submitted` for those not yet acknowledged).
    status: Option<SubmissionStatus>,
}

/// Submissions addressed to the municipality, newest first (at most 500).
#[utoipa::path(tag = "submissions", operation_id = "list_municipal_submissions", params(("code" = String, Path), SubmissionQuery),
    responses((status = 200, description = "The submissions", body = Vec<SubmissionSummary>)))]
#[get("/municipalities/{code}/submissions")]
pub async fn list_municipal_submissions(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<SubmissionQuery>,
) -> Result<HttpResponse, Error> {
    let (code, _) = staff(&principal, path.into_inner())?;
    let planning = state.planning.clone();
    let only = query.into_inner().status;
    let list = state.db.read(move |conn| submissions::list_for_municipality(conn, &planning, &code, only)).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// A submission: the canonical document, its digest, the signed bytes, the signature and the
/// certificate exactly as received, and what nonstop verified ("signature and chain verified,
/// revocation not checked": the municipality checks revocation with J-LIS).
#[utoipa::path(tag = "submissions", operation_id = "get_municipal_submission",
    params(("code" = String, Path), ("submission_id" = String, Path)),
    responses((status = 200, description = "The submission", body = Submission)))]
#[get("/municipalities/{code}/submissions/{submission_id}")]
pub async fn get_municipal_submission(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (code, id) = path.into_inner();
    let (code, _) = staff(&principal, code)?;
    let (keys, planning) = (state.keys.clone(), state.planning.clone());
    let submission =
        state.db.read(move |conn| submissions::get_for_municipality(conn, &keys, &planning, &code, &id)).await?;
    Ok(HttpResponse::Ok().json(submission))
}

/// Set a submission's status: `received` (受付, acknowledging it), `in_review` (審査中),
/// `correction_requested` (補正依頼, with a comment per field: a new draft opens for the
/// parent), `accepted` (受理), `rejected` (却下, with the reason in `comment`), `completed`.
/// The parent is told through the inbox and a push.
#[utoipa::path(tag = "submissions", operation_id = "update_submission_status",
    params(("code" = String, Path), ("submission_id" = String, Path)), request_body = StatusChange,
    responses((status = 200, description = "The submission", body = Submission),
        (status = 409, description = "`invalid_transition`, `status_changed`", body = crate::error::ErrorBody)))]
#[post("/municipalities/{code}/submissions/{submission_id}/status")]
pub async fn update_submission_status(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
    body: ValidJson<StatusChange>,
) -> Result<HttpResponse, Error> {
    let (code, id) = path.into_inner();
    let (code, staff_id) = staff(&principal, code)?;
    let (keys, planning, templates, now) = (state.keys.clone(), state.planning.clone(), state.templates.clone(), now());
    let submission = state
        .db
        .write(move |conn| {
            submissions::set_status(conn, &keys, &planning, &templates, &code, &staff_id, &id, body.0, now)
        })
        .await?;
    Ok(HttpResponse::Ok().json(submission))
}
