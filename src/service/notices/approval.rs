//! 承認: the two-person rule (二人目の確認). Nobody who wrote any of a notice (its author, or a
//! member of staff who edited it) may approve it. Each approval is recorded with the SHA-256 of
//! the contents approved, and a notice goes out (sent or scheduled) only while its contents
//! still have that digest: what reaches residents is exactly what a second person read.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::lifecycle::find;
use super::{editors_of, present, Notice, NoticeStatus};
use crate::crypto::sha256_hex;
use crate::db::rows::NoticeRow;
use crate::db::schema::{notice_approvals, notices};
use crate::db::DbConnection;
use crate::domain::MunicipalityCode;
use crate::error::Error;
use crate::service::new_id;

/// SHA-256 of what an approval vouches for: everything residents would receive and whom it
/// reaches (category, texts, links, questionnaire, audience, expiry, standing).
pub fn content_digest(row: &NoticeRow) -> String {
    let approved = serde_json::json!({
        "category": row.category,
        "content": row.content,
        "audience": row.audience,
        "expires_at": row.expires_at.map(|t| t.and_utc().to_rfc3339()),
        "standing": row.standing,
    });
    sha256_hex(&approved.to_string())
}

/// The digest of the notice's latest approval.
pub fn approved_digest(conn: &mut DbConnection, notice_id: &str) -> Result<Option<String>, Error> {
    Ok(notice_approvals::table
        .filter(notice_approvals::notice_id.eq(notice_id))
        .order((notice_approvals::approved_at.desc(), notice_approvals::id.desc()))
        .select(notice_approvals::digest)
        .first(conn)
        .optional()?)
}

/// Refuses to let a notice go out unless its latest approval is of its present contents.
pub fn ensure_approved_as_is(conn: &mut DbConnection, row: &NoticeRow) -> Result<(), Error> {
    if approved_digest(conn, &row.id)?.as_deref() != Some(content_digest(row).as_str()) {
        return Err(Error::Conflict {
            code: "approval_outdated",
            message: "the notice's contents are not the ones approved: it needs approval again".into(),
        });
    }
    Ok(())
}

/// Approves a draft as another member of staff, recording the digest of what was approved.
pub fn approve(
    conn: &mut DbConnection,
    code: &MunicipalityCode,
    id: &str,
    staff_id: &str,
    now: NaiveDateTime,
) -> Result<Notice, Error> {
    let row = find(conn, code, id)?;
    if row.status != NoticeStatus::Draft.as_str() {
        return Err(Error::Conflict { code: "notice_not_draft", message: "only a draft can be approved".into() });
    }
    if editors_of(&row)?.iter().any(|editor| editor == staff_id) {
        return Err(Error::Conflict {
            code: "approval_by_author",
            message: "a notice is approved by a member of staff who wrote none of it (not its author, not an editor)"
                .into(),
        });
    }
    // Conditional on the draft still being the one read, so a concurrent edit is not approved.
    let changed = diesel::update(
        notices::table
            .find(&row.id)
            .filter(notices::status.eq(NoticeStatus::Draft))
            .filter(notices::updated_at.eq(row.updated_at)),
    )
    .set((
        notices::status.eq(NoticeStatus::Approved),
        notices::approver_staff_id.eq(Some(staff_id)),
        notices::approved_at.eq(Some(now)),
        notices::updated_at.eq(now),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Err(Error::Conflict {
            code: "notice_changed",
            message: "the notice changed meanwhile; read it again".into(),
        });
    }
    diesel::insert_into(notice_approvals::table)
        .values((
            notice_approvals::id.eq(new_id()),
            notice_approvals::notice_id.eq(&row.id),
            notice_approvals::staff_id.eq(staff_id),
            notice_approvals::digest.eq(content_digest(&row)),
            notice_approvals::approved_at.eq(now),
        ))
        .execute(conn)?;
    let approved = find(conn, code, id)?;
    present(conn, approved)
}
