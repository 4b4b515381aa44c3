//! `/v1/municipalities/{code}/submissions`: the applications addressed to a municipality, for
//! its own staff only: list, read (document, signature, certificate, verification), set their
//! status; and `/webhook`, to receive them in the municipality's own system as well.

use actix_web::{delete, get, post, put, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{Caller, ValidJson};
use super::staff;
use crate::app::AppState;
use crate::error::Error;
use crate::service::audit::{AuditAction, Event};
use crate::service::principals::Principal;
use crate::service::submissions::export::{self, CsvEncoding, ExportQuery};
use crate::service::submissions::{self, StatusChange, Submission, SubmissionPage, SubmissionStatus};
use crate::service::webhooks::{self, Webhook, WebhookCreated, WebhookInput};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SubmissionQuery {
    /// How many submissions per page (1–100, default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only submissions in this status (`submitted` for those not yet acknowledged).
    status: Option<SubmissionStatus>,
    /// Only submissions of this form (each department takes its own: `child_allowance_claim`,
    /// `kokuho_enrollment`, …).
    form_id: Option<String>,
}

/// Submissions addressed to the municipality, newest first, a page at a time.
#[utoipa::path(tag = "submissions", operation_id = "list_municipal_submissions", params(("code" = String, Path), SubmissionQuery),
    responses((status = 200, description = "A page of submissions", body = SubmissionPage)))]
#[get("/municipalities/{code}/submissions")]
pub async fn list_municipal_submissions(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<SubmissionQuery>,
) -> Result<HttpResponse, Error> {
    let (code, _) = staff(&principal, path.into_inner())?;
    let planning = state.planning.clone();
    let query = query.into_inner();
    let limit = super::page_limit(query.limit, 50)?;
    let page = state
        .db
        .read(move |conn| {
            let (only, form) = (query.status, query.form_id.as_deref());
            submissions::page_for_municipality(conn, &planning, &code, only, form, limit, query.cursor.as_deref())
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// The form whose layout the file has (`child_allowance_claim`, …): one file per form.
    form_id: String,
    /// Received on or after this day in Japan (`YYYY-MM-DD`).
    from: Option<chrono::NaiveDate>,
    /// Received on or before this day in Japan (`YYYY-MM-DD`).
    to: Option<chrono::NaiveDate>,
    /// Only submissions in this status.
    status: Option<SubmissionStatus>,
    /// `utf-8` (with a byte order mark; the default) or `shift_jis` (Windows-31J: a value it
    /// cannot hold is refused with 422 naming the 受付番号 and the field).
    encoding: Option<CsvEncoding>,
}

/// ファイル連携: the municipality's submissions of one form as CSV for its 基幹 system, oldest
/// first, in the layout `docs/forms/<form_id>.md` documents (受付番号, received at in Japan,
/// status, …, then each field under the form's Japanese label). At most 10,000 submissions at
/// once (more: 422, export fewer days). Each export is in the audit trail (`submissions.exported`).
#[utoipa::path(tag = "submissions", operation_id = "get_municipal_submissions_csv", params(("code" = String, Path), ExportParams),
    responses((status = 200, description = "The CSV file", body = String, content_type = "text/csv",
        example = json!("\u{feff}\"受付番号\",\"受信日時（日本時間）\",\"状態\",…\r\n\"2026-000001\",\"2026-12-06 10:15:00\",\"受理\",…\r\n"))))]
#[get("/municipalities/{code}/submissions/export")]
pub async fn export_municipal_submissions(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    params: web::Query<ExportParams>,
) -> Result<HttpResponse, Error> {
    let (code, _) = staff(&caller.principal, path.into_inner())?;
    let params = params.into_inner();
    let query = ExportQuery {
        form_id: params.form_id,
        from: params.from,
        to: params.to,
        status: params.status,
        encoding: params.encoding.unwrap_or(CsvEncoding::Utf8),
    };
    let file = state
        .write_audited(caller.actor, move |conn, uc| {
            let file = export::export(conn, &uc.keys, &uc.planning, &code, &query)?;
            let event = Event::new(AuditAction::SubmissionsExported, "form", query.form_id.clone())
                .in_municipality(code.as_str())
                .detail(query.describe(file.rows));
            Ok((file, event))
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type(file.content_type)
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{}\"", file.file_name)))
        .body(file.bytes))
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
    caller: Caller,
    path: web::Path<(String, String)>,
    body: ValidJson<StatusChange>,
) -> Result<HttpResponse, Error> {
    let (code, id) = path.into_inner();
    let (code, staff_id) = staff(&caller.principal, code)?;
    let submission = state
        .write_audited(caller.actor, move |conn, uc| {
            submissions::set_status_audited(conn, uc, &code, &staff_id, &id, body.0, None)
        })
        .await?;
    Ok(HttpResponse::Ok().json(submission))
}

/// Receive the municipality's submissions by webhook as well: each new submission is POSTed to
/// `url`, signed with HMAC-SHA256 (`Nonstop-Signature: t=…,v1=…`), retried until the receiver
/// answers 2xx. Setting it again replaces the URL and the secret.
#[utoipa::path(tag = "submissions", operation_id = "update_municipal_webhook", params(("code" = String, Path)),
    request_body = WebhookInput, responses((status = 200, description = "Set; the secret is shown this once", body = WebhookCreated)))]
#[put("/municipalities/{code}/webhook")]
pub async fn update_municipal_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: ValidJson<WebhookInput>,
) -> Result<HttpResponse, Error> {
    let (code, _) = staff(&caller.principal, path.into_inner())?;
    let allowed = state.settings.webhooks.allowed_hosts.clone();
    let created = state
        .write_audited(caller.actor, move |conn, uc| {
            webhooks::set_audited(conn, &uc.keys, &code, body.0, &allowed, uc.now)
        })
        .await?;
    Ok(HttpResponse::Ok().json(created))
}

/// The webhook and how its deliveries stand (pending, delivered, failed, last error).
#[utoipa::path(tag = "submissions", operation_id = "get_municipal_webhook", params(("code" = String, Path)),
    responses((status = 200, description = "The webhook", body = Webhook)))]
#[get("/municipalities/{code}/webhook")]
pub async fn get_municipal_webhook(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let (code, _) = staff(&principal, path.into_inner())?;
    let webhook = state.db.read(move |conn| webhooks::get(conn, &code)).await?;
    Ok(HttpResponse::Ok().json(webhook))
}

/// Stop the webhook; deliveries still pending are dropped (the submissions stay in the API).
#[utoipa::path(tag = "submissions", operation_id = "delete_municipal_webhook", params(("code" = String, Path)),
    responses((status = 204, description = "Removed")))]
#[delete("/municipalities/{code}/webhook")]
pub async fn delete_municipal_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let (code, _) = staff(&caller.principal, path.into_inner())?;
    state
        .write_audited(caller.actor, move |conn, _| {
            webhooks::delete(conn, &code)?;
            Ok(((), Event::new(AuditAction::WebhookDeleted, "webhook", code.as_str()).in_municipality(code.as_str())))
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
