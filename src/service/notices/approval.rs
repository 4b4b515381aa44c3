//! 承認: the two-person rule (二人目の確認). Nobody who wrote any of a notice (its author, or a
//! member of staff who edited it) may approve it. An approval names the digest of the contents
//! its approver was shown, and is refused when the contents have changed since (the parts that
//! changed are named); it is recorded with that digest, and a notice goes out (sent or
//! scheduled) only while its contents still have it: what reaches residents is exactly what a
//! second person read.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::lifecycle::find;
use super::{editors_of, present, Notice, NoticeStatus};
use crate::crypto::sha256_hex;
use crate::db::rows::NoticeRow;
use crate::db::schema::{notice_approvals, notice_versions, notices};
use crate::db::DbConnection;
use crate::domain::MunicipalityCode;
use crate::error::{Error, FieldErrors};
use crate::service::new_id;

/// What an approval vouches for: everything residents would receive and whom it reaches
/// (category, texts, links, questionnaire, audience, expiry, standing), as recorded JSON.
fn vouched_for(row: &NoticeRow) -> serde_json::Value {
    serde_json::json!({
        "category": row.category,
        "content": row.content,
        "audience": row.audience,
        "expires_at": row.expires_at.map(|t| t.and_utc().to_rfc3339()),
        "standing": row.standing,
    })
}

/// SHA-256 of what an approval vouches for.
pub fn content_digest(row: &NoticeRow) -> String {
    sha256_hex(&vouched_for(row).to_string())
}

/// Keeps the notice's present contents under their digest (once per digest), so that an
/// approval made on them after they changed can name what changed. Runs after the notice's row
/// was written in the same transaction, so two edits of one notice never race here.
pub(super) fn record_version(conn: &mut DbConnection, row: &NoticeRow, now: NaiveDateTime) -> Result<(), Error> {
    let digest = content_digest(row);
    let known: i64 = notice_versions::table.find((&row.id, &digest)).count().get_result(conn)?;
    if known == 0 {
        diesel::insert_into(notice_versions::table)
            .values((
                notice_versions::notice_id.eq(&row.id),
                notice_versions::digest.eq(&digest),
                notice_versions::contents.eq(vouched_for(row).to_string()),
                notice_versions::recorded_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// What differs between the version of the notice whose digest is `shown` and its present
/// contents (each change's `approved` holds the value shown): `None` when the notice never had
/// contents with that digest (or had them before versions were kept).
pub fn changes_since_shown(
    conn: &mut DbConnection,
    code: &MunicipalityCode,
    id: &str,
    shown: &str,
) -> Result<Option<Vec<NoticeChange>>, Error> {
    let row = find(conn, code, id)?;
    changes_from_version(conn, &row, shown)
}

fn changes_from_version(
    conn: &mut DbConnection,
    row: &NoticeRow,
    shown: &str,
) -> Result<Option<Vec<NoticeChange>>, Error> {
    let contents: Option<String> =
        notice_versions::table.find((&row.id, shown)).select(notice_versions::contents).first(conn).optional()?;
    let Some(contents) = contents else { return Ok(None) };
    let shown: serde_json::Value =
        serde_json::from_str(&contents).map_err(|e| Error::unreadable("notice_versions.contents", &e))?;
    Ok(Some(changes(&comparable(&shown)?, &comparable(&vouched_for(row))?)))
}

/// Refuses an approval of contents other than the present ones (`approval_stale`), naming each
/// part that changed since the version shown.
fn ensure_shown_is_present(conn: &mut DbConnection, row: &NoticeRow, shown: &str) -> Result<(), Error> {
    if !is_digest(shown) {
        return Err(Error::field(
            "digest",
            "must be the notice's `content_digest`: 64 lowercase hexadecimal characters",
        ));
    }
    if shown == content_digest(row) {
        return Ok(());
    }
    let mut fields = FieldErrors::new();
    match changes_from_version(conn, row, shown)? {
        Some(changes) => {
            for change in changes {
                fields.insert(change.field, "changed since the notice was shown".into());
            }
        }
        None => {
            fields.insert("digest".into(), "is not the digest of any version of this notice".into());
        }
    }
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    Err(Error::Changed {
        code: "approval_stale",
        message: format!(
            "the notice changed after it was shown ({}): read it again and approve what it says now",
            names.join(", ")
        ),
        fields,
    })
}

fn is_digest(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// One part of a notice that differs from what was last approved, with both values.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct NoticeChange {
    /// `category`, `texts.{language}.title`, `texts.{language}.body`, `links`, `questionnaire`,
    /// `audience`, `expires_at` or `standing`.
    pub field: String,
    /// The value approved (`null` when it was absent).
    pub approved: serde_json::Value,
    /// The value now (`null` when it is absent).
    pub now: serde_json::Value,
}

/// What changed since the notice's latest approval: `None` when it was never approved (or was
/// approved before approvals kept their contents), an empty list when nothing did.
pub fn changes_since_approval(conn: &mut DbConnection, row: &NoticeRow) -> Result<Option<Vec<NoticeChange>>, Error> {
    let approved: Option<Option<String>> = notice_approvals::table
        .filter(notice_approvals::notice_id.eq(&row.id))
        .order((notice_approvals::approved_at.desc(), notice_approvals::id.desc()))
        .select(notice_approvals::contents)
        .first(conn)
        .optional()?;
    let Some(Some(approved)) = approved else { return Ok(None) };
    let approved: serde_json::Value =
        serde_json::from_str(&approved).map_err(|e| Error::unreadable("notice_approvals.contents", &e))?;
    Ok(Some(changes(&comparable(&approved)?, &comparable(&vouched_for(row))?)))
}

/// The vouched-for JSON with its stored strings opened, one entry per part a person reads
/// separately (each language's title and body apart).
fn comparable(vouched: &serde_json::Value) -> Result<BTreeMap<String, serde_json::Value>, Error> {
    use serde_json::Value;
    let parse = |key: &str| -> Result<Value, Error> {
        match &vouched[key] {
            Value::String(text) => serde_json::from_str(text).map_err(|e| Error::unreadable("notices", &e)),
            other => Ok(other.clone()),
        }
    };
    let content = parse("content")?;
    let mut parts = BTreeMap::new();
    if let Value::Object(texts) = &content["texts"] {
        for (language, text) in texts {
            parts.insert(format!("texts.{language}.title"), text["title"].clone());
            parts.insert(format!("texts.{language}.body"), text["body"].clone());
        }
    }
    parts.insert("links".into(), content["links"].clone());
    parts.insert("questionnaire".into(), content["questionnaire"].clone());
    parts.insert("audience".into(), parse("audience")?);
    for key in ["category", "expires_at", "standing"] {
        parts.insert(key.into(), vouched[key].clone());
    }
    Ok(parts)
}

/// The parts whose values differ, in a stable order.
fn changes(
    approved: &BTreeMap<String, serde_json::Value>,
    now: &BTreeMap<String, serde_json::Value>,
) -> Vec<NoticeChange> {
    let fields: std::collections::BTreeSet<&String> = approved.keys().chain(now.keys()).collect();
    let value = |parts: &BTreeMap<String, serde_json::Value>, field: &str| {
        parts.get(field).cloned().unwrap_or(serde_json::Value::Null)
    };
    fields
        .into_iter()
        .map(|field| NoticeChange { field: field.clone(), approved: value(approved, field), now: value(now, field) })
        .filter(|change| change.approved != change.now)
        .collect()
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

/// Approves a draft as another member of staff, recording the digest of what was approved:
/// `shown`, the digest of the contents the approver was shown, which must be the present one.
pub fn approve(
    conn: &mut DbConnection,
    code: &MunicipalityCode,
    id: &str,
    staff_id: &str,
    shown: &str,
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
    ensure_shown_is_present(conn, &row, shown)?;
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
            notice_approvals::contents.eq(Some(vouched_for(&row).to_string())),
            notice_approvals::approved_at.eq(now),
        ))
        .execute(conn)?;
    let approved = find(conn, code, id)?;
    present(conn, approved)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn vouched(title: &str, audience: &str, standing: bool) -> serde_json::Value {
        json!({
            "category": "event",
            "content": json!({"texts": {"ja": {"title": title, "body": "本文"}}, "links": [], "questionnaire": null}).to_string(),
            "audience": audience,
            "expires_at": null,
            "standing": standing,
        })
    }

    #[test]
    fn changes_name_each_part_that_differs_with_both_values() {
        let approved = comparable(&vouched("健診", r#"{"child_age_months":{"min":0,"max":12}}"#, false)).unwrap();
        let now =
            comparable(&vouched("健診（日程変更）", r#"{"child_age_months":{"min":0,"max":18}}"#, false)).unwrap();
        let found = changes(&approved, &now);
        let fields: Vec<&str> = found.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["audience", "texts.ja.title"]);
        assert_eq!((found[1].approved.clone(), found[1].now.clone()), (json!("健診"), json!("健診（日程変更）")));
        assert_eq!(found[0].now["child_age_months"]["max"], json!(18));
    }

    #[test]
    fn an_added_language_and_a_flag_are_changes_and_equal_contents_are_none() {
        let same = comparable(&vouched("健診", "{}", false)).unwrap();
        assert!(changes(&same, &same).is_empty());
        let mut now = comparable(&vouched("健診", "{}", true)).unwrap();
        now.insert("texts.en.title".into(), json!("Checkup"));
        let fields: Vec<String> = changes(&same, &now).into_iter().map(|c| c.field).collect();
        assert_eq!(fields, ["standing", "texts.en.title"]);
    }
}
