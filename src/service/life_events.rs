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
    /// 流産・死産: an expected child's pregnancy ended without a live birth.
    PregnancyEnded(PregnancyEndedEvent),
    /// 死亡: a born child died.
    ChildDied(ChildDiedEvent),
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

/// 流産・死産: the pregnancy of the expected child `child_id` ended on `date` without a live
/// birth. From then on nothing about that child is pushed; what the loss itself asks (死産届
/// from 12 weeks, 出産育児一時金 from 85 days, care and support) is planned for the household.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PregnancyEndedEvent {
    pub date: NaiveDate,
    pub child_id: String,
    /// 妊娠週数 on `date` (completed weeks), where known; otherwise counted from the child's due
    /// date (40週0日). Used to tell which rules apply, and not kept.
    #[schema(minimum = 0, maximum = 45)]
    pub gestational_weeks: Option<i32>,
    /// The days past `gestational_weeks` (妊娠N週M日), where known.
    #[schema(minimum = 0, maximum = 6)]
    pub gestational_days: Option<i32>,
}

/// 死亡: the born child `child_id` died on `date`. From then on nothing about that child is
/// pushed; the 死亡届 is planned for the household.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChildDiedEvent {
    pub date: NaiveDate,
    pub child_id: String,
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
        (
            "pregnancy_ended",
            "PregnancyEndedEventInput",
            PregnancyEndedEvent,
            "流産・死産: an expected child's pregnancy ended without a live birth."
        ),
        ("child_died", "ChildDiedEventInput", ChildDiedEvent, "死亡: a born child died."),
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
            "pregnancy_ended" => tagged::variant(body).map(Self::PregnancyEnded),
            "child_died" => tagged::variant(body).map(Self::ChildDied),
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
            Self::PregnancyEnded(e) => e.date,
            Self::ChildDied(e) => e.date,
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
    #[schema(value_type = std::collections::BTreeMap<String, serde_json::Value>)]
    pub details: serde_json::Value,
    pub recorded_at: DateTime<Utc>,
}

/// Life events one family may record: a lifetime of births, moves and changes, many times over.
pub const MAX_PER_FAMILY: i64 = 200;

/// The key of a move's 転出予定日 in the event's details (read back by the planner).
pub const PLANNED_MOVE_OUT: &str = "planned_move_out_date";

/// The key saying a move stayed within the municipality (市内転居), read back by the planner.
pub const WITHIN_MUNICIPALITY: &str = "within_municipality";

/// The keys saying which thresholds of the law a lost pregnancy reached (read back by the
/// planner): 妊娠12週 (死産届) and 妊娠85日 (出産育児一時金). The weeks themselves are not kept.
pub const FROM_12_WEEKS: &str = "from_12_weeks";
pub const FROM_85_DAYS: &str = "from_85_days";

/// 妊娠12週0日 and 85日 (12週1日), in days of pregnancy.
const DAYS_12_WEEKS: i64 = 84;
const DAYS_85: i64 = 85;

/// The latest day of pregnancy `date` may be: the weeks and days given, or else counted from
/// the due date (40週0日 = day 280). With the weeks but not the days, the last day of that week:
/// a threshold that may have been reached is planned, so that no filing or payment is missed.
fn latest_gestation_day(
    check: &mut FieldCheck,
    weeks: Option<i32>,
    days: Option<i32>,
    date: NaiveDate,
    due: Option<NaiveDate>,
) -> Option<i64> {
    if let Some(days) = days {
        if weeks.is_none() {
            check.fail("gestational_days", "give the days together with gestational_weeks");
        } else if !(0..=6).contains(&days) {
            check.fail("gestational_days", "the days past the weeks are 0 to 6");
        }
    }
    match weeks {
        Some(w) if (0..=45).contains(&w) => Some(i64::from(w) * 7 + i64::from(days.unwrap_or(6).clamp(0, 6))),
        Some(_) => {
            check.fail("gestational_weeks", "the weeks of pregnancy are 0 to 45");
            None
        }
        None => due.map(|due| 280 - (due - date).num_days()),
    }
}

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
            let within = from == municipality_code.as_str();
            let mut details = json!({
                "from_municipality_code": from,
                "to_municipality_code": municipality_code,
                WITHIN_MUNICIPALITY: within,
            });
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
        LifeEventInput::PregnancyEnded(PregnancyEndedEvent { date, child_id, gestational_weeks, gestational_days }) => {
            let row = children::find(conn, &family.id, &child_id)?;
            let day = latest_gestation_day(&mut check, gestational_weeks, gestational_days, date, row.due_date);
            check.finish()?;
            if row.status != ChildStatus::Expected.as_str() {
                return Err(Error::Conflict {
                    code: "child_not_expected",
                    message: "only an expected child's pregnancy can end; a born child's death is a child_died event"
                        .into(),
                });
            }
            let day = day.unwrap_or(0);
            withdraw_child(conn, &row.id, ChildStatus::PregnancyEnded, now)?;
            let details = json!({ FROM_12_WEEKS: day >= DAYS_12_WEEKS, FROM_85_DAYS: day >= DAYS_85 });
            (LifeEventKind::PregnancyEnded, date, Some(row.id), details)
        }
        LifeEventInput::ChildDied(ChildDiedEvent { date, child_id }) => {
            let row = children::find(conn, &family.id, &child_id)?;
            if row.status != ChildStatus::Born.as_str() {
                return Err(Error::Conflict {
                    code: "child_not_born",
                    message:
                        "only a born child's death is a child_died event; a pregnancy that ended is pregnancy_ended"
                            .into(),
                });
            }
            if row.birth_date.is_some_and(|born| date < born) {
                check.fail("date", "the child's death cannot come before the birth");
            }
            check.finish()?;
            withdraw_child(conn, &row.id, ChildStatus::Died, now)?;
            (LifeEventKind::ChildDied, date, Some(row.id), json!({}))
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

/// Marks the child lost and withdraws, at once, every push about it that has not left: the
/// re-planning that follows the event cancels its tasks and planned reminders, and the outbox
/// refuses at send time whatever was claimed meanwhile. The inbox keeps what was already there.
fn withdraw_child(
    conn: &mut DbConnection,
    child_id: &str,
    status: ChildStatus,
    now: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(crate::db::schema::children::table.find(child_id))
        .set((crate::db::schema::children::status.eq(status.as_str()), crate::db::schema::children::updated_at.eq(now)))
        .execute(conn)?;
    super::inbox::withdraw_pending_about_child(conn, child_id, now)?;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
    }

    fn day(weeks: Option<i32>, days: Option<i32>, date: &str, due: Option<&str>) -> Option<i64> {
        latest_gestation_day(&mut FieldCheck::default(), weeks, days, d(date), due.map(d))
    }

    #[test]
    fn the_day_of_pregnancy_comes_from_the_weeks_given_or_the_due_date() {
        // 40週0日 is the due date (day 280): ten days before it is day 270 (38週4日).
        assert_eq!(day(None, None, "2027-04-21", Some("2027-05-01")), Some(270));
        // 12週0日 = day 84 (妊娠第4月, a 死産届); 12週1日 = day 85 (a 出産 for the insurance).
        assert_eq!(day(Some(12), Some(0), "2026-12-01", None), Some(DAYS_12_WEEKS));
        assert_eq!(day(Some(12), Some(1), "2026-12-01", None), Some(DAYS_85));
        // The weeks without the days: the last day of the week, so that day 85 is not missed.
        assert_eq!(day(Some(12), None, "2026-12-01", None), Some(90));
        assert_eq!(day(Some(11), None, "2026-12-01", None), Some(83), "11週6日: before both thresholds");
        // The weeks given win over the due date.
        assert_eq!(day(Some(20), Some(3), "2026-12-01", Some("2027-06-01")), Some(143));
    }

    #[test]
    fn impossible_weeks_or_days_alone_are_refused() {
        for (weeks, days, field) in [
            (Some(46), None, "gestational_weeks"),
            (Some(12), Some(7), "gestational_days"),
            (None, Some(3), "gestational_days"),
        ] {
            let mut check = FieldCheck::default();
            latest_gestation_day(&mut check, weeks, days, d("2026-12-01"), Some(d("2027-05-01")));
            let errors = check.into_errors();
            assert!(errors.contains_key(field), "{weeks:?} {days:?}: {errors:?}");
        }
    }
}
