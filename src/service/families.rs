//! 世帯: a family, the unit nonstop plans for. Owned by exactly one vendor app.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::audit::{self, Actor, AuditAction, Event};
use super::children::{self, Child, ChildInput};
use super::devices::{self, Device};
use super::guardians::{self, Guardian, GuardianInput};
use super::paperwork::{Paperwork, PaperworkPatch};
use super::{new_id, patch, utc};
use crate::crypto::KeyRing;
use crate::db::rows::FamilyRow;
use crate::db::schema::families;
use crate::db::sealed;
use crate::db::DbConnection;
use crate::domain::catalog::Circumstance;
use crate::domain::enums::HealthInsurance;
use crate::domain::{text, LanguageTag, MunicipalityCode, PostalCode, QuietHours};
use crate::error::{Error, FieldCheck, FieldErrors};

/// A family with everything nonstop holds about it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Family {
    pub id: String,
    /// 住所地の全国地方公共団体コード: where the family is resident (住民票).
    pub municipality_code: MunicipalityCode,
    pub postal_code: Option<PostalCode>,
    /// 住所 below the municipality (町名・番地・建物).
    pub address: Option<String>,
    /// The language notifications are written in (BCP 47); Japanese where a text lacks it.
    pub preferred_language: LanguageTag,
    /// おやすみ時間: no push is sent in this span (Asia/Tokyo).
    pub quiet_hours: QuietHours,
    pub health_insurance: Option<HealthInsurance>,
    /// ひとり親世帯.
    pub single_parent: bool,
    /// Household circumstances some procedures depend on (児童扶養手当を受給, …).
    pub circumstances: Vec<Circumstance>,
    /// Facts the forms ask, given once and reused by every form that carries them.
    pub paperwork: Paperwork,
    pub guardians: Vec<Guardian>,
    pub children: Vec<Child>,
    pub devices: Vec<Device>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A family to register, optionally with its guardians and children.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FamilyInput {
    pub municipality_code: MunicipalityCode,
    pub postal_code: Option<PostalCode>,
    #[schema(example = "千代田1-1-1", min_length = 1, max_length = 200)]
    pub address: Option<String>,
    #[serde(default)]
    pub preferred_language: LanguageTag,
    #[serde(default)]
    pub quiet_hours: QuietHours,
    pub health_insurance: Option<HealthInsurance>,
    #[serde(default)]
    pub single_parent: bool,
    #[serde(default)]
    #[schema(max_items = 10)]
    pub circumstances: Vec<Circumstance>,
    /// Facts the forms ask (本籍, 世帯のおもな仕事, …), best given during the pregnancy.
    #[serde(default)]
    pub paperwork: Paperwork,
    #[serde(default)]
    #[schema(max_items = 4)]
    pub guardians: Vec<GuardianInput>,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub children: Vec<ChildInput>,
    /// Consents the parent gave in the app before the family was registered, recorded first
    /// (with nonstop's wording, in the family's language) so that what they allow can come in
    /// the same request: `health_information` lets children carry `birth_weight_grams`.
    #[serde(default)]
    #[schema(max_items = 2)]
    pub consents: Vec<crate::domain::enums::ConsentPurpose>,
}

/// Corrections to a family; a field left out keeps its value, `null` clears it. A move to
/// another municipality is recorded as a `moved` event, not edited here.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FamilyPatch {
    /// Not patchable: present only to answer with a clear message.
    #[schema(value_type = Option<String>)]
    pub municipality_code: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "patch::nullable")]
    #[schema(value_type = Option<PostalCode>)]
    pub postal_code: Option<Option<PostalCode>>,
    #[serde(default, deserialize_with = "patch::nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub address: Option<Option<String>>,
    pub preferred_language: Option<LanguageTag>,
    pub quiet_hours: Option<QuietHours>,
    #[serde(default, deserialize_with = "patch::nullable")]
    #[schema(value_type = Option<HealthInsurance>)]
    pub health_insurance: Option<Option<HealthInsurance>>,
    pub single_parent: Option<bool>,
    /// Replaces the whole list.
    #[schema(max_items = 10)]
    pub circumstances: Option<Vec<Circumstance>>,
    /// Corrections to the paperwork facts, field by field.
    pub paperwork: Option<PaperworkPatch>,
}

/// One page of a vendor's families, oldest first (by id).
#[derive(Debug, Serialize, ToSchema)]
pub struct FamilyPage {
    pub items: Vec<Family>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// Deprecated: the same as `next_cursor`, for clients that page with `after`.
    pub next_after: Option<String>,
}

/// Registers a family with its guardians and children; every field of every part is checked
/// before anything is written.
pub fn create(
    conn: &mut DbConnection,
    keys: &KeyRing,
    app_id: &str,
    input: FamilyInput,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<Family, Error> {
    create_naming_all(conn, keys, app_id, input, FieldErrors::new(), today, now)
}

/// [`create`] for a body in which reading it already found `problems` (a check digit, see
/// `api::extract::JsonWithRuleProblems`): they are refused together with every other problem.
pub fn create_naming_all(
    conn: &mut DbConnection,
    keys: &KeyRing,
    app_id: &str,
    input: FamilyInput,
    problems: FieldErrors,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<Family, Error> {
    let mut check = FieldCheck::default();
    check.merge(problems);
    let address = check.check_opt("address", input.address, |a| text::address(&a));
    if input.guardians.len() as i64 > guardians::MAX_PER_FAMILY {
        check.fail("guardians", format!("a family holds at most {} guardians", guardians::MAX_PER_FAMILY));
    }
    if input.children.len() as i64 > children::MAX_PER_FAMILY {
        check.fail("children", format!("a family holds at most {} children", children::MAX_PER_FAMILY));
    }
    check_circumstances(&mut check, &input.circumstances);
    let paperwork = input.paperwork.checked(&mut check);
    let mut new_guardians = Vec::new();
    for (i, g) in input.guardians.into_iter().enumerate() {
        match guardians::prepare(g, today, &format!("guardians[{i}].")) {
            Ok(valid) => new_guardians.push(valid),
            Err(errors) => check.merge(errors),
        }
    }
    let mut new_children = Vec::new();
    for (i, c) in input.children.into_iter().enumerate() {
        match children::prepare(c, today, &format!("children[{i}].")) {
            Ok(valid) => new_children.push(valid),
            Err(errors) => check.merge(errors),
        }
    }
    check.finish()?;

    let row = FamilyRow {
        id: new_id(),
        app_id: app_id.to_owned(),
        municipality_code: input.municipality_code.as_str().to_owned(),
        address: keys.seal_opt(sealed::FAMILIES_ADDRESS, address.as_deref())?,
        preferred_language: input.preferred_language.as_str().to_owned(),
        quiet_hours_start: input.quiet_hours.start_minute(),
        quiet_hours_end: input.quiet_hours.end_minute(),
        health_insurance: input.health_insurance.map(|h| h.as_str().to_owned()),
        single_parent: input.single_parent,
        created_at: now,
        updated_at: now,
        circumstances: encode_circumstances(&input.circumstances),
        paperwork: paperwork.seal(keys)?,
        postal_code_sealed: keys.seal_value(sealed::FAMILIES_POSTAL_CODE, input.postal_code.map(String::from))?,
    };
    diesel::insert_into(families::table).values(&row).execute(conn)?;
    for purpose in input.consents {
        let language = input.preferred_language.clone();
        let consent = super::consents::StandingConsentInput { purpose, language };
        super::consents::give(conn, super::consents::shipped_forms(), &row.id, consent, now)?;
    }
    for guardian in new_guardians {
        guardians::insert(conn, keys, &row.id, guardian, now)?;
    }
    for child in new_children {
        children::insert(conn, keys, &row.id, child, now)?;
    }
    get(conn, keys, row)
}

/// The family's 郵便番号, opened.
pub fn postal_code(keys: &KeyRing, row: &FamilyRow) -> Result<Option<PostalCode>, Error> {
    let opened: Option<String> = keys.open_opt(sealed::FAMILIES_POSTAL_CODE, row.postal_code_sealed.as_deref())?;
    opened.as_deref().map(PostalCode::parse).transpose().map_err(Error::internal)
}

/// The whole family, opened for the caller.
pub fn get(conn: &mut DbConnection, keys: &KeyRing, row: FamilyRow) -> Result<Family, Error> {
    let guardians = guardians::list(conn, keys, &row.id)?;
    let children = children::list(conn, keys, &row.id)?;
    let devices = devices::list(conn, keys, &row.id)?;
    Ok(Family {
        municipality_code: MunicipalityCode::parse(&row.municipality_code).map_err(Error::internal)?,
        postal_code: postal_code(keys, &row)?,
        address: keys.open_opt(sealed::FAMILIES_ADDRESS, row.address.as_deref())?,
        preferred_language: LanguageTag::parse(&row.preferred_language).map_err(Error::internal)?,
        quiet_hours: QuietHours::from_minutes(row.quiet_hours_start, row.quiet_hours_end)
            .ok_or_else(|| Error::internal("families.quiet_hours out of range"))?,
        health_insurance: row.health_insurance.as_deref().map(HealthInsurance::from_stored).transpose()?,
        single_parent: row.single_parent,
        circumstances: decode_circumstances(&row.circumstances)?,
        paperwork: Paperwork::open(keys, row.paperwork.as_deref())?,
        guardians,
        children,
        devices,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
        id: row.id,
    })
}

/// Applies corrections; a refused change leaves the family exactly as it was.
pub fn update(
    conn: &mut DbConnection,
    keys: &KeyRing,
    row: FamilyRow,
    change: FamilyPatch,
    now: NaiveDateTime,
) -> Result<Family, Error> {
    update_naming_all(conn, keys, row, change, FieldErrors::new(), now)
}

/// [`update`] for a body in which reading it already found `problems`, refused together with
/// every other problem.
pub fn update_naming_all(
    conn: &mut DbConnection,
    keys: &KeyRing,
    mut row: FamilyRow,
    change: FamilyPatch,
    problems: FieldErrors,
    now: NaiveDateTime,
) -> Result<Family, Error> {
    let mut check = FieldCheck::default();
    check.merge(problems);
    if change.municipality_code.is_some() {
        check.fail(
            "municipality_code",
            "a move is recorded as a 'moved' event, which keeps its date and lets nonstop re-plan",
        );
    }
    if let Some(circumstances) = &change.circumstances {
        check_circumstances(&mut check, circumstances);
    }
    let address = match change.address {
        Some(Some(a)) => check.check("address", text::address(&a)).map(Some),
        Some(None) => Some(None),
        None => None,
    };
    let paperwork = match change.paperwork {
        Some(change) => Some(Paperwork::open(keys, row.paperwork.as_deref())?.patched(change).checked(&mut check)),
        None => None,
    };
    check.finish()?;
    if let Some(paperwork) = paperwork {
        row.paperwork = paperwork.seal(keys)?;
    }
    if let Some(address) = address {
        row.address = keys.seal_opt(sealed::FAMILIES_ADDRESS, address.as_deref())?;
    }
    let mut postal = postal_code(keys, &row)?.map(String::from);
    patch::apply(&mut postal, change.postal_code.map(|p| p.map(String::from)));
    row.postal_code_sealed = keys.seal_value(sealed::FAMILIES_POSTAL_CODE, postal)?;
    if let Some(language) = change.preferred_language {
        row.preferred_language = language.into();
    }
    if let Some(quiet) = change.quiet_hours {
        row.quiet_hours_start = quiet.start_minute();
        row.quiet_hours_end = quiet.end_minute();
    }
    let mut insurance = row.health_insurance.take();
    patch::apply(&mut insurance, change.health_insurance.map(|h| h.map(|h| h.as_str().to_owned())));
    row.health_insurance = insurance;
    if let Some(single_parent) = change.single_parent {
        row.single_parent = single_parent;
    }
    if let Some(circumstances) = change.circumstances {
        row.circumstances = encode_circumstances(&circumstances);
    }
    row.updated_at = now;
    diesel::update(families::table.find(&row.id)).set(&row).execute(conn)?;
    get(conn, keys, row)
}

/// Deletes the family and everything about it (guardians, children, devices, events, sessions).
///
/// The submissions already handed to municipalities are theirs: they stay, marked
/// `family_deleted`, until each municipality's retention ends. The deletion is recorded in the
/// audit trail of every municipality that keeps some (or of none, when nothing was submitted),
/// and sent to their webhooks (`family.deleted`).
pub fn delete(
    conn: &mut DbConnection,
    keys: &KeyRing,
    row: FamilyRow,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<(), Error> {
    // Each municipality keeping some of its submissions is told, with their ids and 受付番号.
    super::webhooks::enqueue_family_deleted(conn, keys, &row.id, now)?;
    let kept = super::submissions::keep_for_municipality(conn, &row.id, now)?;
    diesel::delete(families::table.find(&row.id)).execute(conn)?;
    let deleted = || Event::new(AuditAction::FamilyDeleted, "family", row.id.clone());
    if kept.is_empty() {
        return audit::record(conn, actor, deleted().detail("0"), now);
    }
    for (code, count) in kept {
        audit::record(conn, actor, deleted().in_municipality(code).detail(count.to_string()), now)?;
    }
    Ok(())
}

/// A page of the app's families, in creation order.
pub fn list(
    conn: &mut DbConnection,
    keys: &KeyRing,
    app_id: &str,
    limit: i64,
    after: Option<&str>,
) -> Result<FamilyPage, Error> {
    let mut query = families::table.filter(families::app_id.eq(app_id)).select(FamilyRow::as_select()).into_boxed();
    if let Some(after) = after {
        query = query.filter(families::id.gt(after.to_owned()));
    }
    let mut rows: Vec<FamilyRow> = query.order(families::id.asc()).limit(limit + 1).load(conn)?;
    let next_after = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id.clone())
    } else {
        None
    };
    let items = rows.into_iter().map(|row| get(conn, keys, row)).collect::<Result<_, _>>()?;
    Ok(FamilyPage { items, next_cursor: next_after.clone(), next_after })
}

/// Stored as sorted, comma-separated text (a set: order and repeats carry no meaning).
/// The most circumstances a family lists (repeats are kept once).
const MAX_CIRCUMSTANCES: usize = 10;

fn check_circumstances(check: &mut FieldCheck, circumstances: &[Circumstance]) {
    if circumstances.len() > MAX_CIRCUMSTANCES {
        check.fail("circumstances", format!("at most {MAX_CIRCUMSTANCES} circumstances"));
    }
}

fn encode_circumstances(circumstances: &[Circumstance]) -> String {
    let set: std::collections::BTreeSet<&str> = circumstances.iter().map(|c| c.as_str()).collect();
    set.into_iter().collect::<Vec<_>>().join(",")
}

pub fn decode_circumstances(stored: &str) -> Result<Vec<Circumstance>, Error> {
    stored.split(',').filter(|s| !s.is_empty()).map(Circumstance::from_stored).collect()
}
