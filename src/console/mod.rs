//! 職員コンソール: the municipal console, server-rendered HTML that staff use in a browser.
//!
//! Pages are minijinja templates (`templates/`), enhanced with vendored htmx (`static/`) where a
//! part of a page updates live (the audience count). Every page calls the same use cases as the
//! API, with the signed-in member of staff as the principal, so a member of staff sees and does
//! exactly what their API key would allow. Nothing is loaded from elsewhere, and no script is
//! inline: the Content-Security-Policy says so.

mod flash;
pub mod guard;
pub mod i18n;
mod multipart;
mod pages;
mod problems;
mod qr;
mod render;
mod session;

use actix_web::middleware::DefaultHeaders;
use actix_web::web;

/// What every console answer carries: no inline script, nothing from other origins, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console under `/console`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/console")
            .wrap(
                DefaultHeaders::new()
                    .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("Referrer-Policy", "same-origin"))
                    .add(("Cache-Control", "no-store")),
            )
            .configure(pages::configure),
    );
}
