//! 設定: the municipality's closed days, its procedures (each edited on its own page,
//! `procedures.rs`) and its webhook (the secret shown once, and how its deliveries stand).

use actix_web::{web, HttpResponse};
use minijinja::context;
use serde::Deserialize;

use super::super::problems::{self, FieldMap, Problems};
use super::super::render;
use super::super::session::{see_other, Failure, Staff};
use super::super::{flash, i18n};
use super::{confirm_page, confirmed, frame, local, Confirm};
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
    page(&state, &staff, Outcome::default()).await
}

/// What the settings page shows after a form: the webhook's secret once, right after it is
/// set; or a refusal's problems at their fields, with what was typed.
#[derive(Default)]
struct Outcome {
    secret: Option<String>,
    problems: Problems,
    /// The closed days as typed (the saved ones otherwise).
    days: Option<String>,
    /// The webhook URL as typed.
    url: String,
}

/// Where the settings page shows a problem.
const SETTINGS: FieldMap<'static> = &[("extra_closed_days", "days", "閉庁日"), ("url", "url", "送信先 URL")];

/// The settings page.
async fn page(state: &AppState, staff: &Staff, outcome: Outcome) -> Result<HttpResponse, Failure> {
    let Outcome { secret, problems, days, url } = outcome;
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
    let status = if !problems.is_empty() {
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
        days => days.unwrap_or_else(|| settings.settings.extra_closed_days.join("\n")),
        closed_days => settings.settings.extra_closed_days.clone(),
        url => url,
        source => settings.source.clone(),
        deliveries => webhook.iter().flat_map(|w| &w.recent).map(|d| context! {
            created => local(d.created_at), event_key => d.event_key.clone(), status => d.status.as_str(),
            when => d.delivered_at.or(d.next_attempt_at).map(local), attempts => d.attempts, last_error => d.last_error.clone(),
        }).collect::<Vec<_>>(),
        webhook => render::ser(&webhook),
        flash => secret.is_some().then(|| flash::message(staff.lang, "webhook")).flatten().or(staff.flash.clone()),
        secret => secret,
        problems => render::ser(&problems),
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
    let typed = form.days.clone();
    let days: Vec<String> = form.days.lines().map(str::trim).filter(|d| !d.is_empty()).map(str::to_owned).collect();
    let (code, staff_id) = (staff.session.municipality.clone(), staff.session.staff_id.clone());
    let replaced = state
        .replace_settings(staff.actor.clone(), code, staff_id, move |settings| MunicipalityOverride {
            extra_closed_days: days,
            ..settings
        })
        .await;
    match replaced {
        Ok(_) => Ok(see_other("/console/settings?done=closed_days")),
        Err(Error::Validation(fields)) => {
            let problems = problems::at_fields(staff.lang, &fields, SETTINGS);
            page(&state, &staff, Outcome { problems, days: Some(typed), ..Outcome::default() }).await
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
struct WebhookForm {
    csrf: String,
    url: String,
    /// `yes` once the confirmation was read (a webhook already set gets a new key).
    confirmed: Option<String>,
}

/// Sets the webhook and shows its signing secret this once. Where a webhook is set already,
/// its key is made anew, and the receiving system refuses what is signed with the new key
/// until it is given it: that is said and confirmed first.
async fn set_webhook(
    state: web::Data<AppState>,
    staff: Staff,
    form: web::Form<WebhookForm>,
) -> Result<HttpResponse, Failure> {
    staff.check_form_token(&form.csrf)?;
    let code = staff.session.municipality.clone();
    if !confirmed(form.confirmed.as_deref()) {
        let lookup = code.clone();
        let current = state
            .db
            .read(move |conn| match webhooks::get(conn, &lookup) {
                Ok(webhook) => Ok(Some(webhook.url)),
                Err(Error::NotFound(_)) => Ok(None),
                Err(other) => Err(other),
            })
            .await?;
        if let Some(current) = current {
            let lang = staff.lang;
            let confirm = Confirm {
                heading: i18n::text(lang, "Webhook の署名の鍵を作り直します"),
                details: vec![
                    i18n::format(lang, "送信先: {url}", &[("url", form.url.trim())]),
                    i18n::format(lang, "いまの送信先: {url}", &[("url", &current)]),
                    i18n::text(
                        lang,
                        "いまの鍵は使えなくなります。受け取る側のシステムに新しい鍵を設定するまで、そのシステムは届いた申請を受け付けません。",
                    ),
                ],
                action: "/console/settings/webhook".into(),
                fields: vec![("url".into(), form.url.clone())],
                button: i18n::text(lang, "鍵を作り直す"),
                back: "/console/settings#webhook-heading".into(),
                allowed: true,
                upload: None,
            };
            return confirm_page(&staff, "settings", confirm);
        }
    }
    let allowed = state.settings.webhooks.allowed_hosts.clone();
    let input = webhooks::WebhookInput { url: form.url.trim().to_owned() };
    let created = state
        .write_audited(staff.actor.clone(), move |conn, uc| {
            webhooks::set_audited(conn, &uc.keys, &code, input, &allowed, uc.now)
        })
        .await;
    match created {
        Ok(created) => page(&state, &staff, Outcome { secret: Some(created.secret), ..Outcome::default() }).await,
        Err(Error::Validation(fields)) => {
            let problems = problems::at_fields(staff.lang, &fields, SETTINGS);
            let url = form.url.clone();
            page(&state, &staff, Outcome { problems, url, ..Outcome::default() }).await
        }
        Err(other) => Err(other.into()),
    }
}
