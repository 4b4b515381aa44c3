//! 申請書の下書き: a form pre-filled from the family profile, which the parent checks,
//! corrects, confirms (frozen into an RFC 8785 canonical document) and signs.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::planning::TaskStatus;
use super::{children, guardians, new_id, profile, utc};
use crate::crypto::{sha256_hex, KeyRing};
use crate::db::rows::{DraftRow, FamilyRow, TaskRow};
use crate::db::schema::{drafts, tasks};
use crate::db::DbConnection;
use crate::domain::canonical_json;
use crate::domain::catalog::Names;
use crate::domain::enums::HealthInsurance;
use crate::domain::forms::{FieldType, Form, Source, BIRTH_BUNDLE};
use crate::domain::planner::PlanningContext;
use crate::error::{Error, FieldErrors};
use crate::text_enum;

const CONTENT: &str = "drafts.content";
const DOCUMENT: &str = "drafts.document";

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
    #[schema(value_type = Object)]
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
    #[schema(value_type = Object)]
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
    #[schema(value_type = Object, example = json!({"payment.use_public_account": false, "payment.account_number": "1234567"}))]
    pub values: BTreeMap<String, Option<Value>>,
}

pub fn form_of<'c>(ctx: &'c PlanningContext, form_id: &str) -> Result<&'c Form, Error> {
    ctx.forms.get(form_id).ok_or_else(|| Error::internal(format!("draft of unknown form '{form_id}'")))
}

pub fn open_content(keys: &KeyRing, row: &DraftRow) -> Result<Content, Error> {
    serde_json::from_str(&keys.open(CONTENT, &row.content)?).map_err(|e| Error::unreadable(CONTENT, &e))
}

pub fn seal_content(keys: &KeyRing, content: &Content) -> Result<String, Error> {
    keys.seal(CONTENT, &serde_json::to_string(content).map_err(|e| Error::internal(e.to_string()))?)
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
        (Some(doc), Some(digest)) => {
            Some(ConfirmedDocument { document: keys.open(DOCUMENT, doc)?, digest_sha256: digest.clone() })
        }
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

/// Fills every field nonstop fills from `profile`, leaving what the parent typed alone.
/// Returns whether anything changed.
pub fn prefill(form: &Form, profile: &BTreeMap<&'static str, Value>, content: &mut Content, today: NaiveDate) -> bool {
    let mut changed = false;
    for def in &form.fields {
        if let Some(typed) = content.values.get(&def.id).filter(|e| e.origin == Origin::Parent) {
            let differs = match &def.source {
                Source::Profile(path) => {
                    profile.get(path.as_str()).and_then(|v| def.parse(v).ok()).filter(|v| *v != typed.value)
                }
                _ => None,
            };
            let before = content.profile_values.get(&def.id).cloned();
            if before != differs {
                changed = true;
                match differs {
                    Some(v) => content.profile_values.insert(def.id.clone(), v),
                    None => content.profile_values.remove(&def.id),
                };
            }
            continue;
        }
        if content.profile_values.remove(&def.id).is_some() {
            changed = true;
        }
        let fresh = match &def.source {
            Source::Profile(path) => profile
                .get(path.as_str())
                .and_then(|v| def.parse(v).ok())
                .map(|value| Entry { value, origin: Origin::Profile }),
            Source::Today => Some(Entry { value: Value::from(today.to_string()), origin: Origin::System }),
            Source::Default => def.value.clone().map(|value| Entry { value, origin: Origin::Default }),
            Source::Fixed => def.value.clone().map(|value| Entry { value, origin: Origin::Fixed }),
            Source::Parent | Source::Municipality => None,
        };
        let current = content.values.get(&def.id).map(|e| (&e.value, e.origin));
        if current != fresh.as_ref().map(|e| (&e.value, e.origin)) {
            changed = true;
            match fresh {
                Some(entry) => content.values.insert(def.id.clone(), entry),
                None => content.values.remove(&def.id),
            };
        }
    }
    changed
}

/// The family as the forms read it, loaded (and opened) once for all its drafts.
pub struct FamilyProfile {
    guardians: Vec<super::guardians::Guardian>,
    children: Vec<super::children::Child>,
    address: Option<String>,
    postal_code: Option<String>,
    insurance: Option<HealthInsurance>,
    municipality_name: String,
}

impl FamilyProfile {
    pub fn load(
        conn: &mut DbConnection,
        keys: &KeyRing,
        ctx: &PlanningContext,
        family: &FamilyRow,
    ) -> Result<Self, Error> {
        Ok(Self {
            guardians: guardians::list(conn, keys, &family.id)?,
            children: children::list(conn, keys, &family.id)?,
            address: keys.open_opt("families.address", family.address.as_deref())?,
            postal_code: family.postal_code.clone(),
            insurance: family.health_insurance.as_deref().map(HealthInsurance::from_stored).transpose()?,
            municipality_name: super::municipalities::display_name(conn, ctx, &family.municipality_code)?,
        })
    }

    /// The profile values for a draft about `child_id`.
    pub fn values(&self, child_id: Option<&str>) -> BTreeMap<&'static str, Value> {
        profile::values(&profile::ProfileInput {
            guardians: &self.guardians,
            child: child_id.and_then(|id| self.children.iter().find(|c| c.id == id)),
            address: self.address.as_deref(),
            postal_code: self.postal_code.as_deref(),
            health_insurance: self.insurance,
            municipality_name: &self.municipality_name,
        })
    }
}

/// Keeps the family's drafts in step with its tasks and profile: a draft for each task whose
/// window has opened and whose procedure has a form; open drafts re-filled from the profile
/// (what the parent typed stays); drafts of tasks that no longer apply withdrawn.
pub fn sync(
    conn: &mut DbConnection,
    keys: &KeyRing,
    ctx: &PlanningContext,
    family: &FamilyRow,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let form_ids: Vec<&str> = ctx.forms.ids().collect();
    let open_tasks: Vec<TaskRow> = tasks::table
        .filter(tasks::family_id.eq(&family.id))
        .filter(tasks::status.eq(TaskStatus::Planned.as_str()))
        .filter(tasks::opens_on.le(today))
        .filter(tasks::procedure_id.eq_any(&form_ids))
        .filter(tasks::municipality_code.eq(&family.municipality_code))
        .select(TaskRow::as_select())
        .load(conn)?;
    let existing: Vec<DraftRow> =
        drafts::table.filter(drafts::family_id.eq(&family.id)).select(DraftRow::as_select()).load(conn)?;
    // Withdraw open drafts whose task is no longer open (cancelled after a move, dismissed, or
    // marked done by the parent who filed on paper). Correction drafts stay.
    for draft in existing.iter().filter(|d| d.status == DraftStatus::Open.as_str() && d.draft_key.starts_with("task:"))
    {
        if !open_tasks.iter().any(|t| Some(&t.id) == draft.task_id.as_ref()) {
            diesel::update(drafts::table.find(&draft.id))
                .set((drafts::status.eq(DraftStatus::Withdrawn.as_str()), drafts::updated_at.eq(now)))
                .execute(conn)?;
        }
    }
    let missing: Vec<&TaskRow> =
        open_tasks.iter().filter(|t| !existing.iter().any(|d| d.draft_key == format!("task:{}", t.id))).collect();
    let refresh: Vec<&DraftRow> = existing.iter().filter(|d| d.status == DraftStatus::Open.as_str()).collect();
    if missing.is_empty() && refresh.is_empty() {
        return Ok(());
    }
    let profile = FamilyProfile::load(conn, keys, ctx, family)?;
    for task in missing {
        let form = form_of(ctx, &task.procedure_id)?;
        let values = profile.values(task.child_id.as_deref());
        let mut content = Content::default();
        prefill(form, &values, &mut content, today);
        let bundle_id = match (&task.child_id, BIRTH_BUNDLE.contains(&form.id.as_str())) {
            (Some(child), true) => Some(super::bundles::ensure_birth_bundle(conn, &family.id, child, now)?),
            _ => None,
        };
        insert(
            conn,
            keys,
            NewDraft {
                family_id: &family.id,
                key: format!("task:{}", task.id),
                form,
                task_id: Some(&task.id),
                child_id: task.child_id.as_deref(),
                bundle_id,
                corrects: None,
                content: &content,
            },
            now,
        )?;
    }
    for draft in refresh {
        let form = form_of(ctx, &draft.form_id)?;
        let values = profile.values(draft.child_id.as_deref());
        let mut content = open_content(keys, draft)?;
        if prefill(form, &values, &mut content, today) {
            save_content(conn, keys, &draft.id, &content, now)?;
        }
    }
    Ok(())
}

/// Families with a task whose window opened in the last `days` days and whose procedure has
/// a form: the daily job gives them their drafts (a window opens by the calendar too, not
/// only at a family write).
pub fn families_with_opened_windows(
    conn: &mut DbConnection,
    ctx: &PlanningContext,
    today: NaiveDate,
    days: i64,
) -> Result<Vec<String>, Error> {
    let form_ids: Vec<&str> = ctx.forms.ids().collect();
    Ok(tasks::table
        .filter(tasks::status.eq(TaskStatus::Planned.as_str()))
        .filter(tasks::opens_on.le(today))
        .filter(tasks::opens_on.gt(today - chrono::Duration::days(days)))
        .filter(tasks::procedure_id.eq_any(&form_ids))
        .select(tasks::family_id)
        .distinct()
        .load(conn)?)
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
        .filter(drafts::status.ne(DraftStatus::Withdrawn.as_str()))
        .order(drafts::id.desc())
        .select(DraftRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|row| view(ctx, keys, row))
        .collect()
}

/// Checks each corrected value against its field; all problems at once, nothing stored.
pub fn check_values(
    form: &Form,
    patch: &BTreeMap<String, Option<Value>>,
    prefix: &str,
) -> Result<BTreeMap<String, Option<Value>>, Error> {
    let mut errors = FieldErrors::new();
    let mut parsed = BTreeMap::new();
    for (id, value) in patch {
        let path = format!("{prefix}{id}");
        let Some(def) = form.field(id) else {
            errors.insert(path, "no such field on this form".into());
            continue;
        };
        if !def.source.editable() {
            let why = match def.source {
                Source::Municipality => "the municipality obtains this value itself; nonstop never holds it",
                _ => "nonstop fills this value; it cannot be changed",
            };
            errors.insert(path, why.into());
            continue;
        }
        match value {
            None | Some(Value::Null) => {
                parsed.insert(id.clone(), None);
            }
            Some(v) => match def.parse(v) {
                Ok(v) => {
                    parsed.insert(id.clone(), Some(v));
                }
                Err(problem) => {
                    errors.insert(path, problem);
                }
            },
        }
    }
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(Error::Validation(errors))
    }
}

/// Applies checked values: typed values become the parent's; `None` goes back to pre-filled.
/// A field with a correction comment counts as fixed once the parent changes it.
pub fn apply(
    form: &Form,
    content: &mut Content,
    values: &BTreeMap<String, Option<Value>>,
    profile: &BTreeMap<&'static str, Value>,
    today: NaiveDate,
) {
    for (id, value) in values {
        if form.field(id).is_none() {
            continue;
        }
        match value {
            Some(v) => {
                content.values.insert(id.clone(), Entry { value: v.clone(), origin: Origin::Parent });
            }
            None => {
                content.values.remove(id);
            }
        }
        content.comments.remove(id);
    }
    prefill(form, profile, content, today);
}

/// Applies checked values to each of `drafts` that carries one of the fields, and saves it.
#[allow(clippy::too_many_arguments)]
pub fn apply_to(
    conn: &mut DbConnection,
    keys: &KeyRing,
    ctx: &PlanningContext,
    family: &FamilyRow,
    drafts: &[DraftRow],
    values: &BTreeMap<String, Option<Value>>,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let profile = FamilyProfile::load(conn, keys, ctx, family)?;
    for draft in drafts {
        let form = form_of(ctx, &draft.form_id)?;
        if !values.keys().any(|id| form.field(id).is_some()) {
            continue;
        }
        let mut content = open_content(keys, draft)?;
        apply(form, &mut content, values, &profile.values(draft.child_id.as_deref()), today);
        save_content(conn, keys, &draft.id, &content, now)?;
    }
    Ok(())
}

fn save_content(
    conn: &mut DbConnection,
    keys: &KeyRing,
    draft_id: &str,
    content: &Content,
    now: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(drafts::table.find(draft_id))
        .set((drafts::content.eq(seal_content(keys, content)?), drafts::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

/// Corrects fields of an open draft. In the birth bundle, a shared field changes in every
/// open draft of the bundle that has it.
#[allow(clippy::too_many_arguments)]
pub fn patch(
    conn: &mut DbConnection,
    keys: &KeyRing,
    ctx: &PlanningContext,
    family: &FamilyRow,
    draft_id: &str,
    patch: DraftPatch,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<Draft, Error> {
    let row = find(conn, &family.id, draft_id)?;
    require_open(&row)?;
    let form = form_of(ctx, &row.form_id)?;
    let values = check_values(form, &patch.values, "values.")?;
    let bundle = row.bundle_id.clone();
    let mut targets = vec![row];
    if let Some(bundle) = bundle {
        targets.extend(super::bundles::open_members(conn, &bundle)?.into_iter().filter(|d| d.id != draft_id));
    }
    apply_to(conn, keys, ctx, family, &targets, &values, today, now)?;
    view(ctx, keys, find(conn, &family.id, draft_id)?)
}

pub fn require_open(row: &DraftRow) -> Result<(), Error> {
    if row.status == DraftStatus::Open.as_str() {
        Ok(())
    } else {
        Err(Error::Conflict {
            code: "draft_not_open",
            message: format!("the draft is {}; only an open draft changes", row.status),
        })
    }
}

/// The required fields still empty, named as `<prefix><field>`.
pub fn missing_fields(form: &Form, content: &Content, prefix: &str) -> FieldErrors {
    let values = content.plain_values();
    form.fields
        .iter()
        .filter(|f| form.is_required(&f.id, &values) && !content.values.contains_key(&f.id))
        .map(|f| (format!("{prefix}{}", f.id), "required before confirming".to_owned()))
        .collect()
}

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
pub fn confirm(
    conn: &mut DbConnection,
    keys: &KeyRing,
    ctx: &PlanningContext,
    family: &FamilyRow,
    draft_id: &str,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<Draft, Error> {
    let row = find(conn, &family.id, draft_id)?;
    if row.status == DraftStatus::Confirmed.as_str() {
        return view(ctx, keys, row);
    }
    require_open(&row)?;
    let profile = FamilyProfile::load(conn, keys, ctx, family)?;
    let (document, digest) = freeze(conn, keys, ctx, family, &profile, &row, today, now)?;
    diesel::update(drafts::table.find(&row.id))
        .set((
            drafts::status.eq(DraftStatus::Confirmed.as_str()),
            drafts::document.eq(Some(keys.seal(DOCUMENT, &document)?)),
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
            drafts::status.eq(DraftStatus::Open.as_str()),
            drafts::document.eq(None::<String>),
            drafts::digest.eq(None::<String>),
            drafts::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// The canonical document of an open draft, refreshed from the profile; refused naming every
/// required field still empty.
#[allow(clippy::too_many_arguments)]
pub fn freeze(
    conn: &mut DbConnection,
    keys: &KeyRing,
    ctx: &PlanningContext,
    family: &FamilyRow,
    profile: &FamilyProfile,
    row: &DraftRow,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<(String, String), Error> {
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
        (Some(doc), Some(digest)) => Ok((keys.open(DOCUMENT, doc)?, digest.clone())),
        _ => Err(Error::internal("confirmed draft without its document")),
    }
}

pub fn seal_document(keys: &KeyRing, document: &str) -> Result<String, Error> {
    keys.seal(DOCUMENT, document)
}
