//! The console's templates and static files, embedded in the binary.

use std::sync::OnceLock;

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use include_dir::{include_dir, Dir};
use minijinja::{Environment, UndefinedBehavior, Value};

use crate::error::Error;

static TEMPLATES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/src/console/templates");
static STATIC: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/src/console/static");

fn environment() -> &'static Environment<'static> {
    static ENVIRONMENT: OnceLock<Environment<'static>> = OnceLock::new();
    ENVIRONMENT.get_or_init(|| {
        let mut env = Environment::new();
        // A name the page does not have is a mistake in the page, not an empty string.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Every sentence a person reads goes through `t` (Japanese source, English from i18n/).
        env.add_function("t", super::i18n::template_function);
        for file in TEMPLATES.files() {
            let name = file.path().to_string_lossy().into_owned();
            if let Some(text) = file.contents_utf8() {
                // Templates are part of the binary; a broken one fails the console's tests.
                let _ = env.add_template_owned(name, text.to_owned());
            }
        }
        env
    })
}

/// Renders a page (`.html` templates escape every value).
pub fn page(template: &str, context: Value) -> Result<HttpResponse, Error> {
    page_with_status(StatusCode::OK, template, context)
}

pub fn page_with_status(status: StatusCode, template: &str, context: Value) -> Result<HttpResponse, Error> {
    let html = environment()
        .get_template(template)
        .and_then(|t| t.render(context))
        .map_err(|e| Error::internal(format!("console template {template}: {e:#}")))?;
    Ok(HttpResponse::build(status).content_type("text/html; charset=utf-8").body(html))
}

/// A static file (`/console/static/…`), with its type.
pub fn static_file(name: &str) -> Option<(&'static [u8], &'static str)> {
    let file = STATIC.get_file(name)?;
    let kind = match name.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    Some((file.contents(), kind))
}

/// Any serializable value, for a page.
pub fn ser<T: serde::Serialize>(value: T) -> Value {
    Value::from(minijinja::value::Serde(value))
}

#[cfg(test)]
mod tests {
    use minijinja::context;

    use super::*;

    #[test]
    fn every_template_parses() {
        let names: Vec<String> = TEMPLATES.files().map(|f| f.path().to_string_lossy().into_owned()).collect();
        assert!(names.len() >= 10, "{names:?}");
        for name in names {
            environment().get_template(&name).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        }
    }

    #[test]
    fn values_are_escaped_in_pages() {
        let response = page(
            "sign_in.html",
            context! { error => "<b>x</b>", login => "\"><script>alert(1)</script>", sign_in_token => "t" },
        )
        .expect("renders");
        let body = actix_web::body::to_bytes(response.into_body());
        let body = futures_util::FutureExt::now_or_never(body).expect("ready").expect("body");
        let html = String::from_utf8(body.to_vec()).expect("utf-8");
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&lt;b&gt;x&lt;&#x2f;b&gt;"), "{html}");
    }

    #[test]
    fn static_files_are_served_with_their_type() {
        assert_eq!(static_file("htmx.min.js").map(|(_, kind)| kind), Some("text/javascript; charset=utf-8"));
        assert_eq!(static_file("console.css").map(|(_, kind)| kind), Some("text/css; charset=utf-8"));
        assert!(static_file("../Cargo.toml").is_none());
    }
}
