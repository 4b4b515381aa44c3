//! The OpenAPI document and a human-readable API page that works offline (no CDN).

use actix_web::{web, HttpResponse};

/// The OpenAPI document rendered once at start.
pub struct OpenApiJson(pub String);

pub async fn openapi_json(document: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(document.0.clone())
}

/// A self-contained page (HTML, CSS and script inline) that renders `/openapi.json`.
pub async fn api_page() -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(include_str!("assets/api.html"))
}
