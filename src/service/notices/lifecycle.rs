//! A notice's life as staff write it: drafted, edited (each editor recorded), cancelled, listed.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::approval::record_version;
use super::{editors_json, editors_of, encode, present, validate, view, Notice, NoticeInput, NoticeStatus};
use crate::db::rows::NoticeRow;
use crate::db::schema::notices;
use crate::db::DbConnection;
use crate::domain::MunicipalityCode;
use crate::error::Error;
use crate::service::new_id;

pub fn create(
    conn: &mut DbConnection,
    code: &MunicipalityCode,
    staff_id: &str,
    input: NoticeInput,
    now: NaiveDateTime,
) -> Result<Notice, Error> {
    validate(&input)?;
    let (content, audience) = encode(&input)?;
    let row = NoticeRow {
        id: new_id(),
        municipality_code: code.to_string(),
        category: input.category.as_str().to_owned(),
        content,
        audience,
        status: NoticeStatus::Draft.as_str().to_owned(),
        author_staff_id: staff_id.to_owned(),
        editors: editors_json(&[staff_id.to_owned()])?,
        approver_staff_id: None,
        approved_at: None,
        sent_at: None,
        expires_at: input.expires_at.map(|t| t.naive_utc()),
        created_at: now,
        updated_at: now,
        send_at: None,
        standing: input.standing,
    };
    diesel::insert_into(notices::table).values(&row).execute(conn)?;
    record_version(conn, &row, now)?;
    view(row)
}

/// Writes a notice as `staff_id`, with the audit event that records it (API and console alike).
pub fn create_audited(
    conn: &mut DbConnection,
    code: &MunicipalityCode,
    staff_id: &str,
    input: NoticeInput,
    now: NaiveDateTime,
) -> Result<(Notice, crate::service::audit::Event), Error> {
    use crate::service::audit::{AuditAction, Event};
    let notice = create(conn, code, staff_id, input, now)?;
    let event = Event::new(AuditAction::NoticeCreated, "notice", notice.id.clone()).in_municipality(code.as_str());
    Ok((notice, event))
}

pub(super) fn find(conn: &mut DbConnection, code: &MunicipalityCode, id: &str) -> Result<NoticeRow, Error> {
    notices::table
        .find(id)
        .filter(notices::municipality_code.eq(code.as_str()))
        .select(NoticeRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(Error::NotFound("notice"))
}

/// A notice by its id alone (the background work, which acts for every municipality).
pub(super) fn find_by_id(conn: &mut DbConnection, id: &str) -> Result<NoticeRow, Error> {
    notices::table.find(id).select(NoticeRow::as_select()).first(conn).optional()?.ok_or(Error::NotFound("notice"))
}

pub fn get(conn: &mut DbConnection, code: &MunicipalityCode, id: &str) -> Result<Notice, Error> {
    let row = find(conn, code, id)?;
    present(conn, row)
}

/// Replaces a notice's contents; an approved notice goes back to draft and needs approval again,
/// from someone who wrote none of it: `staff_id` joins its editors.
pub fn update(
    conn: &mut DbConnection,
    code: &MunicipalityCode,
    id: &str,
    input: NoticeInput,
    staff_id: &str,
    now: NaiveDateTime,
) -> Result<Notice, Error> {
    let row = find(conn, code, id)?;
    let mut editors = editors_of(&row)?;
    if !editors.iter().any(|e| e == staff_id) {
        editors.push(staff_id.to_owned());
    }
    if !matches!(
        NoticeStatus::from_stored(&row.status)?,
        NoticeStatus::Draft | NoticeStatus::Approved | NoticeStatus::Scheduled
    ) {
        return Err(Error::Conflict {
            code: "notice_not_editable",
            message: "a sent or cancelled notice cannot be edited".into(),
        });
    }
    validate(&input)?;
    let (content, audience) = encode(&input)?;
    let updated = NoticeRow {
        category: input.category.as_str().to_owned(),
        content,
        audience,
        status: NoticeStatus::Draft.as_str().to_owned(),
        approver_staff_id: None,
        approved_at: None,
        send_at: None,
        standing: input.standing,
        expires_at: input.expires_at.map(|t| t.naive_utc()),
        editors: editors_json(&editors)?,
        updated_at: now,
        ..row
    };
    diesel::update(notices::table.find(&updated.id)).set(&updated).execute(conn)?;
    record_version(conn, &updated, now)?;
    present(conn, updated)
}

/// Cancels a notice not yet sent.
pub fn cancel(conn: &mut DbConnection, code: &MunicipalityCode, id: &str, now: NaiveDateTime) -> Result<Notice, Error> {
    let row = find(conn, code, id)?;
    if !matches!(
        NoticeStatus::from_stored(&row.status)?,
        NoticeStatus::Draft | NoticeStatus::Approved | NoticeStatus::Scheduled
    ) {
        return Err(Error::Conflict {
            code: "notice_not_cancellable",
            message: "a sent notice cannot be cancelled".into(),
        });
    }
    let updated = NoticeRow { status: NoticeStatus::Cancelled.as_str().to_owned(), updated_at: now, ..row };
    diesel::update(notices::table.find(&updated.id)).set(&updated).execute(conn)?;
    present(conn, updated)
}

/// The municipality's notices, newest first (at most `limit`).
pub fn list(conn: &mut DbConnection, code: &MunicipalityCode, limit: i64) -> Result<Vec<Notice>, Error> {
    Ok(page(conn, code, limit, None)?.items)
}

/// A page of the municipality's notices, newest first.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct NoticePage {
    pub items: Vec<Notice>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `limit` notices older than `cursor`, newest first.
pub fn page(
    conn: &mut DbConnection,
    code: &MunicipalityCode,
    limit: i64,
    cursor: Option<&str>,
) -> Result<NoticePage, Error> {
    let mut query = notices::table
        .filter(notices::municipality_code.eq(code.as_str()))
        .order(notices::id.desc())
        .limit(limit + 1)
        .select(NoticeRow::as_select())
        .into_boxed();
    if let Some(cursor) = cursor {
        query = query.filter(notices::id.lt(cursor.to_owned()));
    }
    let (rows, next_cursor) = crate::service::paging::cut(query.load(conn)?, limit, |row: &NoticeRow| row.id.as_str());
    let items = rows.into_iter().map(|row| present(conn, row)).collect::<Result<_, _>>()?;
    Ok(NoticePage { items, next_cursor })
}
