//! The parent's corrections: values checked against each field's type, applied to one draft or
//! (through the bundle) to several, and what is still missing before confirming.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde_json::Value;

use super::prefill::{prefill, FamilyProfile};
use super::{find, form_of, open_content, seal_content, view, Content, Draft, DraftPatch, DraftStatus, Entry, Origin};
use crate::crypto::KeyRing;
use crate::db::rows::{DraftRow, FamilyRow};
use crate::db::schema::drafts;
use crate::db::DbConnection;
use crate::domain::forms::{Form, Source};
use crate::error::{Error, FieldErrors};
use crate::service::UseCase;

/// Form fields that hold health information (要配慮個人情報), stored only under the consent: the
/// birth weight and weeks of gestation, and the 妊娠届's 妊娠週数 and 健診 items (母子保健法施行規則
/// 第3条: 性病・結核に関する健康診断の有無).
const HEALTH_FIELDS: [&str; 5] =
    ["child.birth_weight_grams", "child.gestation_weeks", "gestation_weeks", "std_screening", "tb_screening"];

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
pub fn apply_to(
    conn: &mut DbConnection,
    uc: &UseCase,
    family: &FamilyRow,
    drafts: &[DraftRow],
    values: &BTreeMap<String, Option<Value>>,
) -> Result<(), Error> {
    let (keys, ctx, today, now) = (&*uc.keys, &*uc.planning, uc.today, uc.now);
    // A parent typing the birth weight into a form stores health information like any other way.
    let typed_health = values.iter().find(|(id, v)| v.is_some() && HEALTH_FIELDS.contains(&id.as_str()));
    if let Some((id, _)) = typed_health {
        crate::service::consents::require_for_health_information(conn, &family.id, &format!("values.{id}"))?;
    }
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

pub(super) fn save_content(
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
pub fn patch(
    conn: &mut DbConnection,
    uc: &UseCase,
    family: &FamilyRow,
    draft_id: &str,
    patch: DraftPatch,
) -> Result<Draft, Error> {
    let (keys, ctx) = (&*uc.keys, &*uc.planning);
    let row = find(conn, &family.id, draft_id)?;
    require_open(&row)?;
    let form = form_of(ctx, &row.form_id)?;
    let values = check_values(form, &patch.values, "values.")?;
    let bundle = row.bundle_id.clone();
    let mut targets = vec![row];
    if let Some(bundle) = bundle {
        targets.extend(crate::service::bundles::open_members(conn, &bundle)?.into_iter().filter(|d| d.id != draft_id));
    }
    apply_to(conn, uc, family, &targets, &values)?;
    if patch.save_to_profile {
        super::save_to_profile(conn, uc, family, targets[0].child_id.as_deref(), |_| Some(form), &values)?;
    }
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
