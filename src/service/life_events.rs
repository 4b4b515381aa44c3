//! ライフイベント: things that happen to a family and change what it must do.
//!
//! An event is recorded as history (with its date) and applied to the profile in the same
//! transaction: a birth turns an expected child into a born one, a move changes the
//! municipality. Only non-personal details are kept in the event itself.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::children::{self, BirthDetails, BirthFacts};
use super::{new_id, tagged, utc};
use crate::crypto::KeyRing;
use crate::db::rows::{FamilyRow, LifeEventRow};
use crate::db::schema::{families, life_events};
use crate::db::sealed;
use crate::db::DbConnection;
use crate::domain::enums::{ChildStatus, HealthInsurance, Legitimacy, LifeEventKind, Sex};
use crate::domain::{dates, text, MunicipalityCode, PostalCode};
use crate::error::{Error, FieldCheck};

/// A life event to record, by `type`. `date` is the day it happened (Asia/Tokyo).
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LifeEventInput {
    /// 妊娠: adds an expected child with its due date.
    Pregnancy(PregnancyEvent),
    /// 出生: a child was born.
    Birth(BirthEvent),
    /// 転居・転入: the family moved.
    Moved(MovedEvent),
    /// The household's health insurance changed.
    HealthInsuranceChanged(HealthInsuranceChangedEvent),
    /// The household became, or stopped being, a single-parent household.
    SingleParentChanged(SingleParentChangedEvent),
}

/// 妊娠: a pregnancy was confirmed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PregnancyEvent {
    pub date: NaiveDate,
    pub due_date: NaiveDate,
}

/// 出生: the child named by `child_id` (expected) was born on `date`; without `child_id` a
/// born child is added.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BirthEvent {
    pub date: NaiveDate,
    pub child_id: Option<String>,
    #[schema(example = 3000, minimum = 200, maximum = 7000)]
    pub birth_weight_grams: Option<i32>,
    #[schema(min_length = 1, max_length = 100)]
    pub full_name: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub full_name_kana: Option<String>,
    pub sex: Option<Sex>,
    /// 生まれた時刻, `HH:MM` (Asia/Tokyo).
    #[schema(example = "09:15", pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub birth_time: Option<String>,
    /// 生まれたところ: the hospital's or home's address.
    #[schema(min_length = 1, max_length = 200)]
    pub birth_place: Option<String>,
    /// 父母との続き柄 (嫡出子 or not), only if the parent chooses to give it here; otherwise it
    /// is taken from the family's `paperwork.parents_married`, or asked on the 出生届.
    pub legitimacy: Option<Legitimacy>,
}

/// 転居・転入: the family now lives in `municipality_code` (possibly the same one).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MovedEvent {
    pub date: NaiveDate,
    pub municipality_code: MunicipalityCode,
    pub postal_code: Option<PostalCode>,
    #[schema(min_length = 1, max_length = 200)]
    pub address: Option<String>,
    /// 転出予定日: the planned move-out date given to the old municipality, when known (on or
    /// before `date`, at most 90 days before). The 児童手当 claim's 15 days count from the day
    /// after it (児童手当法 第8条第3項), which is earlier than the move itself.
    pub planned_move_out_date: Option<NaiveDate>,
}

/// The household's health insurance changed (e.g. 国保 ↔ 被用者保険).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthInsuranceChangedEvent {
    pub date: NaiveDate,
    pub health_insurance: HealthInsurance,
}

/// ひとり親: the household's single-parent status changed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SingleParentChangedEvent {
    pub date: NaiveDate,
    pub single_parent: bool,
}

crate::tagged_schema!(
    LifeEventInput,
    "type",
    "A life event to record, by `type`. `date` is the day it happened (Asia/Tokyo).",
    [
        ("pregnancy", "PregnancyEventInput", PregnancyEvent, "妊娠: adds an expected child with its due date."),
        ("birth", "BirthEventInput", BirthEvent, "出生: a child was born."),
        ("moved", "MovedEventInput", MovedEvent, "転居・転入: the family moved."),
        (
            "health_insurance_changed",
            "HealthInsuranceChangedEventInput",
            HealthInsuranceChangedEvent,
            "The household's health insurance changed."
        ),
        (
            "single_parent_changed",
            "SingleParentChangedEventInput",
            SingleParentChangedEvent,
            "The household became, or stopped being, a single-parent household."
        ),
    ]
);

impl<'de> Deserialize<'de> for LifeEventInput {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (kind, body) = tagged::split(deserializer, "type")?;
        match kind.as_str() {
            "pregnancy" => tagged::variant(body).map(Self::Pregnancy),
            "birth" => tagged::variant(body).map(Self::Birth),
            "moved" => tagged::variant(body).map(Self::Moved),
            "health_insurance_changed" => tagged::variant(body).map(Self::HealthInsuranceChanged),
            "single_parent_changed" => tagged::variant(body).map(Self::SingleParentChanged),
            other => {
                Err(tagged::unknown("type", other, &LifeEventKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>()))
            }
        }
    }
}

impl LifeEventInput {
    fn date(&self) -> NaiveDate {
        match self {
            Self::Pregnancy(e) => e.date,
            Self::Birth(e) => e.date,
            Self::Moved(e) => e.date,
            Self::HealthInsuranceChanged(e) => e.date,
            Self::SingleParentChanged(e) => e.date,
        }
    }
}

/// A recorded life event.
#[derive(Debug, Serialize, ToSchema)]
pub struct LifeEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: LifeEventKind,
    pub date: NaiveDate,
    /// The child the event is about (for `pregnancy`, the expected child it added).
    pub child_id: Option<String>,
    /// Non-personal facts of the event: `birth_weight_recorded`, `from_municipality_code`, …
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub recorded_at: DateTime<Utc>,
}

/// Life events one family may record: a lifetime of births, moves and changes, many times over.
pub const MAX_PER_FAMILY: i64 = 200;

/// The key of a move's 転出予定日 in the event's details (read back by the planner).
pub const PLANNED_MOVE_OUT: &str = "planned_move_out_date";

/// Records the event and applies it to the family, all or nothing.
pub fn record(
    conn: &mut DbConnection,
    keys: &KeyRing,
    family: FamilyRow,
    input: LifeEventInput,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<LifeEvent, Error> {
    crate::db::caps::lock_family(conn, &family.id)?;
    let recorded: i64 = life_events::table.filter(life_events::family_id.eq(&family.id)).count().get_result(conn)?;
    crate::db::caps::within(recorded, MAX_PER_FAMILY, "too_many_events", "life events per family")?;
    let mut check = FieldCheck::default();
    check.check("date", dates::event_date(input.date(), today));
    let (kind, date, child_id, details) = match input {
        LifeEventInput::Pregnancy(PregnancyEvent { date, due_date }) => {
            check.finish()?;
            let child = children::prepare(
                children::ChildInput {
                    status: ChildStatus::Expected,
                    due_date: Some(due_date),
                    birth_date: None,
                    birth_weight_grams: None,
                    full_name: None,
                    full_name_kana: None,
                    sex: None,
                },
                today,
                "",
            )
            .map_err(Error::Validation)?;
            let child = children::insert(conn, keys, &family.id, child, now)?;
            (LifeEventKind::Pregnancy, date, Some(child.id), json!({ "due_date": due_date }))
        }
        LifeEventInput::Birth(BirthEvent {
            date,
            child_id,
            birth_weight_grams,
            full_name,
            full_name_kana,
            sex,
            birth_time,
            birth_place,
            legitimacy,
        }) => {
            check.check("date", dates::child_birth_date(date, today));
            let weight = check.check_opt("birth_weight_grams", birth_weight_grams, dates::birth_weight_grams);
            let full_name = check.check_opt("full_name", full_name, |n| text::name(&n));
            let full_name_kana = check.check_opt("full_name_kana", full_name_kana, |k| text::kana(&k));
            let details = BirthDetails {
                birth_time: check.check_opt("birth_time", birth_time, |t| text::time_of_day(&t)),
                birth_place: check.check_opt("birth_place", birth_place, |p| text::address(&p)),
                legitimacy,
            };
            check.finish()?;
            let facts =
                BirthFacts { birth_date: date, birth_weight_grams: weight, full_name, full_name_kana, sex, details };
            let child = match child_id {
                Some(child_id) => {
                    let row = children::find(conn, &family.id, &child_id)?;
                    if row.status != ChildStatus::Expected.as_str() {
                        return Err(Error::Conflict {
                            code: "child_already_born",
                            message: "this child's birth is already recorded; correct it on the child instead".into(),
                        });
                    }
                    children::mark_born(conn, keys, row, facts, now)?
                }
                None => children::insert_born(conn, keys, &family.id, facts, now)?,
            };
            // The weight is health information: kept on the child only, under the consent.
            (LifeEventKind::Birth, date, Some(child.id), json!({ "birth_weight_recorded": weight.is_some() }))
        }
        LifeEventInput::Moved(MovedEvent { date, municipality_code, postal_code, address, planned_move_out_date }) => {
            let address = check.check_opt("address", address, |a| text::address(&a));
            if let Some(planned) = planned_move_out_date {
                check.check("planned_move_out_date", dates::planned_move_out(planned, date));
            }
            check.finish()?;
            let from = family.municipality_code.clone();
            diesel::update(families::table.find(&family.id))
                .set((
                    families::municipality_code.eq(municipality_code.as_str()),
                    families::postal_code_sealed
                        .eq(keys.seal_value(sealed::FAMILIES_POSTAL_CODE, postal_code.map(String::from))?),
                    families::address.eq(keys.seal_opt(sealed::FAMILIES_ADDRESS, address.as_deref())?),
                    families::updated_at.eq(now),
                ))
                .execute(conn)?;
            let mut details = json!({ "from_municipality_code": from, "to_municipality_code": municipality_code });
            if let Some(planned) = planned_move_out_date {
                details[PLANNED_MOVE_OUT] = json!(planned);
            }
            (LifeEventKind::Moved, date, None, details)
        }
        LifeEventInput::HealthInsuranceChanged(HealthInsuranceChangedEvent { date, health_insurance }) => {
            check.finish()?;
            diesel::update(families::table.find(&family.id))
                .set((families::health_insurance.eq(Some(health_insurance.as_str())), families::updated_at.eq(now)))
                .execute(conn)?;
            (LifeEventKind::HealthInsuranceChanged, date, None, json!({ "health_insurance": health_insurance }))
        }
        LifeEventInput::SingleParentChanged(SingleParentChangedEvent { date, single_parent }) => {
            check.finish()?;
            diesel::update(families::table.find(&family.id))
                .set((families::single_parent.eq(single_parent), families::updated_at.eq(now)))
                .execute(conn)?;
            (LifeEventKind::SingleParentChanged, date, None, json!({ "single_parent": single_parent }))
        }
    };
    let row = LifeEventRow {
        id: new_id(),
        family_id: family.id,
        child_id,
        kind: kind.as_str().to_owned(),
        occurred_on: date,
        details: details.to_string(),
        recorded_at: now,
    };
    diesel::insert_into(life_events::table).values(&row).execute(conn)?;
    view(row)
}

/// The family's events, most recently recorded first.
pub fn list(conn: &mut DbConnection, family_id: &str) -> Result<Vec<LifeEvent>, Error> {
    life_events::table
        .filter(life_events::family_id.eq(family_id))
        .order(life_events::id.desc())
        .select(LifeEventRow::as_select())
        .load(conn)?
        .into_iter()
        .map(view)
        .collect()
}

fn view(row: LifeEventRow) -> Result<LifeEvent, Error> {
    Ok(LifeEvent {
        kind: LifeEventKind::from_stored(&row.kind)?,
        date: row.occurred_on,
        child_id: row.child_id,
        details: serde_json::from_str(&row.details).map_err(|e| Error::unreadable("life_events.details", &e))?,
        recorded_at: utc(row.recorded_at),
        id: row.id,
    })
}
