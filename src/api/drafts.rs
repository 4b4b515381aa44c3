//! `/v1/families/{family_id}/drafts` and `/bundles`: pre-filled applications the parent checks,
//! corrects, confirms and signs; `/submissions`: what was sent, and where it stands.

use actix_web::{get, patch, post, web, HttpResponse};

use super::etag::IfMatch;
use super::extract::ValidJson;
use crate::app::AppState;
use crate::error::Error;
use crate::service::bundles::{self, Bundle};
use crate::service::drafts::{self, Draft, DraftPatch};
use crate::service::principals::Principal;
use crate::service::submissions::{self, FamilySubmissionPage, Submission};

/// The family's drafts (withdrawn ones left out), newest first.
///
/// Bounded, so not paged: one draft per task whose form nonstop knows (as bounded as the
/// tasks), and one per correction a municipality asked for (補正依頼).
#[utoipa::path(tag = "drafts", operation_id = "list_drafts", params(("family_id" = String, Path)),
    responses((status = 200, description = "The drafts", body = Vec<Draft>)))]
#[get("/families/{family_id}/drafts")]
pub async fn list_drafts(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let planning = state.planning.clone();
    let list = state
        .read_family(principal, path.into_inner(), move |conn, uc, family| {
            drafts::list(conn, &uc.keys, &planning, &family.id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// A draft: each field with its value, where the value came from, and whether the parent
/// must still fill or check it.
#[utoipa::path(tag = "drafts", operation_id = "get_draft", params(("family_id" = String, Path), ("draft_id" = String, Path)),
    responses((status = 200, description = "The draft", body = Draft)))]
#[get("/families/{family_id}/drafts/{draft_id}")]
pub async fn get_draft(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (family_id, draft_id) = path.into_inner();
    let planning = state.planning.clone();
    let draft = state
        .read_family(principal, family_id, move |conn, uc, family| {
            drafts::view(&planning, &uc.keys, drafts::find(conn, &family.id, &draft_id)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(draft))
}

/// Correct fields of an open draft (`null` returns a field to its pre-filled value). Each
/// value is checked; a bad one is refused naming the field, and the draft stays as it was. In
/// the birth bundle, a shared field changes in every open form of the bundle.
#[utoipa::path(tag = "drafts", operation_id = "update_draft", params(("family_id" = String, Path), ("draft_id" = String, Path)),
    request_body = DraftPatch,
    responses((status = 200, description = "The corrected draft", body = Draft),
        (status = 409, description = "`draft_not_open`", body = crate::error::ErrorBody)))]
#[patch("/families/{family_id}/drafts/{draft_id}")]
pub async fn update_draft(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
    body: ValidJson<DraftPatch>,
    if_match: IfMatch,
) -> Result<HttpResponse, Error> {
    let (family_id, draft_id) = path.into_inner();
    let planning = state.planning.clone();
    let draft = state
        .write_family(principal, family_id, move |conn, uc, family| {
            let current = drafts::view(&planning, &uc.keys, drafts::find(conn, &family.id, &draft_id)?)?;
            let updated = drafts::patch(conn, uc, &family, &draft_id, body.0)?;
            if_match.check(&current)?;
            Ok(updated)
        })
        .await?;
    Ok(HttpResponse::Ok().json(draft))
}

/// Confirm a draft: nonstop freezes it into a canonical document (RFC 8785) and returns it
/// with its SHA-256 digest, for the app to sign exactly those bytes.
#[utoipa::path(tag = "drafts", operation_id = "confirm_draft", params(("family_id" = String, Path), ("draft_id" = String, Path)),
    responses((status = 200, description = "The confirmed draft with `confirmed.document` and `confirmed.digest_sha256`", body = Draft),
        (status = 409, description = "`draft_not_open`", body = crate::error::ErrorBody)))]
#[post("/families/{family_id}/drafts/{draft_id}/confirm")]
pub async fn confirm_draft(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (family_id, draft_id) = path.into_inner();
    let draft = state
        .write_family(principal, family_id, move |conn, uc, family| drafts::confirm(conn, uc, &family, &draft_id))
        .await?;
    Ok(HttpResponse::Ok().json(draft))
}

/// Take a confirmed draft back to open, to correct it before signing (its document is dropped).
#[utoipa::path(tag = "drafts", operation_id = "reopen_draft", params(("family_id" = String, Path), ("draft_id" = String, Path)),
    responses((status = 200, description = "The draft, open again", body = Draft),
        (status = 409, description = "`reopen_the_bundle`, `draft_not_confirmed`", body = crate::error::ErrorBody)))]
#[post("/families/{family_id}/drafts/{draft_id}/reopen")]
pub async fn reopen_draft(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (family_id, draft_id) = path.into_inner();
    let (planning, now) = (state.planning.clone(), state.clock.now());
    let draft = state
        .write_family(principal, family_id, move |conn, uc, family| {
            drafts::reopen(conn, &uc.keys, &planning, &family, &draft_id, now)
        })
        .await?;
    Ok(HttpResponse::Ok().json(draft))
}

/// The birth bundle (一括申請): the post-birth forms of one child, each shared field once.
#[utoipa::path(tag = "drafts", operation_id = "get_bundle", params(("family_id" = String, Path), ("bundle_id" = String, Path)),
    responses((status = 200, description = "The bundle", body = Bundle)))]
#[get("/families/{family_id}/bundles/{bundle_id}")]
pub async fn get_bundle(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (family_id, bundle_id) = path.into_inner();
    let planning = state.planning.clone();
    let bundle = state
        .read_family(principal, family_id, move |conn, uc, family| {
            bundles::get(conn, &uc.keys, &planning, &family.id, &bundle_id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(bundle))
}

/// Set fields once for the whole bundle: each value changes in every open form that has it.
#[utoipa::path(tag = "drafts", operation_id = "update_bundle", params(("family_id" = String, Path), ("bundle_id" = String, Path)),
    request_body = DraftPatch,
    responses((status = 200, description = "The bundle", body = Bundle),
        (status = 409, description = "`bundle_not_open`", body = crate::error::ErrorBody)))]
#[patch("/families/{family_id}/bundles/{bundle_id}")]
pub async fn update_bundle(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
    body: ValidJson<DraftPatch>,
    if_match: IfMatch,
) -> Result<HttpResponse, Error> {
    let (family_id, bundle_id) = path.into_inner();
    let planning = state.planning.clone();
    let bundle = state
        .write_family(principal, family_id, move |conn, uc, family| {
            let current = bundles::get(conn, &uc.keys, &planning, &family.id, &bundle_id)?;
            let updated = bundles::patch(conn, uc, &family, &bundle_id, body.0)?;
            if_match.check(&current)?;
            Ok(updated)
        })
        .await?;
    Ok(HttpResponse::Ok().json(bundle))
}

/// Confirm every open form of the bundle: one canonical bundle document listing each form's
/// document and digest.
#[utoipa::path(tag = "drafts", operation_id = "confirm_bundle", params(("family_id" = String, Path), ("bundle_id" = String, Path)),
    responses((status = 200, description = "The confirmed bundle", body = Bundle),
        (status = 409, description = "`bundle_not_open`, `bundle_empty`", body = crate::error::ErrorBody)))]
#[post("/families/{family_id}/bundles/{bundle_id}/confirm")]
pub async fn confirm_bundle(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (family_id, bundle_id) = path.into_inner();
    let bundle = state
        .write_family(principal, family_id, move |conn, uc, family| bundles::confirm(conn, uc, &family, &bundle_id))
        .await?;
    Ok(HttpResponse::Ok().json(bundle))
}

/// Take a confirmed bundle (and the forms confirmed with it) back to open, before signing.
#[utoipa::path(tag = "drafts", operation_id = "reopen_bundle", params(("family_id" = String, Path), ("bundle_id" = String, Path)),
    responses((status = 200, description = "The bundle, open again", body = Bundle),
        (status = 409, description = "`bundle_not_confirmed`", body = crate::error::ErrorBody)))]
#[post("/families/{family_id}/bundles/{bundle_id}/reopen")]
pub async fn reopen_bundle(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (family_id, bundle_id) = path.into_inner();
    let (planning, now) = (state.planning.clone(), state.clock.now());
    let bundle = state
        .write_family(principal, family_id, move |conn, uc, family| {
            bundles::reopen(conn, &uc.keys, &planning, &family, &bundle_id, now)
        })
        .await?;
    Ok(HttpResponse::Ok().json(bundle))
}

/// The family's submissions and where each stands, with the municipality's comments, newest
/// first, a page at a time.
#[utoipa::path(tag = "submissions", operation_id = "list_family_submissions", params(("family_id" = String, Path), super::PageQuery),
    responses((status = 200, description = "A page of submissions, newest first", body = FamilySubmissionPage)))]
#[get("/families/{family_id}/submissions")]
pub async fn list_family_submissions(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<super::PageQuery>,
) -> Result<HttpResponse, Error> {
    let (limit, cursor) = query.into_inner().read()?;
    let planning = state.planning.clone();
    let page = state
        .read_family(principal, path.into_inner(), move |conn, uc, family| {
            submissions::page_for_family(conn, &uc.keys, &planning, &family.id, limit, cursor.as_deref())
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// One of the family's submissions.
#[utoipa::path(tag = "submissions", operation_id = "get_family_submission",
    params(("family_id" = String, Path), ("submission_id" = String, Path)),
    responses((status = 200, description = "The submission", body = Submission)))]
#[get("/families/{family_id}/submissions/{submission_id}")]
pub async fn get_family_submission(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (family_id, id) = path.into_inner();
    let planning = state.planning.clone();
    let submission = state
        .read_family(principal, family_id, move |conn, uc, family| {
            submissions::get_for_family(conn, &uc.keys, &planning, &family.id, &id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(submission))
}

/// 処分通知: a decision document the municipality attached to a status of one of the family's
/// submissions (`history[].decision_document.id`), the PDF as the municipality sent it.
#[utoipa::path(tag = "submissions", operation_id = "get_family_decision_document",
    params(("family_id" = String, Path), ("submission_id" = String, Path), ("document_id" = String, Path)),
    responses((status = 200, description = "The PDF", body = [u8], content_type = "application/pdf",
        example = json!("%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n…\n%%EOF"))))]
#[get("/families/{family_id}/submissions/{submission_id}/decision-documents/{document_id}")]
pub async fn get_family_decision_document(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, Error> {
    let (family_id, id, document) = path.into_inner();
    let pdf = state
        .read_family(principal, family_id, move |conn, uc, family| {
            submissions::decision::bytes_for_family(conn, &uc.keys, &family.id, &id, &document)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header(("Content-Disposition", "attachment; filename=\"decision.pdf\""))
        .body(pdf))
}
