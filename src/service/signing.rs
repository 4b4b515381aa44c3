//! 電子署名: the parent's マイナンバーカード signature over a confirmed draft or bundle,
//! verified (see `crate::jpki`), matched to a guardian, and turned into submissions.

use base64::Engine;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::bundles::{self, BundleStatus};
use super::drafts::{self, DraftStatus};
use super::planning::TaskStatus;
use super::submissions::NewSubmission;
use super::submissions::{self, Submission};
use super::UseCase;
use super::{guardians, new_id};
use crate::crypto::KeyRing;
use crate::db::rows::{DraftRow, FamilyRow, SignatureRow};
use crate::db::schema::{
    drafts as drafts_table, registered_certificates, signatures, submissions as submissions_table, tasks,
};
use crate::db::sealed;
use crate::db::DbConnection;
use crate::domain::planner::PlanningContext;
use crate::error::Error;
use crate::jpki::{self, Refusal, Verifier};

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

/// The guardian who signed: the one whose certificate was registered (and whose birth date
/// the card still carries), or whose name and birth date the certificate's 基本4情報 carry
/// (unless the card substituted characters).
fn signer_of(
    conn: &mut DbConnection,
    keys: &KeyRing,
    family: &FamilyRow,
    holder: &jpki::BasicFourInfo,
    certificate_sha256: &str,
) -> Result<(guardians::Guardian, SignerMatch), Error> {
    let registered: Option<String> = registered_certificates::table
        .filter(registered_certificates::family_id.eq(&family.id))
        .filter(registered_certificates::certificate_sha256.eq(certificate_sha256))
        .select(registered_certificates::guardian_id)
        .first(conn)
        .optional()?;
    let guardians = guardians::list(conn, keys, &family.id)?;
    let found = match &registered {
        Some(id) => guardians
            .into_iter()
            .find(|g| &g.id == id && g.birth_date.is_some() && g.birth_date == holder.birth_date())
            .map(|g| (g, SignerMatch::RegisteredCertificate)),
        None => guardians
            .into_iter()
            .find(|g| jpki::holder_matches(holder, &g.full_name, g.birth_date))
            .map(|g| (g, SignerMatch::BasicFourMatch)),
    };
    found.ok_or_else(|| refused(Refusal::WrongSigner))
}

/// The person who signs must be the applicant each form names: compared with the card's
/// holder (its 氏名, and its 生年月日 where the form carries the applicant's), never only with
/// the profile a vendor stored. A character the card substituted (代替文字) stands for any one
/// character; only a card whose name cannot be compared at all (flags that do not line up),
/// registered for this guardian after its birth date was checked, is compared by the
/// guardian's name instead.
fn check_applicants(document: &str, holder: &jpki::BasicFourInfo, signer: &guardians::Guardian) -> Result<(), Error> {
    for applicant in applicants(document) {
        let named = match jpki::name_agrees(holder, &applicant.name) {
            Some(agrees) => agrees,
            None => jpki::same_name(&applicant.name, &signer.full_name),
        };
        let born = applicant.birth_date.is_none_or(|date| holder.birth_date() == Some(date));
        if !(named && born) {
            return Err(refused(Refusal::NotTheApplicant));
        }
    }
    Ok(())
}

/// An applicant as a signed form names them.
struct Applicant {
    name: String,
    birth_date: Option<chrono::NaiveDate>,
}

/// The applicants a signed document names (`applicant.name`, with `applicant.birth_date` when
/// the form has it, of the form or of each form of a bundle).
fn applicants(document: &str) -> Vec<Applicant> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(document) else { return Vec::new() };
    let forms: Vec<serde_json::Value> = match value.get("forms").and_then(|f| f.as_array()) {
        Some(forms) => forms
            .iter()
            .filter_map(|f| f.get("document").and_then(|d| d.as_str()))
            .filter_map(|d| serde_json::from_str(d).ok())
            .collect(),
        None => vec![value],
    };
    forms
        .iter()
        .filter_map(|f| {
            let name = f.pointer("/fields/applicant.name")?.as_str()?.to_owned();
            let birth_date = f
                .pointer("/fields/applicant.birth_date")
                .and_then(|d| d.as_str())
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
            Some(Applicant { name, birth_date })
        })
        .collect()
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
    super::webhooks::enqueue_submission(conn, keys, &submission, now)?;
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
        super::webhooks::enqueue_submission(conn, keys, &submission, now)?;
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

/// Registers a guardian's signing certificate (after checking it is a trusted signing
/// certificate of someone born on the guardian's birth date); only its SHA-256 is kept.
pub fn register_certificate(
    conn: &mut DbConnection,
    uc: &UseCase,
    verifier: &Verifier,
    family: &FamilyRow,
    guardian_id: &str,
    input: &CertificateRegistration,
) -> Result<RegisteredCertificate, Error> {
    let (keys, now) = (&*uc.keys, uc.now);
    let guardian = guardians::get(conn, keys, &family.id, guardian_id)?;
    let der = decode_certificate(&input.certificate, "certificate")?;
    let checked = verifier.check_certificate(&der, now.and_utc()).map_err(refused)?;
    // A registered card signs for the guardian without the name check (its name has substituted
    // characters), so it must at least be a card of someone born on the guardian's birth date.
    let Some(born) = guardian.birth_date else {
        return Err(Error::Refused {
            code: "guardian_birth_date_missing",
            message: "record the guardian's birth date first: a card is registered only for the person born then"
                .into(),
        });
    };
    // The name is compared too, every character the card did not have to substitute (the
    // reason to register a card at all); a name whose flags do not line up compares nothing,
    // and then the 生年月日 is all the card lets us compare.
    let name_differs = jpki::name_agrees(&checked.holder, &guardian.full_name) == Some(false);
    if checked.holder.birth_date() != Some(born) || name_differs {
        return Err(Error::Refused {
            code: "not_the_guardians_card",
            message: "the card's 基本4情報 (氏名, 生年月日) are not the guardian's: only the guardian's own card can be registered"
                .into(),
        });
    }
    let sha256 = checked.sha256;
    diesel::delete(registered_certificates::table.find((guardian_id, &sha256))).execute(conn)?;
    diesel::insert_into(registered_certificates::table)
        .values((
            registered_certificates::guardian_id.eq(guardian_id),
            registered_certificates::certificate_sha256.eq(&sha256),
            registered_certificates::family_id.eq(&family.id),
            registered_certificates::registered_at.eq(now),
        ))
        .execute(conn)?;
    Ok(RegisteredCertificate { guardian_id: guardian_id.to_owned(), certificate_sha256: sha256 })
}
