//! 一括申請: the post-birth forms of one child reviewed, confirmed and signed together. A field
//! shared by several forms appears once and is entered once; one confirmation yields one
//! canonical bundle document listing each form's document and digest; one signature covers
//! them all, and each form still becomes its own submission.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::drafts::{self, ConfirmedDocument, DraftField, DraftPatch, DraftStatus, FieldNeed};
use super::{new_id, utc};
use crate::crypto::KeyRing;
use crate::db::rows::{DraftBundleRow, DraftRow, FamilyRow};
use crate::db::schema::{draft_bundles, drafts as drafts_table};
use crate::db::sealed;
use crate::db::DbConnection;
use crate::domain::catalog::Names;
use crate::domain::planner::PlanningContext;
use crate::error::{Error, FieldErrors};
use crate::service::UseCase;
use crate::text_enum;

/// The kind of the one bundle nonstop makes: the post-birth forms of a child (一括申請).
const BIRTH_KIND: &str = "birth";

text_enum! {
    /// Where a bundle stands.
    pub enum BundleStatus {
        Open => "open",
        Confirmed => "confirmed",
        Signed => "signed",
    }
}

/// A form of the bundle.
#[derive(Debug, Serialize, ToSchema)]
pub struct BundleMember {
    pub draft_id: String,
    pub form_id: String,
    pub form_name: Names,
    pub status: DraftStatus,
}

/// A field of the bundle, shown once however many forms carry it.
#[derive(Debug, Serialize, ToSchema)]
pub struct BundleField {
    #[serde(flatten)]
    pub field: DraftField,
    /// The forms (of those still open) that carry this field.
    pub forms: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Bundle {
    pub id: String,
    /// `birth`.
    pub kind: String,
    pub child_id: String,
    pub status: BundleStatus,
    pub members: Vec<BundleMember>,
    /// The fields of the open members, each once.
    pub fields: Vec<BundleField>,
    pub to_fill: Vec<String>,
    pub confirmed: Option<ConfirmedDocument>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The birth bundle of a child, created with its first draft.
pub fn ensure_birth_bundle(
    conn: &mut DbConnection,
    family_id: &str,
    child_id: &str,
    now: NaiveDateTime,
) -> Result<String, Error> {
    let existing: Option<String> = draft_bundles::table
        .filter(draft_bundles::family_id.eq(family_id))
        .filter(draft_bundles::kind.eq(BIRTH_KIND))
        .filter(draft_bundles::child_id.eq(child_id))
        .select(draft_bundles::id)
        .first(conn)
        .optional()?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let row = DraftBundleRow {
        id: new_id(),
        family_id: family_id.to_owned(),
        kind: BIRTH_KIND.into(),
        child_id: child_id.to_owned(),
        status: BundleStatus::Open.as_str().into(),
        document: None,
        digest: None,
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(draft_bundles::table).values(&row).execute(conn)?;
    Ok(row.id)
}

pub fn members(conn: &mut DbConnection, bundle_id: &str) -> Result<Vec<DraftRow>, Error> {
    Ok(drafts_table::table
        .filter(drafts_table::bundle_id.eq(bundle_id))
        .filter(drafts_table::status.ne(DraftStatus::Withdrawn))
        .order(drafts_table::id.asc())
        .select(DraftRow::as_select())
        .load(conn)?)
}

pub fn open_members(conn: &mut DbConnection, bundle_id: &str) -> Result<Vec<DraftRow>, Error> {
    Ok(members(conn, bundle_id)?.into_iter().filter(|d| d.status == DraftStatus::Open.as_str()).collect())
}

pub fn find(conn: &mut DbConnection, family_id: &str, bundle_id: &str) -> Result<DraftBundleRow, Error> {
    draft_bundles::table
        .find(bundle_id)
        .filter(draft_bundles::family_id.eq(family_id))
        .select(DraftBundleRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(Error::NotFound("bundle"))
}

pub fn get(
    conn: &mut DbConnection,
    keys: &KeyRing,
    ctx: &PlanningContext,
    family_id: &str,
    bundle_id: &str,
) -> Result<Bundle, Error> {
    let row = find(conn, family_id, bundle_id)?;
    let rows = members(conn, &row.id)?;
    let mut members = Vec::new();
    let mut fields: Vec<BundleField> = Vec::new();
    for draft_row in rows {
        let draft = drafts::view(ctx, keys, draft_row)?;
        if draft.status == DraftStatus::Open {
            for f in draft.fields {
                if let Some(seen) = fields.iter_mut().find(|s| s.field.id == f.id) {
                    seen.forms.push(draft.form_id.clone());
                    seen.field.required |= f.required;
                    seen.field.needs = seen.field.needs.or(f.needs);
                    continue;
                }
                fields.push(BundleField { field: f, forms: vec![draft.form_id.clone()] });
            }
        }
        members.push(BundleMember {
            draft_id: draft.id,
            form_id: draft.form_id,
            form_name: draft.form_name,
            status: draft.status,
        });
    }
    let to_fill =
        fields.iter().filter(|f| f.field.needs == Some(FieldNeed::Fill)).map(|f| f.field.id.clone()).collect();
    let confirmed = match (&row.document, &row.digest) {
        (Some(doc), Some(digest)) => Some(ConfirmedDocument {
            document: keys.open(sealed::DRAFT_BUNDLES_DOCUMENT, doc)?,
            digest_sha256: digest.clone(),
        }),
        _ => None,
    };
    Ok(Bundle {
        kind: row.kind,
        child_id: row.child_id,
        status: BundleStatus::from_stored(&row.status)?,
        members,
        fields,
        to_fill,
        confirmed,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
        id: row.id,
    })
}

/// Sets fields once for the whole bundle: each value goes to every open form that has it.
pub fn patch(
    conn: &mut DbConnection,
    uc: &UseCase,
    family: &FamilyRow,
    bundle_id: &str,
    patch: DraftPatch,
) -> Result<Bundle, Error> {
    let (keys, ctx) = (&*uc.keys, &*uc.planning);
    let row = find(conn, &family.id, bundle_id)?;
    require_open(&row)?;
    let members = open_members(conn, &row.id)?;
    // Each value is checked by the first open form that carries the field.
    let mut errors = FieldErrors::new();
    let mut checked: BTreeMap<String, Option<Value>> = BTreeMap::new();
    for (id, value) in &patch.values {
        let carrier =
            members.iter().find_map(|m| drafts::form_of(ctx, &m.form_id).ok().filter(|f| f.field(id).is_some()));
        let Some(form) = carrier else {
            errors.insert(format!("values.{id}"), "no open form of this bundle has this field".into());
            continue;
        };
        match drafts::check_values(form, &BTreeMap::from([(id.clone(), value.clone())]), "values.") {
            Ok(mut one) => checked.append(&mut one),
            Err(Error::Validation(mut e)) => errors.append(&mut e),
            Err(other) => return Err(other),
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    drafts::apply_to(conn, uc, family, &members, &checked)?;
    if patch.save_to_profile {
        let carrier = |id: &str| {
            members.iter().find_map(|m| drafts::form_of(ctx, &m.form_id).ok().filter(|f| f.field(id).is_some()))
        };
        drafts::save_to_profile(conn, uc, family, Some(&row.child_id), carrier, &checked)?;
    }
    get(conn, keys, ctx, &family.id, bundle_id)
}

fn require_open(row: &DraftBundleRow) -> Result<(), Error> {
    if row.status == BundleStatus::Open.as_str() {
        Ok(())
    } else {
        Err(Error::Conflict { code: "bundle_not_open", message: format!("the bundle is {}", row.status) })
    }
}

/// Confirms every open form of the bundle at once and freezes the bundle document, which
/// lists each form's canonical document and digest.
pub fn confirm(conn: &mut DbConnection, uc: &UseCase, family: &FamilyRow, bundle_id: &str) -> Result<Bundle, Error> {
    let (keys, ctx, now) = (&*uc.keys, &*uc.planning, uc.now);
    let row = find(conn, &family.id, bundle_id)?;
    if row.status == BundleStatus::Confirmed.as_str() {
        return get(conn, keys, ctx, &family.id, bundle_id);
    }
    require_open(&row)?;
    let members = open_members(conn, &row.id)?;
    if members.is_empty() {
        return Err(Error::Conflict { code: "bundle_empty", message: "no open form is left in this bundle".into() });
    }
    let mut errors = FieldErrors::new();
    let mut frozen = Vec::new();
    let profile = drafts::FamilyProfile::load(conn, keys, ctx, family)?;
    for member in &members {
        match drafts::freeze(conn, uc, family, &profile, member) {
            Ok(doc) => frozen.push((member, doc)),
            Err(Error::Validation(e)) => {
                for (field, problem) in e {
                    let entry = errors.entry(field).or_insert_with(|| problem.clone());
                    entry.push_str(&format!(" ({})", member.form_id));
                }
            }
            Err(other) => return Err(other),
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let mut listed = Vec::new();
    for (member, (document, digest)) in &frozen {
        diesel::update(drafts_table::table.find(&member.id))
            .set((
                drafts_table::status.eq(DraftStatus::ConfirmedInBundle),
                drafts_table::document.eq(Some(drafts::seal_document(keys, document)?)),
                drafts_table::digest.eq(Some(digest.clone())),
                drafts_table::updated_at.eq(now),
            ))
            .execute(conn)?;
        listed.push(serde_json::json!({
            "form_id": member.form_id, "draft_id": member.id, "digest_sha256": digest, "document": document,
        }));
    }
    let (document, digest) = drafts::canonical(&serde_json::json!({
        "type": "nonstop.bundle/v1",
        "bundle_id": row.id,
        "kind": row.kind,
        "family_id": family.id,
        "municipality_code": family.municipality_code,
        "confirmed_at": utc(now).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "forms": listed,
    }))?;
    diesel::update(draft_bundles::table.find(&row.id))
        .set((
            draft_bundles::status.eq(BundleStatus::Confirmed),
            draft_bundles::document.eq(Some(keys.seal(sealed::DRAFT_BUNDLES_DOCUMENT, &document)?)),
            draft_bundles::digest.eq(Some(digest)),
            draft_bundles::updated_at.eq(now),
        ))
        .execute(conn)?;
    get(conn, keys, ctx, &family.id, bundle_id)
}

/// Takes a confirmed bundle back to open, with every form confirmed through it.
pub fn reopen(
    conn: &mut DbConnection,
    keys: &KeyRing,
    ctx: &PlanningContext,
    family: &FamilyRow,
    bundle_id: &str,
    now: NaiveDateTime,
) -> Result<Bundle, Error> {
    let row = find(conn, &family.id, bundle_id)?;
    match BundleStatus::from_stored(&row.status)? {
        BundleStatus::Open => return get(conn, keys, ctx, &family.id, bundle_id),
        BundleStatus::Confirmed => {}
        BundleStatus::Signed => {
            return Err(Error::Conflict { code: "bundle_not_confirmed", message: "the bundle is signed".into() })
        }
    }
    for member in members(conn, &row.id)?.iter().filter(|m| m.status == DraftStatus::ConfirmedInBundle.as_str()) {
        drafts::set_open(conn, &member.id, now)?;
    }
    diesel::update(draft_bundles::table.find(&row.id))
        .set((
            draft_bundles::status.eq(BundleStatus::Open),
            draft_bundles::document.eq(None::<String>),
            draft_bundles::digest.eq(None::<String>),
            draft_bundles::updated_at.eq(now),
        ))
        .execute(conn)?;
    get(conn, keys, ctx, &family.id, bundle_id)
}

/// The stored bundle document and digest.
pub fn document_of(keys: &KeyRing, row: &DraftBundleRow) -> Result<(String, String), Error> {
    match (&row.document, &row.digest) {
        (Some(doc), Some(digest)) => Ok((keys.open(sealed::DRAFT_BUNDLES_DOCUMENT, doc)?, digest.clone())),
        _ => Err(Error::internal("confirmed bundle without its document")),
    }
}

pub fn mark_signed(conn: &mut DbConnection, bundle_id: &str, now: NaiveDateTime) -> Result<(), Error> {
    diesel::update(draft_bundles::table.find(bundle_id))
        .set((draft_bundles::status.eq(BundleStatus::Signed), draft_bundles::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}
