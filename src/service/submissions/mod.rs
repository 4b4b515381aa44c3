//! 申請: a signed draft addressed to the family's municipality, immutable once made. Its staff
//! list, read and acknowledge it and set its status (受付, 審査中, 補正依頼, 受理, 却下, 完了);
//! each change reaches the parent as an inbox entry and push, and a correction request reopens
//! a new draft carrying the comments on the fields.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::signing::SignerMatch;
use super::{new_id, utc};
use crate::crypto::KeyRing;
use crate::db::rows::{DraftRow, FamilyRow, SignatureRow, SubmissionEventRow, SubmissionRow};
use crate::db::schema::{drafts as drafts_table, signatures, submission_desk, submission_events, submissions};
use crate::db::sealed;
use crate::db::DbConnection;
use crate::domain::catalog::Names;
use crate::domain::planner::PlanningContext;
use crate::domain::MunicipalityCode;
use crate::error::Error;
use crate::jpki::Verification;
use crate::text_enum;

pub mod decision;
pub mod desk;
pub mod export;
mod reference_number;
mod retention;
mod review;

pub use retention::{keep_for_municipality, purge_retained};
pub use review::{set_status, set_status_audited, set_status_with_decision};

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
    /// 処分通知: the decision document staff attached to this status (受理, 却下, 完了), read at
    /// `…/submissions/{submission_id}/decision-documents/{id}`.
    pub decision_document: Option<decision::DecisionDocument>,
}

/// A submission, as the municipality receives it and the parent sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Submission {
    pub id: String,
    /// 受付番号: the municipality's number for it, sequential per calendar year in Japan.
    #[schema(example = "2026-000123")]
    pub reference_number: String,
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
    /// 受付番号: the municipality's number for it, sequential per calendar year in Japan.
    #[schema(example = "2026-000123")]
    pub reference_number: String,
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

/// A page of the submissions addressed to a municipality, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubmissionPage {
    pub items: Vec<SubmissionSummary>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A page of a family's submissions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct FamilySubmissionPage {
    pub items: Vec<Submission>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A status set by the municipality's staff.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    pub status: SubmissionStatus,
    /// A comment for the parent; required with `rejected` (the reason).
    #[schema(min_length = 1, max_length = 1000)]
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

/// A submission about to be made: the signed draft, its own document, and the signature that
/// covers it (of the draft, or of its bundle).
pub struct NewSubmission<'a> {
    pub family: &'a FamilyRow,
    pub draft: &'a DraftRow,
    pub document: &'a str,
    pub digest: &'a str,
    pub signature_id: &'a str,
    pub bundle_id: Option<&'a str>,
}

/// Stores a new submission (status `submitted`); returns its id.
pub fn insert(
    conn: &mut DbConnection,
    keys: &KeyRing,
    new: &NewSubmission<'_>,
    now: NaiveDateTime,
) -> Result<String, Error> {
    let NewSubmission { family, draft, document, digest, signature_id, bundle_id } = *new;
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
        document: keys.seal(sealed::SUBMISSIONS_DOCUMENT, document)?,
        digest: digest.to_owned(),
        status: SubmissionStatus::Submitted.as_str().to_owned(),
        submitted_at: now,
        status_changed_at: now,
        family_deleted_at: None,
    };
    diesel::insert_into(submissions::table).values(&row).execute(conn)?;
    reference_number::give(conn, &row.id, &row.municipality_code, now)?;
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
    let mut documents = decision::of_submission(conn, &row.id)?;
    for event in events {
        let comments: Comments = match &event.comments {
            Some(sealed) => serde_json::from_str(&keys.open(sealed::SUBMISSION_EVENTS_COMMENTS, sealed)?)
                .map_err(|e| Error::unreadable(sealed::SUBMISSION_EVENTS_COMMENTS, &e))?,
            None => Comments::default(),
        };
        history.push(StatusEvent {
            status: SubmissionStatus::from_stored(&event.status)?,
            comment: comments.comment,
            field_comments: comments.field_comments,
            at: utc(event.created_at),
            decision_document: documents.remove(&event.id),
        });
    }
    let reference_number = reference_number::of(conn, &row.id)?;
    let correction_draft_id: Option<String> = drafts_table::table
        .filter(drafts_table::draft_key.eq(format!("correction:{}", row.id)))
        .select(drafts_table::id)
        .first(conn)
        .optional()?;
    Ok(Submission {
        form_name: form_name(ctx, &row.form_id),
        status: SubmissionStatus::from_stored(&row.status)?,
        document: keys.open(sealed::SUBMISSIONS_DOCUMENT, &row.document)?,
        digest_sha256: row.digest,
        signed_document: keys.open(sealed::SIGNATURES_SIGNED_DOCUMENT, &signature.signed_document)?,
        signed_digest_sha256: signature.signed_digest,
        signature: signature.signature_value,
        certificate: keys.open(sealed::SIGNATURES_CERTIFICATE, &signature.certificate)?,
        verification: serde_json::from_str(&signature.verification)
            .map_err(|e| Error::unreadable("signatures.verification", &e))?,
        signer: Signer {
            matched_by: SignerMatch::from_stored(&signature.signer_match)?,
            name_on_card: signature
                .holder_name
                .as_deref()
                .map(|n| keys.open(sealed::SIGNATURES_HOLDER_NAME, n))
                .transpose()?,
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
        reference_number,
        id: row.id,
    })
}

fn summary(
    ctx: &PlanningContext,
    (row, reference_number): (SubmissionRow, String),
) -> Result<SubmissionSummary, Error> {
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
        reference_number,
    })
}

/// Submissions addressed to a municipality, newest first, optionally in one status or of one form
/// (the console's list: the 500 newest).
pub fn list_for_municipality(
    conn: &mut DbConnection,
    ctx: &PlanningContext,
    code: &MunicipalityCode,
    only: Option<SubmissionStatus>,
    form_id: Option<&str>,
) -> Result<Vec<SubmissionSummary>, Error> {
    Ok(page_for_municipality(conn, ctx, code, only, form_id, 500, None)?.items)
}

/// One page of [`list_for_municipality`]: `limit` submissions older than `cursor`.
pub fn page_for_municipality(
    conn: &mut DbConnection,
    ctx: &PlanningContext,
    code: &MunicipalityCode,
    only: Option<SubmissionStatus>,
    form_id: Option<&str>,
    limit: i64,
    cursor: Option<&str>,
) -> Result<SubmissionPage, Error> {
    let mut query = submissions::table
        .inner_join(submission_desk::table)
        .filter(submissions::municipality_code.eq(code.as_str()))
        .order(submissions::id.desc())
        .limit(limit + 1)
        .select((SubmissionRow::as_select(), submission_desk::reference_number))
        .into_boxed();
    if let Some(status) = only {
        query = query.filter(submissions::status.eq(status));
    }
    if let Some(form_id) = form_id {
        query = query.filter(submissions::form_id.eq(form_id.to_owned()));
    }
    if let Some(cursor) = cursor {
        query = query.filter(submissions::id.lt(cursor.to_owned()));
    }
    let (rows, next_cursor) =
        crate::service::paging::cut(query.load(conn)?, limit, |(row, _): &(SubmissionRow, String)| row.id.as_str());
    let items = rows.into_iter().map(|row| summary(ctx, row)).collect::<Result<_, _>>()?;
    Ok(SubmissionPage { items, next_cursor })
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

/// One page of a family's submissions, newest first: `limit` submissions older than `cursor`.
/// A family's submissions grow with each correction the municipality asks for.
pub fn page_for_family(
    conn: &mut DbConnection,
    keys: &KeyRing,
    ctx: &PlanningContext,
    family_id: &str,
    limit: i64,
    cursor: Option<&str>,
) -> Result<FamilySubmissionPage, Error> {
    let mut query = submissions::table
        .filter(submissions::family_id.eq(family_id))
        .order(submissions::id.desc())
        .limit(limit + 1)
        .select(SubmissionRow::as_select())
        .into_boxed();
    if let Some(cursor) = cursor {
        query = query.filter(submissions::id.lt(cursor.to_owned()));
    }
    let (rows, next_cursor) =
        crate::service::paging::cut(query.load(conn)?, limit, |row: &SubmissionRow| row.id.as_str());
    let items = rows.into_iter().map(|row| detail(conn, keys, ctx, row)).collect::<Result<_, _>>()?;
    Ok(FamilySubmissionPage { items, next_cursor })
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
