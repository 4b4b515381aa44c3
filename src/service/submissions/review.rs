//! The municipality's review: a status moved along the allowed transitions, with comments
//! (補正依頼 opens a correction draft for the parent), and the parent told of each change.

use std::collections::BTreeMap;

use diesel::prelude::*;
use serde_json::Value;

use super::decision::DecisionUpload;
use super::{form_name, load, view_for, Comments, StatusChange, Submission, SubmissionStatus};
use crate::db::rows::{FamilyRow, SubmissionEventRow, SubmissionRow};
use crate::db::schema::{drafts as drafts_table, submission_events, submissions};
use crate::db::sealed;
use crate::db::DbConnection;
use crate::domain::catalog::Names;
use crate::domain::{individual_number, MunicipalityCode};
use crate::error::{Error, FieldErrors};
use crate::service::app_events::{self, Subject};
use crate::service::drafts::{self, Content, Entry, NewDraft, Origin};
use crate::service::inbox::{self, EntryKind, NewEntry};
use crate::service::UseCase;
use crate::service::{municipalities, new_id};
use crate::templates::TemplateValue;

pub(super) const MAX_COMMENT: usize = 1000;

pub(super) fn check_comment(text: &str, field: &str, errors: &mut FieldErrors) {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_COMMENT {
        errors.insert(field.to_owned(), format!("must be 1 to {MAX_COMMENT} characters"));
    } else if let Err(problem) = crate::domain::text::readable(trimmed, crate::domain::text::Lines::Many) {
        errors.insert(field.to_owned(), problem);
    } else if individual_number::appears_in(trimmed) {
        errors.insert(field.to_owned(), individual_number::REFUSAL.to_owned());
    }
}

/// Sets the status as `staff_id`, with the audit event that records it (API and console alike).
pub fn set_status_audited(
    conn: &mut DbConnection,
    uc: &UseCase,
    code: &MunicipalityCode,
    staff_id: &str,
    id: &str,
    change: StatusChange,
    decision: Option<DecisionUpload>,
) -> Result<(Submission, crate::service::audit::Event), Error> {
    use crate::service::audit::{AuditAction, Event};
    let with_document = decision.is_some();
    let submission = set_status_with_decision(conn, uc, code, staff_id, id, change, decision)?;
    // The detail says a decision document went with it (never its contents).
    let mut detail = format!("{} {}", submission.status.as_str(), submission.reference_number);
    if with_document {
        detail.push_str(" decision_document");
    }
    let event = Event::new(AuditAction::SubmissionStatusChanged, "submission", submission.id.clone())
        .in_municipality(code.as_str())
        .detail(detail);
    Ok((submission, event))
}

/// Sets a status: checked against the allowed transitions, recorded with its comments,
/// announced to the family (inbox and push), and, for a correction request, a new draft
/// opened with the comments on the fields.
pub fn set_status(
    conn: &mut DbConnection,
    uc: &UseCase,
    code: &MunicipalityCode,
    staff_id: &str,
    id: &str,
    change: StatusChange,
) -> Result<Submission, Error> {
    set_status_with_decision(conn, uc, code, staff_id, id, change, None)
}

/// [`set_status`], with the decision document (処分通知) staff attach to 受理, 却下 or 完了: kept
/// with the status event, and the family's inbox told it can be read.
pub fn set_status_with_decision(
    conn: &mut DbConnection,
    uc: &UseCase,
    code: &MunicipalityCode,
    staff_id: &str,
    id: &str,
    change: StatusChange,
    decision: Option<DecisionUpload>,
) -> Result<Submission, Error> {
    let (keys, ctx, now) = (&*uc.keys, &*uc.planning, uc.now);
    let row = load(conn, id)?;
    if row.municipality_code != code.as_str() {
        return Err(Error::NotFound("submission"));
    }
    let current = SubmissionStatus::from_stored(&row.status)?;
    let form = drafts::form_of(ctx, &row.form_id)?;
    let mut errors = FieldErrors::new();
    if let Some(comment) = &change.comment {
        check_comment(comment, "comment", &mut errors);
    }
    for (field, text) in &change.field_comments {
        if form.field(field).is_none() {
            errors.insert(format!("field_comments.{field}"), "no such field on this form".into());
        } else {
            check_comment(text, &format!("field_comments.{field}"), &mut errors);
        }
    }
    match change.status {
        SubmissionStatus::CorrectionRequested if change.field_comments.is_empty() => {
            errors.insert("field_comments".into(), "a correction request names at least one field to correct".into());
        }
        SubmissionStatus::Rejected if change.comment.is_none() => {
            errors.insert("comment".into(), "a rejection gives its reason".into());
        }
        SubmissionStatus::CorrectionRequested => {}
        _ if !change.field_comments.is_empty() => {
            errors.insert("field_comments".into(), "only a correction request comments on fields".into());
        }
        _ => {}
    }
    if let Some(upload) = &decision {
        super::decision::check(upload, change.status, &mut errors);
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    // A deleted family can no longer correct anything; the municipality still decides.
    if row.family_deleted_at.is_some() && change.status == SubmissionStatus::CorrectionRequested {
        return Err(Error::Conflict {
            code: "family_deleted",
            message: "the family was deleted: no one can correct this submission; accept or reject it".into(),
        });
    }
    if !current.next().contains(&change.status) {
        return Err(Error::Conflict {
            code: "invalid_transition",
            message: format!("a submission that is {} cannot become {}", current.as_str(), change.status.as_str()),
        });
    }
    // The conditional update keeps two members of staff from moving it at the same time.
    let moved = diesel::update(submissions::table.find(&row.id).filter(submissions::status.eq(&row.status)))
        .set((submissions::status.eq(change.status.as_str()), submissions::status_changed_at.eq(now)))
        .execute(conn)?;
    if moved == 0 {
        return Err(Error::Conflict {
            code: "status_changed",
            message: "the status changed meanwhile; reload it".into(),
        });
    }
    let comments =
        Comments { comment: change.comment.map(|c| c.trim().to_owned()), field_comments: change.field_comments };
    let sealed = keys.seal(
        sealed::SUBMISSION_EVENTS_COMMENTS,
        &serde_json::to_string(&comments).map_err(|e| Error::internal(e.to_string()))?,
    )?;
    let event_id = new_id();
    diesel::insert_into(submission_events::table)
        .values(&SubmissionEventRow {
            id: event_id.clone(),
            submission_id: row.id.clone(),
            status: change.status.as_str().to_owned(),
            comments: Some(sealed),
            staff_id: Some(staff_id.to_owned()),
            created_at: now,
        })
        .execute(conn)?;
    if let Some(upload) = &decision {
        super::decision::store(conn, keys, &row.id, &event_id, &upload.bytes, now)?;
    }
    if row.family_deleted_at.is_none() {
        let family = crate::service::access::family_row(conn, &row.family_id)?;
        if change.status == SubmissionStatus::CorrectionRequested {
            reopen(conn, uc, form, &family, &row, &comments.field_comments)?;
        }
        notify(conn, uc, &family, &row, change.status, &comments.field_comments)?;
        if decision.is_some() {
            notify_decision_document(conn, uc, &family, &row, &event_id)?;
        }
        let moved = Subject::Submission { submission_id: row.id.clone(), status: change.status.as_str().to_owned() };
        app_events::record(conn, &[(&row.family_id, moved)], now)?;
    }
    let submission = view_for(conn, keys, ctx, row.id)?;
    crate::service::webhooks::enqueue_status_changed(conn, keys, &submission, now)?;
    Ok(submission)
}

/// The draft a correction request opens: the submitted values (as the parent's), the
/// comments on the fields, linked to the submission it corrects.
pub(super) fn reopen(
    conn: &mut DbConnection,
    uc: &UseCase,
    form: &crate::domain::forms::Form,
    family: &FamilyRow,
    row: &SubmissionRow,
    field_comments: &BTreeMap<String, String>,
) -> Result<(), Error> {
    let (keys, now) = (&*uc.keys, uc.now);
    let document: Value = serde_json::from_str(&keys.open(sealed::SUBMISSIONS_DOCUMENT, &row.document)?)
        .map_err(|e| Error::unreadable(sealed::SUBMISSIONS_DOCUMENT, &e))?;
    let mut content = Content::default();
    if let Some(fields) = document.get("fields").and_then(Value::as_object) {
        for (id, value) in fields {
            let origin = match form.field(id).map(|f| f.source.editable()) {
                Some(true) => Origin::Parent,
                _ => Origin::Fixed,
            };
            content.values.insert(id.clone(), Entry { value: value.clone(), origin });
        }
    }
    content.comments = field_comments.clone();
    let child_id: Option<String> =
        drafts_table::table.find(&row.draft_id).select(drafts_table::child_id).first(conn)?;
    drafts::insert(
        conn,
        keys,
        NewDraft {
            family_id: &family.id,
            key: format!("correction:{}", row.id),
            form,
            task_id: row.task_id.as_deref(),
            child_id: child_id.as_deref(),
            bundle_id: None,
            corrects: Some(&row.id),
            content: &content,
        },
        now,
    )?;
    Ok(())
}

pub(super) fn notify(
    conn: &mut DbConnection,
    uc: &UseCase,
    family: &FamilyRow,
    row: &SubmissionRow,
    status: SubmissionStatus,
    field_comments: &BTreeMap<String, String>,
) -> Result<(), Error> {
    let mut values = message_values(conn, uc, family, row)?;
    if status == SubmissionStatus::CorrectionRequested {
        let form = uc.planning.forms.get(&row.form_id);
        let fields: Vec<String> = field_comments
            .keys()
            .map(|id| form.and_then(|f| f.field(id)).map_or_else(|| id.clone(), |f| in_language(family, &f.label)))
            .collect();
        values.insert("field_count".into(), TemplateValue::Integer(fields.len() as i64));
        values.insert("fields".into(), TemplateValue::List(fields));
    }
    let key = format!("submission:{}:{}", row.id, status.as_str());
    record_message(conn, uc, family, row, &format!("submission_{}", status.as_str()), &values, &key)
}

/// The inbox entry that tells the family a decision document (処分通知) came. The staff's message
/// stays on the status (the app reads it there), out of push payloads.
fn notify_decision_document(
    conn: &mut DbConnection,
    uc: &UseCase,
    family: &FamilyRow,
    row: &SubmissionRow,
    event_id: &str,
) -> Result<(), Error> {
    let values = message_values(conn, uc, family, row)?;
    let key = format!("submission:{}:decision_document:{event_id}", row.id);
    record_message(conn, uc, family, row, "submission_decision_document", &values, &key)
}

/// A name in the family's language: Japanese for `ja…`, English otherwise.
fn in_language(family: &FamilyRow, names: &Names) -> String {
    if family.preferred_language.starts_with("ja") {
        names.ja.clone()
    } else {
        names.en.clone()
    }
}

/// What every message about a submission names: its form and the municipality.
fn message_values(
    conn: &mut DbConnection,
    uc: &UseCase,
    family: &FamilyRow,
    row: &SubmissionRow,
) -> Result<BTreeMap<String, TemplateValue>, Error> {
    let ctx = &*uc.planning;
    Ok(BTreeMap::from([
        ("form_name".to_owned(), TemplateValue::Text(in_language(family, &form_name(ctx, &row.form_id)))),
        (
            "municipality_name".to_owned(),
            TemplateValue::Text(municipalities::display_name(conn, ctx, &row.municipality_code)?),
        ),
    ]))
}

/// Renders `template` in the family's language and records it in the family's inbox once,
/// under `key`, tied to the submission's task.
fn record_message(
    conn: &mut DbConnection,
    uc: &UseCase,
    family: &FamilyRow,
    row: &SubmissionRow,
    template: &str,
    values: &BTreeMap<String, TemplateValue>,
    key: &str,
) -> Result<(), Error> {
    let rendered =
        uc.templates.render(template, &family.preferred_language, values).map_err(|e| Error::internal(e.0))?;
    inbox::record(
        conn,
        family,
        NewEntry {
            dedupe_key: key,
            kind: EntryKind::Status,
            rendered: &rendered,
            task_id: row.task_id.as_deref(),
            collapse_key: None,
        },
        uc.now,
    )?;
    Ok(())
}
