//! Who is signed in: the console's cookie session, its form token, and what a page answers when
//! something is refused (a page, never JSON).

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use minijinja::context;

use super::i18n::Lang;
use super::render;
use crate::app::AppState;
use crate::error::Error;
use crate::service::audit::Actor;
use crate::service::municipalities;
use crate::service::staff_accounts::{self, ConsoleSession};
use crate::telemetry::RequestId;

/// The session cookie: HttpOnly, SameSite=Strict, Secure when the console is reached by https.
pub const COOKIE: &str = "nonstop_console";
/// The sign-in form's token, set with the form and posted back with it: a sign-in another site
/// makes the browser post (to sign staff in to an account of its choosing) does not carry it.
pub const SIGN_IN_COOKIE: &str = "nonstop_sign_in";

/// A signed-in member of staff.
pub struct Staff {
    pub session: ConsoleSession,
    /// The cookie's token (to end the session, or keep it when the password changes).
    pub token: String,
    /// Who the audit trail names.
    pub actor: Actor,
    /// The language the pages speak.
    pub lang: Lang,
    /// The municipality's name, as its settings give it (the header shows it).
    pub municipality_name: String,
    /// What the page says about the act just done (`?done=…`, `flash`).
    pub flash: Option<String>,
}

impl Staff {
    /// Refuses a form whose token is not this session's (a request forged by another site).
    pub fn check_form_token(&self, sent: &str) -> Result<(), Failure> {
        if !sent.is_empty() && sent == self.session.csrf_token {
            Ok(())
        } else {
            Err(Failure::Page(Error::Forbidden("the form is out of date: reload the page and try again")))
        }
    }
}

/// What a console page answers instead of itself.
#[derive(Debug)]
pub enum Failure {
    /// Not signed in (or the session ended): to the sign-in page.
    SignIn,
    /// The one-time password must be changed first.
    ChangePassword,
    /// A refusal or an error, shown as a page with its status.
    Page(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Self::Page(e)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SignIn => write!(f, "not signed in"),
            Self::ChangePassword => write!(f, "password change required"),
            Self::Page(e) => write!(f, "{e}"),
        }
    }
}

impl ResponseError for Failure {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignIn | Self::ChangePassword => StatusCode::SEE_OTHER,
            Self::Page(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::SignIn => see_other("/console/sign-in"),
            Self::ChangePassword => see_other("/console/password"),
            Self::Page(e) => {
                if let Error::Internal(cause) = e {
                    tracing::error!(cause = %cause, "console page failed");
                }
                let context =
                    context! { status => e.status_code().as_u16(), message => e.message(), fields => e.fields() };
                let mut response = render::page_with_status(e.status_code(), "error.html", context)
                    .unwrap_or_else(|_| HttpResponse::build(e.status_code()).body(e.message()));
                if let Some(seconds) = e.retry_after_seconds() {
                    response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
                }
                response
            }
        }
    }
}

/// The act a redirect names (`flash`).
#[derive(serde::Deserialize)]
struct Done {
    done: Option<String>,
}

/// A redirect after a form (303, so the browser follows with GET).
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to.to_owned())).finish()
}

/// The session cookie with `value`; an empty value with no age removes it.
pub fn cookie(req: &HttpRequest, value: &str) -> Cookie<'static> {
    cookie_named(req, COOKIE, value)
}

/// The sign-in form's token cookie.
pub fn sign_in_token(req: &HttpRequest, value: &str) -> Cookie<'static> {
    cookie_named(req, SIGN_IN_COOKIE, value)
}

fn cookie_named(req: &HttpRequest, name: &'static str, value: &str) -> Cookie<'static> {
    let secure = req.connection_info().scheme() == "https";
    let mut cookie = Cookie::build(name, value.to_owned())
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .finish();
    if value.is_empty() {
        cookie.make_removal();
    }
    cookie
}

impl FromRequest for Staff {
    type Error = Failure;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Failure>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let token = req.cookie(COOKIE).map(|c| c.value().to_owned());
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
        // Before the one-time password is changed, only the change itself and signing out.
        let changing_password = matches!(req.path(), "/console/password" | "/console/sign-out");
        let lang = Lang::of(req);
        let flash = web::Query::<Done>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.into_inner().done)
            .and_then(|done| super::flash::message(lang, &done));
        Box::pin(async move {
            let (Some(token), Some(state)) = (token, state) else { return Err(Failure::SignIn) };
            let now = state.clock.now();
            let (lookup, planning) = (token.clone(), state.planning.clone());
            let found = state
                .db
                .read(move |conn| {
                    let Some(session) = staff_accounts::session(conn, &lookup, now)? else { return Ok(None) };
                    let name = municipalities::display_name(conn, &planning, session.municipality.as_str())?;
                    Ok(Some((session, name)))
                })
                .await?;
            let Some((session, municipality_name)) = found else { return Err(Failure::SignIn) };
            // A console session spends the same budget as the member's API key would.
            state.rate_limits.check(&session.principal)?;
            if session.must_change_password && !changing_password {
                return Err(Failure::ChangePassword);
            }
            let actor = Actor::of(&session.principal, request_id);
            Ok(Staff { session, token, actor, lang, municipality_name, flash })
        })
    }
}
