//! The console's pages, one file per area.

mod auth;
mod closed_days;
mod notices;
mod procedures;
mod settings;
mod staff;
mod submission_export;
mod submission_print;
mod submissions;

use actix_web::{web, HttpResponse};
use minijinja::{context, Value};

use super::i18n::Lang;
use super::render;
use super::session::{see_other, Staff};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("", web::get().to(home))
        .route("/", web::get().to(home))
        .route("/static/{name}", web::get().to(static_file))
        .route("/language/{code}", web::get().to(choose_language))
        .configure(auth::configure)
        .configure(notices::configure)
        .configure(submissions::configure)
        .configure(settings::configure)
        .configure(staff::configure)
        .configure(closed_days::configure)
        .configure(procedures::configure);
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

/// What every signed-in page shows: who is signed in, for which municipality, the form token,
/// and the language.
fn frame(staff: &Staff, section: &str) -> Value {
    context! {
        staff_name => staff.session.staff_name.clone(),
        municipality => staff.session.municipality.as_str(),
        municipality_name => staff.municipality_name.clone(),
        flash => staff.flash.clone(),
        csrf => staff.session.csrf_token.clone(),
        section => section,
        admin => matches!(staff.session.principal, crate::service::principals::Principal::Staff { admin: true, .. }),
        ..language_frame(staff.lang)
    }
}

/// The page's language and the link to the other one, named in its own language.
fn language_frame(lang: Lang) -> Value {
    let (other, other_name) = match lang {
        Lang::Ja => (Lang::En, "English"),
        Lang::En => (Lang::Ja, "日本語"),
    };
    context! { lang => lang.code(), other_lang => other.code(), other_lang_name => other_name }
}

/// Keeps the language chosen and returns to the page the choice was made on (a console page of
/// this site, as its `Referer` says; the notices otherwise).
async fn choose_language(req: actix_web::HttpRequest, code: web::Path<String>) -> HttpResponse {
    let Some(lang) = Lang::parse(&code) else { return HttpResponse::NotFound().finish() };
    let back = req
        .headers()
        .get(actix_web::http::header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| url::Url::parse(r).ok())
        .filter(|r| Some(r.host_str()) == Some(req.connection_info().host().split(':').next()))
        .map(|r| r.path().to_owned())
        .filter(|p| p.starts_with("/console/") && !p.starts_with("/console/language/"))
        .unwrap_or_else(|| "/console/notices".into());
    let secure = req.connection_info().scheme() == "https";
    let mut response = see_other(&back);
    let _ = response.add_cookie(&lang.cookie(secure));
    response
}

/// An instant as staff read it: Japan time to the minute.
fn local(at: chrono::DateTime<chrono::Utc>) -> String {
    use chrono_tz::Asia::Tokyo;
    at.with_timezone(&Tokyo).format("%Y-%m-%d %H:%M").to_string()
}

/// 確認: an act that cannot be undone (sending, cancelling, 却下, a new webhook key), said in
/// words before it is done. The act's form posts without `confirmed`, and its answer is this
/// page: what will happen, and a form that posts the same values again with `confirmed=yes`
/// (plain HTML: it works without JavaScript, and the same with htmx).
struct Confirm {
    /// What will happen, as the page's heading ("12世帯に送信します").
    heading: String,
    /// What else to know, a sentence each.
    details: Vec<String>,
    /// Where the confirmed form posts.
    action: String,
    /// The values of the first form, carried again (the form token and `confirmed` are added).
    fields: Vec<(String, String)>,
    /// The confirming button's words.
    button: String,
    /// Where "やめる" goes back to.
    back: String,
    /// False when the act cannot go on as it stands (the page then says why, with no button).
    allowed: bool,
    /// A file the act may take (its label): the confirming form then sends it, as
    /// `decision_document`, since a file chosen on the first form cannot be carried.
    upload: Option<String>,
}

/// Whether a posted form carries the confirmation.
fn confirmed(value: Option<&str>) -> bool {
    value == Some(CONFIRMED)
}

const CONFIRMED: &str = "yes";

fn confirm_page(staff: &Staff, section: &str, confirm: Confirm) -> Result<HttpResponse, super::session::Failure> {
    let fields: Vec<Value> = confirm
        .fields
        .iter()
        .filter(|(name, _)| !["csrf", "confirmed"].contains(&name.as_str()))
        .map(|(name, value)| context! { name => name, value => value })
        .collect();
    let context = context! {
        heading => confirm.heading, details => confirm.details, action => confirm.action, fields => fields,
        button => confirm.button, back => confirm.back, allowed => confirm.allowed, confirmed => CONFIRMED,
        upload => confirm.upload,
        ..frame(staff, section)
    };
    Ok(render::page("confirm.html", context)?)
}
