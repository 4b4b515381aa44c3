//! Signing in and out, and the first change of a one-time password.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono_tz::Asia::Tokyo;
use minijinja::context;
use serde::Deserialize;

use super::super::i18n::{self, Lang};
use super::super::render;
use super::super::session::{cookie, see_other, Failure, Staff};
use crate::app::AppState;
use crate::service::staff_accounts::{self, Refusal};
use crate::service::staff_totp;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/sign-in", web::get().to(sign_in_page))
        .route("/sign-in", web::post().to(sign_in))
        .route("/sign-out", web::post().to(sign_out))
        .route("/password", web::get().to(password_page))
        .route("/password", web::post().to(change_password))
        .route("/two-step", web::get().to(two_step_page))
        .route("/two-step", web::post().to(enable_two_step));
}

async fn sign_in_page(lang: Lang) -> Result<HttpResponse, Failure> {
    let context = context! { error => None::<String>, login => "", ..super::language_frame(lang) };
    Ok(render::page("sign_in.html", context)?)
}

#[derive(Deserialize)]
struct SignIn {
    login: String,
    password: String,
    /// The authenticator app's code, for accounts that turned it on.
    #[serde(default)]
    code: String,
}

async fn sign_in(
    req: HttpRequest,
    lang: Lang,
    state: web::Data<AppState>,
    form: web::Form<SignIn>,
) -> Result<HttpResponse, Failure> {
    let SignIn { login, password, code } = form.into_inner();
    let code = Some(code.trim().to_owned()).filter(|c| !c.is_empty());
    let now = state.clock.now();
    let name = login.clone();
    let account = state.db.read(move |conn| staff_accounts::find_login(conn, &name)).await?;
    let locked_until = account.as_ref().and_then(|a| a.locked_until).filter(|until| *until > now);
    let refusal = match locked_until {
        Some(until) => Refusal::Locked { until },
        None => {
            // argon2id takes a while on purpose: off the request threads, outside any transaction.
            let (account, matches) = web::block(move || {
                let matches = staff_accounts::password_matches(account.as_ref(), &password);
                (account, matches)
            })
            .await
            .map_err(|e| crate::error::Error::internal(format!("password check: {e}")))?;
            match (account, matches) {
                (Some(account), true) => {
                    let keys = state.keys.clone();
                    let opened = state
                        .db
                        .write(move |conn| {
                            // A wrong or reused code counts as a failed sign-in, like a wrong password.
                            if !staff_totp::passes(conn, &keys, &account.staff_id, code.as_deref(), now)? {
                                return staff_accounts::record_failure(conn, &account.staff_id, now).map(Err);
                            }
                            staff_accounts::open_session(conn, &account.staff_id, now).map(Ok)
                        })
                        .await?;
                    match opened {
                        Ok(token) => {
                            return Ok(HttpResponse::SeeOther()
                                .cookie(cookie(&req, &token))
                                .insert_header(("Location", "/console/notices"))
                                .finish())
                        }
                        Err(refusal) => refusal,
                    }
                }
                (Some(account), false) => {
                    state.db.write(move |conn| staff_accounts::record_failure(conn, &account.staff_id, now)).await?
                }
                (None, _) => Refusal::Wrong { delay_ms: 500 },
            }
        }
    };
    let (status, message) = match refusal {
        Refusal::Wrong { delay_ms } => {
            actix_web::rt::time::sleep(Duration::from_millis(delay_ms)).await;
            (StatusCode::UNAUTHORIZED, i18n::text(lang, "ログイン名、パスワードまたは確認コードが違います。"))
        }
        Refusal::Locked { until } => {
            let until = until.and_utc().with_timezone(&Tokyo).format("%H:%M").to_string();
            let message = "失敗が続いたため、このアカウントは {until} までロックされています。";
            (StatusCode::TOO_MANY_REQUESTS, i18n::format(lang, message, &[("until", &until)]))
        }
    };
    let context = context! { error => message, login => login, ..super::language_frame(lang) };
    Ok(render::page_with_status(status, "sign_in.html", context)?)
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
    state: web::Data<AppState>,
    staff: Staff,
    form: web::Form<PasswordChange>,
) -> Result<HttpResponse, Failure> {
    staff.check_form_token(&form.csrf)?;
    let form = form.into_inner();
    let again_error = (form.new_password != form.new_password_again)
        .then(|| i18n::text(staff.lang, "新しいパスワードが一致しません。"));
    let staff_id = staff.session.staff_id.clone();
    let id = staff_id.clone();
    let stored = state.db.read(move |conn| staff_accounts::password_hash(conn, &id)).await?;
    let hashed = match again_error {
        Some(message) => Err(message),
        None => web::block(move || {
            let ok = staff_accounts::verify_current(&form.current_password, &stored);
            staff_accounts::new_password_hash(&form.current_password, ok, &form.new_password)
        })
        .await
        .map_err(|e| crate::error::Error::internal(format!("password hash: {e}")))?
        .map_err(|e| {
            e.fields().into_iter().map(|(field, problem)| format!("{field}: {problem}")).collect::<Vec<_>>().join(" ")
        }),
    };
    match hashed {
        Ok(hash) => {
            let token = staff.token.clone();
            state.db.write(move |conn| staff_accounts::set_password(conn, &staff_id, &token, &hash)).await?;
            Ok(see_other("/console/notices"))
        }
        Err(message) => {
            let frame = super::frame(&staff, "password");
            let context = context! { must_change => staff.session.must_change_password, error => message, ..frame };
            Ok(render::page_with_status(StatusCode::UNPROCESSABLE_ENTITY, "password.html", context)?)
        }
    }
}

/// 二要素認証: turn on the authenticator app's code for this account.
async fn two_step_page(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Failure> {
    two_step(&state, &staff, staff_totp::new_secret(), None).await
}

async fn two_step(
    state: &AppState,
    staff: &Staff,
    secret: String,
    problem: Option<String>,
) -> Result<HttpResponse, Failure> {
    let staff_id = staff.session.staff_id.clone();
    let (enabled, login) = state
        .db
        .read(move |conn| Ok((staff_totp::enabled(conn, &staff_id)?, staff_accounts::login_of(conn, &staff_id)?)))
        .await?;
    let status = if problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let context = context! {
        enabled => enabled,
        uri => staff_totp::otpauth_uri(&secret, &login),
        secret => secret,
        problem => problem,
        ..super::frame(staff, "two-step")
    };
    Ok(render::page_with_status(status, "two_step.html", context)?)
}

#[derive(Deserialize)]
struct EnableTwoStep {
    csrf: String,
    secret: String,
    code: String,
}

async fn enable_two_step(
    state: web::Data<AppState>,
    staff: Staff,
    form: web::Form<EnableTwoStep>,
) -> Result<HttpResponse, Failure> {
    staff.check_form_token(&form.csrf)?;
    let EnableTwoStep { secret, code, .. } = form.into_inner();
    let (staff_id, keys, now) = (staff.session.staff_id.clone(), state.keys.clone(), state.clock.now());
    let kept = secret.clone();
    let enabled = state.db.write(move |conn| staff_totp::enable(conn, &keys, &staff_id, &kept, &code, now)).await;
    match enabled {
        Ok(()) => Ok(see_other("/console/two-step")),
        Err(crate::error::Error::Validation(_)) => {
            two_step(
                &state,
                &staff,
                secret,
                Some(i18n::text(
                    staff.lang,
                    "確認コードが一致しません。アプリの時刻を確かめて、次のコードを入れてください。",
                )),
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}
