//! The console's pages, one file per area.

mod auth;
mod notices;
mod settings;
mod submissions;

use actix_web::{web, HttpResponse};
use minijinja::{context, Value};

use super::render;
use super::session::Staff;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("", web::get().to(home))
        .route("/", web::get().to(home))
        .route("/static/{name}", web::get().to(static_file))
        .configure(auth::configure)
        .configure(notices::configure)
        .configure(submissions::configure)
        .configure(settings::configure);
}

async fn home(_staff: Staff) -> HttpResponse {
    super::session::see_other("/console/notices")
}

async fn static_file(name: web::Path<String>) -> HttpResponse {
    match render::static_file(&name) {
        Some((bytes, kind)) => {
            HttpResponse::Ok().content_type(kind).insert_header(("Cache-Control", "public, max-age=3600")).body(bytes)
        }
        None => HttpResponse::NotFound().finish(),
    }
}

/// What every signed-in page shows: who is signed in, for which municipality, and the form token.
fn frame(staff: &Staff, section: &str) -> Value {
    context! {
        staff_name => staff.session.staff_name.clone(),
        municipality => staff.session.municipality.as_str(),
        csrf => staff.session.csrf_token.clone(),
        section => section,
    }
}
