//! The OpenAPI document and a human-readable API page that works offline (no CDN).

use std::sync::LazyLock;

use actix_web::{web, HttpResponse};
use base64::Engine;

/// The OpenAPI document rendered once at start.
pub struct OpenApiJson(pub String);

pub async fn openapi_json(document: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(document.0.clone())
}

/// The page: HTML with its one style sheet and its one script inline.
const API_PAGE: &str = include_str!("assets/api.html");

/// What the page may do: run its own inline script and style (named by their SHA-256, so no
/// other inline script would run), fetch `/openapi.json` from this origin, and nothing else: no
/// other origin, no framing, no form, no plugin.
pub static API_PAGE_POLICY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; script-src '{}'; style-src '{}'; connect-src 'self'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'",
        inline_hash(API_PAGE, "script"),
        inline_hash(API_PAGE, "style")
    )
});

/// `sha256-…` of the text inside the page's first `<tag>` element, as CSP names inline code.
fn inline_hash(page: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let inside = page
        .split_once(&open)
        .and_then(|(_, rest)| rest.split_once(&format!("</{tag}>")))
        .map_or("", |(inside, _)| inside);
    format!("sha256-{}", base64::engine::general_purpose::STANDARD.encode(openssl::sha::sha256(inside.as_bytes())))
}

/// A self-contained page (HTML, CSS and script inline) that renders `/openapi.json`.
pub async fn api_page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", API_PAGE_POLICY.as_str()))
        .body(API_PAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_pages_own_script_and_style_and_nothing_else() {
        assert_eq!(API_PAGE.matches("<script>").count(), 1, "one inline script, hashed");
        assert_eq!(API_PAGE.matches("<style>").count(), 1, "one inline style sheet, hashed");
        assert!(!API_PAGE.contains("<script "), "no script of another form");
        let policy = API_PAGE_POLICY.as_str();
        assert!(policy.contains("script-src 'sha256-") && !policy.contains("unsafe-inline"), "{policy}");
        // The hash of a known text, as a browser computes it (CSP3 examples).
        assert_eq!(
            inline_hash("<script>alert('Hello, world.');</script>", "script"),
            "sha256-qznLcsROx4GACP2dm0UCKCzCG+HiZ1guq6ZZDob/Tng="
        );
    }
}
