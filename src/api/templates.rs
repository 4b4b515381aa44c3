//! `/v1/templates/{id}/preview`: what a parent would see.

use std::collections::BTreeMap;

use actix_web::{post, web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::ValidJson;
use crate::app::AppState;
use crate::domain::LanguageTag;
use crate::error::{Error, FieldErrors};
use crate::service::principals::Principal;
use crate::templates::{Rendered, TemplateValue};

/// The language and the values to preview a template with.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    /// The family's preferred language; Japanese is used where the template lacks it.
    pub language: LanguageTag,
    /// Each variable the template declares, as JSON (dates as `YYYY-MM-DD`).
    #[schema(example = json!({"opens_on": "2026-11-20", "due": "2026-12-01", "days_left": 3}))]
    pub variables: BTreeMap<String, serde_json::Value>,
}

/// Preview a notification template (vendor apps and municipal staff).
#[utoipa::path(tag = "templates", operation_id = "preview_template", params(("template_id" = String, Path)),
    request_body = PreviewInput,
    responses((status = 200, description = "The title, body and inbox text a parent would see", body = Rendered)))]
#[post("/templates/{template_id}/preview")]
pub async fn preview_template(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    body: ValidJson<PreviewInput>,
) -> Result<HttpResponse, Error> {
    if matches!(principal, Principal::Parent { .. }) {
        return Err(Error::Forbidden("previews are for vendor apps and municipal staff"));
    }
    let id = path.into_inner();
    let template = state.templates.get(&id).ok_or(Error::NotFound("template"))?;
    let input = body.0;
    let mut problems = FieldErrors::new();
    let mut values = BTreeMap::new();
    for (name, kind) in &template.meta.variables {
        match input.variables.get(name) {
            None => {
                problems.insert(format!("variables.{name}"), format!("missing: this template needs a {kind} value"));
            }
            Some(json) => match TemplateValue::from_json(*kind, json) {
                Ok(value) => {
                    values.insert(name.clone(), value);
                }
                Err(problem) => {
                    problems.insert(format!("variables.{name}"), problem);
                }
            },
        }
    }
    for name in input.variables.keys().filter(|n| !template.meta.variables.contains_key(*n)) {
        problems.insert(format!("variables.{name}"), "unknown: this template does not use it".into());
    }
    if !problems.is_empty() {
        return Err(Error::Validation(problems));
    }
    let rendered = state
        .templates
        .render(&id, input.language.as_str(), &values)
        .map_err(|e| Error::Conflict { code: "template_refused", message: e.0 })?;
    Ok(HttpResponse::Ok().json(rendered))
}
