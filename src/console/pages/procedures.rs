//! 手続ごとの設定: how this municipality runs one procedure where it differs from the catalog
//! (whether it runs it, its window and deadline, the office, how a filing is taken). Saved
//! through the same use case as `PUT /v1/municipalities/{code}/settings`, so residents are
//! re-planned at once.

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use minijinja::{context, Value};

use super::super::i18n;
use super::super::problems;
use super::super::render;
use super::super::session::{see_other, Failure, Staff};
use super::frame;
use crate::app::AppState;
use crate::domain::catalog::{Channel, ClosedDay, DateRule, Procedure};
use crate::domain::overrides::{Office, ProcedureOverride};
use crate::error::{Error, FieldErrors};
use crate::service::municipalities;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/procedures/{id}", web::get().to(show))
        .route("/settings/procedures/{id}", web::post().to(save));
}

/// The three dates a procedure has, by the name the settings give them.
const DATES: [&str; 3] = ["opens", "closes", "deadline"];

fn catalog_date<'p>(procedure: &'p Procedure, which: &str) -> Option<&'p DateRule> {
    match which {
        "opens" => Some(&procedure.opens),
        "closes" => procedure.closes.as_ref(),
        _ => procedure.deadline.as_ref(),
    }
}

fn override_date<'o>(setting: &'o ProcedureOverride, which: &str) -> Option<&'o DateRule> {
    match which {
        "opens" => setting.opens.as_ref(),
        "closes" => setting.closes.as_ref(),
        _ => setting.deadline.as_ref(),
    }
}

fn procedure<'s>(state: &'s AppState, id: &str) -> Result<&'s Procedure, Failure> {
    state.planning.catalog.procedures.iter().find(|p| p.id == id).ok_or(Failure::Page(Error::NotFound("procedure")))
}

async fn show(state: web::Data<AppState>, staff: Staff, id: web::Path<String>) -> Result<HttpResponse, Failure> {
    let setting = current(&state, &staff, &id).await?;
    page(&staff, procedure(&state, &id)?, &setting, FieldErrors::new(), &HashMap::new())
}

/// This municipality's setting of the procedure (empty when it follows the catalog).
async fn current(state: &AppState, staff: &Staff, id: &str) -> Result<ProcedureOverride, Failure> {
    let (code, planning, id) = (staff.session.municipality.clone(), state.planning.clone(), id.to_owned());
    let settings = state.db.read(move |conn| municipalities::get(conn, &planning, &code)).await?;
    Ok(settings.settings.procedures.get(&id).cloned().unwrap_or_default())
}

fn page(
    staff: &Staff,
    procedure: &Procedure,
    setting: &ProcedureOverride,
    errors: FieldErrors,
    typed: &HashMap<String, String>,
) -> Result<HttpResponse, Failure> {
    // A count as typed when the form was refused, so that nothing typed is lost.
    let typed_or = |name: String, shown: i64| typed.get(&name).cloned().unwrap_or_else(|| shown.to_string());
    let dates: Vec<Value> = DATES
        .iter()
        .filter_map(|which| {
            let catalog = catalog_date(procedure, which)?;
            let shown = override_date(setting, which).unwrap_or(catalog);
            Some(context! {
                which => *which,
                rule => catalog.rule.as_str(),
                catalog => render::ser(catalog),
                n => typed_or(format!("{which}_n"), shown.n), days => typed_or(format!("{which}_days"), shown.days),
                on => shown.on.clone(),
                closed_day => shown.closed_day.as_str(),
                changed => override_date(setting, which).is_some(),
            })
        })
        .collect();
    let channels: Vec<Value> = Channel::ALL
        .iter()
        .map(|c| {
            let chosen = setting.channels.as_ref().unwrap_or(&procedure.channels);
            context! { value => c.as_str(), checked => chosen.contains(c), in_catalog => procedure.channels.contains(c) }
        })
        .collect();
    let status = if errors.is_empty() {
        actix_web::http::StatusCode::OK
    } else {
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    let context = context! {
        procedure => context! {
            id => procedure.id.clone(), name => staff.lang.name(&procedure.name),
            deadline_kind => procedure.deadline_kind.as_str(), legal_basis => procedure.legal_basis.clone(),
        },
        disabled => setting.enabled == Some(false),
        office => render::ser(&setting.office),
        dates => dates, channels => channels,
        closed_days => ClosedDay::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        problems => render::ser(problems::at_fields_labelled(staff.lang, &errors, &field_map(staff, procedure))),
        ..frame(staff, "settings")
    };
    Ok(render::page_with_status(status, "procedure_setting.html", context)?)
}

/// Where the page shows a problem of the settings' fields for this procedure.
fn field_map(staff: &Staff, procedure: &Procedure) -> Vec<(String, String, String)> {
    let lang = staff.lang;
    let at = |part: &str| format!("procedures.{}.{part}", procedure.id);
    let mut map = Vec::new();
    for (which, label) in [("opens", "受付の始まり"), ("closes", "受付の終わり"), ("deadline", "期限")] {
        let label = i18n::text(lang, label);
        for (part, input, what) in
            [("n", "n", "○に入る数"), ("days", "days", "加える日数"), ("on", "on", "日付（MM-DD）")]
        {
            let what = i18n::text(lang, what);
            map.push((at(&format!("{which}.{part}")), format!("{which}_{input}"), format!("{label} {what}")));
        }
        map.push((at(which), format!("{which}_n"), label));
    }
    map.push((at("office.name"), "office_name".into(), i18n::text(lang, "名称（空欄なら標準どおり）")));
    map.push((at("office.url"), "office_url".into(), i18n::text(lang, "案内ページ（https://）")));
    map.push((at("office.phone"), "office_phone".into(), i18n::text(lang, "電話番号")));
    map.push((at("channels"), "channels".into(), i18n::text(lang, "受付方法")));
    map
}

/// Reads the posted form into a setting; a date equal to the catalog's is no setting at all, so
/// a later change of the catalog reaches this municipality too.
fn read_form(procedure: &Procedure, form: &HashMap<String, String>, errors: &mut FieldErrors) -> ProcedureOverride {
    let text = |name: &str| form.get(name).map(|v| v.trim()).unwrap_or("");
    let mut number = |name: &str, field: String| -> i64 {
        text(name).parse().unwrap_or_else(|_| {
            errors.insert(field, "整数で入力してください".into());
            0
        })
    };
    let mut dates: HashMap<&str, Option<DateRule>> = HashMap::new();
    for which in DATES {
        let Some(catalog) = catalog_date(procedure, which) else { continue };
        let rule = DateRule {
            rule: catalog.rule,
            n: number(&format!("{which}_n"), format!("procedures.{}.{which}.n", procedure.id)),
            days: number(&format!("{which}_days"), format!("procedures.{}.{which}.days", procedure.id)),
            on: catalog.on.as_ref().map(|_| text(&format!("{which}_on")).to_owned()),
            closed_day: ClosedDay::ALL
                .iter()
                .copied()
                .find(|c| c.as_str() == text(&format!("{which}_closed_day")))
                .unwrap_or(catalog.closed_day),
            from: catalog.from,
        };
        dates.insert(which, (rule != *catalog).then_some(rule));
    }
    let chosen: Vec<Channel> =
        Channel::ALL.iter().copied().filter(|c| form.contains_key(&format!("channel_{}", c.as_str()))).collect();
    let office = (!text("office_name").is_empty()).then(|| Office {
        name: text("office_name").to_owned(),
        url: Some(text("office_url").to_owned()).filter(|u| !u.is_empty()),
        phone: Some(text("office_phone").to_owned()).filter(|p| !p.is_empty()),
    });
    ProcedureOverride {
        enabled: (text("runs") == "no").then_some(false),
        opens: dates.remove("opens").flatten(),
        closes: dates.remove("closes").flatten(),
        deadline: dates.remove("deadline").flatten(),
        office,
        // None checked, or the catalog's own: no setting.
        channels: (!chosen.is_empty() && chosen != procedure.channels).then_some(chosen),
    }
}

/// Saves the procedure's setting (or removes it: `reset`), keeping every other setting.
async fn save(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, Failure> {
    staff.check_form_token(form.get("csrf").map(String::as_str).unwrap_or(""))?;
    let procedure = procedure(&state, &id)?;
    let mut errors = FieldErrors::new();
    let setting = if form.contains_key("reset") {
        ProcedureOverride::default()
    } else {
        read_form(procedure, &form, &mut errors)
    };
    if !errors.is_empty() {
        return page(&staff, procedure, &setting, errors, &form);
    }
    let (code, staff_id) = (staff.session.municipality.clone(), staff.session.staff_id.clone());
    let (procedure_id, kept) = (procedure.id.clone(), setting.clone());
    let replaced = state
        .replace_settings(staff.actor.clone(), code, staff_id, move |mut settings| {
            if kept == ProcedureOverride::default() {
                settings.procedures.remove(&procedure_id);
            } else {
                settings.procedures.insert(procedure_id, kept);
            }
            settings
        })
        .await;
    match replaced {
        Ok(_) => Ok(see_other("/console/settings?done=procedure#procedures-heading")),
        Err(Error::Validation(errors)) => page(&staff, procedure, &setting, errors, &form),
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::Catalog;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_catalogs_own_values_are_no_setting_and_a_change_is_one() {
        let catalog = Catalog::shipped();
        let p = catalog.procedures.iter().find(|p| p.id == "infant_medical_subsidy").expect("in the catalog");
        let deadline = p.deadline.as_ref().expect("has a deadline");
        let same = [
            ("deadline_n", deadline.n.to_string()),
            ("deadline_days", deadline.days.to_string()),
            ("deadline_closed_day", deadline.closed_day.as_str().to_owned()),
            ("opens_n", p.opens.n.to_string()),
            ("opens_days", p.opens.days.to_string()),
            ("opens_closed_day", p.opens.closed_day.as_str().to_owned()),
        ];
        let as_form = |extra: &[(&str, &str)]| {
            let mut pairs: Vec<(&str, &str)> = same.iter().map(|(k, v)| (*k, v.as_str())).collect();
            pairs.extend_from_slice(extra);
            form(&pairs)
        };
        let mut errors = FieldErrors::new();
        assert_eq!(read_form(p, &as_form(&[]), &mut errors), ProcedureOverride::default());
        let changed = read_form(
            p,
            &as_form(&[
                ("deadline_n", "30"),
                ("deadline_closed_day", "next"),
                ("channel_online", "on"),
                ("office_name", "子育て支援課"),
            ]),
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let new_deadline = changed.deadline.expect("deadline set");
        assert_eq!((new_deadline.n, new_deadline.closed_day, new_deadline.rule), (30, ClosedDay::Next, deadline.rule));
        assert_eq!(changed.channels, Some(vec![Channel::Online]));
        assert_eq!(changed.office.map(|o| o.name), Some("子育て支援課".to_owned()));
        assert_eq!(changed.opens, None);
    }

    #[test]
    fn a_count_that_is_not_a_number_is_named() {
        let catalog = Catalog::shipped();
        let p = catalog.procedures.iter().find(|p| p.id == "infant_medical_subsidy").expect("in the catalog");
        let mut errors = FieldErrors::new();
        read_form(p, &form(&[("deadline_n", "十五"), ("runs", "no")]), &mut errors);
        assert!(errors.contains_key("procedures.infant_medical_subsidy.deadline.n"), "{errors:?}");
    }
}
