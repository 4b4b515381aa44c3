//! Signing in and out, the password, and two-step sign-in. Every form that takes a password
//! goes through the sign-in guard (`console::guard`): a hijacked session can no more guess the
//! password than a stranger at the sign-in page can.

use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use chrono_tz::Asia::Tokyo;
use minijinja::{context, Value};
use serde::Deserialize;

use super::super::guard::{self, Guess, NotChecked};
use super::super::i18n::{self, Lang};
use super::super::render;
use super::super::session::{cookie, see_other, sign_in_token, Failure, Staff, SIGN_IN_COOKIE};
use crate::app::AppState;
use crate::db::DbConnection;
use crate::error::Error;
use crate::service::audit::{self, Actor, AuditAction, Event};
use crate::service::sign_in_attempts::{self, Attempt};
use crate::service::staff_accounts::{self, Login};
use crate::service::staff_totp;
use crate::telemetry::RequestId;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/sign-in", web::get().to(sign_in_page))
        .route("/sign-in", web::post().to(sign_in))
        .route("/sign-out", web::post().to(sign_out))
        .route("/password", web::get().to(password_page))
        .route("/password", web::post().to(change_password))
        .route("/two-step", web::get().to(two_step_page))
        .route("/two-step", web::post().to(enable_two_step))
        .route("/two-step/off", web::post().to(disable_two_step));
}

/// The sign-in page with a fresh form token in its cookie (a sign-in forged by another site
/// lacks it).
fn sign_in_form(
    req: &HttpRequest,
    lang: Lang,
    status: StatusCode,
    error: Option<String>,
    login: &str,
) -> Result<HttpResponse, Failure> {
    let token = crate::crypto::new_secret("");
    let context =
        context! { error => error, login => login, sign_in_token => token.clone(), ..super::language_frame(lang) };
    let mut response = render::page_with_status(status, "sign_in.html", context)?;
    response.add_cookie(&sign_in_token(req, &token)).map_err(|e| Error::internal(format!("cookie: {e}")))?;
    Ok(response)
}

async fn sign_in_page(req: HttpRequest, lang: Lang) -> Result<HttpResponse, Failure> {
    sign_in_form(&req, lang, StatusCode::OK, None, "")
}

#[derive(Deserialize)]
struct SignIn {
    login: String,
    password: String,
    /// The authenticator app's code, for accounts that turned it on.
    #[serde(default)]
    code: String,
    /// The form token the sign-in page set in its cookie.
    #[serde(default)]
    token: String,
}

/// Why a password form was refused, as the page says it.
enum Refusal {
    /// The `nth` wrong guess in a row from this client.
    Wrong {
        nth: i32,
    },
    Locked {
        until: NaiveDateTime,
    },
    NotChecked(NotChecked),
}

impl Refusal {
    fn of(not_checked: NotChecked) -> Result<Self, Failure> {
        match not_checked {
            NotChecked::Locked { until } => Ok(Self::Locked { until }),
            NotChecked::Failed(e) => Err(e.into()),
            other => Ok(Self::NotChecked(other)),
        }
    }

    /// The status, a sentence, and the seconds to wait before retrying (if any). A wrong guess
    /// is answered after its delay, the same for real and unknown logins.
    async fn answer(self, lang: Lang, now: NaiveDateTime, wrong: &str) -> (StatusCode, String, Option<u64>) {
        let locked = |until: NaiveDateTime| {
            let until = until.and_utc().with_timezone(&Tokyo).format("%H:%M").to_string();
            let message = "失敗が続いたため、この端末からのサインインは {until} まで止めています。";
            (StatusCode::TOO_MANY_REQUESTS, i18n::format(lang, message, &[("until", &until)]), None)
        };
        match self {
            Self::Wrong { nth } if guard::locks(nth) => {
                locked(now + chrono::Duration::minutes(sign_in_attempts::LOCK_MINUTES))
            }
            Self::Wrong { nth } => {
                actix_web::rt::time::sleep(guard::delay_after(nth)).await;
                (StatusCode::UNAUTHORIZED, i18n::text(lang, wrong), None)
            }
            Self::Locked { until } => locked(until),
            Self::NotChecked(NotChecked::TooFast { retry_after_seconds }) => {
                let message = "試行が多すぎます。{seconds} 秒後にもう一度お試しください。";
                let seconds = retry_after_seconds.to_string();
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    i18n::format(lang, message, &[("seconds", &seconds)]),
                    Some(retry_after_seconds),
                )
            }
            Self::NotChecked(_) => {
                let message = "ただいま混み合っています。少し待ってから、もう一度お試しください。";
                (StatusCode::SERVICE_UNAVAILABLE, i18n::text(lang, message), Some(1))
            }
        }
    }
}

impl Refusal {
    /// `answer` for a form of a signed-in member: a wrong password is a field of the form at
    /// fault (422), not a refused sign-in (401).
    async fn answer_in_session(self, lang: Lang, now: NaiveDateTime, wrong: &str) -> (StatusCode, String, Option<u64>) {
        let (status, message, retry_after) = self.answer(lang, now, wrong).await;
        let status = if status == StatusCode::UNAUTHORIZED { StatusCode::UNPROCESSABLE_ENTITY } else { status };
        (status, message, retry_after)
    }
}

fn request_id(req: &HttpRequest) -> Option<String> {
    req.extensions().get::<RequestId>().map(|r| r.0.clone())
}

/// Records a wrong password or code of a real account in its municipality's trail, and the lock
/// when it was the last guess allowed. Unknown logins are not recorded: anyone can make them up.
fn record_failure(
    conn: &mut DbConnection,
    actor: &Actor,
    account: &Login,
    what: &'static str,
    nth: i32,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let event = |action| {
        Event::new(action, "staff_account", account.staff_id.clone())
            .in_municipality(account.municipality_code.clone())
            .detail(what)
    };
    audit::record(conn, actor, event(AuditAction::StaffSignInFailed), now)?;
    if guard::locks(nth) {
        audit::record(conn, actor, event(AuditAction::StaffSignInLocked), now)?;
    }
    Ok(())
}

async fn sign_in(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    form: web::Form<SignIn>,
) -> Result<HttpResponse, Failure> {
    let SignIn { login, password, code, token } = form.into_inner();
    let expected = req.cookie(SIGN_IN_COOKIE).map(|c| c.value().to_owned());
    if token.is_empty() || expected.as_deref() != Some(token.as_str()) {
        let message = i18n::text(lang, "このページの有効期限が切れました。もう一度入力してください。");
        return sign_in_form(&req, lang, StatusCode::FORBIDDEN, Some(message), &login);
    }
    let code = Some(code.trim().to_owned()).filter(|c| !c.is_empty());
    let client = state.sign_in_guard.client(&req);
    let actor = Actor::client(&client, request_id(&req));
    let refusal = match state.sign_in_guard.guess(&state, &login, &client, password).await {
        Ok(Guess::Right { account, attempt, nth }) => {
            let (keys, now, actor) = (state.keys.clone(), state.clock.now(), actor.clone());
            let opened = state
                .db
                .write(move |conn| {
                    // A wrong or reused code counts as a failed guess, like a wrong password.
                    if !staff_totp::passes(conn, &keys, &account.staff_id, code.as_deref(), now)? {
                        record_failure(conn, &actor, &account, "code", nth, now)?;
                        return Ok(Err(nth));
                    }
                    sign_in_attempts::clear(conn, &attempt)?;
                    let token = staff_accounts::open_session(conn, &account.staff_id, now)?;
                    let event = Event::new(AuditAction::StaffSignedIn, "staff_account", account.staff_id.clone())
                        .in_municipality(account.municipality_code.clone())
                        .detail(actor.id.clone());
                    let signed_in = Actor { kind: audit::ActorKind::Staff, id: account.staff_id.clone(), ..actor };
                    audit::record(conn, &signed_in, event, now)?;
                    Ok(Ok(token))
                })
                .await?;
            match opened {
                Ok(token) => {
                    return Ok(HttpResponse::SeeOther()
                        .cookie(cookie(&req, &token))
                        .insert_header(("Location", "/console/notices"))
                        .finish())
                }
                Err(nth) => Refusal::Wrong { nth },
            }
        }
        Ok(Guess::Wrong { account, nth }) => {
            if let Some(account) = account {
                let now = state.clock.now();
                state.db.write(move |conn| record_failure(conn, &actor, &account, "password", nth, now)).await?;
            }
            Refusal::Wrong { nth }
        }
        Err(not_checked) => Refusal::of(not_checked)?,
    };
    let wrong = "ログイン名、パスワードまたは確認コードが違います。";
    let (status, message, retry_after) = refusal.answer(lang, state.clock.now(), wrong).await;
    Ok(with_retry_after(sign_in_form(&req, lang, status, Some(message), &login)?, retry_after))
}

/// `Retry-After` on a refusal when the client must wait.
fn with_retry_after(mut response: HttpResponse, retry_after: Option<u64>) -> HttpResponse {
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(actix_web::http::header::RETRY_AFTER, actix_web::http::header::HeaderValue::from(seconds));
    }
    response
}

#[derive(Deserialize)]
struct TokenOnly {
    csrf: String,
}

async fn sign_out(
    req: HttpRequest,
    state: web::Data<AppState>,
    staff: Staff,
    form: web::Form<TokenOnly>,
) -> Result<HttpResponse, Failure> {
    staff.check_form_token(&form.csrf)?;
    let token = staff.token.clone();
    state.db.write(move |conn| staff_accounts::sign_out(conn, &token)).await?;
    Ok(HttpResponse::SeeOther().cookie(cookie(&req, "")).insert_header(("Location", "/console/sign-in")).finish())
}

/// The password of the signed-in member, guessed through the guard like a sign-in; a wrong one
/// is recorded in the trail. `Ok(attempt)` when it is right (the caller gives the count back
/// with its act).
async fn check_own_password(
    req: &HttpRequest,
    state: &AppState,
    staff: &Staff,
    password: String,
) -> Result<Result<Attempt, Refusal>, Failure> {
    let id = staff.session.staff_id.clone();
    let login = state.db.read(move |conn| staff_accounts::login_of(conn, &id)).await?;
    let client = state.sign_in_guard.client(req);
    match state.sign_in_guard.guess(state, &login, &client, password).await {
        Ok(Guess::Right { account, attempt, .. }) if account.staff_id == staff.session.staff_id => Ok(Ok(attempt)),
        Ok(Guess::Right { nth, .. }) => Ok(Err(Refusal::Wrong { nth })),
        Ok(Guess::Wrong { account, nth }) => {
            let (actor, now) = (staff.actor.clone(), state.clock.now());
            if let Some(account) = account {
                state.db.write(move |conn| record_failure(conn, &actor, &account, "password", nth, now)).await?;
            }
            Ok(Err(Refusal::Wrong { nth }))
        }
        Err(not_checked) => Ok(Err(Refusal::of(not_checked)?)),
    }
}

/// A refused password form's page: its status, `Retry-After` when the client must wait.
fn refused_page(
    status: StatusCode,
    retry_after: Option<u64>,
    template: &str,
    context: Value,
) -> Result<HttpResponse, Failure> {
    Ok(with_retry_after(render::page_with_status(status, template, context)?, retry_after))
}

async fn password_page(staff: Staff) -> Result<HttpResponse, Failure> {
    let mut frame = super::frame(&staff, "password");
    frame = context! { must_change => staff.session.must_change_password, error => None::<String>, ..frame };
    Ok(render::page("password.html", frame)?)
}

#[derive(Deserialize)]
struct PasswordChange {
    csrf: String,
    current_password: String,
    new_password: String,
    new_password_again: String,
}

async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    staff: Staff,
    form: web::Form<PasswordChange>,
) -> Result<HttpResponse, Failure> {
    staff.check_form_token(&form.csrf)?;
    let form = form.into_inner();
    let page = |status: StatusCode, message: String, retry_after: Option<u64>| {
        let frame = super::frame(&staff, "password");
        let context = context! { must_change => staff.session.must_change_password, error => message, ..frame };
        refused_page(status, retry_after, "password.html", context)
    };
    // What can be told without the password is told first, so that no guess is spent on it.
    if form.new_password != form.new_password_again {
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            i18n::text(staff.lang, "新しいパスワードが一致しません。"),
            None,
        );
    }
    if let Err(problem) = staff_accounts::check_new_password(&form.new_password, &form.current_password) {
        let label = i18n::text(staff.lang, "新しいパスワード（12文字以上）");
        let message = format!("{label}: {}", super::super::problems::translate(staff.lang, &problem));
        return page(StatusCode::UNPROCESSABLE_ENTITY, message, None);
    }
    let attempt = match check_own_password(&req, &state, &staff, form.current_password).await? {
        Ok(attempt) => attempt,
        Err(refusal) => {
            let wrong = "現在のパスワードが違います。";
            let (status, message, retry_after) = refusal.answer_in_session(staff.lang, state.clock.now(), wrong).await;
            return page(status, message, retry_after);
        }
    };
    let hash = match state.sign_in_guard.hash(form.new_password).await {
        Ok(hash) => hash,
        Err(not_checked) => {
            let (status, message, retry_after) =
                Refusal::of(not_checked)?.answer(staff.lang, state.clock.now(), "").await;
            return page(status, message, retry_after);
        }
    };
    let (staff_id, token, actor, now) =
        (staff.session.staff_id.clone(), staff.token.clone(), staff.actor.clone(), state.clock.now());
    let (code, client) = (staff.session.municipality.as_str().to_owned(), state.sign_in_guard.client(&req));
    state
        .db
        .write(move |conn| {
            staff_accounts::set_password(conn, &staff_id, &token, &hash)?;
            sign_in_attempts::clear(conn, &attempt)?;
            let event = Event::new(AuditAction::StaffPasswordChanged, "staff_account", staff_id.clone())
                .in_municipality(code)
                .detail(client);
            audit::record(conn, &actor, event, now)
        })
        .await?;
    Ok(see_other("/console/notices?done=password"))
}

/// 二要素認証: turn on the authenticator app's code for this account, or off.
async fn two_step_page(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Failure> {
    two_step(&state, &staff, staff_totp::new_secret(), None, StatusCode::OK, None).await
}

async fn two_step(
    state: &AppState,
    staff: &Staff,
    secret: String,
    problem: Option<String>,
    status: StatusCode,
    retry_after: Option<u64>,
) -> Result<HttpResponse, Failure> {
    let staff_id = staff.session.staff_id.clone();
    let (enabled, login) = state
        .db
        .read(move |conn| Ok((staff_totp::enabled(conn, &staff_id)?, staff_accounts::login_of(conn, &staff_id)?)))
        .await?;
    let uri = staff_totp::otpauth_uri(&secret, &login);
    let qr = super::super::qr::svg(&uri, &i18n::text(staff.lang, "認証アプリで読み取る QR コード"))?;
    let context = context! {
        enabled => enabled,
        qr => minijinja::Value::from_safe_string(qr),
        uri => uri,
        secret => secret,
        problem => problem,
        ..super::frame(staff, "two-step")
    };
    refused_page(status, retry_after, "two_step.html", context)
}

#[derive(Deserialize)]
struct EnableTwoStep {
    csrf: String,
    secret: String,
    code: String,
    /// The account's password: a session alone (left open, or stolen) cannot put its own app in.
    #[serde(default)]
    password: String,
}

async fn enable_two_step(
    req: HttpRequest,
    state: web::Data<AppState>,
    staff: Staff,
    form: web::Form<EnableTwoStep>,
) -> Result<HttpResponse, Failure> {
    staff.check_form_token(&form.csrf)?;
    let EnableTwoStep { secret, code, password, .. } = form.into_inner();
    let attempt = match check_own_password(&req, &state, &staff, password).await? {
        Ok(attempt) => attempt,
        Err(refusal) => {
            let wrong = "パスワードが違います。";
            let (status, message, retry_after) = refusal.answer_in_session(staff.lang, state.clock.now(), wrong).await;
            return two_step(&state, &staff, secret, Some(message), status, retry_after).await;
        }
    };
    let (staff_id, keys, now) = (staff.session.staff_id.clone(), state.keys.clone(), state.clock.now());
    let (kept, actor, municipality) = (secret.clone(), staff.actor.clone(), staff.session.municipality.clone());
    let enabled = state
        .db
        .write(move |conn| {
            sign_in_attempts::clear(conn, &attempt)?;
            staff_totp::enable(conn, &keys, &staff_id, &kept, &code, now)?;
            let event = Event::new(AuditAction::StaffTwoStepEnabled, "staff_account", staff_id)
                .in_municipality(municipality.as_str());
            audit::record(conn, &actor, event, now)
        })
        .await;
    match enabled {
        Ok(()) => Ok(see_other("/console/two-step?done=two_step_on")),
        Err(Error::Validation(_)) => {
            let message = "確認コードが一致しません。アプリの時刻を確かめて、次のコードを入れてください。";
            two_step(
                &state,
                &staff,
                secret,
                Some(i18n::text(staff.lang, message)),
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
struct DisableTwoStep {
    csrf: String,
    #[serde(default)]
    password: String,
}

async fn disable_two_step(
    req: HttpRequest,
    state: web::Data<AppState>,
    staff: Staff,
    form: web::Form<DisableTwoStep>,
) -> Result<HttpResponse, Failure> {
    staff.check_form_token(&form.csrf)?;
    let DisableTwoStep { password, .. } = form.into_inner();
    let attempt = match check_own_password(&req, &state, &staff, password).await? {
        Ok(attempt) => attempt,
        Err(refusal) => {
            let wrong = "パスワードが違います。";
            let (status, message, retry_after) = refusal.answer_in_session(staff.lang, state.clock.now(), wrong).await;
            return two_step(&state, &staff, staff_totp::new_secret(), Some(message), status, retry_after).await;
        }
    };
    let (staff_id, actor, now) = (staff.session.staff_id.clone(), staff.actor.clone(), state.clock.now());
    let municipality = staff.session.municipality.clone();
    state
        .db
        .write(move |conn| {
            sign_in_attempts::clear(conn, &attempt)?;
            staff_totp::disable(conn, &staff_id)?;
            let event = Event::new(AuditAction::StaffTwoStepDisabled, "staff_account", staff_id)
                .in_municipality(municipality.as_str());
            audit::record(conn, &actor, event, now)
        })
        .await?;
    Ok(see_other("/console/two-step?done=two_step_off"))
}
