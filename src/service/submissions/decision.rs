//! 処分通知: the decision goes back electronically. With 受理, 却下 or 完了, staff may attach the
//! decision document their 基幹 system produced (a PDF, checked by its first bytes, at most
//! `submissions.decision_document_max_bytes`); it is kept sealed with the submission, the
//! parent's inbox is told, and the family's app reads it through the API.

use base64::Engine;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::{new_id, utc, SubmissionStatus};
use crate::crypto::KeyRing;
use crate::db::schema::submission_decision_documents as documents;
use crate::db::sealed;
use crate::db::DbConnection;
use crate::error::{Error, FieldErrors};

/// How a PDF starts (ISO 32000-1, 7.5.2: the header `%PDF-1.n`).
const PDF_MAGIC: &[u8] = b"%PDF-";

/// The decision document attached to a status change, as the family's app and staff see it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DecisionDocument {
    pub id: String,
    /// Always `application/pdf`.
    #[schema(example = "application/pdf")]
    pub content_type: String,
    pub size_bytes: i64,
    /// Hex SHA-256 of the PDF, to check the copy read.
    pub sha256: String,
}

/// A PDF staff attach, not yet checked.
pub struct DecisionUpload {
    pub bytes: Vec<u8>,
    /// The setting `submissions.decision_document_max_bytes`.
    pub max_bytes: usize,
}

/// The statuses a decision document may come with.
pub fn may_carry(status: SubmissionStatus) -> bool {
    matches!(status, SubmissionStatus::Accepted | SubmissionStatus::Rejected | SubmissionStatus::Completed)
}

/// Checks an upload: a PDF by its first bytes, not empty, within the size limit, with a status
/// that decides.
pub fn check(upload: &DecisionUpload, status: SubmissionStatus, errors: &mut FieldErrors) {
    let field = "decision_document";
    if !may_carry(status) {
        errors.insert(field.into(), "a decision document comes with accepted, rejected or completed only".into());
    } else if upload.bytes.len() > upload.max_bytes {
        errors.insert(
            field.into(),
            format!("the PDF is {} bytes; at most {} bytes are accepted", upload.bytes.len(), upload.max_bytes),
        );
    } else if !upload.bytes.starts_with(PDF_MAGIC) {
        errors.insert(field.into(), "not a PDF (a PDF starts with %PDF-)".into());
    }
}

/// Stores the checked document for the status event `event_id`.
pub fn store(
    conn: &mut DbConnection,
    keys: &KeyRing,
    submission_id: &str,
    event_id: &str,
    bytes: &[u8],
    now: NaiveDateTime,
) -> Result<(), Error> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    diesel::insert_into(documents::table)
        .values((
            documents::id.eq(new_id()),
            documents::submission_id.eq(submission_id),
            documents::event_id.eq(event_id),
            documents::document.eq(keys.seal(sealed::SUBMISSION_DECISION_DOCUMENTS_DOCUMENT, &encoded)?),
            documents::size_bytes.eq(bytes.len() as i64),
            documents::sha256.eq(hex::encode(Sha256::digest(bytes))),
            documents::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// The documents of a submission, by the status event each came with.
pub fn of_submission(
    conn: &mut DbConnection,
    submission_id: &str,
) -> Result<std::collections::HashMap<String, DecisionDocument>, Error> {
    let rows: Vec<(String, String, i64, String)> = documents::table
        .filter(documents::submission_id.eq(submission_id))
        .select((documents::id, documents::event_id, documents::size_bytes, documents::sha256))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, event_id, size_bytes, sha256)| {
            (event_id, DecisionDocument { id, content_type: "application/pdf".into(), size_bytes, sha256 })
        })
        .collect())
}

/// The PDF bytes of one document of the submission (the caller checked who may read it).
pub fn bytes(
    conn: &mut DbConnection,
    keys: &KeyRing,
    submission_id: &str,
    id: &str,
) -> Result<(Vec<u8>, chrono::DateTime<chrono::Utc>), Error> {
    let (sealed_document, at): (String, NaiveDateTime) = documents::table
        .find(id)
        .filter(documents::submission_id.eq(submission_id))
        .select((documents::document, documents::created_at))
        .first(conn)
        .optional()?
        .ok_or(Error::NotFound("decision_document"))?;
    let encoded = keys.open(sealed::SUBMISSION_DECISION_DOCUMENTS_DOCUMENT, &sealed_document)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.as_bytes())
        .map_err(|e| Error::internal(format!("{}: {e}", sealed::SUBMISSION_DECISION_DOCUMENTS_DOCUMENT)))?;
    Ok((bytes, utc(at)))
}

/// A document of one of the family's submissions; another family's is "not found".
pub fn bytes_for_family(
    conn: &mut DbConnection,
    keys: &KeyRing,
    family_id: &str,
    submission_id: &str,
    id: &str,
) -> Result<Vec<u8>, Error> {
    use crate::db::schema::submissions;
    let theirs: Option<String> = submissions::table
        .find(submission_id)
        .filter(submissions::family_id.eq(family_id))
        .select(submissions::id)
        .first(conn)
        .optional()?;
    theirs.ok_or(Error::NotFound("submission"))?;
    Ok(bytes(conn, keys, submission_id, id)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(bytes: &[u8]) -> DecisionUpload {
        DecisionUpload { bytes: bytes.to_vec(), max_bytes: 16 }
    }

    #[test]
    fn only_a_pdf_within_the_limit_comes_with_a_decision() {
        let problem = |bytes: &[u8], status| {
            let mut errors = FieldErrors::new();
            check(&upload(bytes), status, &mut errors);
            errors.get("decision_document").cloned()
        };
        assert_eq!(problem(b"%PDF-1.7\n%%EOF", SubmissionStatus::Accepted), None);
        assert_eq!(problem(b"%PDF-1.7\n%%EOF", SubmissionStatus::Rejected), None);
        assert_eq!(problem(b"%PDF-1.7\n%%EOF", SubmissionStatus::Completed), None);
        assert!(problem(b"PK\x03\x04 a zip file", SubmissionStatus::Accepted).is_some_and(|p| p.contains("%PDF-")));
        assert!(problem(b"%PDF-1.7 and far too long", SubmissionStatus::Accepted).is_some_and(|p| p.contains("16")));
        assert!(problem(b"%PDF-1.7", SubmissionStatus::InReview).is_some());
    }
}
