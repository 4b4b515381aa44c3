//! 基幹システムへの書き出し: staff choose a form, the days received and a status, and download
//! the CSV in the layout of `docs/forms/<form>.md` (UTF-8 with BOM, or Shift_JIS). Each export
//! is in the audit trail.

use actix_web::{web, HttpResponse};
use minijinja::{context, Value};
use serde::Deserialize;

use super::super::render;
use super::super::session::{Failure, Staff};
use super::frame;
use super::submissions::status_label;
use crate::app::AppState;
use crate::error::Error;
use crate::service::audit::{AuditAction, Event};
use crate::service::submissions::export::{self, CsvEncoding, ExportQuery};
use crate::service::submissions::SubmissionStatus;

/// The export form, as it is sent (empty fields are absent).
#[derive(Deserialize)]
pub struct ExportForm {
    form: Option<String>,
    from: Option<String>,
    to: Option<String>,
    status: Option<String>,
    encoding: Option<String>,
}

impl ExportForm {
    fn query(&self) -> Result<ExportQuery, Error> {
        let some = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        let day = |field: &str, v: &Option<String>| {
            some(v)
                .map(|d| {
                    chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                        .map_err(|_| Error::field(field, "日付を YYYY-MM-DD で入力してください"))
                })
                .transpose()
        };
        Ok(ExportQuery {
            form_id: some(&self.form).ok_or_else(|| Error::field("form", "様式を選んでください"))?,
            from: day("from", &self.from)?,
            to: day("to", &self.to)?,
            status: SubmissionStatus::ALL.iter().copied().find(|s| Some(s.as_str()) == self.status.as_deref()),
            encoding: match self.encoding.as_deref() {
                Some("shift_jis") => CsvEncoding::ShiftJis,
                _ => CsvEncoding::Utf8,
            },
        })
    }
}

pub async fn page(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Failure> {
    let forms: Vec<Value> =
        state.planning.forms.all().map(|f| context! { id => f.id.clone(), name => staff.lang.name(&f.name) }).collect();
    let statuses: Vec<Value> = SubmissionStatus::ALL
        .iter()
        .map(|s| context! { id => s.as_str(), name => status_label(staff.lang, *s) })
        .collect();
    let context = context! { forms => forms, statuses => statuses, ..frame(&staff, "submissions") };
    Ok(render::page("submissions_export.html", context)?)
}

pub async fn download(
    state: web::Data<AppState>,
    staff: Staff,
    form: web::Query<ExportForm>,
) -> Result<HttpResponse, Failure> {
    let query = form.query()?;
    let code = staff.session.municipality.clone();
    let file = state
        .write_audited(staff.actor.clone(), move |conn, uc| {
            let file = export::export(conn, &uc.keys, &uc.planning, &code, &query)?;
            let event = Event::new(AuditAction::SubmissionsExported, "form", query.form_id.clone())
                .in_municipality(code.as_str())
                .detail(query.describe(file.rows));
            Ok((file, event))
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type(file.content_type)
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{}\"", file.file_name)))
        .body(file.bytes))
}
