//! `/v1/families/{family_id}/readiness`: what the next forms still lack (準備状況).

use actix_web::{get, web, HttpResponse};

use crate::app::AppState;
use crate::error::Error;
use crate::service::principals::Principal;
use crate::service::readiness::{self, Readiness};

/// For each open bundle or draft, and for the birth bundle of each expected child (prepared
/// ahead, `opens: at_birth`), the values still missing: why the form asks each (`why`), and
/// where the app can give it early (`given_with`, `api_field`), in the order best asked. An app
/// can ask them one at a time during the pregnancy, so that after the birth the parent types
/// only the birth's own facts.
#[utoipa::path(tag = "drafts", operation_id = "get_readiness", params(("family_id" = String, Path)),
    responses((status = 200, description = "What the next forms still lack", body = Readiness)))]
#[get("/families/{family_id}/readiness")]
pub async fn get_readiness(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let readiness = state
        .read_family(principal, path.into_inner(), |conn, uc, family| readiness::of_family(conn, uc, &family))
        .await?;
    Ok(HttpResponse::Ok().json(readiness))
}
