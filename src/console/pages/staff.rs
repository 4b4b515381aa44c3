//! 職員: the municipality's administrator sees its console accounts and their sign-ins, unlocks
//! an account a client address is locked out of, and turns off the two-step sign-in of a member
//! who lost their app. Other members of staff are refused.

use actix_web::{web, HttpResponse};
use minijinja::context;
use serde::Deserialize;

use super::super::render;
use super::super::session::{see_other, Failure, Staff};
use super::{frame, local};
use crate::app::AppState;
use crate::error::Error;
use crate::service::audit::{self, AuditAction, AuditFilter, Event};
use crate::service::principals::Principal;
use crate::service::{sign_in_attempts, staff_accounts, staff_totp};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/staff", web::get().to(show))
        .route("/staff/{staff_id}/unlock", web::post().to(unlock))
        .route("/staff/{staff_id}/two-step/reset", web::post().to(reset_two_step));
}

/// Sign-in events shown on the page, newest first.
const EVENTS_SHOWN: i64 = 50;

fn administrator(staff: &Staff) -> Result<(), Failure> {
    match staff.session.principal {
        Principal::Staff { admin: true, .. } => Ok(()),
        _ => Err(Failure::Page(Error::Forbidden("only the municipality's administrator manages staff accounts"))),
    }
}

async fn show(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Failure> {
    administrator(&staff)?;
    let (code, now) = (staff.session.municipality.clone(), state.clock.now());
    let (accounts, events) = state
        .db
        .read(move |conn| {
            let mut accounts = Vec::new();
            for account in staff_accounts::accounts(conn, &code)? {
                let locked = sign_in_attempts::locked_clients(conn, &account.login, now)?;
                accounts.push((account, locked));
            }
            let filter = AuditFilter {
                municipality: Some(code.as_str().to_owned()),
                target_kind: Some("staff_account"),
                limit: EVENTS_SHOWN,
                ..AuditFilter::default()
            };
            Ok((accounts, audit::list(conn, &filter)?.items))
        })
        .await?;
    let name_of = |staff_id: &str| {
        accounts.iter().find(|(a, _)| a.staff_id == staff_id).map_or(staff_id.to_owned(), |(a, _)| a.name.clone())
    };
    let events: Vec<minijinja::Value> = events
        .iter()
        .map(|e| {
            // Where the attempt came from: the actor of a refused sign-in, the detail of a
            // sign-in or a password change.
            let client = match e.action {
                AuditAction::StaffSignInFailed | AuditAction::StaffSignInLocked => Some(e.actor_id.clone()),
                AuditAction::StaffSignedIn | AuditAction::StaffPasswordChanged => e.detail.clone(),
                _ => None,
            };
            context! { at => local(e.occurred_at), action => e.action.as_str(), whom => name_of(&e.target_id), client => client }
        })
        .collect();
    let accounts: Vec<minijinja::Value> = accounts
        .iter()
        .map(|(a, locked)| {
            context! {
                staff_id => a.staff_id.clone(), name => a.name.clone(), login => a.login.clone(),
                two_step => a.two_step, must_change_password => a.must_change_password, locked_clients => locked,
            }
        })
        .collect();
    let context = context! { accounts => accounts, events => events, ..frame(&staff, "staff") };
    Ok(render::page("staff.html", context)?)
}

#[derive(Deserialize)]
struct TokenOnly {
    csrf: String,
}

/// The account of `staff_id`, if it is one of the administrator's municipality.
async fn account_of(state: &AppState, staff: &Staff, staff_id: String) -> Result<staff_accounts::AccountView, Failure> {
    let code = staff.session.municipality.clone();
    let accounts = state.db.read(move |conn| staff_accounts::accounts(conn, &code)).await?;
    accounts.into_iter().find(|a| a.staff_id == staff_id).ok_or(Failure::Page(Error::NotFound("staff account")))
}

async fn unlock(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    form: web::Form<TokenOnly>,
) -> Result<HttpResponse, Failure> {
    administrator(&staff)?;
    staff.check_form_token(&form.csrf)?;
    let account = account_of(&state, &staff, path.into_inner()).await?;
    let (actor, now, code) = (staff.actor.clone(), state.clock.now(), staff.session.municipality.clone());
    state
        .db
        .write(move |conn| {
            let locked = sign_in_attempts::unlock(conn, &account.login, now)?;
            let event = Event::new(AuditAction::StaffAccountUnlocked, "staff_account", account.staff_id)
                .in_municipality(code.as_str())
                .detail(locked.to_string());
            audit::record(conn, &actor, event, now)
        })
        .await?;
    Ok(see_other("/console/staff?done=unlocked"))
}

async fn reset_two_step(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    form: web::Form<TokenOnly>,
) -> Result<HttpResponse, Failure> {
    administrator(&staff)?;
    staff.check_form_token(&form.csrf)?;
    let account = account_of(&state, &staff, path.into_inner()).await?;
    let (actor, now, code) = (staff.actor.clone(), state.clock.now(), staff.session.municipality.clone());
    state
        .db
        .write(move |conn| {
            staff_totp::disable(conn, &account.staff_id)?;
            let event = Event::new(AuditAction::StaffTwoStepReset, "staff_account", account.staff_id)
                .in_municipality(code.as_str());
            audit::record(conn, &actor, event, now)
        })
        .await?;
    Ok(see_other("/console/staff?done=two_step_reset"))
}
