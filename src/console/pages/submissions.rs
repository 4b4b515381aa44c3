//! 申請: the inbox by form and status, a submission shown as its form, its verification, its
//! status with 補正依頼 comments per field, and the signed document and certificate to download.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use base64::Engine;
use minijinja::{context, Value};
use serde::Deserialize;

use super::super::i18n::{self, Lang};
use super::super::render;
use super::super::session::{see_other, Failure, Staff};
use super::{frame, local};
use crate::app::AppState;
use crate::error::Error;
use crate::service::submissions::{self, StatusChange, Submission, SubmissionStatus};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/submissions", web::get().to(list))
        .route("/submissions/{id}", web::get().to(show))
        .route("/submissions/{id}/status", web::post().to(set_status))
        .route("/submissions/{id}/signed-document", web::get().to(signed_document))
        .route("/submissions/{id}/certificate.cer", web::get().to(certificate));
}

#[derive(Deserialize)]
struct Filter {
    status: Option<String>,
    form: Option<String>,
}

/// The name of a status, as the counter says it (Japanese, or its English).
fn status_label(lang: Lang, status: SubmissionStatus) -> String {
    let ja = match status {
        SubmissionStatus::Submitted => "未受付",
        SubmissionStatus::Received => "受付",
        SubmissionStatus::InReview => "審査中",
        SubmissionStatus::CorrectionRequested => "補正依頼",
        SubmissionStatus::Accepted => "受理",
        SubmissionStatus::Rejected => "却下",
        SubmissionStatus::Completed => "完了",
    };
    i18n::text(lang, ja)
}

async fn list(state: web::Data<AppState>, staff: Staff, filter: web::Query<Filter>) -> Result<HttpResponse, Failure> {
    let Filter { status, form } = filter.into_inner();
    let status = SubmissionStatus::ALL.iter().copied().find(|s| Some(s.as_str()) == status.as_deref());
    let form = form.filter(|f| state.planning.forms.get(f).is_some());
    let code = staff.session.municipality.clone();
    let planning = state.planning.clone();
    let only_form = form.clone();
    let rows = state
        .db
        .read(move |conn| submissions::list_for_municipality(conn, &planning, &code, status, only_form.as_deref()))
        .await?;
    let rows: Vec<Value> = rows
        .iter()
        .map(|s| {
            context! {
                id => s.id.clone(), form => staff.lang.name(&s.form_name), status => s.status.as_str(),
                status_label => status_label(staff.lang, s.status), submitted => local(s.submitted_at),
                corrects => s.corrects_submission_id.clone(), family_deleted => s.family_deleted_at.is_some(),
            }
        })
        .collect();
    let forms: Vec<Value> =
        state.planning.forms.all().map(|f| context! { id => f.id.clone(), name => staff.lang.name(&f.name) }).collect();
    let statuses: Vec<Value> = SubmissionStatus::ALL
        .iter()
        .map(|s| context! { id => s.as_str(), name => status_label(staff.lang, *s) })
        .collect();
    let context = context! {
        submissions => rows, forms => forms,
        statuses => statuses, status => status.map(|s| s.as_str()), form => form,
        ..frame(&staff, "submissions"),
    };
    Ok(render::page("submissions.html", context)?)
}

async fn load(state: &AppState, staff: &Staff, id: String) -> Result<Submission, Failure> {
    let code = staff.session.municipality.clone();
    let (keys, planning) = (state.keys.clone(), state.planning.clone());
    Ok(state.db.read(move |conn| submissions::get_for_municipality(conn, &keys, &planning, &code, &id)).await?)
}

async fn show(state: web::Data<AppState>, staff: Staff, id: web::Path<String>) -> Result<HttpResponse, Failure> {
    let submission = load(&state, &staff, id.into_inner()).await?;
    let document: serde_json::Value =
        serde_json::from_str(&submission.document).map_err(|e| Error::unreadable("submissions.document", &e))?;
    let values = document.get("fields").cloned().unwrap_or_default();
    let form = state.planning.forms.get(&submission.form_id);
    // Each field of the form, with its label and the value signed.
    let fields: Vec<Value> = form
        .map(|form| {
            form.fields
                .iter()
                .map(|f| {
                    let value = values.get(&f.id).map(|v| display(staff.lang, v)).unwrap_or_default();
                    context! { id => f.id.clone(), label => staff.lang.name(&f.label), value => value,
                    municipality => f.source == crate::domain::forms::Source::Municipality }
                })
                .collect()
        })
        .unwrap_or_default();
    let history: Vec<Value> = submission
        .history
        .iter()
        .map(|e| {
            context! { status_label => status_label(staff.lang, e.status), at => local(e.at), comment => e.comment.clone(),
            field_comments => e.field_comments.clone() }
        })
        .collect();
    let next: Vec<Value> = submission
        .status
        .next()
        .iter()
        .map(|s| context! { id => s.as_str(), name => status_label(staff.lang, *s) })
        .collect();
    let context = context! {
        submission => render::ser(&submission),
        status_label => status_label(staff.lang, submission.status),
        submitted => local(submission.submitted_at),
        not_after => local(submission.verification.certificate_not_after),
        fields => fields, history => history, next => next,
        ..frame(&staff, "submissions"),
    };
    Ok(render::page("submission.html", context)?)
}

fn display(lang: Lang, value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Bool(true) => i18n::text(lang, "はい"),
        serde_json::Value::Bool(false) => i18n::text(lang, "いいえ"),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The status form: the status, a comment, and (for 補正依頼) `field.<id>` comments.
async fn set_status(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<String>,
    form: web::Form<BTreeMap<String, String>>,
) -> Result<HttpResponse, Failure> {
    let form = form.into_inner();
    staff.check_form_token(form.get("csrf").map(String::as_str).unwrap_or_default())?;
    let status = form
        .get("status")
        .and_then(|s| SubmissionStatus::ALL.iter().copied().find(|x| x.as_str() == s))
        .ok_or_else(|| Error::field("status", "choose the new status"))?;
    let comment = form.get("comment").map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
    let field_comments: BTreeMap<String, String> = form
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("field.")?.to_owned(), v.trim().to_owned())))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let change = StatusChange { status, comment, field_comments };
    let (code, staff_id, id) = (staff.session.municipality.clone(), staff.session.staff_id.clone(), id.into_inner());
    let target = id.clone();
    state
        .write_audited(staff.actor.clone(), move |conn, uc| {
            submissions::set_status_audited(conn, uc, &code, &staff_id, &target, change)
        })
        .await?;
    Ok(see_other(&format!("/console/submissions/{id}")))
}

/// The exact bytes the parent signed.
async fn signed_document(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<String>,
) -> Result<HttpResponse, Failure> {
    let submission = load(&state, &staff, id.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{}.json\"", submission.id)))
        .body(submission.signed_document))
}

/// The signing certificate, DER.
async fn certificate(state: web::Data<AppState>, staff: Staff, id: web::Path<String>) -> Result<HttpResponse, Failure> {
    let submission = load(&state, &staff, id.into_inner()).await?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(submission.certificate.as_bytes())
        .map_err(|e| Error::internal(format!("stored certificate: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("application/pkix-cert")
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{}.cer\"", submission.id)))
        .body(der))
}
