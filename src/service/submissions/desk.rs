//! 申請の受付窓口: the worklist a 子育て支援課 works from all day. Submissions of one
//! municipality, found by 受付番号, by the applicant's or the child's name or kana, by the day
//! received, by form, status and 担当; counted per status; a page at a time with the total.
//! Taking a submission (担当) and the notes staff keep on it for each other live here too.
//!
//! Names are sealed in each submission's document, so a search by name opens the documents of
//! the submissions the other conditions leave, newest first, up to `SEARCH_SCAN_LIMIT`, and
//! says when it stopped there rather than pretending nothing older matched.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;

use super::{form_name, new_id, utc, SubmissionStatus};
use crate::crypto::KeyRing;
use crate::db::schema::{staff_members, submission_desk, submission_notes, submissions};
use crate::db::sealed;
use crate::db::DbConnection;
use crate::domain::catalog::Names;
use crate::domain::planner::{local_instant, PlanningContext};
use crate::domain::MunicipalityCode;
use crate::error::{Error, FieldErrors};

/// Rows on one page of the worklist.
pub const PAGE_SIZE: i64 = 50;
/// The most submissions one search by name opens.
pub const SEARCH_SCAN_LIMIT: i64 = 5_000;
/// The longest note a member of staff may keep on a submission.
pub const NOTE_MAX_CHARS: usize = 2_000;

/// Whose submissions to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assigned {
    /// 自分の担当.
    ToMe,
    /// 未割当.
    ToNobody,
}

/// What the worklist is asked for.
#[derive(Clone, Debug, Default)]
pub struct DeskQuery {
    pub status: Option<SubmissionStatus>,
    pub form_id: Option<String>,
    /// A 受付番号 (or part of one), or a name or kana (spaces and hiragana/katakana ignored).
    pub text: Option<String>,
    /// Received on or after this day in Japan.
    pub from: Option<NaiveDate>,
    /// Received on or before this day in Japan.
    pub to: Option<NaiveDate>,
    pub assigned: Option<Assigned>,
    /// From 1.
    pub page: i64,
    /// Rows on a page: `PAGE_SIZE` unless given.
    pub per_page: Option<i64>,
}

/// One line of the worklist.
#[derive(Clone, Debug, Serialize)]
pub struct DeskRow {
    pub id: String,
    pub reference_number: String,
    pub form_name: Names,
    pub status: SubmissionStatus,
    pub applicant_name: Option<String>,
    pub applicant_kana: Option<String>,
    pub child_name: Option<String>,
    pub child_kana: Option<String>,
    pub submitted_at: NaiveDateTime,
    /// Whole days since it was received, counted in Japan.
    pub days_waiting: i64,
    /// 担当: the member of staff's name.
    pub assignee: Option<String>,
    pub corrects_submission_id: Option<String>,
    pub family_deleted: bool,
}

/// A page of the worklist.
#[derive(Debug)]
pub struct DeskPage {
    pub rows: Vec<DeskRow>,
    /// All the submissions matching, on every page.
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    /// Per status (every status, in their order), the submissions matching the other
    /// conditions.
    pub counts: Vec<(SubmissionStatus, i64)>,
    /// A search by name stopped after opening `SEARCH_SCAN_LIMIT` submissions: older ones
    /// were not looked at.
    pub search_cut_short: bool,
}

/// A note staff keep on a submission (never shown to the family).
#[derive(Clone, Debug, Serialize)]
pub struct Note {
    pub author: String,
    pub body: String,
    pub at: NaiveDateTime,
}

/// The columns a line needs.
#[derive(Queryable)]
struct Line {
    id: String,
    reference_number: String,
    form_id: String,
    status: String,
    document: String,
    submitted_at: NaiveDateTime,
    assignee: Option<String>,
    corrects_submission_id: Option<String>,
    family_deleted_at: Option<NaiveDateTime>,
}

pub(super) type Filtered<'a> = diesel::dsl::IntoBoxed<
    'a,
    diesel::dsl::InnerJoin<submissions::table, submission_desk::table>,
    crate::db::MultiBackend,
>;

/// A reference number's characters only: digits and dashes.
fn looks_like_reference_number(text: &str) -> bool {
    text.chars().any(|c| c.is_ascii_digit()) && text.chars().all(|c| c.is_ascii_digit() || c == '-')
}

/// Name and kana as compared: no spaces, hiragana as katakana, ASCII in lower case.
pub fn fold(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            'ぁ'..='ゖ' => char::from_u32(c as u32 + 0x60).unwrap_or(c),
            other => other.to_ascii_lowercase(),
        })
        .collect()
}

/// The start of a day in Japan, as stored (UTC).
fn day_start(day: NaiveDate) -> NaiveDateTime {
    local_instant(day.and_time(chrono::NaiveTime::MIN)).naive_utc()
}

/// The conditions other than the status (which the counts break down) and the name.
pub(super) fn filtered<'a>(code: &'a MunicipalityCode, query: &'a DeskQuery, staff_id: &'a str) -> Filtered<'a> {
    let mut q = submissions::table
        .inner_join(submission_desk::table)
        .filter(submissions::municipality_code.eq(code.as_str()))
        .into_boxed();
    if let Some(form) = &query.form_id {
        q = q.filter(submissions::form_id.eq(form));
    }
    if let Some(from) = query.from {
        q = q.filter(submissions::submitted_at.ge(day_start(from)));
    }
    if let Some(to) = query.to.and_then(|d| d.succ_opt()) {
        q = q.filter(submissions::submitted_at.lt(day_start(to)));
    }
    match query.assigned {
        Some(Assigned::ToMe) => q = q.filter(submission_desk::assigned_staff_id.eq(staff_id)),
        Some(Assigned::ToNobody) => q = q.filter(submission_desk::assigned_staff_id.is_null()),
        None => {}
    }
    if let Some(text) = query.text.as_deref().filter(|t| looks_like_reference_number(t)) {
        q = q.filter(submission_desk::reference_number.like(format!("%{text}%")));
    }
    q
}

/// The worklist page asked for, as `staff_id` sees it.
pub fn worklist(
    conn: &mut DbConnection,
    keys: &KeyRing,
    ctx: &PlanningContext,
    code: &MunicipalityCode,
    staff_id: &str,
    query: &DeskQuery,
    today: NaiveDate,
) -> Result<DeskPage, Error> {
    let mut counts = BTreeMap::new();
    let by_name = query.text.as_deref().map(fold).filter(|t| !t.is_empty() && !looks_like_reference_number(t));
    let page = query.page.max(1);
    let per_page = query.per_page.unwrap_or(PAGE_SIZE).clamp(1, PAGE_SIZE);
    let lines = |conn: &mut DbConnection, offset: i64, limit: i64| -> Result<Vec<Line>, Error> {
        let mut q = filtered(code, query, staff_id);
        if let Some(status) = query.status {
            q = q.filter(submissions::status.eq(status));
        }
        Ok(q.left_join(staff_members::table.on(staff_members::id.nullable().eq(submission_desk::assigned_staff_id)))
            .order((submissions::submitted_at.desc(), submissions::id.desc()))
            .offset(offset)
            .limit(limit)
            .select((
                submissions::id,
                submission_desk::reference_number,
                submissions::form_id,
                submissions::status,
                submissions::document,
                submissions::submitted_at,
                staff_members::name.nullable(),
                submissions::corrects_submission_id,
                submissions::family_deleted_at,
            ))
            .load(conn)?)
    };
    let row = |line: Line| -> Result<DeskRow, Error> {
        let document = keys.open(sealed::SUBMISSIONS_DOCUMENT, &line.document)?;
        let document: serde_json::Value =
            serde_json::from_str(&document).map_err(|e| Error::unreadable(sealed::SUBMISSIONS_DOCUMENT, &e))?;
        let value = |ids: &[&str]| {
            ids.iter()
                .find_map(|id| document["fields"][*id].as_str().filter(|v| !v.trim().is_empty()))
                .map(str::to_owned)
        };
        let received = crate::domain::dates::tokyo_date(utc(line.submitted_at));
        Ok(DeskRow {
            form_name: form_name(ctx, &line.form_id),
            status: SubmissionStatus::from_stored(&line.status)?,
            applicant_name: value(&["applicant.name", "mother.name"]),
            applicant_kana: value(&["applicant.kana", "mother.kana"]),
            child_name: value(&["child.name"]),
            child_kana: value(&["child.kana"]),
            days_waiting: (today - received).num_days().max(0),
            submitted_at: line.submitted_at,
            assignee: line.assignee,
            corrects_submission_id: line.corrects_submission_id,
            family_deleted: line.family_deleted_at.is_some(),
            reference_number: line.reference_number,
            id: line.id,
        })
    };
    let (rows, total, search_cut_short) = match by_name {
        None => {
            // One count per status (seven indexed counts; a boxed query cannot be grouped).
            for status in SubmissionStatus::ALL {
                let n: i64 =
                    filtered(code, query, staff_id).filter(submissions::status.eq(*status)).count().get_result(conn)?;
                counts.insert(status.as_str().to_owned(), n);
            }
            let total = match query.status {
                Some(status) => counts.get(status.as_str()).copied().unwrap_or(0),
                None => counts.values().sum(),
            };
            let rows = lines(conn, (page - 1) * per_page, per_page)?.into_iter().map(row).collect::<Result<_, _>>()?;
            (rows, total, false)
        }
        Some(text) => {
            let scanned = lines(conn, 0, SEARCH_SCAN_LIMIT)?;
            let cut_short = scanned.len() as i64 == SEARCH_SCAN_LIMIT;
            let matching: Vec<DeskRow> = scanned
                .into_iter()
                .map(row)
                .filter(|r| {
                    r.as_ref().map_or(true, |r| {
                        [&r.applicant_name, &r.applicant_kana, &r.child_name, &r.child_kana]
                            .into_iter()
                            .flatten()
                            .any(|v| fold(v).contains(&text))
                    })
                })
                .collect::<Result<_, _>>()?;
            // The counts follow the name too: what the list holds, per status.
            for r in &matching {
                *counts.entry(r.status.as_str().to_owned()).or_default() += 1;
            }
            let total = matching.len() as i64;
            let rows = matching.into_iter().skip(((page - 1) * per_page) as usize).take(per_page as usize).collect();
            (rows, total, cut_short)
        }
    };
    let pages = ((total + per_page - 1) / per_page).max(1);
    let counts = SubmissionStatus::ALL.iter().map(|s| (*s, counts.get(s.as_str()).copied().unwrap_or(0))).collect();
    Ok(DeskPage { rows, total, page, pages, counts, search_cut_short })
}

/// The submission of `code`, or "not found".
fn of_municipality(conn: &mut DbConnection, code: &MunicipalityCode, id: &str) -> Result<(), Error> {
    let found: Option<String> = submissions::table
        .find(id)
        .filter(submissions::municipality_code.eq(code.as_str()))
        .select(submissions::id)
        .first(conn)
        .optional()?;
    found.map(|_| ()).ok_or(Error::NotFound("submission"))
}

/// Takes the submission as `staff_id` (担当), or gives it back (`None`).
pub fn assign(conn: &mut DbConnection, code: &MunicipalityCode, id: &str, staff_id: Option<&str>) -> Result<(), Error> {
    of_municipality(conn, code, id)?;
    diesel::update(submission_desk::table.find(id))
        .set(submission_desk::assigned_staff_id.eq(staff_id))
        .execute(conn)?;
    Ok(())
}

/// Keeps a note on the submission for the other members of staff.
pub fn add_note(
    conn: &mut DbConnection,
    keys: &KeyRing,
    code: &MunicipalityCode,
    id: &str,
    staff_id: &str,
    body: &str,
    now: NaiveDateTime,
) -> Result<(), Error> {
    of_municipality(conn, code, id)?;
    let body = body.trim();
    let mut errors = FieldErrors::new();
    if body.is_empty() {
        errors.insert("note".into(), "write the note".into());
    } else if body.chars().count() > NOTE_MAX_CHARS {
        errors.insert("note".into(), format!("a note is at most {NOTE_MAX_CHARS} characters"));
    } else {
        super::review::check_comment(body, "note", &mut errors);
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    diesel::insert_into(submission_notes::table)
        .values((
            submission_notes::id.eq(new_id()),
            submission_notes::submission_id.eq(id),
            submission_notes::staff_id.eq(staff_id),
            submission_notes::body.eq(keys.seal(sealed::SUBMISSION_NOTES_BODY, body)?),
            submission_notes::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// The notes on a submission, oldest first, with their authors' names.
pub fn notes(conn: &mut DbConnection, keys: &KeyRing, id: &str) -> Result<Vec<Note>, Error> {
    let rows: Vec<(String, String, NaiveDateTime)> = submission_notes::table
        .inner_join(staff_members::table.on(staff_members::id.eq(submission_notes::staff_id)))
        .filter(submission_notes::submission_id.eq(id))
        .order((submission_notes::created_at.asc(), submission_notes::id.asc()))
        .select((staff_members::name, submission_notes::body, submission_notes::created_at))
        .load(conn)?;
    rows.into_iter()
        .map(|(author, body, at)| Ok(Note { author, body: keys.open(sealed::SUBMISSION_NOTES_BODY, &body)?, at }))
        .collect()
}

/// Who took the submission (担当), by name and id.
pub fn assignee(conn: &mut DbConnection, id: &str) -> Result<Option<(String, String)>, Error> {
    Ok(submission_desk::table
        .find(id)
        .inner_join(staff_members::table.on(staff_members::id.nullable().eq(submission_desk::assigned_staff_id)))
        .select((staff_members::id, staff_members::name))
        .first(conn)
        .optional()?)
}

/// The names of the members of staff who set each status, by event order (oldest first);
/// `None` where nonstop set it.
pub fn history_authors(conn: &mut DbConnection, id: &str) -> Result<Vec<Option<String>>, Error> {
    use crate::db::schema::submission_events;
    Ok(submission_events::table
        .left_join(staff_members::table.on(submission_events::staff_id.eq(staff_members::id.nullable())))
        .filter(submission_events::submission_id.eq(id))
        .order((submission_events::created_at.asc(), submission_events::id.asc()))
        .select(staff_members::name.nullable())
        .load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_without_spaces_and_kana_either_way() {
        assert_eq!(fold("やまだ　はなこ"), fold("ヤマダ ハナコ"));
        assert!(fold("山田 花子").contains(&fold("田花")));
        assert_eq!(fold("Nguyen Van A"), "nguyenvana");
    }

    #[test]
    fn a_reference_number_is_told_from_a_name() {
        assert!(looks_like_reference_number("2026-000123"));
        assert!(looks_like_reference_number("123"));
        assert!(!looks_like_reference_number("山田"));
        assert!(!looks_like_reference_number("-"));
    }
}
