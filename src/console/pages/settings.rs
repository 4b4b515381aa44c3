//! 設定: the municipality's closed days, its procedures (each edited on its own page,
//! `procedures.rs`) and its webhook (the secret shown once, and how its deliveries stand).

use actix_web::{web, HttpResponse};
use minijinja::context;
use serde::Deserialize;

use super::super::render;
use super::super::session::{see_other, Failure, Staff};
use super::{frame, local};
use crate::app::AppState;
use crate::domain::overrides::{MunicipalityOverride, ProcedureOverride};
use crate::error::Error;
use crate::service::{municipalities, webhooks};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings", web::get().to(show))
        .route("/settings/closed-days", web::post().to(set_closed_days))
        .route("/settings/webhook", web::post().to(set_webhook));
}

async fn show(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Failure> {
    page(&state, &staff, None, None).await
}

/// The settings page; `secret` once, right after the webhook is set; `problem` after a refusal.
async fn page(
    state: &AppState,
    staff: &Staff,
    secret: Option<String>,
    problem: Option<String>,
) -> Result<HttpResponse, Failure> {
    let code = staff.session.municipality.clone();
    let planning = state.planning.clone();
    let (settings, webhook) = state
        .db
        .read(move |conn| {
            let settings = municipalities::get(conn, &planning, &code)?;
            let webhook = match webhooks::get(conn, &code) {
                Ok(webhook) => Some(webhook),
                Err(Error::NotFound(_)) => None,
                Err(other) => return Err(other),
            };
            Ok((settings, webhook))
        })
        .await?;
    let status = if problem.is_some() {
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        actix_web::http::StatusCode::OK
    };
    let procedures: Vec<minijinja::Value> = state
        .planning
        .catalog
        .procedures
        .iter()
        .map(|p| {
            let own = settings.settings.procedures.get(&p.id);
            context! {
                id => p.id.clone(), name => staff.lang.name(&p.name),
                disabled => own.is_some_and(|o| o.enabled == Some(false)),
                changed => own.is_some_and(|o| *o != ProcedureOverride::default()),
                channels => own.and_then(|o| o.channels.clone()).unwrap_or_else(|| p.channels.clone()).iter().map(|c| c.as_str()).collect::<Vec<_>>(),
                office => own.and_then(|o| o.office.as_ref()).map(|o| o.name.clone()),
            }
        })
        .collect();
    let context = context! {
        procedures => procedures,
        closed_days => settings.settings.extra_closed_days.clone(),
        source => settings.source.clone(),
        deliveries => webhook.iter().flat_map(|w| &w.recent).map(|d| context! {
            created => local(d.created_at), event_key => d.event_key.clone(), status => d.status.as_str(),
            when => d.delivered_at.or(d.next_attempt_at).map(local), attempts => d.attempts, last_error => d.last_error.clone(),
        }).collect::<Vec<_>>(),
        webhook => render::ser(&webhook),
        secret => secret,
        problem => problem,
        ..frame(staff, "settings")
    };
    Ok(render::page_with_status(status, "settings.html", context)?)
}

#[derive(Deserialize)]
struct ClosedDays {
    csrf: String,
    /// One `MM-DD` a line.
    days: String,
}

/// Replaces the extra closed days, keeping every other setting; residents are re-planned.
async fn set_closed_days(
    state: web::Data<AppState>,
    staff: Staff,
    form: web::Form<ClosedDays>,
) -> Result<HttpResponse, Failure> {
    staff.check_form_token(&form.csrf)?;
    let days: Vec<String> = form.days.lines().map(str::trim).filter(|d| !d.is_empty()).map(str::to_owned).collect();
    let (code, staff_id) = (staff.session.municipality.clone(), staff.session.staff_id.clone());
    let replaced = state
        .replace_settings(staff.actor.clone(), code, staff_id, move |settings| MunicipalityOverride {
            extra_closed_days: days,
            ..settings
        })
        .await;
    match replaced {
        Ok(_) => Ok(see_other("/console/settings")),
        Err(Error::Validation(fields)) => {
            let problem = fields.into_iter().map(|(f, p)| format!("{f}: {p}")).collect::<Vec<_>>().join(" ");
            page(&state, &staff, None, Some(problem)).await
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
struct WebhookForm {
    csrf: String,
    url: String,
}

/// Sets the webhook and shows its signing secret this once.
async fn set_webhook(
    state: web::Data<AppState>,
    staff: Staff,
    form: web::Form<WebhookForm>,
) -> Result<HttpResponse, Failure> {
    staff.check_form_token(&form.csrf)?;
    let code = staff.session.municipality.clone();
    let allowed = state.settings.webhooks.allowed_hosts.clone();
    let input = webhooks::WebhookInput { url: form.url.trim().to_owned() };
    let created = state
        .write_audited(staff.actor.clone(), move |conn, uc| {
            webhooks::set_audited(conn, &uc.keys, &code, input, &allowed, uc.now)
        })
        .await;
    match created {
        Ok(created) => page(&state, &staff, Some(created.secret), None).await,
        Err(Error::Validation(fields)) => {
            let problem = fields.into_iter().map(|(f, p)| format!("{f}: {p}")).collect::<Vec<_>>().join(" ");
            page(&state, &staff, None, Some(problem)).await
        }
        Err(other) => Err(other.into()),
    }
}
