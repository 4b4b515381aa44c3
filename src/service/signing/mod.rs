//! 電子署名: the parent's マイナンバーカード signature over a confirmed draft or bundle,
//! verified (see `crate::jpki`), matched to a guardian, and turned into submissions.

use base64::Engine;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::audit::{self, Actor, AuditAction, Event};
use super::bundles::{self, BundleStatus};
use super::drafts::{self, DraftStatus};
use super::new_id;
use super::planning::TaskStatus;
use super::submissions::NewSubmission;
use super::submissions::{self, Submission};
use super::UseCase;
use crate::crypto::KeyRing;
use crate::db::rows::{DraftRow, FamilyRow, SignatureRow};
use crate::db::schema::{drafts as drafts_table, signatures, submissions as submissions_table, tasks};
use crate::db::sealed;
use crate::db::DbConnection;
use crate::domain::planner::PlanningContext;
use crate::error::Error;
use crate::jpki::{Refusal, Verifier};

mod signer;

pub use signer::register_certificate;
use signer::{check_applicants, signer_of};

/// A signature made with the 署名用電子証明書 over the confirmed document's bytes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignatureInput {
    /// The RSASSA-PKCS1-v1_5 (SHA-256) signature value over the UTF-8 bytes of the confirmed
    /// document, base64.
    pub signature: String,
    /// The signing certificate read from the card: DER as base64, or PEM.
    pub certificate: String,
    /// CA certificates the app has (for example the one stored on the card). Never trusted:
    /// only the trust anchors configured in nonstop are.
    #[serde(default)]
    pub ca_certificates: Vec<String>,
    /// The digest of the document the app signed; refused as `document_changed` when it is
    /// not the one confirmed.
    pub digest_sha256: Option<String>,
}

/// The result of signing: the submissions made (one per form).
#[derive(Debug, Serialize, ToSchema)]
pub struct Signed {
    /// False when the draft (or bundle) had already been signed: nothing new was made.
    pub created: bool,
    pub submissions: Vec<Submission>,
}

/// A guardian's signing certificate, registered beforehand (by its SHA-256 only) for a card
/// whose name uses substituted characters (代替文字).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificateRegistration {
    /// The signing certificate: DER as base64, or PEM.
    pub certificate: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredCertificate {
    pub guardian_id: String,
    pub certificate_sha256: String,
}

crate::text_enum! {
    /// How the signer was found to be a guardian of the family.
    pub enum SignerMatch {
        /// The card's 氏名 and 生年月日 (基本4情報) are the guardian's.
        BasicFourMatch => "basic_four_match",
        /// The card was registered for the guardian beforehand (its name has 代替文字), after its
        /// 生年月日 was found to be the guardian's.
        RegisteredCertificate => "registered_certificate",
    }
}

fn refused(r: Refusal) -> Error {
    Error::Refused { code: r.code(), message: r.message() }
}

fn decode_certificate(text: &str, field: &str) -> Result<Vec<u8>, Error> {
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        return openssl::x509::X509::from_pem(text.as_bytes())
            .and_then(|c| c.to_der())
            .map_err(|_| Error::field(field, "not a PEM certificate"));
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| Error::field(field, "must be base64 (DER) or PEM"))
}

struct Decoded {
    signature: Vec<u8>,
    certificate: Vec<u8>,
    chain: Vec<Vec<u8>>,
}

fn decode(input: &SignatureInput) -> Result<Decoded, Error> {
    let signature = base64::engine::general_purpose::STANDARD
        .decode(input.signature.trim())
        .map_err(|_| Error::field("signature", "must be base64"))?;
    let certificate = decode_certificate(&input.certificate, "certificate")?;
    let chain = input
        .ca_certificates
        .iter()
        .enumerate()
        .map(|(i, c)| decode_certificate(c, &format!("ca_certificates[{i}]")))
        .collect::<Result<_, _>>()?;
    Ok(Decoded { signature, certificate, chain })
}

/// Verifies the signature over `document` and records it; returns the signature's id and how
/// its signer was matched.
fn verify_and_record(
    conn: &mut DbConnection,
    uc: &UseCase,
    verifier: &Verifier,
    family: &FamilyRow,
    (document, digest): (&str, &str),
    input: &SignatureInput,
) -> Result<(String, SignerMatch), Error> {
    let (keys, now) = (&*uc.keys, uc.now);
    if input.digest_sha256.as_deref().is_some_and(|d| !d.eq_ignore_ascii_case(digest)) {
        return Err(refused(Refusal::DocumentChanged));
    }
    let decoded = decode(input)?;
    let verified = verifier
        .verify(document.as_bytes(), &decoded.signature, &decoded.certificate, &decoded.chain, now.and_utc())
        .map_err(refused)?;
    let (signer, matched_by) =
        signer_of(conn, keys, family, &verified.holder, &verified.verification.certificate_sha256)?;
    check_applicants(document, &verified.holder, &signer)?;
    let row = SignatureRow {
        id: new_id(),
        family_id: family.id.clone(),
        signed_document: keys.seal(sealed::SIGNATURES_SIGNED_DOCUMENT, document)?,
        signed_digest: digest.to_owned(),
        signature_value: base64::engine::general_purpose::STANDARD.encode(&decoded.signature),
        certificate: keys.seal(
            sealed::SIGNATURES_CERTIFICATE,
            &base64::engine::general_purpose::STANDARD.encode(&decoded.certificate),
        )?,
        certificate_sha256: verified.verification.certificate_sha256.clone(),
        signer_guardian_id: signer.id,
        verification: serde_json::to_string(&verified.verification).map_err(|e| Error::internal(e.to_string()))?,
        created_at: now,
        signer_match: matched_by.as_str().to_owned(),
        holder_name: verified
            .holder
            .name
            .as_deref()
            .map(|name| keys.seal(sealed::SIGNATURES_HOLDER_NAME, name))
            .transpose()?,
    };
    diesel::insert_into(signatures::table).values(&row).execute(conn)?;
    Ok((row.id, matched_by))
}

/// Records each submission a signing made as `signature.accepted` (with how the signer was
/// matched) in the signing's transaction; a signing that made nothing new records nothing.
pub fn record_accepted(
    conn: &mut DbConnection,
    actor: &Actor,
    signed: Signed,
    now: NaiveDateTime,
) -> Result<Signed, Error> {
    for submission in signed.submissions.iter().filter(|_| signed.created) {
        let event = Event::new(AuditAction::SignatureAccepted, "submission", submission.id.clone())
            .in_municipality(submission.municipality_code.clone())
            .detail(submission.signer.matched_by.as_str());
        audit::record(conn, actor, event, now)?;
    }
    Ok(signed)
}

/// Signs a confirmed draft. Signing a signed draft returns its submission again.
pub fn sign_draft(
    conn: &mut DbConnection,
    uc: &UseCase,
    verifier: &Verifier,
    family: &FamilyRow,
    draft_id: &str,
    input: &SignatureInput,
) -> Result<Signed, Error> {
    let (keys, ctx, now) = (&*uc.keys, &*uc.planning, uc.now);
    let row = drafts::find(conn, &family.id, draft_id)?;
    match DraftStatus::from_stored(&row.status)? {
        DraftStatus::Signed => {
            return Ok(Signed { created: false, submissions: existing(conn, keys, ctx, &[row.id])? })
        }
        DraftStatus::Confirmed => {}
        DraftStatus::ConfirmedInBundle => {
            return Err(Error::Conflict {
                code: "sign_the_bundle",
                message: "this draft was confirmed with its bundle; sign the bundle document".into(),
            })
        }
        DraftStatus::Open | DraftStatus::Withdrawn => {
            return Err(Error::Conflict {
                code: "draft_not_confirmed",
                message: "confirm the draft before signing it".into(),
            })
        }
    }
    let (document, digest) = drafts::document_of(keys, &row)?;
    let (signature_id, _) = verify_and_record(conn, uc, verifier, family, (&document, &digest), input)?;
    let new = NewSubmission {
        family,
        draft: &row,
        document: &document,
        digest: &digest,
        signature_id: &signature_id,
        bundle_id: None,
    };
    let submission = submit(conn, keys, &new, now)?;
    let submission = submissions::view_for(conn, keys, ctx, submission)?;
    crate::service::webhooks::enqueue_submission(conn, keys, ctx, &submission, now)?;
    Ok(Signed { created: true, submissions: vec![submission] })
}

/// Signs a confirmed bundle: one signature, one submission per form.
pub fn sign_bundle(
    conn: &mut DbConnection,
    uc: &UseCase,
    verifier: &Verifier,
    family: &FamilyRow,
    bundle_id: &str,
    input: &SignatureInput,
) -> Result<Signed, Error> {
    let (keys, ctx, now) = (&*uc.keys, &*uc.planning, uc.now);
    let bundle = bundles::find(conn, &family.id, bundle_id)?;
    let members: Vec<DraftRow> = drafts_table::table
        .filter(drafts_table::bundle_id.eq(&bundle.id))
        .filter(drafts_table::status.eq_any([DraftStatus::ConfirmedInBundle.as_str(), DraftStatus::Signed.as_str()]))
        .filter(drafts_table::document.is_not_null())
        .order(drafts_table::id.asc())
        .select(DraftRow::as_select())
        .load(conn)?;
    match BundleStatus::from_stored(&bundle.status)? {
        BundleStatus::Signed => {
            let ids: Vec<String> = members.into_iter().map(|m| m.id).collect();
            return Ok(Signed { created: false, submissions: existing(conn, keys, ctx, &ids)? });
        }
        BundleStatus::Confirmed => {}
        BundleStatus::Open => {
            return Err(Error::Conflict {
                code: "bundle_not_confirmed",
                message: "confirm the bundle before signing it".into(),
            })
        }
    }
    let (document, digest) = bundles::document_of(keys, &bundle)?;
    let (signature_id, _) = verify_and_record(conn, uc, verifier, family, (&document, &digest), input)?;
    let mut out = Vec::new();
    for member in members.iter().filter(|m| m.status == DraftStatus::ConfirmedInBundle.as_str()) {
        let (own_document, own_digest) = drafts::document_of(keys, member)?;
        let new = NewSubmission {
            family,
            draft: member,
            document: &own_document,
            digest: &own_digest,
            signature_id: &signature_id,
            bundle_id: Some(&bundle.id),
        };
        let id = submit(conn, keys, &new, now)?;
        let submission = submissions::view_for(conn, keys, ctx, id)?;
        crate::service::webhooks::enqueue_submission(conn, keys, ctx, &submission, now)?;
        out.push(submission);
    }
    bundles::mark_signed(conn, &bundle.id, now)?;
    Ok(Signed { created: true, submissions: out })
}

fn existing(
    conn: &mut DbConnection,
    keys: &KeyRing,
    ctx: &PlanningContext,
    draft_ids: &[String],
) -> Result<Vec<Submission>, Error> {
    let ids: Vec<String> = submissions_table::table
        .filter(submissions_table::draft_id.eq_any(draft_ids))
        .order(submissions_table::id.asc())
        .select(submissions_table::id)
        .load(conn)?;
    ids.into_iter().map(|id| submissions::view_for(conn, keys, ctx, id)).collect()
}

/// Makes the submission of a signed draft and marks its task done (the re-plan that follows
/// in the same transaction removes its reminders). The conditional update makes a second,
/// concurrent signing of the same draft fail instead of submitting twice.
fn submit(
    conn: &mut DbConnection,
    keys: &KeyRing,
    new: &NewSubmission<'_>,
    now: NaiveDateTime,
) -> Result<String, Error> {
    let draft = new.draft;
    let taken = diesel::update(drafts_table::table.find(&draft.id).filter(drafts_table::status.eq(&draft.status)))
        .set((drafts_table::status.eq(DraftStatus::Signed), drafts_table::updated_at.eq(now)))
        .execute(conn)?;
    if taken == 0 {
        return Err(Error::Conflict { code: "already_signed", message: "the draft was signed meanwhile".into() });
    }
    let id = submissions::insert(conn, keys, new, now)?;
    if let Some(task_id) = &draft.task_id {
        diesel::update(tasks::table.find(task_id).filter(tasks::status.eq(TaskStatus::Planned)))
            .set((
                tasks::status.eq(TaskStatus::Done),
                tasks::status_changed_at.eq(Some(now)),
                tasks::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(id)
}
