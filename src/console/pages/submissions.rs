//! 申請: the inbox by form and status, a submission shown as its form, its verification, its
//! status with 補正依頼 comments per field, and the signed document and certificate to download.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use base64::Engine;
use minijinja::{context, Value};
use serde::Deserialize;

use super::super::i18n::{self, Lang};
use super::super::problems::{self, Problems};
use super::super::session::{see_other, Failure, Staff};
use super::super::{multipart, render};
use super::{confirm_page, confirmed, frame, local, Confirm};
use crate::app::AppState;
use crate::error::Error;
use crate::service::audit::{AuditAction, Event};
use crate::service::submissions::decision::{self, DecisionUpload};
use crate::service::submissions::desk::{self, Assigned, DeskQuery};
use crate::service::submissions::{self, StatusChange, Submission, SubmissionStatus};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/submissions", web::get().to(list))
        .route("/submissions/export", web::get().to(super::submission_export::page))
        .route("/submissions/export.csv", web::get().to(super::submission_export::download))
        .route("/submissions/{id}", web::get().to(show))
        .route("/submissions/{id}/print", web::get().to(super::submission_print::print))
        .route("/submissions/{id}/decision-documents/{document}", web::get().to(decision_document))
        .route("/submissions/{id}/status", web::post().to(set_status))
        .route("/submissions/{id}/assignee", web::post().to(set_assignee))
        .route("/submissions/{id}/notes", web::post().to(add_note))
        .route("/submissions/{id}/signed-document", web::get().to(signed_document))
        .route("/submissions/{id}/certificate.cer", web::get().to(certificate));
}

/// The name of a status, as the counter says it (Japanese, or its English).
pub(super) fn status_label(lang: Lang, status: SubmissionStatus) -> String {
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

/// The worklist's conditions, as the filter form sends them (empty fields are absent).
#[derive(Deserialize)]
struct Filter {
    status: Option<String>,
    form: Option<String>,
    /// 受付番号, or a name or kana.
    q: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// `mine` or `nobody`.
    assigned: Option<String>,
    page: Option<i64>,
}

impl Filter {
    fn query(&self, state: &AppState) -> DeskQuery {
        let some = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        let day = |v: &Option<String>| some(v).and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok());
        DeskQuery {
            status: SubmissionStatus::ALL.iter().copied().find(|s| Some(s.as_str()) == self.status.as_deref()),
            form_id: some(&self.form).filter(|f| state.planning.forms.get(f).is_some()),
            text: some(&self.q),
            from: day(&self.from),
            to: day(&self.to),
            assigned: match self.assigned.as_deref() {
                Some("mine") => Some(Assigned::ToMe),
                Some("nobody") => Some(Assigned::ToNobody),
                _ => None,
            },
            page: self.page.unwrap_or(1).max(1),
            per_page: None,
        }
    }
}

/// The worklist's address with these conditions and another page or status.
fn worklist_link(query: &DeskQuery, status: Option<SubmissionStatus>, page: i64) -> String {
    let mut link = url::form_urlencoded::Serializer::new(String::new());
    let mut pair = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            link.append_pair(k, &v);
        }
    };
    pair("status", status.map(|s| s.as_str().to_owned()));
    pair("form", query.form_id.clone());
    pair("q", query.text.clone());
    pair("from", query.from.map(|d| d.to_string()));
    pair("to", query.to.map(|d| d.to_string()));
    pair(
        "assigned",
        query.assigned.map(|a| match a {
            Assigned::ToMe => "mine".to_owned(),
            Assigned::ToNobody => "nobody".to_owned(),
        }),
    );
    pair("page", (page > 1).then(|| page.to_string()));
    format!("/console/submissions?{}", link.finish())
}

async fn list(state: web::Data<AppState>, staff: Staff, filter: web::Query<Filter>) -> Result<HttpResponse, Failure> {
    let query = filter.query(&state);
    let code = staff.session.municipality.clone();
    let staff_id = staff.session.staff_id.clone();
    let (keys, planning) = (state.keys.clone(), state.planning.clone());
    let today = crate::domain::dates::tokyo_date(state.clock.now().and_utc());
    let asked = query.clone();
    let page =
        state.db.read(move |conn| desk::worklist(conn, &keys, &planning, &code, &staff_id, &asked, today)).await?;
    let rows: Vec<Value> = page
        .rows
        .iter()
        .map(|s| {
            context! {
                id => s.id.clone(), reference_number => s.reference_number.clone(),
                form => staff.lang.name(&s.form_name), status => s.status.as_str(),
                status_label => status_label(staff.lang, s.status), submitted => local(crate::service::utc(s.submitted_at)),
                applicant_name => s.applicant_name.clone(), applicant_kana => s.applicant_kana.clone(),
                child_name => s.child_name.clone(), child_kana => s.child_kana.clone(),
                days_waiting => s.days_waiting, assignee => s.assignee.clone(),
                corrects => s.corrects_submission_id.clone(), family_deleted => s.family_deleted,
            }
        })
        .collect();
    let forms: Vec<Value> =
        state.planning.forms.all().map(|f| context! { id => f.id.clone(), name => staff.lang.name(&f.name) }).collect();
    let statuses: Vec<Value> = page
        .counts
        .iter()
        .map(|(s, count)| {
            context! { id => s.as_str(), name => status_label(staff.lang, *s), count => count,
            link => worklist_link(&query, Some(*s), 1) }
        })
        .collect();
    let pages = context! {
        page => page.page, pages => page.pages, total => page.total,
        first => (page.page - 1) * desk::PAGE_SIZE + 1,
        last => ((page.page - 1) * desk::PAGE_SIZE + page.rows.len() as i64),
        previous => (page.page > 1).then(|| worklist_link(&query, query.status, page.page - 1)),
        next => (page.page < page.pages).then(|| worklist_link(&query, query.status, page.page + 1)),
    };
    let context = context! {
        submissions => rows, forms => forms, statuses => statuses, pages => pages,
        all_link => worklist_link(&query, None, 1),
        status => query.status.map(|s| s.as_str()), form => query.form_id.clone(), q => query.text.clone(),
        from => query.from.map(|d| d.to_string()), to => query.to.map(|d| d.to_string()),
        assigned => filter.assigned.clone(), search_cut_short => page.search_cut_short,
        scan_limit => desk::SEARCH_SCAN_LIMIT,
        ..frame(&staff, "submissions"),
    };
    Ok(render::page("submissions.html", context)?)
}

pub(super) async fn load(state: &AppState, staff: &Staff, id: String) -> Result<Submission, Failure> {
    let code = staff.session.municipality.clone();
    let (keys, planning) = (state.keys.clone(), state.planning.clone());
    Ok(state.db.read(move |conn| submissions::get_for_municipality(conn, &keys, &planning, &code, &id)).await?)
}

async fn show(state: web::Data<AppState>, staff: Staff, id: web::Path<String>) -> Result<HttpResponse, Failure> {
    submission_page(&state, &staff, id.into_inner(), Kept::default(), actix_web::http::StatusCode::OK).await
}

/// What the status form sent, kept when it is refused, with the problems found.
#[derive(Default)]
struct Kept {
    problems: Problems,
    form: BTreeMap<String, String>,
}

/// A submission's page; after a refused status change, with its problems at their fields and
/// everything typed still there.
async fn submission_page(
    state: &AppState,
    staff: &Staff,
    id: String,
    kept: Kept,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, Failure> {
    let submission = load(state, staff, id).await?;
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
                    context! { id => f.id.clone(), input => field_input(&f.id), label => staff.lang.name(&f.label), value => value,
                    municipality => f.source == crate::domain::forms::Source::Municipality }
                })
                .collect()
        })
        .unwrap_or_default();
    let (keys, target) = (state.keys.clone(), submission.id.clone());
    let (assignee, notes, authors) = state
        .db
        .read(move |conn| {
            Ok((
                desk::assignee(conn, &target)?,
                desk::notes(conn, &keys, &target)?,
                desk::history_authors(conn, &target)?,
            ))
        })
        .await?;
    // A field's comment under the field's label, as the form prints it.
    let label = |id: &str| {
        form.and_then(|f| f.field(id)).map_or_else(|| id.to_owned(), |f| staff.lang.name(&f.label).to_owned())
    };
    let history: Vec<Value> = submission
        .history
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let field_comments: Vec<Value> =
                e.field_comments.iter().map(|(id, c)| context! { label => label(id), comment => c.clone() }).collect();
            context! { status_label => status_label(staff.lang, e.status), at => local(e.at), comment => e.comment.clone(),
            field_comments => field_comments, by => authors.get(i).cloned().flatten(),
            decision_document => e.decision_document.as_ref().map(|d| context! {
                link => format!("/console/submissions/{}/decision-documents/{}", submission.id, d.id),
                kilobytes => (d.size_bytes + 1023) / 1024,
            }) }
        })
        .collect();
    let notes: Vec<Value> = notes
        .into_iter()
        .map(|n| context! { author => n.author, body => n.body, at => local(crate::service::utc(n.at)) })
        .collect();
    let mine = assignee.as_ref().is_some_and(|(id, _)| *id == staff.session.staff_id);
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
        fields => fields, history => history, next => next, notes => notes,
        assignee => assignee.map(|(_, name)| name), assigned_to_me => mine,
        note_max => desk::NOTE_MAX_CHARS,
        decision_max_megabytes => state.settings.submissions.decision_document_max_bytes / (1024 * 1024),
        problems => render::ser(&kept.problems), kept => kept.form,
        ..frame(staff, "submissions"),
    };
    Ok(render::page_with_status(status, "submission.html", context)?)
}

pub(super) fn display(lang: Lang, value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Bool(true) => i18n::text(lang, "はい"),
        serde_json::Value::Bool(false) => i18n::text(lang, "いいえ"),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The status form: the status, a comment, (for 補正依頼) `field.<id>` comments, and (for 受理,
/// 却下, 完了) the decision document, a PDF: sent as `multipart/form-data`.
async fn set_status(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<String>,
    req: actix_web::HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Failure> {
    let max_bytes = state.settings.submissions.decision_document_max_bytes;
    // The document and the form's other fields, with room for the multipart framing.
    let body =
        multipart::read_body(payload, max_bytes + 64 * 1024).await.map_err(|e| Error::internal(e.to_string()))?;
    let Some(body) = body else {
        // Not read to its end, so nothing else of the form is known: the page comes back with
        // the problem at the file's field.
        let errors = crate::error::FieldErrors::from([(
            "decision_document".to_owned(),
            "PDF が大きすぎます（上限を超えています）".to_owned(),
        )]);
        let id = id.into_inner();
        let map = status_form_fields(&state, &staff, &id).await?;
        let kept = Kept { problems: problems::at_fields_labelled(staff.lang, &errors, &map), form: BTreeMap::new() };
        return submission_page(&state, &staff, id, kept, actix_web::http::StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let mut form = BTreeMap::new();
    let mut document = None;
    match multipart::boundary(&req) {
        Some(boundary) => {
            for part in multipart::parse(&body, &boundary).map_err(|e| Error::field("form", e))? {
                match (part.name.as_str(), part.filename) {
                    // A file input left empty sends a part with no name and no bytes.
                    ("decision_document", Some(_)) if !part.data.is_empty() => document = Some(part.data),
                    ("decision_document", _) => {}
                    (name, _) => {
                        form.insert(name.to_owned(), String::from_utf8_lossy(&part.data).into_owned());
                    }
                }
            }
        }
        None => form.extend(url::form_urlencoded::parse(&body).into_owned()),
    }
    staff.check_form_token(form.get("csrf").map(String::as_str).unwrap_or_default())?;
    let id = id.into_inner();
    let status = form
        .get("status")
        .and_then(|s| SubmissionStatus::ALL.iter().copied().find(|x| x.as_str() == s))
        .ok_or_else(|| Error::field("status", "choose the new status"))?;
    // 却下 cannot be undone: said, with its reason, and confirmed first.
    if status == SubmissionStatus::Rejected && !confirmed(form.get("confirmed").map(String::as_str)) {
        let submission = load(&state, &staff, id.clone()).await?;
        let lang = staff.lang;
        let number = [("n", submission.reference_number.as_str())];
        let mut details =
            vec![i18n::text(lang, "保護者に、却下したことと理由が届きます。却下した申請は、もとの状態に戻せません。")];
        if let Some(reason) = form.get("comment").map(|c| c.trim()).filter(|c| !c.is_empty()) {
            details.push(i18n::format(lang, "理由: {reason}", &[("reason", reason)]));
        }
        let confirm = Confirm {
            heading: i18n::format(lang, "受付番号 {n} の申請を却下します", &number),
            details,
            action: format!("/console/submissions/{id}/status"),
            fields: form.into_iter().collect(),
            button: i18n::text(lang, "却下する"),
            back: format!("/console/submissions/{id}"),
            allowed: true,
            // A file cannot ride in a hidden field: the decision document is chosen here.
            upload: Some(i18n::text(lang, "決定通知書（処分通知）の PDF（任意）")),
        };
        return confirm_page(&staff, "submissions", confirm);
    }
    let comment = form.get("comment").map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
    let field_comments: BTreeMap<String, String> = form
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("field.")?.to_owned(), v.trim().to_owned())))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let change = StatusChange { status, comment, field_comments };
    let decision = document.map(|bytes| DecisionUpload { bytes, max_bytes });
    let (code, staff_id) = (staff.session.municipality.clone(), staff.session.staff_id.clone());
    let target = id.clone();
    let changed = state
        .write_audited(staff.actor.clone(), move |conn, uc| {
            submissions::set_status_audited(conn, uc, &code, &staff_id, &target, change, decision)
        })
        .await;
    match changed {
        Ok(_) => Ok(see_other(&format!("/console/submissions/{id}?done=status"))),
        Err(Error::Validation(errors)) => {
            let map = status_form_fields(&state, &staff, &id).await?;
            let problems = problems::at_fields_labelled(staff.lang, &errors, &map);
            let kept = Kept { problems, form };
            submission_page(&state, &staff, id, kept, actix_web::http::StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(refused @ (Error::Conflict { .. } | Error::Changed { .. })) => {
            let kept = Kept { problems: Problems::whole(staff.lang, &refused.message()), form };
            submission_page(&state, &staff, id, kept, actix_web::http::StatusCode::CONFLICT).await
        }
        Err(other) => Err(other.into()),
    }
}

/// Where the status form shows a problem: each field's 補正依頼 comment under the field's
/// label, then the comment and the new status.
async fn status_form_fields(
    state: &AppState,
    staff: &Staff,
    id: &str,
) -> Result<Vec<(String, String, String)>, Failure> {
    let submission = load(state, staff, id.to_owned()).await?;
    let lang = staff.lang;
    let mut map: Vec<(String, String, String)> = state
        .planning
        .forms
        .get(&submission.form_id)
        .into_iter()
        .flat_map(|form| &form.fields)
        .map(|f| (format!("field_comments.{}", f.id), field_input(&f.id), lang.name(&f.label)))
        .collect();
    map.push(("field_comments".into(), "form-heading".into(), i18n::text(lang, "補正依頼のコメント")));
    map.push(("comment".into(), "comment".into(), i18n::text(lang, "保護者へのコメント")));
    map.push((
        "decision_document".into(),
        "decision-document".into(),
        i18n::text(lang, "決定通知書（処分通知）の PDF"),
    ));
    map.push(("status".into(), "new-status".into(), i18n::text(lang, "新しい状態")));
    Ok(map)
}

/// The id of a field's 補正依頼 input on the submission's page.
fn field_input(field: &str) -> String {
    format!("field-{}", field.replace(|c: char| !c.is_ascii_alphanumeric(), "-"))
}

/// 処分通知: a decision document kept with the submission, as the PDF it is.
async fn decision_document(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Failure> {
    let (id, document) = path.into_inner();
    let submission = load(&state, &staff, id).await?;
    let keys = state.keys.clone();
    let target = submission.id.clone();
    let (bytes, _) = state.db.read(move |conn| decision::bytes(conn, &keys, &target, &document)).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{}.pdf\"", submission.reference_number)))
        .body(bytes))
}

/// 担当: take the submission (`action=take`) or give it back (`action=release`).
async fn set_assignee(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<String>,
    form: web::Form<BTreeMap<String, String>>,
) -> Result<HttpResponse, Failure> {
    let form = form.into_inner();
    staff.check_form_token(form.get("csrf").map(String::as_str).unwrap_or_default())?;
    let take = match form.get("action").map(String::as_str) {
        Some("take") => true,
        Some("release") => false,
        _ => return Err(Error::field("action", "take or release").into()),
    };
    let (code, staff_id, id) = (staff.session.municipality.clone(), staff.session.staff_id.clone(), id.into_inner());
    let target = id.clone();
    state
        .write_audited(staff.actor.clone(), move |conn, _| {
            desk::assign(conn, &code, &target, take.then_some(staff_id.as_str()))?;
            let event = Event::new(AuditAction::SubmissionAssigned, "submission", target.clone())
                .in_municipality(code.as_str())
                .detail(if take { "taken" } else { "released" });
            Ok(((), event))
        })
        .await?;
    Ok(see_other(&format!("/console/submissions/{id}?done={}", if take { "taken" } else { "released" })))
}

/// A note for the other members of staff.
async fn add_note(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<String>,
    form: web::Form<BTreeMap<String, String>>,
) -> Result<HttpResponse, Failure> {
    let form = form.into_inner();
    staff.check_form_token(form.get("csrf").map(String::as_str).unwrap_or_default())?;
    let body = form.get("note").cloned().unwrap_or_default();
    let (code, staff_id, id) = (staff.session.municipality.clone(), staff.session.staff_id.clone(), id.into_inner());
    let target = id.clone();
    let added = state
        .write_audited(staff.actor.clone(), move |conn, uc| {
            desk::add_note(conn, &uc.keys, &code, &target, &staff_id, &body, uc.now)?;
            let event = Event::new(AuditAction::SubmissionNoteAdded, "submission", target.clone())
                .in_municipality(code.as_str());
            Ok(((), event))
        })
        .await;
    match added {
        Ok(()) => Ok(see_other(&format!("/console/submissions/{id}?done=note#notes-heading"))),
        Err(Error::Validation(errors)) => {
            let map = [("note".to_owned(), "note".to_owned(), i18n::text(staff.lang, "メモを残す"))];
            let kept = Kept { problems: problems::at_fields_labelled(staff.lang, &errors, &map), form };
            submission_page(&state, &staff, id, kept, actix_web::http::StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(other) => Err(other.into()),
    }
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
