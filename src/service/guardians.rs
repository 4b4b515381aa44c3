//! 保護者: the guardians of a family.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{new_id, patch, utc};
use crate::crypto::KeyRing;
use crate::db::rows::GuardianRow;
use crate::db::schema::guardians;
use crate::db::sealed;
use crate::db::DbConnection;
use crate::domain::enums::Relationship;
use crate::domain::{dates, text};
use crate::error::{Error, FieldCheck, FieldErrors};
use crate::service::UseCase;

/// The most guardians one family record holds.
pub const MAX_PER_FAMILY: i64 = 4;

/// A guardian (保護者) as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Guardian {
    pub id: String,
    pub relationship: Relationship,
    /// 氏名, e.g. `山田 花子`.
    pub full_name: String,
    /// フリガナ, e.g. `ヤマダ ハナコ`.
    pub full_name_kana: Option<String>,
    /// 生年月日.
    pub birth_date: Option<NaiveDate>,
    /// 電話番号, digits only.
    pub phone: Option<String>,
    /// 国籍 (ISO 3166-1 alpha-2), when given.
    pub nationality: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A guardian to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GuardianInput {
    pub relationship: Relationship,
    #[schema(example = "山田 花子", min_length = 1, max_length = 100)]
    pub full_name: String,
    #[schema(example = "ヤマダ ハナコ", min_length = 1, max_length = 100)]
    pub full_name_kana: Option<String>,
    pub birth_date: Option<NaiveDate>,
    #[schema(example = "090-1234-5678", max_length = 24)]
    pub phone: Option<String>,
    /// 国籍, as an ISO 3166-1 alpha-2 code (`JP`, `VN`, …). Optional, and asked for one reason:
    /// a child with a Japanese parent is Japanese (国籍法 第2条), so only when no guardian is
    /// Japanese does the newborn need a status of residence (在留資格取得, 入管法 第22条の2),
    /// and a foreign parent's 出生届 gives 国籍 in place of 本籍.
    #[serde(default)]
    #[schema(example = "JP", pattern = "^[A-Z]{2}$")]
    pub nationality: Option<String>,
}

/// Changes to a guardian; a field left out keeps its value, `null` clears it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GuardianPatch {
    pub relationship: Option<Relationship>,
    #[schema(min_length = 1, max_length = 100)]
    pub full_name: Option<String>,
    #[serde(default, deserialize_with = "patch::nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    pub full_name_kana: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub birth_date: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "patch::nullable")]
    #[schema(value_type = Option<String>, max_length = 24)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::nullable")]
    #[schema(value_type = Option<String>, pattern = "^[A-Z]{2}$")]
    pub nationality: Option<Option<String>>,
}

/// Plain (unsealed) guardian values, validated.
struct Valid {
    relationship: Relationship,
    full_name: String,
    full_name_kana: Option<String>,
    birth_date: Option<NaiveDate>,
    phone: Option<String>,
    nationality: Option<String>,
}

fn validate(input: GuardianInput, today: NaiveDate, prefix: &str) -> Result<Valid, FieldErrors> {
    let mut check = FieldCheck::under(prefix);
    let full_name = check.check("full_name", text::name(&input.full_name));
    let full_name_kana = check.check_opt("full_name_kana", input.full_name_kana, |k| text::kana(&k));
    let birth_date = check.check_opt("birth_date", input.birth_date, |d| dates::guardian_birth_date(d, today));
    let phone = check.check_opt("phone", input.phone, |p| text::phone(&p));
    let nationality = check.check_opt("nationality", input.nationality, |n| text::country(&n));
    let errors = check.into_errors();
    match full_name {
        Some(full_name) if errors.is_empty() => {
            Ok(Valid { relationship: input.relationship, full_name, full_name_kana, birth_date, phone, nationality })
        }
        _ => Err(errors),
    }
}

/// A guardian ready to insert, validated (so a family and its guardians can be checked
/// together before anything is written).
pub struct NewGuardian(Valid);

pub fn prepare(input: GuardianInput, today: NaiveDate, prefix: &str) -> Result<NewGuardian, FieldErrors> {
    validate(input, today, prefix).map(NewGuardian)
}

pub fn insert(
    conn: &mut DbConnection,
    keys: &KeyRing,
    family_id: &str,
    guardian: NewGuardian,
    now: NaiveDateTime,
) -> Result<Guardian, Error> {
    crate::db::caps::lock_family(conn, family_id)?;
    let count: i64 = guardians::table.filter(guardians::family_id.eq(family_id)).count().get_result(conn)?;
    crate::db::caps::within(count, MAX_PER_FAMILY, "too_many_guardians", "guardians per family")?;
    let row = seal(keys, new_id(), family_id, guardian.0, now, now)?;
    diesel::insert_into(guardians::table).values(&row).execute(conn)?;
    view(keys, row)
}

pub fn update(
    conn: &mut DbConnection,
    uc: &UseCase,
    family_id: &str,
    guardian_id: &str,
    change: GuardianPatch,
) -> Result<Guardian, Error> {
    let (keys, today, now) = (&*uc.keys, uc.today, uc.now);
    let row = find(conn, family_id, guardian_id)?;
    let current = view(keys, row.clone())?;
    let mut merged = GuardianInput {
        relationship: change.relationship.unwrap_or(current.relationship),
        full_name: change.full_name.unwrap_or(current.full_name),
        full_name_kana: current.full_name_kana,
        birth_date: current.birth_date,
        phone: current.phone,
        nationality: current.nationality,
    };
    patch::apply(&mut merged.full_name_kana, change.full_name_kana);
    patch::apply(&mut merged.birth_date, change.birth_date);
    patch::apply(&mut merged.phone, change.phone);
    patch::apply(&mut merged.nationality, change.nationality);
    let valid = validate(merged, today, "").map_err(Error::Validation)?;
    let updated = seal(keys, row.id, family_id, valid, row.created_at, now)?;
    diesel::update(guardians::table.find(&updated.id)).set(&updated).execute(conn)?;
    view(keys, updated)
}

pub fn delete(conn: &mut DbConnection, family_id: &str, guardian_id: &str) -> Result<(), Error> {
    let row = find(conn, family_id, guardian_id)?;
    diesel::delete(guardians::table.find(row.id)).execute(conn)?;
    Ok(())
}

pub fn list(conn: &mut DbConnection, keys: &KeyRing, family_id: &str) -> Result<Vec<Guardian>, Error> {
    guardians::table
        .filter(guardians::family_id.eq(family_id))
        .order(guardians::id.asc())
        .select(GuardianRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|row| view(keys, row))
        .collect()
}

/// One guardian of the family, unsealed.
pub fn get(conn: &mut DbConnection, keys: &KeyRing, family_id: &str, guardian_id: &str) -> Result<Guardian, Error> {
    view(keys, find(conn, family_id, guardian_id)?)
}

/// The stored row (its personal fields sealed).
pub fn find(conn: &mut DbConnection, family_id: &str, guardian_id: &str) -> Result<GuardianRow, Error> {
    guardians::table
        .find(guardian_id)
        .filter(guardians::family_id.eq(family_id))
        .select(GuardianRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(Error::NotFound("guardian"))
}

fn seal(
    keys: &KeyRing,
    id: String,
    family_id: &str,
    v: Valid,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
) -> Result<GuardianRow, Error> {
    Ok(GuardianRow {
        id,
        family_id: family_id.to_owned(),
        relationship: v.relationship.as_str().to_owned(),
        full_name: keys.seal(sealed::GUARDIANS_FULL_NAME, &v.full_name)?,
        full_name_kana: keys.seal_opt(sealed::GUARDIANS_FULL_NAME_KANA, v.full_name_kana.as_deref())?,
        phone: keys.seal_opt(sealed::GUARDIANS_PHONE, v.phone.as_deref())?,
        nationality: v.nationality,
        created_at,
        updated_at,
        birth_date_sealed: keys.seal_value(sealed::GUARDIANS_BIRTH_DATE, v.birth_date)?,
    })
}

fn view(keys: &KeyRing, row: GuardianRow) -> Result<Guardian, Error> {
    Ok(Guardian {
        relationship: Relationship::from_stored(&row.relationship)?,
        full_name: keys.open(sealed::GUARDIANS_FULL_NAME, &row.full_name)?,
        full_name_kana: keys.open_opt(sealed::GUARDIANS_FULL_NAME_KANA, row.full_name_kana.as_deref())?,
        birth_date: keys.open_value(sealed::GUARDIANS_BIRTH_DATE, row.birth_date_sealed.as_deref())?,
        phone: keys.open_opt(sealed::GUARDIANS_PHONE, row.phone.as_deref())?,
        nationality: row.nationality,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
        id: row.id,
    })
}
