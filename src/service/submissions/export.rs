//! ファイル連携: the submissions of one form as CSV, for the municipality's 基幹 system (its RPA
//! or file import). One column layout per form, from `catalog/forms.toml`: fixed leading columns
//! (受付番号, when it was received in Japan, its status, …), then every field of the form under
//! the form's own Japanese label, in the form's order. The municipal webhook body carries the
//! same columns (`columns`), so a system fed by either reads the same thing.
//!
//! The rules the layout pages of `docs/forms/` state (written by [`layout_markdown`], kept in
//! step by a test):
//! - UTF-8 with a byte order mark by default; Shift_JIS on request, as Windows reads it
//!   (Windows-31J: NEC and IBM extensions such as ① and 髙 included). A value Shift_JIS cannot
//!   hold (𠮷, 𩸽, emoji) is never replaced or dropped: the export is refused naming the
//!   受付番号 and the field's label, and UTF-8 carries it unchanged. Only the few JIS X 0208
//!   characters Unicode and Windows code differently (— − 〜 ‖ ¢ £ ¬) are written as Windows
//!   writes them (― － ～ ∥ ￠ ￡ ￢): the same character, not a replacement.
//! - Every cell is quoted (RFC 4180), lines end with CRLF; a cell starting with `=`, `+`, `-` or
//!   `@` gets a leading `'`, so that a spreadsheet never runs a value as a formula.
//! - Yes/no answers are `1` and `0`; dates stay `YYYY-MM-DD`; a field with no value (and the
//!   個人番号, which nonstop never holds) is empty.

use chrono::NaiveDate;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{desk, utc, Submission, SubmissionStatus};
use crate::crypto::KeyRing;
use crate::db::schema::{submission_desk, submissions};
use crate::db::sealed;
use crate::db::DbConnection;
use crate::domain::forms::Form;
use crate::domain::planner::PlanningContext;
use crate::domain::MunicipalityCode;
use crate::error::Error;

/// The most submissions one export holds; more are refused with their count (narrow the dates).
pub const MAX_ROWS: i64 = 10_000;

/// The columns every layout starts with, before the form's fields.
pub const LEADING_COLUMNS: [(&str, &str); 7] = [
    ("受付番号", "the municipality's reference number, `2026-000123`"),
    ("受信日時（日本時間）", "when nonstop received the signed submission, `YYYY-MM-DD HH:MM:SS` in Japan"),
    ("状態", "未受付, 受付, 審査中, 補正依頼, 受理, 却下 or 完了, at the time of the export"),
    ("様式の版", "the version of the form in `catalog/forms.toml` the parent signed"),
    ("申請ID", "nonstop's id of the submission (the API's and the webhook's `id`)"),
    ("補正前の申請ID", "after a 補正依頼: the id of the submission this one corrects; empty otherwise"),
    ("文書のハッシュ（SHA-256）", "hex SHA-256 of the signed canonical document"),
];

crate::text_enum! {
    /// The character encoding of an export.
    pub enum CsvEncoding {
        /// UTF-8 with a byte order mark (what Excel needs to read UTF-8).
        Utf8 => "utf-8",
        /// Shift_JIS as Windows reads it (Windows-31J).
        ShiftJis => "shift_jis",
    }
}

/// Which submissions to export.
#[derive(Clone, Debug)]
pub struct ExportQuery {
    pub form_id: String,
    /// Received on or after this day in Japan.
    pub from: Option<NaiveDate>,
    /// Received on or before this day in Japan.
    pub to: Option<NaiveDate>,
    pub status: Option<SubmissionStatus>,
    pub encoding: CsvEncoding,
}

impl ExportQuery {
    /// The conditions as the audit trail records them (no personal data).
    pub fn describe(&self, rows: usize) -> String {
        let mut out = format!("{} rows={rows} {}", self.form_id, self.encoding.as_str());
        if let Some(from) = self.from {
            out.push_str(&format!(" from={from}"));
        }
        if let Some(to) = self.to {
            out.push_str(&format!(" to={to}"));
        }
        if let Some(status) = self.status {
            out.push_str(&format!(" status={}", status.as_str()));
        }
        out
    }
}

/// A file ready to hand over.
pub struct Export {
    pub file_name: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
    pub rows: usize,
}

/// One column of a submission's record: its label and value (the webhook's `columns`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ExportColumn {
    pub label: String,
    pub value: String,
}

/// The name of a status on paper and in the export.
pub fn status_name(status: SubmissionStatus) -> &'static str {
    match status {
        SubmissionStatus::Submitted => "未受付",
        SubmissionStatus::Received => "受付",
        SubmissionStatus::InReview => "審査中",
        SubmissionStatus::CorrectionRequested => "補正依頼",
        SubmissionStatus::Accepted => "受理",
        SubmissionStatus::Rejected => "却下",
        SubmissionStatus::Completed => "完了",
    }
}

/// The header of a form's layout: the leading columns, then each field's Japanese label.
pub fn header(form: &Form) -> Vec<String> {
    LEADING_COLUMNS
        .iter()
        .map(|(label, _)| (*label).to_owned())
        .chain(form.fields.iter().map(|f| f.label.ja.clone()))
        .collect()
}

/// A value as the export writes it.
fn cell_value(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => if *b { "1" } else { "0" }.to_owned(),
        Some(other) => other.to_string(),
    }
}

/// What a record needs besides the document's fields.
struct Lead<'a> {
    reference_number: &'a str,
    received: chrono::DateTime<chrono::Utc>,
    status: SubmissionStatus,
    form_version: i32,
    id: &'a str,
    corrects: Option<&'a str>,
    digest: &'a str,
}

/// One submission's values, in the layout's order.
fn record(form: &Form, lead: &Lead<'_>, document: &Value) -> Vec<String> {
    let received = lead.received.with_timezone(&chrono_tz::Asia::Tokyo).format("%Y-%m-%d %H:%M:%S").to_string();
    let fields = &document["fields"];
    [
        lead.reference_number.to_owned(),
        received,
        status_name(lead.status).to_owned(),
        lead.form_version.to_string(),
        lead.id.to_owned(),
        lead.corrects.unwrap_or_default().to_owned(),
        lead.digest.to_owned(),
    ]
    .into_iter()
    .chain(form.fields.iter().map(|f| cell_value(fields.get(&f.id))))
    .collect()
}

/// The submission's record as labelled columns (the webhook body's `columns`).
pub fn columns(form: &Form, submission: &Submission) -> Result<Vec<ExportColumn>, Error> {
    let document: Value =
        serde_json::from_str(&submission.document).map_err(|e| Error::unreadable(sealed::SUBMISSIONS_DOCUMENT, &e))?;
    let lead = Lead {
        reference_number: &submission.reference_number,
        received: submission.submitted_at,
        status: submission.status,
        form_version: submission.form_version,
        id: &submission.id,
        corrects: submission.corrects_submission_id.as_deref(),
        digest: &submission.digest_sha256,
    };
    Ok(header(form)
        .into_iter()
        .zip(record(form, &lead, &document))
        .map(|(label, value)| ExportColumn { label, value })
        .collect())
}

/// One CSV cell (RFC 4180), with a leading `=`, `+`, `-` or `@` neutralised so that a
/// spreadsheet does not run a value as a formula.
pub fn csv_cell(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_owned() };
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// A line of cells, CRLF-terminated.
fn csv_line(cells: &[String]) -> String {
    let mut line = cells.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

/// Characters of JIS X 0208 that Unicode's mapping and Windows-31J's write with different code
/// points (the "wave dash problem"): the same character on paper, so the export writes them as
/// Windows does rather than refusing them.
const WINDOWS_FORMS: [(char, char); 7] = [
    ('\u{2014}', '\u{2015}'), // — EM DASH as ― HORIZONTAL BAR (JIS 1-01-29)
    ('\u{2212}', '\u{FF0D}'), // − MINUS SIGN as － (JIS 1-01-61)
    ('\u{301C}', '\u{FF5E}'), // 〜 WAVE DASH as ～ (JIS 1-01-33)
    ('\u{2016}', '\u{2225}'), // ‖ as ∥ (JIS 1-01-34)
    ('\u{00A2}', '\u{FFE0}'), // ¢ as ￠
    ('\u{00A3}', '\u{FFE1}'), // £ as ￡
    ('\u{00AC}', '\u{FFE2}'), // ¬ as ￢
];

/// Whether Shift_JIS (Windows-31J) has a code for `c`.
fn in_shift_jis(c: char) -> bool {
    let mut buffer = [0u8; 4];
    !encoding_rs::SHIFT_JIS.encode(c.encode_utf8(&mut buffer)).2
}

/// `text` as Shift_JIS (Windows-31J) can hold it (the JIS characters above in their Windows
/// code points), or the first character it has no code for.
pub fn shift_jis_text(text: &str) -> Result<String, char> {
    text.chars()
        .map(|c| {
            if in_shift_jis(c) {
                return Ok(c);
            }
            WINDOWS_FORMS.iter().find(|(from, to)| *from == c && in_shift_jis(*to)).map(|(_, to)| *to).ok_or(c)
        })
        .collect()
}

#[derive(Queryable)]
struct Line {
    id: String,
    reference_number: String,
    status: String,
    document: String,
    submitted_at: chrono::NaiveDateTime,
    form_version: i32,
    corrects_submission_id: Option<String>,
    digest: String,
}

/// The submissions of `code` matching `query` as one CSV file, oldest first.
pub fn export(
    conn: &mut DbConnection,
    keys: &KeyRing,
    ctx: &PlanningContext,
    code: &MunicipalityCode,
    query: &ExportQuery,
) -> Result<Export, Error> {
    let form = ctx.forms.get(&query.form_id).ok_or_else(|| Error::field("form_id", "no such form"))?;
    if let (Some(from), Some(to)) = (query.from, query.to) {
        if from > to {
            return Err(Error::field("to", "the last day comes before the first"));
        }
    }
    let conditions = desk::DeskQuery {
        status: query.status,
        form_id: Some(query.form_id.clone()),
        from: query.from,
        to: query.to,
        ..Default::default()
    };
    let mut filtered = desk::filtered(code, &conditions, "");
    if let Some(status) = query.status {
        filtered = filtered.filter(submissions::status.eq(status));
    }
    let lines: Vec<Line> = filtered
        .order((submissions::submitted_at.asc(), submissions::id.asc()))
        .limit(MAX_ROWS + 1)
        .select((
            submissions::id,
            submission_desk::reference_number,
            submissions::status,
            submissions::document,
            submissions::submitted_at,
            submissions::form_version,
            submissions::corrects_submission_id,
            submissions::digest,
        ))
        .load(conn)?;
    if lines.len() as i64 > MAX_ROWS {
        return Err(Error::field(
            "from",
            format!("more than {MAX_ROWS} submissions match: export fewer days at a time"),
        ));
    }
    let shift_jis = query.encoding == CsvEncoding::ShiftJis;
    // In Shift_JIS each cell is checked first: a character it has no code for refuses the
    // export, by 受付番号 and label, rather than being replaced.
    let checked = |cells: Vec<String>, reference_number: &str, labels: &[String]| -> Result<Vec<String>, Error> {
        if !shift_jis {
            return Ok(cells);
        }
        cells
            .into_iter()
            .zip(labels)
            .map(|(value, label)| {
                shift_jis_text(&value).map_err(|c| {
                    Error::field(
                        "encoding",
                        format!(
                            "{reference_number} 「{label}」: 「{c}」 (U+{:04X}) has no Shift_JIS code; export as UTF-8, which keeps every character",
                            c as u32
                        ),
                    )
                })
            })
            .collect()
    };
    let header = header(form);
    let mut csv = csv_line(&checked(header.clone(), "header", &header)?);
    for line in &lines {
        let document: Value = serde_json::from_str(&keys.open(sealed::SUBMISSIONS_DOCUMENT, &line.document)?)
            .map_err(|e| Error::unreadable(sealed::SUBMISSIONS_DOCUMENT, &e))?;
        let lead = Lead {
            reference_number: &line.reference_number,
            received: utc(line.submitted_at),
            status: SubmissionStatus::from_stored(&line.status)?,
            form_version: line.form_version,
            id: &line.id,
            corrects: line.corrects_submission_id.as_deref(),
            digest: &line.digest,
        };
        csv.push_str(&csv_line(&checked(record(form, &lead, &document), &line.reference_number, &header)?));
    }
    let (bytes, content_type) = match query.encoding {
        CsvEncoding::Utf8 => {
            let mut bytes = "\u{feff}".as_bytes().to_vec();
            bytes.extend_from_slice(csv.as_bytes());
            (bytes, "text/csv; charset=utf-8")
        }
        // Every cell was checked above: nothing is replaced here.
        CsvEncoding::ShiftJis => (encoding_rs::SHIFT_JIS.encode(&csv).0.into_owned(), "text/csv; charset=Shift_JIS"),
    };
    Ok(Export { file_name: format!("{}.csv", query.form_id), content_type, bytes, rows: lines.len() })
}

/// The layout page of a form (`docs/forms/<form_id>.md`).
pub fn layout_markdown(form: &Form) -> String {
    let mut out = format!(
        "# {} ({}): CSV layout\n\n\
         Generated from `catalog/forms.toml` (form version {}) by `nonstop::service::submissions::export::layout_markdown`; \
         a test keeps this page in step with the catalog (`NONSTOP_WRITE_FORM_DOCS=1 cargo test --test api csv_layout` rewrites it).\n\n\
         The console's **CSVで書き出す** (申請 → 書き出し) and `GET /v1/municipalities/{{code}}/submissions/export?form_id={}` write this \
         layout; the municipal webhook's `columns` carry the same labels and values. UTF-8 with a byte order mark, or Shift_JIS \
         (Windows-31J) with `encoding=shift_jis`: a value Shift_JIS cannot hold is refused naming the 受付番号 and the field, never \
         replaced (the JIS characters Unicode and Windows code differently, — − 〜 ‖ ¢ £ ¬, are written as Windows writes \
         them: ― － ～ ∥ ￠ ￡ ￢). Every cell is quoted, lines end with CRLF; a cell starting with `=`, `+`, `-` or `@` gets a leading `'`. \
         Yes/no answers are `1`/`0`, dates `YYYY-MM-DD`, a field without a value is empty. Oldest first.\n\n\
         | # | column | field id | type | meaning |\n|---|---|---|---|---|\n",
        form.name.ja, form.id, form.version, form.id
    );
    for (i, (label, meaning)) in LEADING_COLUMNS.iter().enumerate() {
        out.push_str(&format!("| {} | {label} | | | {meaning} |\n", i + 1));
    }
    for (i, field) in form.fields.iter().enumerate() {
        let kind = if field.options.is_empty() {
            field.kind.as_str().to_owned()
        } else {
            format!("{}: {}", field.kind.as_str(), field.options.join(" / "))
        };
        out.push_str(&format!(
            "| {} | {} | `{}` | {} | {} |\n",
            i + 1 + LEADING_COLUMNS.len(),
            field.label.ja,
            field.id,
            kind,
            field.label.en
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_jis_holds_windows_characters_but_not_those_beyond_it() {
        // 髙 and ① are NEC/IBM extensions of Windows-31J; 𠮷 and emoji are outside it.
        assert_eq!(shift_jis_text("山田 花子 ヤマダ ハナコ 髙橋 ①"), Ok("山田 花子 ヤマダ ハナコ 髙橋 ①".into()));
        assert_eq!(shift_jis_text("𠮷野 家"), Err('𠮷'));
        assert_eq!(shift_jis_text("はな😀"), Err('😀'));
        // The same JIS character under Unicode's and Windows' code points.
        assert_eq!(shift_jis_text("口座名義（カナ）— 本人"), Ok("口座名義（カナ）― 本人".into()));
        // 〜 (U+301C) is written ～ (0x8160, as Windows reads it); − (U+2212) has its own code
        // (0x817C) and is kept.
        assert_eq!(shift_jis_text("1〜3−2"), Ok("1～3−2".into()));
        let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode("―");
        assert_eq!((bytes.as_ref(), unmappable), (&[0x81u8, 0x5C][..], false), "JIS 1-01-29");
    }

    #[test]
    fn cells_are_quoted_and_never_formulas() {
        assert_eq!(csv_cell("はい"), "\"はい\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_line(&["a,b".into(), "c\r\nd".into()]), "\"a,b\",\"c\r\nd\"\r\n");
    }

    #[test]
    fn values_are_written_as_the_layout_says() {
        assert_eq!(cell_value(Some(&Value::Bool(true))), "1");
        assert_eq!(cell_value(Some(&Value::Bool(false))), "0");
        assert_eq!(cell_value(Some(&serde_json::json!(36))), "36");
        assert_eq!(cell_value(Some(&Value::Null)), "");
        assert_eq!(cell_value(None), "");
    }

    #[test]
    fn every_form_has_one_column_per_label() {
        let ctx = PlanningContext::shipped();
        for form in ctx.forms.all() {
            let header = header(form);
            let unique: std::collections::BTreeSet<&String> = header.iter().collect();
            assert_eq!(unique.len(), header.len(), "{}: a label twice in {header:?}", form.id);
        }
    }
}
