//! `/v1/families/{family_id}/consents`: 同意, given once per purpose and withdrawable.

use actix_web::{delete, get, post, web, HttpResponse};

use super::extract::ValidJson;
use crate::app::AppState;
use crate::domain::enums::ConsentPurpose;
use crate::error::Error;
use crate::service::consents::{self, ConsentPage, StandingConsent, StandingConsentInput};
use crate::service::principals::Principal;

/// Record a standing consent (for example `public_records_check`, the 公簿等の確認 a 児童手当
/// claim asks). nonstop records the wording it shows for the purpose, in Japanese or English,
/// and the time; every form that asks this consent is then filled with it. Show the parent the
/// `wording` of the answer (or of the readiness item) before calling this.
#[utoipa::path(tag = "consents", operation_id = "record_consent", params(("family_id" = String, Path)),
    request_body = StandingConsentInput,
    responses(
        (status = 201, description = "Recorded", body = StandingConsent),
        (status = 200, description = "Already in force: the consent as it was given", body = StandingConsent),
    ))]
#[post("/families/{family_id}/consents")]
pub async fn record_consent(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    body: ValidJson<StandingConsentInput>,
) -> Result<HttpResponse, Error> {
    let (consent, created) = state
        .write_family(principal, path.into_inner(), move |conn, uc, family| {
            consents::give(conn, &uc.planning.forms, &family.id, body.0, uc.now)
        })
        .await?;
    Ok(if created { HttpResponse::Created() } else { HttpResponse::Ok() }.json(consent))
}

/// Every consent the family gave, in force or withdrawn, oldest first, a page at a time.
#[utoipa::path(tag = "consents", operation_id = "list_consents", params(("family_id" = String, Path), super::PageQuery),
    responses((status = 200, description = "A page of consents, oldest first", body = ConsentPage)))]
#[get("/families/{family_id}/consents")]
pub async fn list_consents(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<super::PageQuery>,
) -> Result<HttpResponse, Error> {
    let (limit, cursor) = query.into_inner().read()?;
    let page = state
        .read_family(principal, path.into_inner(), move |conn, _, family| {
            consents::page(conn, &family.id, limit, cursor.as_deref())
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Withdraw the consent in force for a purpose. The record stays, with the time of withdrawal;
/// forms not yet confirmed ask the question again.
#[utoipa::path(tag = "consents", operation_id = "revoke_consent",
    params(("family_id" = String, Path), ("purpose" = ConsentPurpose, Path)),
    responses(
        (status = 200, description = "Withdrawn", body = StandingConsent),
        (status = 404, description = "No consent for this purpose is in force", body = crate::error::ErrorBody),
    ))]
#[delete("/families/{family_id}/consents/{purpose}")]
pub async fn revoke_consent(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (family_id, purpose) = path.into_inner();
    let purpose =
        ConsentPurpose::ALL.iter().copied().find(|p| p.as_str() == purpose).ok_or(Error::NotFound("consent"))?;
    let consent = state
        .write_family(principal, family_id, move |conn, uc, family| {
            consents::withdraw(conn, &family.id, purpose, uc.now)
        })
        .await?;
    Ok(HttpResponse::Ok().json(consent))
}
