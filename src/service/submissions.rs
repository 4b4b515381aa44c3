//! 申請: a signed draft addressed to the family's municipality, immutable once made. Its staff
//! list, read and acknowledge it and set its status (受付, 審査中, 補正依頼, 受理, 却下, 完了);
//! each change reaches the parent as an inbox entry and push, and a correction request reopens
//! a new draft carrying the comments on the fields.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::audit;
use super::drafts::{self, Content, Entry, NewDraft, Origin};
use super::inbox::{self, EntryKind, NewEntry};
use super::signing::{SignerMatch, HOLDER_NAME};
use super::{municipalities, new_id, utc};
use crate::crypto::KeyRing;
use crate::db::rows::{DraftRow, FamilyRow, SignatureRow, SubmissionEventRow, SubmissionRow};
use crate::db::schema::{drafts as drafts_table, signatures, submission_events, submissions};
use crate::db::DbConnection;
use crate::domain::catalog::Names;
use crate::domain::planner::PlanningContext;
use crate::domain::{individual_number, MunicipalityCode};
use crate::error::{Error, FieldErrors};
use crate::jpki::Verification;
use crate::templates::{TemplateValue, Templates};
use crate::text_enum;

const DOCUMENT: &str = "submissions.document";
const COMMENTS: &str = "submission_events.comments";
const MAX_COMMENT: usize = 1000;

text_enum! {
    /// Where a submission stands at the municipality.
    pub enum SubmissionStatus {
        /// Signed and handed to the municipality; not yet acknowledged.
        Submitted => "submitted",
        /// 受付.
        Received => "received",
        /// 審査中.
        InReview => "in_review",
        /// 補正依頼: a new draft is open for the parent, with a comment per field.
        CorrectionRequested => "correction_requested",
        /// 受理.
        Accepted => "accepted",
        /// 却下, with a reason.
        Rejected => "rejected",
        /// 完了.
        Completed => "completed",
    }
}

impl SubmissionStatus {
    /// The statuses staff may move a submission to from this one.
    pub fn next(self) -> &'static [SubmissionStatus] {
        use SubmissionStatus::*;
        match self {
            Submitted => &[Received, InReview, CorrectionRequested, Accepted, Rejected],
            Received => &[InReview, CorrectionRequested, Accepted, Rejected],
            InReview => &[CorrectionRequested, Accepted, Rejected],
            Accepted => &[Completed],
            CorrectionRequested | Rejected | Completed => &[],
        }
    }
}

/// A status the municipality set, with its comments.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusEvent {
    pub status: SubmissionStatus,
    pub comment: Option<String>,
    /// 補正依頼: what to correct, per field id.
    pub field_comments: BTreeMap<String, String>,
    pub at: DateTime<Utc>,
}

/// A submission, as the municipality receives it and the parent sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Submission {
    pub id: String,
    pub form_id: String,
    pub form_version: i32,
    pub form_name: Names,
    pub municipality_code: String,
    pub family_id: String,
    pub task_id: Option<String>,
    pub status: SubmissionStatus,
    /// The submission this one corrects (after a 補正依頼).
    pub corrects_submission_id: Option<String>,
    /// The birth bundle it was signed with.
    pub bundle_id: Option<String>,
    /// The form's canonical document (RFC 8785 JSON).
    pub document: String,
    pub digest_sha256: String,
    /// The bytes the signature covers: this document, or the bundle document that lists its
    /// digest among the bundle's forms.
    pub signed_document: String,
    pub signed_digest_sha256: String,
    /// The signature value, base64, as the parent's app sent it.
    pub signature: String,
    /// The signing certificate, DER as base64, unchanged.
    pub certificate: String,
    pub verification: Verification,
    /// Who signed, and how they were found to be the guardian.
    pub signer: Signer,
    /// The draft opened for the parent by a correction request, if any.
    pub correction_draft_id: Option<String>,
    pub history: Vec<StatusEvent>,
    pub submitted_at: DateTime<Utc>,
    pub status_changed_at: DateTime<Utc>,
    /// `family_deleted`: the vendor deleted the family after submitting. The municipality keeps
    /// the submission (and its signature and history) until its retention ends; the family is
    /// no longer told of status changes.
    pub family_deleted_at: Option<DateTime<Utc>>,
}

/// The signer of a submission.
#[derive(Debug, Serialize, ToSchema)]
pub struct Signer {
    pub guardian_id: String,
    pub matched_by: SignerMatch,
    /// 氏名 as printed on the card (the 基本4情報 of the signing certificate).
    pub name_on_card: Option<String>,
}

/// A submission in a list (without its documents).
#[derive(Debug, Serialize, ToSchema)]
pub struct SubmissionSummary {
    pub id: String,
    pub form_id: String,
    pub form_name: Names,
    pub family_id: String,
    pub status: SubmissionStatus,
    pub corrects_submission_id: Option<String>,
    pub digest_sha256: String,
    pub submitted_at: DateTime<Utc>,
    pub status_changed_at: DateTime<Utc>,
    pub family_deleted_at: Option<DateTime<Utc>>,
}

/// A status set by the municipality's staff.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    pub status: SubmissionStatus,
    /// A comment for the parent; required with `rejected` (the reason).
    pub comment: Option<String>,
    /// With `correction_requested`: what to correct, per field id of the form.
    #[serde(default)]
    pub field_comments: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Default)]
struct Comments {
    comment: Option<String>,
    #[serde(default)]
    field_comments: BTreeMap<String, String>,
}

#[allow(clippy::too_many_arguments)]
pub fn insert(
    conn: &mut DbConnection,
    keys: &KeyRing,
    family: &FamilyRow,
    draft: &DraftRow,
    document: &str,
    digest: &str,
    signature_id: &str,
    bundle_id: Option<&str>,
    now: NaiveDateTime,
) -> Result<String, Error> {
    let row = SubmissionRow {
        id: new_id(),
        family_id: family.id.clone(),
        signature_id: signature_id.to_owned(),
        draft_id: draft.id.clone(),
        bundle_id: bundle_id.map(str::to_owned),
        municipality_code: family.municipality_code.clone(),
        form_id: draft.form_id.clone(),
        form_version: draft.form_version,
        task_id: draft.task_id.clone(),
        corrects_submission_id: draft.corrects_submission_id.clone(),
        document: keys.seal(DOCUMENT, document)?,
        digest: digest.to_owned(),
        status: SubmissionStatus::Submitted.as_str().to_owned(),
        submitted_at: now,
        status_changed_at: now,
        family_deleted_at: None,
    };
    diesel::insert_into(submissions::table).values(&row).execute(conn)?;
    Ok(row.id)
}

fn load(conn: &mut DbConnection, id: &str) -> Result<SubmissionRow, Error> {
    submissions::table
        .find(id)
        .select(SubmissionRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(Error::NotFound("submission"))
}

/// The full submission by id (the caller has checked who may see it).
pub fn view_for(
    conn: &mut DbConnection,
    keys: &KeyRing,
    ctx: &PlanningContext,
    id: String,
) -> Result<Submission, Error> {
    let row = load(conn, &id)?;
    detail(conn, keys, ctx, row)
}

fn form_name(ctx: &PlanningContext, form_id: &str) -> Names {
    ctx.forms.get(form_id).map_or_else(|| Names { ja: form_id.to_owned(), en: form_id.to_owned() }, |f| f.name.clone())
}

fn detail(
    conn: &mut DbConnection,
    keys: &KeyRing,
    ctx: &PlanningContext,
    row: SubmissionRow,
) -> Result<Submission, Error> {
    let signature: SignatureRow =
        signatures::table.find(&row.signature_id).select(SignatureRow::as_select()).first(conn)?;
    let events: Vec<SubmissionEventRow> = submission_events::table
        .filter(submission_events::submission_id.eq(&row.id))
        .order((submission_events::created_at.asc(), submission_events::id.asc()))
        .select(SubmissionEventRow::as_select())
        .load(conn)?;
    let mut history = Vec::with_capacity(events.len());
    for event in events {
        let comments: Comments = match &event.comments {
            Some(sealed) => {
                serde_json::from_str(&keys.open(COMMENTS, sealed)?).map_err(|e| Error::unreadable(COMMENTS, &e))?
            }
            None => Comments::default(),
        };
        history.push(StatusEvent {
            status: SubmissionStatus::from_stored(&event.status)?,
            comment: comments.comment,
            field_comments: comments.field_comments,
            at: utc(event.created_at),
        });
    }
    let correction_draft_id: Option<String> = drafts_table::table
        .filter(drafts_table::draft_key.eq(format!("correction:{}", row.id)))
        .select(drafts_table::id)
        .first(conn)
        .optional()?;
    Ok(Submission {
        form_name: form_name(ctx, &row.form_id),
        status: SubmissionStatus::from_stored(&row.status)?,
        document: keys.open(DOCUMENT, &row.document)?,
        digest_sha256: row.digest,
        signed_document: keys.open("signatures.signed_document", &signature.signed_document)?,
        signed_digest_sha256: signature.signed_digest,
        signature: signature.signature_value,
        certificate: keys.open("signatures.certificate", &signature.certificate)?,
        verification: serde_json::from_str(&signature.verification)
            .map_err(|e| Error::unreadable("signatures.verification", &e))?,
        signer: Signer {
            matched_by: SignerMatch::from_stored(&signature.signer_match)?,
            name_on_card: signature.holder_name.as_deref().map(|n| keys.open(HOLDER_NAME, n)).transpose()?,
            guardian_id: signature.signer_guardian_id,
        },
        correction_draft_id,
        family_deleted_at: row.family_deleted_at.map(utc),
        history,
        submitted_at: utc(row.submitted_at),
        status_changed_at: utc(row.status_changed_at),
        form_id: row.form_id,
        form_version: row.form_version,
        municipality_code: row.municipality_code,
        family_id: row.family_id,
        task_id: row.task_id,
        corrects_submission_id: row.corrects_submission_id,
        bundle_id: row.bundle_id,
        id: row.id,
    })
}

fn summary(ctx: &PlanningContext, row: SubmissionRow) -> Result<SubmissionSummary, Error> {
    Ok(SubmissionSummary {
        form_name: form_name(ctx, &row.form_id),
        status: SubmissionStatus::from_stored(&row.status)?,
        id: row.id,
        form_id: row.form_id,
        family_id: row.family_id,
        corrects_submission_id: row.corrects_submission_id,
        digest_sha256: row.digest,
        submitted_at: utc(row.submitted_at),
        status_changed_at: utc(row.status_changed_at),
        family_deleted_at: row.family_deleted_at.map(utc),
    })
}

/// Submissions addressed to a municipality, newest first, optionally in one status or of one form.
pub fn list_for_municipality(
    conn: &mut DbConnection,
    ctx: &PlanningContext,
    code: &MunicipalityCode,
    only: Option<SubmissionStatus>,
    form_id: Option<&str>,
) -> Result<Vec<SubmissionSummary>, Error> {
    let mut query = submissions::table
        .filter(submissions::municipality_code.eq(code.as_str()))
        .order(submissions::id.desc())
        .limit(500)
        .select(SubmissionRow::as_select())
        .into_boxed();
    if let Some(status) = only {
        query = query.filter(submissions::status.eq(status.as_str()));
    }
    if let Some(form_id) = form_id {
        query = query.filter(submissions::form_id.eq(form_id.to_owned()));
    }
    query.load(conn)?.into_iter().map(|row| summary(ctx, row)).collect()
}

/// One submission addressed to the municipality; another municipality's is "not found".
pub fn get_for_municipality(
    conn: &mut DbConnection,
    keys: &KeyRing,
    ctx: &PlanningContext,
    code: &MunicipalityCode,
    id: &str,
) -> Result<Submission, Error> {
    let row = load(conn, id)?;
    if row.municipality_code != code.as_str() {
        return Err(Error::NotFound("submission"));
    }
    detail(conn, keys, ctx, row)
}

pub fn list_for_family(
    conn: &mut DbConnection,
    keys: &KeyRing,
    ctx: &PlanningContext,
    family_id: &str,
) -> Result<Vec<Submission>, Error> {
    let rows: Vec<SubmissionRow> = submissions::table
        .filter(submissions::family_id.eq(family_id))
        .order(submissions::id.desc())
        .select(SubmissionRow::as_select())
        .load(conn)?;
    rows.into_iter().map(|row| detail(conn, keys, ctx, row)).collect()
}

pub fn get_for_family(
    conn: &mut DbConnection,
    keys: &KeyRing,
    ctx: &PlanningContext,
    family_id: &str,
    id: &str,
) -> Result<Submission, Error> {
    let row = load(conn, id)?;
    if row.family_id != family_id {
        return Err(Error::NotFound("submission"));
    }
    detail(conn, keys, ctx, row)
}

fn check_comment(text: &str, field: &str, errors: &mut FieldErrors) {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_COMMENT {
        errors.insert(field.to_owned(), format!("must be 1 to {MAX_COMMENT} characters"));
    } else if individual_number::appears_in(trimmed) {
        errors.insert(field.to_owned(), individual_number::REFUSAL.to_owned());
    }
}

/// Sets a status: checked against the allowed transitions, recorded with its comments,
/// announced to the family (inbox and push), and, for a correction request, a new draft
/// opened with the comments on the fields.
#[allow(clippy::too_many_arguments)]
pub fn set_status(
    conn: &mut DbConnection,
    keys: &KeyRing,
    ctx: &PlanningContext,
    templates: &Templates,
    code: &MunicipalityCode,
    staff_id: &str,
    id: &str,
    change: StatusChange,
    now: NaiveDateTime,
) -> Result<Submission, Error> {
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
    let sealed = keys.seal(COMMENTS, &serde_json::to_string(&comments).map_err(|e| Error::internal(e.to_string()))?)?;
    diesel::insert_into(submission_events::table)
        .values(&SubmissionEventRow {
            id: new_id(),
            submission_id: row.id.clone(),
            status: change.status.as_str().to_owned(),
            comments: Some(sealed),
            staff_id: Some(staff_id.to_owned()),
            created_at: now,
        })
        .execute(conn)?;
    if row.family_deleted_at.is_none() {
        let family = super::access::family_row(conn, &row.family_id)?;
        if change.status == SubmissionStatus::CorrectionRequested {
            reopen(conn, keys, form, &family, &row, &comments.field_comments, now)?;
        }
        notify(conn, ctx, templates, &family, &row, change.status, &comments.field_comments, now)?;
    }
    view_for(conn, keys, ctx, row.id)
}

/// The draft a correction request opens: the submitted values (as the parent's), the
/// comments on the fields, linked to the submission it corrects.
fn reopen(
    conn: &mut DbConnection,
    keys: &KeyRing,
    form: &crate::domain::forms::Form,
    family: &FamilyRow,
    row: &SubmissionRow,
    field_comments: &BTreeMap<String, String>,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let document: Value =
        serde_json::from_str(&keys.open(DOCUMENT, &row.document)?).map_err(|e| Error::unreadable(DOCUMENT, &e))?;
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

#[allow(clippy::too_many_arguments)]
fn notify(
    conn: &mut DbConnection,
    ctx: &PlanningContext,
    templates: &Templates,
    family: &FamilyRow,
    row: &SubmissionRow,
    status: SubmissionStatus,
    field_comments: &BTreeMap<String, String>,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let form = ctx.forms.get(&row.form_id);
    let japanese = family.preferred_language.starts_with("ja");
    let label = |names: &Names| if japanese { names.ja.clone() } else { names.en.clone() };
    let names = form_name(ctx, &row.form_id);
    let mut values = BTreeMap::from([
        ("form_name".to_owned(), TemplateValue::Text(label(&names))),
        (
            "municipality_name".to_owned(),
            TemplateValue::Text(municipalities::display_name(conn, ctx, &row.municipality_code)?),
        ),
    ]);
    if status == SubmissionStatus::CorrectionRequested {
        let fields: Vec<String> = field_comments
            .keys()
            .map(|id| form.and_then(|f| f.field(id)).map_or_else(|| id.clone(), |f| label(&f.label)))
            .collect();
        values.insert("field_count".into(), TemplateValue::Integer(fields.len() as i64));
        values.insert("fields".into(), TemplateValue::List(fields));
    }
    let template = format!("submission_{}", status.as_str());
    let rendered =
        templates.render(&template, &family.preferred_language, &values).map_err(|e| Error::internal(e.0))?;
    let key = format!("submission:{}:{}", row.id, status.as_str());
    inbox::record(
        conn,
        family,
        NewEntry {
            dedupe_key: &key,
            kind: EntryKind::Status,
            rendered: &rendered,
            task_id: row.task_id.as_deref(),
            collapse_key: None,
        },
        now,
    )?;
    Ok(())
}

/// Marks the submissions of a family being deleted: each municipality keeps those it received.
/// Returns, per municipality, how many it keeps.
pub fn keep_for_municipality(
    conn: &mut DbConnection,
    family_id: &str,
    now: NaiveDateTime,
) -> Result<Vec<(String, i64)>, Error> {
    let kept: Vec<(String, i64)> = submissions::table
        .filter(submissions::family_id.eq(family_id))
        .group_by(submissions::municipality_code)
        .select((submissions::municipality_code, diesel::dsl::count_star()))
        .order(submissions::municipality_code)
        .load(conn)?;
    diesel::update(submissions::table.filter(submissions::family_id.eq(family_id)))
        .set(submissions::family_deleted_at.eq(Some(now)))
        .execute(conn)?;
    Ok(kept)
}

/// Removes the kept submissions of deleted families whose retention has ended (counted from
/// the submission, in whole years, per municipality), with their history and signatures.
/// Each municipality's audit trail records how many of its submissions went. Returns how many
/// were removed.
pub fn purge_retained(
    conn: &mut DbConnection,
    ctx: &PlanningContext,
    actor: &audit::Actor,
    now: NaiveDateTime,
) -> Result<usize, Error> {
    let codes: Vec<String> = submissions::table
        .filter(submissions::family_deleted_at.is_not_null())
        .select(submissions::municipality_code)
        .distinct()
        .load(conn)?;
    let mut removed = 0;
    for code in codes {
        let years = match MunicipalityCode::parse(&code) {
            Ok(parsed) => municipalities::get(conn, ctx, &parsed)?.settings.retention_years(),
            Err(_) => crate::domain::overrides::DEFAULT_RETENTION_YEARS,
        };
        let cutoff = now.checked_sub_months(chrono::Months::new(12 * u32::from(years))).unwrap_or(now);
        let expired: Vec<(String, String)> = submissions::table
            .filter(submissions::municipality_code.eq(&code))
            .filter(submissions::family_deleted_at.is_not_null())
            .filter(submissions::submitted_at.lt(cutoff))
            .select((submissions::id, submissions::signature_id))
            .load(conn)?;
        if expired.is_empty() {
            continue;
        }
        let (ids, signature_ids): (Vec<String>, Vec<String>) = expired.into_iter().unzip();
        diesel::delete(submission_events::table.filter(submission_events::submission_id.eq_any(&ids))).execute(conn)?;
        let purged = diesel::delete(submissions::table.filter(submissions::id.eq_any(&ids))).execute(conn)?;
        removed += purged;
        let event = audit::Event::new(audit::AuditAction::SubmissionsPurged, "municipality", code.clone())
            .in_municipality(code.clone())
            .detail(purged.to_string());
        audit::record(conn, actor, event, now)?;
        // A bundle's signature covers several submissions: it goes with the last of them.
        let still_used: Vec<String> = submissions::table
            .filter(submissions::signature_id.eq_any(&signature_ids))
            .select(submissions::signature_id)
            .load(conn)?;
        let unused: Vec<&String> = signature_ids.iter().filter(|id| !still_used.contains(id)).collect();
        diesel::delete(signatures::table.filter(signatures::id.eq_any(unused))).execute(conn)?;
    }
    Ok(removed)
}
