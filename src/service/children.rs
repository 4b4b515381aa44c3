//! 子: the children of a family, expected (出産予定) or born.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{consents, new_id, patch, utc};
use crate::crypto::KeyRing;
use crate::db::rows::ChildRow;
use crate::db::schema::children;
use crate::db::sealed;
use crate::db::DbConnection;
use crate::domain::enums::{ChildStatus, Legitimacy, Sex};
use crate::domain::{dates, text};
use crate::error::{Error, FieldCheck, FieldErrors};
use crate::service::UseCase;

/// The most children one family record holds.
pub const MAX_PER_FAMILY: i64 = 20;

/// A child as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Child {
    pub id: String,
    pub status: ChildStatus,
    /// 出産予定日, for an expected child (kept after the birth).
    pub due_date: Option<NaiveDate>,
    /// 生年月日, once born.
    pub birth_date: Option<NaiveDate>,
    /// 出生体重 in grams, once born and known.
    pub birth_weight_grams: Option<i32>,
    /// 氏名, once named.
    pub full_name: Option<String>,
    /// フリガナ.
    pub full_name_kana: Option<String>,
    pub sex: Option<Sex>,
    /// What the `birth` event said of the birth itself (time, place, 嫡出 status), for the forms.
    pub birth_details: BirthDetails,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The birth's own facts, which nobody knows before it: given with the `birth` event, kept
/// sealed, and copied into the forms that carry them (出生届, 低体重児届).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BirthDetails {
    /// 生まれた時刻, `HH:MM` (Asia/Tokyo).
    #[schema(example = "09:15", pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub birth_time: Option<String>,
    /// 生まれたところ: the hospital's or home's address.
    #[schema(example = "東京都千代田区千代田2-2-2", min_length = 1, max_length = 200)]
    pub birth_place: Option<String>,
    /// 父母との続き柄 (嫡出子 or not), when the parent chose to give it with the birth.
    pub legitimacy: Option<Legitimacy>,
}

/// A child to add: `expected` with a `due_date`, or `born` with a `birth_date`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChildInput {
    pub status: ChildStatus,
    pub due_date: Option<NaiveDate>,
    pub birth_date: Option<NaiveDate>,
    #[schema(example = 3000, minimum = 200, maximum = 7000)]
    pub birth_weight_grams: Option<i32>,
    #[schema(min_length = 1, max_length = 100)]
    pub full_name: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub full_name_kana: Option<String>,
    pub sex: Option<Sex>,
}

/// Corrections to a child; a field left out keeps its value, `null` clears it. A birth is
/// not a correction: record it as a `birth` event.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChildPatch {
    /// Not patchable: present only to answer with a clear message.
    #[schema(value_type = Option<ChildStatus>)]
    pub status: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "patch::nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub due_date: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "patch::nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub birth_date: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "patch::nullable")]
    #[schema(value_type = Option<i32>, minimum = 200, maximum = 7000)]
    pub birth_weight_grams: Option<Option<i32>>,
    #[serde(default, deserialize_with = "patch::nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    pub full_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    pub full_name_kana: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::nullable")]
    #[schema(value_type = Option<Sex>)]
    pub sex: Option<Option<Sex>>,
}

/// A child ready to insert, validated.
pub struct NewChild(ChildInput);

/// Checks a child's values as a whole (the status decides which dates it needs).
/// `new_due_date` is false when a stored due date is kept as it was: a pregnancy that has
/// run past its due date must not block a name correction.
fn validate(input: ChildInput, today: NaiveDate, prefix: &str, new_due_date: bool) -> Result<ChildInput, FieldErrors> {
    let mut check = FieldCheck::under(prefix);
    let mut valid = ChildInput {
        status: input.status,
        due_date: None,
        birth_date: None,
        birth_weight_grams: None,
        full_name: check.check_opt("full_name", input.full_name, |n| text::name(&n)),
        full_name_kana: check.check_opt("full_name_kana", input.full_name_kana, |k| text::kana(&k)),
        sex: input.sex,
    };
    match input.status {
        ChildStatus::Expected => {
            match input.due_date {
                Some(due) if !new_due_date => valid.due_date = Some(due),
                Some(due) => valid.due_date = check.check("due_date", dates::due_date(due, today)),
                None => check.fail("due_date", "an expected child needs a due date"),
            }
            if input.birth_date.is_some() {
                check.fail("birth_date", "an expected child has no birth date: record a birth event instead");
            }
            if input.birth_weight_grams.is_some() {
                check.fail("birth_weight_grams", "an expected child has no birth weight: record a birth event instead");
            }
        }
        ChildStatus::Born => {
            // The due date of a born child is history and is not re-checked against today.
            valid.due_date = input.due_date;
            match input.birth_date {
                Some(born) => valid.birth_date = check.check("birth_date", dates::child_birth_date(born, today)),
                None => check.fail("birth_date", "a born child needs a birth date"),
            }
            valid.birth_weight_grams =
                check.check_opt("birth_weight_grams", input.birth_weight_grams, dates::birth_weight_grams);
        }
        // History: a lost child's dates are kept as they were (only `prepare` refuses them new).
        ChildStatus::PregnancyEnded | ChildStatus::Died => {
            (valid.due_date, valid.birth_date) = (input.due_date, input.birth_date);
            valid.birth_weight_grams = input.birth_weight_grams;
        }
    }
    let errors = check.into_errors();
    if errors.is_empty() {
        Ok(valid)
    } else {
        Err(errors)
    }
}

pub fn prepare(input: ChildInput, today: NaiveDate, prefix: &str) -> Result<NewChild, FieldErrors> {
    if input.status.withdrawn() {
        let mut check = FieldCheck::under(prefix);
        check
            .fail("status", "a lost pregnancy or a child's death is recorded as a pregnancy_ended or child_died event");
        return Err(check.into_errors());
    }
    validate(input, today, prefix, true).map(NewChild)
}

pub fn insert(
    conn: &mut DbConnection,
    keys: &KeyRing,
    family_id: &str,
    child: NewChild,
    now: NaiveDateTime,
) -> Result<Child, Error> {
    crate::db::caps::lock_family(conn, family_id)?;
    let count: i64 = children::table.filter(children::family_id.eq(family_id)).count().get_result(conn)?;
    crate::db::caps::within(count, MAX_PER_FAMILY, "too_many_children", "children per family")?;
    if child.0.birth_weight_grams.is_some() {
        consents::require_for_health_information(conn, family_id, "birth_weight_grams")?;
    }
    let row = seal(keys, new_id(), family_id, child.0, now, now)?;
    diesel::insert_into(children::table).values(&row).execute(conn)?;
    view(keys, row)
}

pub fn update(
    conn: &mut DbConnection,
    uc: &UseCase,
    family_id: &str,
    child_id: &str,
    change: ChildPatch,
) -> Result<Child, Error> {
    let (keys, today, now) = (&*uc.keys, uc.today, uc.now);
    if change.status.is_some() {
        return Err(Error::field("status", "the status is not edited: record a birth event for the birth"));
    }
    let row = find(conn, family_id, child_id)?;
    let current = view(keys, row.clone())?;
    let mut merged = ChildInput {
        status: current.status,
        due_date: current.due_date,
        birth_date: current.birth_date,
        birth_weight_grams: current.birth_weight_grams,
        full_name: current.full_name,
        full_name_kana: current.full_name_kana,
        sex: current.sex,
    };
    let due_date_changed = change.due_date.is_some();
    patch::apply(&mut merged.due_date, change.due_date);
    patch::apply(&mut merged.birth_date, change.birth_date);
    patch::apply(&mut merged.birth_weight_grams, change.birth_weight_grams);
    patch::apply(&mut merged.full_name, change.full_name);
    patch::apply(&mut merged.full_name_kana, change.full_name_kana);
    patch::apply(&mut merged.sex, change.sex);
    let valid = validate(merged, today, "", due_date_changed).map_err(Error::Validation)?;
    if valid.birth_weight_grams.is_some() {
        consents::require_for_health_information(conn, family_id, "birth_weight_grams")?;
    }
    let mut updated = seal(keys, row.id, family_id, valid, row.created_at, now)?;
    updated.birth_details = row.birth_details;
    diesel::update(children::table.find(&updated.id)).set(&updated).execute(conn)?;
    view(keys, updated)
}

/// What a `birth` event says about the child.
pub struct BirthFacts {
    pub birth_date: NaiveDate,
    pub birth_weight_grams: Option<i32>,
    pub full_name: Option<String>,
    pub full_name_kana: Option<String>,
    pub sex: Option<Sex>,
    pub details: BirthDetails,
}

/// Records a birth on a stored expected child, keeping what the birth does not say.
pub fn mark_born(
    conn: &mut DbConnection,
    keys: &KeyRing,
    row: ChildRow,
    birth: BirthFacts,
    now: NaiveDateTime,
) -> Result<Child, Error> {
    let current = view(keys, row.clone())?;
    let valid = ChildInput {
        status: ChildStatus::Born,
        due_date: current.due_date,
        birth_date: Some(birth.birth_date),
        birth_weight_grams: birth.birth_weight_grams,
        full_name: birth.full_name.or(current.full_name),
        full_name_kana: birth.full_name_kana.or(current.full_name_kana),
        sex: birth.sex.or(current.sex),
    };
    if valid.birth_weight_grams.is_some() {
        consents::require_for_health_information(conn, &row.family_id, "birth_weight_grams")?;
    }
    let mut updated = seal(keys, row.id, &row.family_id, valid, row.created_at, now)?;
    updated.birth_details = keys.seal_facts(sealed::CHILDREN_BIRTH_DETAILS, &birth.details)?;
    diesel::update(children::table.find(&updated.id)).set(&updated).execute(conn)?;
    view(keys, updated)
}

/// Adds a child recorded straight as born (no pregnancy was registered before).
pub fn insert_born(
    conn: &mut DbConnection,
    keys: &KeyRing,
    family_id: &str,
    birth: BirthFacts,
    now: NaiveDateTime,
) -> Result<Child, Error> {
    let input = ChildInput {
        status: ChildStatus::Born,
        due_date: None,
        birth_date: Some(birth.birth_date),
        birth_weight_grams: birth.birth_weight_grams,
        full_name: birth.full_name,
        full_name_kana: birth.full_name_kana,
        sex: birth.sex,
    };
    let child = insert(conn, keys, family_id, NewChild(input), now)?;
    if birth.details == BirthDetails::default() {
        return Ok(child);
    }
    diesel::update(children::table.find(&child.id))
        .set(children::birth_details.eq(keys.seal_facts(sealed::CHILDREN_BIRTH_DETAILS, &birth.details)?))
        .execute(conn)?;
    Ok(Child { birth_details: birth.details, ..child })
}

pub fn delete(conn: &mut DbConnection, family_id: &str, child_id: &str) -> Result<(), Error> {
    let row = find(conn, family_id, child_id)?;
    diesel::delete(children::table.find(row.id)).execute(conn)?;
    Ok(())
}

pub fn list(conn: &mut DbConnection, keys: &KeyRing, family_id: &str) -> Result<Vec<Child>, Error> {
    children::table
        .filter(children::family_id.eq(family_id))
        .order(children::id.asc())
        .select(ChildRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|row| view(keys, row))
        .collect()
}

pub fn find(conn: &mut DbConnection, family_id: &str, child_id: &str) -> Result<ChildRow, Error> {
    children::table
        .find(child_id)
        .filter(children::family_id.eq(family_id))
        .select(ChildRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(Error::NotFound("child"))
}

fn seal(
    keys: &KeyRing,
    id: String,
    family_id: &str,
    v: ChildInput,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
) -> Result<ChildRow, Error> {
    Ok(ChildRow {
        id,
        family_id: family_id.to_owned(),
        status: v.status.as_str().to_owned(),
        due_date: v.due_date,
        birth_date: v.birth_date,
        full_name: keys.seal_opt(sealed::CHILDREN_FULL_NAME, v.full_name.as_deref())?,
        full_name_kana: keys.seal_opt(sealed::CHILDREN_FULL_NAME_KANA, v.full_name_kana.as_deref())?,
        sex: v.sex.map(|s| s.as_str().to_owned()),
        created_at,
        updated_at,
        birth_details: None,
        birth_weight_sealed: keys.seal_value(sealed::CHILDREN_BIRTH_WEIGHT, v.birth_weight_grams)?,
    })
}

pub fn view(keys: &KeyRing, row: ChildRow) -> Result<Child, Error> {
    Ok(Child {
        status: ChildStatus::from_stored(&row.status)?,
        due_date: row.due_date,
        birth_date: row.birth_date,
        birth_weight_grams: keys.open_value(sealed::CHILDREN_BIRTH_WEIGHT, row.birth_weight_sealed.as_deref())?,
        full_name: keys.open_opt(sealed::CHILDREN_FULL_NAME, row.full_name.as_deref())?,
        full_name_kana: keys.open_opt(sealed::CHILDREN_FULL_NAME_KANA, row.full_name_kana.as_deref())?,
        sex: row.sex.as_deref().map(Sex::from_stored).transpose()?,
        birth_details: keys.open_facts(sealed::CHILDREN_BIRTH_DETAILS, row.birth_details.as_deref())?,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
        id: row.id,
    })
}
