//! 申請書の下書き: a form pre-filled from the family profile, which the parent checks,
//! corrects, confirms (frozen into an RFC 8785 canonical document) and signs.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{new_id, utc};
use crate::crypto::KeyRing;
use crate::db::rows::DraftRow;
use crate::db::schema::drafts;
use crate::db::sealed;
use crate::db::DbConnection;
use crate::domain::catalog::Names;
use crate::domain::forms::{FieldType, Form, Source};
use crate::domain::planner::PlanningContext;
use crate::error::Error;
use crate::text_enum;

mod document;
mod edit;
mod prefill;
mod sync;
mod to_profile;

pub use document::{canonical, confirm, document_of, document_value, freeze, reopen, seal_document, set_open};
pub use edit::{apply, apply_to, check_values, missing_fields, patch, require_open};
pub use prefill::{prefill, FamilyProfile};
pub use sync::{families_with_opened_windows, sync};
pub use to_profile::save as save_to_profile;

text_enum! {
    /// Where a draft stands.
    pub enum DraftStatus {
        /// Being checked and corrected by the parent.
        Open => "open",
        /// Frozen into its canonical document, waiting for the signature.
        Confirmed => "confirmed",
        /// Confirmed as part of the birth bundle: signed through the bundle.
        ConfirmedInBundle => "confirmed_in_bundle",
        /// Signed: it became a submission.
        Signed => "signed",
        /// Its task no longer applies, or was done another way.
        Withdrawn => "withdrawn",
    }
}

text_enum! {
    /// Where a field's current value came from.
    pub enum Origin {
        /// Copied from the family profile (kept in step with it until the parent types over it).
        Profile => "profile",
        /// Copied from what the `birth` event said (time and place of birth, 嫡出 status); kept in
        /// step like a profile value.
        Event => "event",
        /// Typed by the parent: never overwritten by a profile change.
        Parent => "parent",
        /// Set by nonstop (the filing date).
        System => "system",
        /// A suggested value.
        Default => "default",
        /// A value the form fixes.
        Fixed => "fixed",
    }
}

text_enum! {
    /// What the parent still has to do with a field.
    pub enum FieldNeed {
        /// Required and empty.
        Fill => "fill",
        /// Filled by nonstop from a derived or suggested value: please check.
        Check => "check",
        /// The municipality asked for a correction here.
        Fix => "fix",
        /// Left for the municipality to obtain (個人番号).
        Municipality => "municipality",
    }
}

impl Origin {
    /// A profile value's origin: the birth's own facts came with the `birth` event.
    pub fn of_profile_path(path: &str) -> Self {
        if path.starts_with("birth.") {
            Self::Event
        } else {
            Self::Profile
        }
    }
}

/// A value and where it came from (stored sealed, as the draft's content).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    pub value: Value,
    pub origin: Origin,
}

/// The sealed content of a draft.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Content {
    pub values: BTreeMap<String, Entry>,
    /// The municipality's comment per field, on a draft reopened by a correction request.
    #[serde(default)]
    pub comments: BTreeMap<String, String>,
    /// For a value the parent typed, what the profile now says when it says something else:
    /// the parent's value stays, and the difference is shown rather than hidden.
    #[serde(default)]
    pub profile_values: BTreeMap<String, Value>,
}

impl Content {
    pub fn plain_values(&self) -> BTreeMap<String, Value> {
        self.values.iter().map(|(k, e)| (k.clone(), e.value.clone())).collect()
    }
}

/// One field as the parent sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DraftField {
    pub id: String,
    pub label: Names,
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// The choices of an `enum` field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    pub required: bool,
    #[schema(value_type = Value)]
    pub value: Option<Value>,
    pub origin: Option<Origin>,
    /// Where nonstop takes the value from: a profile path (`applicant.full_name`), `parent`,
    /// `system.today`, `default`, `fixed` or `municipality`.
    pub source: String,
    /// Whether the parent may change it.
    pub editable: bool,
    pub needs: Option<FieldNeed>,
    /// The municipality's comment, after a correction request (補正依頼).
    pub comment: Option<String>,
    /// When the parent typed this value and the profile now holds another: the profile's
    /// value, for the parent to compare (nonstop never overwrites what the parent typed).
    #[schema(value_type = Value)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_value: Option<Value>,
}

/// The frozen document the parent signs.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfirmedDocument {
    /// The RFC 8785 canonical JSON text; sign its UTF-8 bytes exactly.
    pub document: String,
    /// SHA-256 of those bytes, lower-case hex.
    pub digest_sha256: String,
}

/// A draft application.
#[derive(Debug, Serialize, ToSchema)]
pub struct Draft {
    pub id: String,
    pub form_id: String,
    pub form_version: i32,
    pub form_name: Names,
    pub legal_basis: String,
    pub status: DraftStatus,
    pub task_id: Option<String>,
    pub child_id: Option<String>,
    /// The birth bundle (一括申請) this draft belongs to.
    pub bundle_id: Option<String>,
    /// The submission this draft corrects, after a correction request.
    pub corrects_submission_id: Option<String>,
    pub fields: Vec<DraftField>,
    /// Required fields still empty.
    pub to_fill: Vec<String>,
    /// Fields to check (derived or suggested values) or to fix (commented by the municipality).
    pub to_check: Vec<String>,
    /// Present once confirmed.
    pub confirmed: Option<ConfirmedDocument>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Corrections to a draft: each field's new value, or `null` to go back to the pre-filled one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftPatch {
    #[schema(value_type = BTreeMap<String, serde_json::Value>, example = json!({"payment.use_public_account": false, "payment.account_number": "1234567"}))]
    pub values: BTreeMap<String, Option<Value>>,
    /// Also save each value the family profile holds (a phone, the address, 本籍, the child's
    /// name, …) to the profile, so that every other form uses it. Only when the parent chose to:
    /// without it, a correction stays on this form.
    #[serde(default)]
    pub save_to_profile: bool,
}

pub fn form_of<'c>(ctx: &'c PlanningContext, form_id: &str) -> Result<&'c Form, Error> {
    ctx.forms.get(form_id).ok_or_else(|| Error::internal(format!("draft of unknown form '{form_id}'")))
}

pub fn open_content(keys: &KeyRing, row: &DraftRow) -> Result<Content, Error> {
    serde_json::from_str(&keys.open(sealed::DRAFTS_CONTENT, &row.content)?)
        .map_err(|e| Error::unreadable(sealed::DRAFTS_CONTENT, &e))
}

pub fn seal_content(keys: &KeyRing, content: &Content) -> Result<String, Error> {
    keys.seal(sealed::DRAFTS_CONTENT, &serde_json::to_string(content).map_err(|e| Error::internal(e.to_string()))?)
}

pub fn view(ctx: &PlanningContext, keys: &KeyRing, row: DraftRow) -> Result<Draft, Error> {
    let form = form_of(ctx, &row.form_id)?;
    let content = open_content(keys, &row)?;
    let values = content.plain_values();
    let mut fields = Vec::with_capacity(form.fields.len());
    for def in &form.fields {
        let entry = content.values.get(&def.id);
        let required = form.is_required(&def.id, &values);
        let comment = content.comments.get(&def.id).cloned();
        let needs = if def.source == Source::Municipality {
            Some(FieldNeed::Municipality)
        } else if comment.is_some() {
            Some(FieldNeed::Fix)
        } else if entry.is_none() && required {
            Some(FieldNeed::Fill)
        } else if entry.is_some_and(|e| e.origin != Origin::Parent && (def.check || e.origin == Origin::Default))
            || content.profile_values.contains_key(&def.id)
        {
            Some(FieldNeed::Check)
        } else {
            None
        };
        fields.push(DraftField {
            id: def.id.clone(),
            label: def.label.clone(),
            kind: def.kind,
            options: def.options.clone(),
            required,
            value: entry.map(|e| e.value.clone()),
            origin: entry.map(|e| e.origin),
            source: def.source.describe(),
            editable: def.source.editable(),
            needs,
            comment,
            profile_value: content.profile_values.get(&def.id).cloned(),
        });
    }
    let to_fill = fields.iter().filter(|f| f.needs == Some(FieldNeed::Fill)).map(|f| f.id.clone()).collect();
    let to_check = fields
        .iter()
        .filter(|f| matches!(f.needs, Some(FieldNeed::Check | FieldNeed::Fix)))
        .map(|f| f.id.clone())
        .collect();
    let confirmed = match (&row.document, &row.digest) {
        (Some(doc), Some(digest)) => Some(ConfirmedDocument {
            document: keys.open(sealed::DRAFTS_DOCUMENT, doc)?,
            digest_sha256: digest.clone(),
        }),
        _ => None,
    };
    Ok(Draft {
        form_name: form.name.clone(),
        legal_basis: form.legal_basis.clone(),
        status: DraftStatus::from_stored(&row.status)?,
        fields,
        to_fill,
        to_check,
        confirmed,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
        form_id: row.form_id,
        form_version: row.form_version,
        task_id: row.task_id,
        child_id: row.child_id,
        bundle_id: row.bundle_id,
        corrects_submission_id: row.corrects_submission_id,
        id: row.id,
    })
}

pub struct NewDraft<'a> {
    pub family_id: &'a str,
    pub key: String,
    pub form: &'a Form,
    pub task_id: Option<&'a str>,
    pub child_id: Option<&'a str>,
    pub bundle_id: Option<String>,
    pub corrects: Option<&'a str>,
    pub content: &'a Content,
}

pub fn insert(conn: &mut DbConnection, keys: &KeyRing, new: NewDraft<'_>, now: NaiveDateTime) -> Result<String, Error> {
    let id = new_id();
    let row = DraftRow {
        id: id.clone(),
        family_id: new.family_id.to_owned(),
        draft_key: new.key,
        form_id: new.form.id.clone(),
        form_version: i32::try_from(new.form.version).unwrap_or(i32::MAX),
        task_id: new.task_id.map(str::to_owned),
        child_id: new.child_id.map(str::to_owned),
        bundle_id: new.bundle_id,
        status: DraftStatus::Open.as_str().to_owned(),
        content: seal_content(keys, new.content)?,
        corrects_submission_id: new.corrects.map(str::to_owned),
        document: None,
        digest: None,
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(drafts::table).values(&row).execute(conn)?;
    let opened = crate::service::app_events::Subject::Draft { draft_id: id.clone(), form_id: row.form_id.clone() };
    crate::service::app_events::record(conn, &[(new.family_id, opened)], now)?;
    Ok(id)
}

pub fn find(conn: &mut DbConnection, family_id: &str, draft_id: &str) -> Result<DraftRow, Error> {
    drafts::table
        .find(draft_id)
        .filter(drafts::family_id.eq(family_id))
        .select(DraftRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(Error::NotFound("draft"))
}

/// The family's drafts, newest first; withdrawn ones only when asked.
pub fn list(
    conn: &mut DbConnection,
    keys: &KeyRing,
    ctx: &PlanningContext,
    family_id: &str,
) -> Result<Vec<Draft>, Error> {
    drafts::table
        .filter(drafts::family_id.eq(family_id))
        .filter(drafts::status.ne(DraftStatus::Withdrawn))
        .order(drafts::id.desc())
        .select(DraftRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|row| view(ctx, keys, row))
        .collect()
}
