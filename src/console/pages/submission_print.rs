//! 印刷・紙の綴り: a submission laid out like its 様式 on A4, for the paper file: the form's
//! Japanese labels and the values signed, the 受付番号, the signature (who signed, the
//! certificate's subject, serial and validity as stored, when it was received and verified),
//! and a QR code of the document's digest drawn here as SVG, so that a sheet in a binder leads
//! back to the record. No console header or button is printed (`print.css`).

use actix_web::{web, HttpResponse};
use base64::Engine;
use minijinja::{context, Value};
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

use super::super::render;
use super::super::session::{Failure, Staff};
use super::local;
use super::submissions::{display, load, status_label};
use crate::app::AppState;
use crate::error::Error;

/// The QR code of `text` as an inline SVG element (no XML declaration), scaled by CSS.
pub fn qr_svg(text: &str) -> Result<String, Error> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| Error::internal(format!("qr code: {e}")))?;
    let image = code.render::<svg::Color>().quiet_zone(true).module_dimensions(4, 4).build();
    // The page is HTML: the element without the declaration XML files start with.
    let start = image.find("<svg").unwrap_or(0);
    Ok(image[start..].replacen("<svg ", "<svg role=\"img\" aria-labelledby=\"qr-caption\" ", 1))
}

pub async fn print(state: web::Data<AppState>, staff: Staff, id: web::Path<String>) -> Result<HttpResponse, Failure> {
    let submission = load(&state, &staff, id.into_inner()).await?;
    let document: serde_json::Value =
        serde_json::from_str(&submission.document).map_err(|e| Error::unreadable("submissions.document", &e))?;
    let values = document.get("fields").cloned().unwrap_or_default();
    let form = state.planning.forms.get(&submission.form_id);
    // The 様式 is Japanese: its own labels, whatever the console's language.
    let fields: Vec<Value> = form
        .map(|form| {
            form.fields
                .iter()
                .map(|f| {
                    let value = values.get(&f.id).map(|v| display(super::super::i18n::Lang::Ja, v)).unwrap_or_default();
                    context! { label => f.label.ja.clone(), value => value,
                    municipality => f.source == crate::domain::forms::Source::Municipality }
                })
                .collect()
        })
        .unwrap_or_default();
    let der = base64::engine::general_purpose::STANDARD.decode(submission.certificate.as_bytes()).unwrap_or_default();
    let facts = crate::jpki::certificate_facts(&der);
    let code = staff.session.municipality.clone();
    let planning = state.planning.clone();
    let municipality =
        state.db.read(move |conn| crate::service::municipalities::display_name(conn, &planning, code.as_str())).await?;
    let context = context! {
        submission => render::ser(&submission),
        form_name => submission.form_name.ja.clone(),
        legal_basis => form.map(|f| f.legal_basis.clone()),
        municipality_name => municipality,
        status_label => status_label(staff.lang, submission.status),
        submitted => local(submission.submitted_at),
        verified_at => local(submission.verification.verified_at),
        printed => local(state.clock.now().and_utc()),
        not_before => facts.as_ref().and_then(|f| f.not_before).map(local),
        not_after => local(submission.verification.certificate_not_after),
        subject => facts.as_ref().map(|f| f.subject.clone()),
        issuer => facts.as_ref().map(|f| f.issuer.clone()),
        fields => fields,
        qr => Value::from_safe_string(qr_svg(&submission.digest_sha256)?),
        ..super::frame(&staff, "submissions"),
    };
    Ok(render::page("submission_print.html", context)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_is_an_inline_svg_element() {
        let svg = qr_svg("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08").expect("drawn");
        assert!(svg.starts_with("<svg role=\"img\""), "{svg}");
        assert!(svg.ends_with("</svg>") && !svg.contains("<?xml"), "{svg}");
        // Dark modules drawn as one path; a 64-character digest needs a version-4 code or larger.
        assert!(svg.contains("<path fill=\"#000\" d=\"M"), "{svg}");
    }
}
