//! `/v1/municipalities/{code}/notices`: お知らせ written, approved and sent by a municipality's
//! staff; `/v1/families/{family_id}/notice-consent`: a family's consent to official notifications.

use actix_web::{get, post, put, web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::{Caller, ValidJson};
use super::staff;
use crate::app::AppState;
use crate::error::Error;
use crate::service::notices::{self, Audience, Notice, NoticeAct, NoticeFigures, NoticeInput, NoticePage, NoticeRef};
use crate::service::principals::Principal;

/// Write a notice (a draft, until another member of staff approves it).
#[utoipa::path(tag = "notices", operation_id = "create_notice", params(("code" = String, Path)), request_body = NoticeInput,
    responses((status = 201, description = "Drafted", body = Notice)))]
#[post("/municipalities/{code}/notices")]
pub async fn create_notice(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: ValidJson<NoticeInput>,
) -> Result<HttpResponse, Error> {
    let (code, staff_id) = staff(&caller.principal, path.into_inner())?;
    let notice = state
        .write_audited(caller.actor, move |conn, uc| notices::create_audited(conn, &code, &staff_id, body.0, uc.now))
        .await?;
    Ok(HttpResponse::Created().json(notice))
}

/// Read a notice.
#[utoipa::path(tag = "notices", operation_id = "get_notice", params(("code" = String, Path), ("notice_id" = String, Path)),
    responses((status = 200, description = "The notice", body = Notice)))]
#[get("/municipalities/{code}/notices/{notice_id}")]
pub async fn get_notice(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (code, id) = path.into_inner();
    let (code, _) = staff(&principal, code)?;
    let notice = state.db.read(move |conn| notices::get(conn, &code, &id)).await?;
    Ok(HttpResponse::Ok().json(notice))
}

/// Replace a notice's contents; an approved notice needs approval again.
#[utoipa::path(tag = "notices", operation_id = "update_notice", params(("code" = String, Path), ("notice_id" = String, Path)),
    request_body = NoticeInput, responses((status = 200, description = "Back to draft", body = Notice),
        (status = 409, description = "`notice_not_editable`: sent or cancelled", body = crate::error::ErrorBody)))]
#[put("/municipalities/{code}/notices/{notice_id}")]
pub async fn update_notice(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: ValidJson<NoticeInput>,
) -> Result<HttpResponse, Error> {
    act_on_notice(state, caller, path.into_inner(), NoticeAct::Update(body.0)).await
}

/// What the approver read: the digest of the contents shown.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveInput {
    /// The notice's `content_digest` as the approver read it (`GET` the notice). When the
    /// contents have changed since, the approval is refused with `approval_stale`.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub digest: String,
}

/// Approve a notice as a member of staff who wrote none of it: exactly the contents read,
/// named by their digest.
#[utoipa::path(tag = "notices", operation_id = "approve_notice", params(("code" = String, Path), ("notice_id" = String, Path)),
    request_body = ApproveInput,
    responses((status = 200, description = "Approved", body = Notice),
        (status = 409, description = "`approval_stale`: the contents changed after they were read (`fields` names each part that changed); `approval_by_author`; `notice_not_draft`", body = crate::error::ErrorBody)))]
#[post("/municipalities/{code}/notices/{notice_id}/approve")]
pub async fn approve_notice(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: ValidJson<ApproveInput>,
) -> Result<HttpResponse, Error> {
    act_on_notice(state, caller, path.into_inner(), NoticeAct::Approve { digest: body.0.digest }).await
}

/// Send an approved notice now, through the families' inboxes and devices.
#[utoipa::path(tag = "notices", operation_id = "send_notice", params(("code" = String, Path), ("notice_id" = String, Path)),
    responses((status = 200, description = "Sent", body = Notice),
        (status = 409, description = "Not approved, cancelled or already sent", body = crate::error::ErrorBody)))]
#[post("/municipalities/{code}/notices/{notice_id}/send")]
pub async fn send_notice(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    act_on_notice(state, caller, path.into_inner(), NoticeAct::Send).await
}

/// Cancel a notice not yet sent.
#[utoipa::path(tag = "notices", operation_id = "cancel_notice", params(("code" = String, Path), ("notice_id" = String, Path)),
    responses((status = 200, description = "Cancelled", body = Notice),
        (status = 409, description = "`notice_not_cancellable`: already sent or cancelled", body = crate::error::ErrorBody)))]
#[post("/municipalities/{code}/notices/{notice_id}/cancel")]
pub async fn cancel_notice(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    act_on_notice(state, caller, path.into_inner(), NoticeAct::Cancel).await
}

/// Preview the audience size of conditions: a count, never a list of families. Below the
/// operator's threshold (5 unless set) the count is withheld (`fewer_than`), and a count made
/// for the same conditions shortly before (30 seconds unless set) may be answered again. An
/// expensive read: it spends several requests of the key's budget (20 unless set).
#[utoipa::path(tag = "notices", operation_id = "preview_notice_audience", params(("code" = String, Path)), request_body = Audience,
    responses((status = 200, description = "How many resident families", body = notices::AudienceSize)))]
#[post("/municipalities/{code}/notices/audience-preview")]
pub async fn preview_notice_audience(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    body: ValidJson<Audience>,
) -> Result<HttpResponse, Error> {
    let (code, _) = staff(&principal, path.into_inner())?;
    state.pay_expensive_read(&principal)?;
    let size = state.audience_size(code, body.0).await?;
    Ok(HttpResponse::Ok().json(size))
}

/// The figures of a notice (families, each counted once). An expensive read: it spends
/// several requests of the key's budget.
#[utoipa::path(tag = "notices", operation_id = "get_notice_figures", params(("code" = String, Path), ("notice_id" = String, Path)),
    responses((status = 200, description = "Figures", body = NoticeFigures)))]
#[get("/municipalities/{code}/notices/{notice_id}/figures")]
pub async fn get_notice_figures(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (code, id) = path.into_inner();
    let (code, _) = staff(&principal, code)?;
    let _turn = state.expensive_read(&principal).await?;
    let figures = state.db.read(move |conn| notices::figures(conn, &code, &id)).await?;
    Ok(HttpResponse::Ok().json(figures))
}

/// A family's consent to receive its municipality's official notifications electronically.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    pub consented: bool,
}

/// Give or withdraw consent to official notifications (recorded with its time).
#[utoipa::path(tag = "notices", operation_id = "update_notice_consent", params(("family_id" = String, Path)), request_body = ConsentInput,
    responses((status = 204, description = "Recorded")))]
#[put("/families/{family_id}/notice-consent")]
pub async fn update_notice_consent(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    body: ValidJson<ConsentInput>,
) -> Result<HttpResponse, Error> {
    let now = state.clock.now();
    state
        .write_family(principal, path.into_inner(), move |conn, _, family| {
            notices::set_consent(conn, &family, body.0.consented, now)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// When to send a notice.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    pub send_at: chrono::DateTime<chrono::Utc>,
}

/// Schedule an approved notice; it goes out at `send_at`, each family's pushes within its
/// allowed hours.
#[utoipa::path(tag = "notices", operation_id = "schedule_notice", params(("code" = String, Path), ("notice_id" = String, Path)),
    request_body = ScheduleInput, responses((status = 200, description = "Scheduled", body = Notice),
        (status = 409, description = "`notice_not_approved`, `approval_outdated`", body = crate::error::ErrorBody)))]
#[post("/municipalities/{code}/notices/{notice_id}/schedule")]
pub async fn schedule_notice(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: ValidJson<ScheduleInput>,
) -> Result<HttpResponse, Error> {
    act_on_notice(state, caller, path.into_inner(), NoticeAct::Schedule(body.0.send_at.naive_utc())).await
}

/// The replies to a notice: counts per choice over all of them, and a page of the replies with
/// the guardians' names, in the order they first came (a changed reply keeps its place). An
/// expensive read: each page spends several requests of the key's budget.
#[utoipa::path(tag = "notices", operation_id = "list_notice_replies",
    params(("code" = String, Path), ("notice_id" = String, Path), super::PageQuery),
    responses((status = 200, description = "The counts and a page of replies", body = notices::RepliesSummary)))]
#[get("/municipalities/{code}/notices/{notice_id}/replies")]
pub async fn list_notice_replies(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
    query: web::Query<super::PageQuery>,
) -> Result<HttpResponse, Error> {
    let (code, id) = path.into_inner();
    let (code, _) = staff(&principal, code)?;
    let (limit, cursor) = query.into_inner().read()?;
    let _turn = state.expensive_read(&principal).await?;
    let keys = state.keys.clone();
    let summary =
        state.db.read(move |conn| notices::replies(conn, &keys, &code, &id, limit, cursor.as_deref())).await?;
    Ok(HttpResponse::Ok().json(summary))
}

/// Answer a notice's questionnaire (once; it may be changed until the reply deadline).
#[utoipa::path(tag = "notices", operation_id = "update_notice_reply", params(("family_id" = String, Path), ("notice_id" = String, Path)),
    request_body = notices::ReplyInput, responses((status = 204, description = "Recorded")))]
#[put("/families/{family_id}/notices/{notice_id}/reply")]
pub async fn update_notice_reply(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
    body: ValidJson<notices::ReplyInput>,
) -> Result<HttpResponse, Error> {
    let (family_id, notice_id) = path.into_inner();
    let now = state.clock.now();
    state
        .write_family(principal, family_id, move |conn, uc, family| {
            notices::reply(conn, &uc.keys, &family, &notice_id, body.0, now)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NoticeQuery {
    /// How many notices per page (1–100, default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The municipality's notices, newest first, a page at a time.
#[utoipa::path(tag = "notices", operation_id = "list_notices", params(("code" = String, Path), NoticeQuery),
    responses((status = 200, description = "A page of notices, newest first", body = NoticePage)))]
#[get("/municipalities/{code}/notices")]
pub async fn list_notices(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<NoticeQuery>,
) -> Result<HttpResponse, Error> {
    let (code, _) = staff(&principal, path.into_inner())?;
    let query = query.into_inner();
    let limit = super::page_limit(query.limit, 50)?;
    let page = state.db.read(move |conn| notices::page(conn, &code, limit, query.cursor.as_deref())).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Does `act` to one notice as a member of its municipality's staff (recorded in the audit
/// trail in the same transaction); answers with the notice.
async fn act_on_notice(
    state: web::Data<AppState>,
    caller: Caller,
    (code, id): (String, String),
    act: NoticeAct,
) -> Result<HttpResponse, Error> {
    let (code, staff_id) = staff(&caller.principal, code)?;
    let target = NoticeRef { code, id, staff_id };
    let notice = state.act_on_notice(caller.actor, target, act).await?;
    Ok(HttpResponse::Ok().json(notice))
}
