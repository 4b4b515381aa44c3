//! `/v1/families/{family_id}/drafts/{draft_id}/signature`, `/bundles/{bundle_id}/signature` and
//! `/guardians/{guardian_id}/signing-certificate`: the parent signs with the マイナンバーカード.
//! Every signature accepted or refused, and every card registered or refused, is in the audit
//! trail.

use actix_web::{post, put, web, HttpResponse};

use super::extract::{Caller, ValidJson};
use crate::app::AppState;
use crate::error::Error;
use crate::service::audit::{self, AuditAction, Event};
use crate::service::signing::{self, CertificateRegistration, RegisteredCertificate, SignatureInput, Signed};

/// Sign a confirmed draft with the parent's マイナンバーカード 署名用電子証明書. nonstop checks the
/// signature over exactly the confirmed document, the certificate against its pinned trust
/// anchors and profile, and that the holder is this family's guardian and the form's applicant;
/// revocation is left to the municipality. The draft becomes a submission and its task is done.
/// Signing again returns the same submission.
#[utoipa::path(tag = "drafts", operation_id = "sign_draft", params(("family_id" = String, Path), ("draft_id" = String, Path)),
    request_body = SignatureInput,
    responses((status = 201, description = "Submitted", body = Signed),
        (status = 200, description = "Already signed: the same submission", body = Signed),
        (status = 409, description = "`draft_not_confirmed`, `sign_the_bundle`", body = crate::error::ErrorBody)))]
#[post("/families/{family_id}/drafts/{draft_id}/signature")]
pub async fn sign_draft(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: ValidJson<SignatureInput>,
) -> Result<HttpResponse, Error> {
    let (family_id, draft_id) = path.into_inner();
    let Caller { principal, actor } = caller;
    let (verifier, signer) = (state.verifier.clone(), actor.clone());
    let target = ("draft", draft_id.clone(), family_id.clone());
    let signed = state
        .write_family(principal, family_id, move |conn, uc, family| {
            let signed = signing::sign_draft(conn, uc, &verifier, &family, &draft_id, &body.0)?;
            signing::record_accepted(conn, &signer, signed, uc.now)
        })
        .await;
    Ok(signed_response(record_refusal(&state, actor, signed, AuditAction::SignatureRefused, target).await?))
}

/// Sign the confirmed bundle document once: one submission per form.
#[utoipa::path(tag = "drafts", operation_id = "sign_bundle", params(("family_id" = String, Path), ("bundle_id" = String, Path)),
    request_body = SignatureInput,
    responses((status = 201, description = "Submitted, one submission per form", body = Signed),
        (status = 200, description = "Already signed: the same submissions", body = Signed),
        (status = 409, description = "`bundle_not_confirmed`", body = crate::error::ErrorBody)))]
#[post("/families/{family_id}/bundles/{bundle_id}/signature")]
pub async fn sign_bundle(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: ValidJson<SignatureInput>,
) -> Result<HttpResponse, Error> {
    let (family_id, bundle_id) = path.into_inner();
    let Caller { principal, actor } = caller;
    let (verifier, signer) = (state.verifier.clone(), actor.clone());
    let target = ("bundle", bundle_id.clone(), family_id.clone());
    let signed = state
        .write_family(principal, family_id, move |conn, uc, family| {
            let signed = signing::sign_bundle(conn, uc, &verifier, &family, &bundle_id, &body.0)?;
            signing::record_accepted(conn, &signer, signed, uc.now)
        })
        .await;
    Ok(signed_response(record_refusal(&state, actor, signed, AuditAction::SignatureRefused, target).await?))
}

/// 201 with what a signing made; 200 when it had been signed already.
fn signed_response(signed: Signed) -> HttpResponse {
    if signed.created {
        HttpResponse::Created().json(signed)
    } else {
        HttpResponse::Ok().json(signed)
    }
}

/// Records a refusal (`Error::Refused`, whose code says why) of an act that was rolled back.
async fn record_refusal<R>(
    state: &AppState,
    actor: audit::Actor,
    result: Result<R, Error>,
    action: AuditAction,
    (target_kind, target_id, family_id): (&'static str, String, String),
) -> Result<R, Error> {
    if let Err(Error::Refused { code, .. }) = &result {
        let (event, now) = (Event::new(action, target_kind, target_id).detail(*code), state.clock.now());
        state.db.write(move |conn| audit::record_for_family(conn, &actor, event, &family_id, now)).await?;
    }
    result
}

/// Register a guardian's signing certificate beforehand (kept as its SHA-256 only), for a
/// card whose name uses substituted characters (代替文字) and cannot be compared. Only the
/// guardian's own card is registered: its 生年月日 must be the guardian's, and so must its 氏名
/// unless the card substituted characters of it.
#[utoipa::path(tag = "drafts", operation_id = "register_signing_certificate",
    params(("family_id" = String, Path), ("guardian_id" = String, Path)), request_body = CertificateRegistration,
    responses((status = 200, description = "Registered", body = RegisteredCertificate),
        (status = 422, description = "`not_the_guardians_card`, `guardian_birth_date_missing`, or the card is not trusted",
            body = crate::error::ErrorBody)))]
#[put("/families/{family_id}/guardians/{guardian_id}/signing-certificate")]
pub async fn register_signing_certificate(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: ValidJson<CertificateRegistration>,
) -> Result<HttpResponse, Error> {
    let Caller { principal, actor } = caller;
    let (family_id, guardian_id) = path.into_inner();
    let verifier = state.verifier.clone();
    let (registrar, target) = (actor.clone(), ("guardian", guardian_id.clone(), family_id.clone()));
    let registered = state
        .write_family(principal, family_id, move |conn, uc, family| {
            let registered = signing::register_certificate(conn, uc, &verifier, &family, &guardian_id, &body.0)?;
            let event = Event::new(AuditAction::SigningCertificateRegistered, "guardian", guardian_id)
                .in_municipality(family.municipality_code.clone());
            audit::record(conn, &registrar, event, uc.now)?;
            Ok(registered)
        })
        .await;
    let registered = record_refusal(&state, actor, registered, AuditAction::SigningCertificateRefused, target).await?;
    Ok(HttpResponse::Ok().json(registered))
}
