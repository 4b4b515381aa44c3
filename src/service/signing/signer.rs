//! The signer is the card's holder: which guardian a card is (by its 基本4情報, or a card
//! registered for the guardian), that the form's applicant is the card's holder, and the
//! registration of a card whose name has 代替文字.

use diesel::prelude::*;

use super::{decode_certificate, refused, CertificateRegistration, RegisteredCertificate, SignerMatch};
use crate::crypto::KeyRing;
use crate::db::rows::FamilyRow;
use crate::db::schema::registered_certificates;
use crate::db::DbConnection;
use crate::error::Error;
use crate::jpki::{self, Refusal, Verifier};
use crate::service::guardians;
use crate::service::UseCase;

/// The guardian who signed: the one whose certificate was registered (and whose birth date
/// the card still carries), or whose name and birth date the certificate's 基本4情報 carry
/// (unless the card substituted characters).
pub(super) fn signer_of(
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
pub(super) fn check_applicants(
    document: &str,
    holder: &jpki::BasicFourInfo,
    signer: &guardians::Guardian,
) -> Result<(), Error> {
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
pub(super) struct Applicant {
    name: String,
    birth_date: Option<chrono::NaiveDate>,
}

/// The applicants a signed document names (`applicant.name`, with `applicant.birth_date` when
/// the form has it, of the form or of each form of a bundle).
pub(super) fn applicants(document: &str) -> Vec<Applicant> {
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
