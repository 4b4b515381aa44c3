//! Confirming: the draft frozen into its RFC 8785 canonical document and digest, which the parent
//! signs; reopening before signing.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::Value;

use super::edit::{missing_fields, require_open};
use super::prefill::{prefill, FamilyProfile};
use super::{find, form_of, open_content, seal_content, view, Content, Draft, DraftStatus};
use crate::crypto::{sha256_hex, KeyRing};
use crate::db::rows::{DraftRow, FamilyRow};
use crate::db::schema::drafts;
use crate::db::sealed;
use crate::db::DbConnection;
use crate::domain::canonical_json;
use crate::domain::forms::{Form, Source};
use crate::domain::planner::PlanningContext;
use crate::error::Error;
use crate::service::utc;
use crate::service::UseCase;

/// The document a confirmed draft freezes into (before canonicalization).
pub fn document_value(
    form: &Form,
    family: &FamilyRow,
    row: &DraftRow,
    content: &Content,
    confirmed_at: NaiveDateTime,
) -> Value {
    let left: Vec<&str> =
        form.fields.iter().filter(|f| f.source == Source::Municipality).map(|f| f.id.as_str()).collect();
    serde_json::json!({
        "type": "nonstop.application/v1",
        "form": { "id": form.id, "version": form.version, "name": form.name.ja, "legal_basis": form.legal_basis },
        "draft_id": row.id,
        "family_id": family.id,
        "municipality_code": family.municipality_code,
        "corrects_submission_id": row.corrects_submission_id,
        "confirmed_at": utc(confirmed_at).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "fields": content.plain_values(),
        "left_for_municipality": left,
    })
}

/// Canonical text and digest of a document.
pub fn canonical(value: &Value) -> Result<(String, String), Error> {
    let text = canonical_json::canonicalize(value).map_err(Error::internal)?;
    let digest = sha256_hex(&text);
    Ok((text, digest))
}

/// Freezes an open draft: every required field filled, the filing date set to today, the
/// document canonicalized and digested. Confirming a confirmed draft returns it unchanged.
pub fn confirm(conn: &mut DbConnection, uc: &UseCase, family: &FamilyRow, draft_id: &str) -> Result<Draft, Error> {
    let (keys, ctx, now) = (&*uc.keys, &*uc.planning, uc.now);
    let row = find(conn, &family.id, draft_id)?;
    if row.status == DraftStatus::Confirmed.as_str() {
        return view(ctx, keys, row);
    }
    require_open(&row)?;
    let profile = FamilyProfile::load(conn, keys, ctx, family)?;
    let (document, digest) = freeze(conn, uc, family, &profile, &row)?;
    diesel::update(drafts::table.find(&row.id))
        .set((
            drafts::status.eq(DraftStatus::Confirmed),
            drafts::document.eq(Some(keys.seal(sealed::DRAFTS_DOCUMENT, &document)?)),
            drafts::digest.eq(Some(digest)),
            drafts::updated_at.eq(now),
        ))
        .execute(conn)?;
    view(ctx, keys, find(conn, &family.id, draft_id)?)
}

/// Takes a confirmed draft back to open (the parent found a mistake before signing): its
/// document is dropped, so a signature over it no longer matches anything.
pub fn reopen(
    conn: &mut DbConnection,
    keys: &KeyRing,
    ctx: &PlanningContext,
    family: &FamilyRow,
    draft_id: &str,
    now: NaiveDateTime,
) -> Result<Draft, Error> {
    let row = find(conn, &family.id, draft_id)?;
    match DraftStatus::from_stored(&row.status)? {
        DraftStatus::Open => return view(ctx, keys, row),
        DraftStatus::Confirmed => {}
        DraftStatus::ConfirmedInBundle => {
            return Err(Error::Conflict {
                code: "reopen_the_bundle",
                message: "this draft was confirmed with its bundle; reopen the bundle".into(),
            })
        }
        DraftStatus::Signed | DraftStatus::Withdrawn => {
            return Err(Error::Conflict {
                code: "draft_not_confirmed",
                message: format!("the draft is {}", row.status),
            })
        }
    }
    set_open(conn, &row.id, now)?;
    view(ctx, keys, find(conn, &family.id, draft_id)?)
}

/// Back to open, without a document.
pub fn set_open(conn: &mut DbConnection, draft_id: &str, now: NaiveDateTime) -> Result<(), Error> {
    diesel::update(drafts::table.find(draft_id))
        .set((
            drafts::status.eq(DraftStatus::Open),
            drafts::document.eq(None::<String>),
            drafts::digest.eq(None::<String>),
            drafts::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// The canonical document of an open draft, refreshed from the profile; refused naming every
/// required field still empty.
pub fn freeze(
    conn: &mut DbConnection,
    uc: &UseCase,
    family: &FamilyRow,
    profile: &FamilyProfile,
    row: &DraftRow,
) -> Result<(String, String), Error> {
    let (keys, ctx, today, now) = (&*uc.keys, &*uc.planning, uc.today, uc.now);
    let form = form_of(ctx, &row.form_id)?;
    let mut content = open_content(keys, row)?;
    prefill(form, &profile.values(row.child_id.as_deref()), &mut content, today);
    let missing = missing_fields(form, &content, "values.");
    if !missing.is_empty() {
        return Err(Error::Validation(missing));
    }
    diesel::update(drafts::table.find(&row.id)).set(drafts::content.eq(seal_content(keys, &content)?)).execute(conn)?;
    canonical(&document_value(form, family, row, &content, now))
}

/// The stored canonical document of a confirmed draft.
pub fn document_of(keys: &KeyRing, row: &DraftRow) -> Result<(String, String), Error> {
    match (&row.document, &row.digest) {
        (Some(doc), Some(digest)) => Ok((keys.open(sealed::DRAFTS_DOCUMENT, doc)?, digest.clone())),
        _ => Err(Error::internal("confirmed draft without its document")),
    }
}

pub fn seal_document(keys: &KeyRing, document: &str) -> Result<String, Error> {
    keys.seal(sealed::DRAFTS_DOCUMENT, document)
}
