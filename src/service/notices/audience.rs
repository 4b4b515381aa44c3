//! Who a notice reaches: the conditions, the resident families that meet them (read a batch at
//! a time when a notice is recorded), and how many they are (one counting query, reused for a
//! short while, shown as "fewer than" below a threshold).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::rows::{ChildRow, FamilyRow};
use crate::db::schema::{children, families, tasks};
use crate::db::DbConnection;
use crate::domain::enums::{ChildStatus, HealthInsurance};
use crate::domain::{periods, MunicipalityCode};
use crate::error::{Error, FieldCheck};
use crate::service::planning::TaskStatus;

/// Families read per query while resolving an audience: memory stays bounded.
const BATCH: i64 = 1_000;

/// Who a notice is for: every condition given must hold (none: every resident family).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Audience {
    /// A child whose age in completed months lies in this range (inclusive).
    pub child_age_months: Option<MonthRange>,
    /// A child born in this range of dates (inclusive).
    pub child_born_between: Option<DateRange>,
    /// An expected child due in this range (inclusive).
    pub due_between: Option<DateRange>,
    /// A task of this procedure still open (e.g. `checkup_18_months`).
    pub open_procedure: Option<String>,
    pub health_insurance: Option<HealthInsurance>,
    pub single_parent: Option<bool>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonthRange {
    #[schema(minimum = 0, maximum = 276)]
    pub min: i64,
    /// At least `min`.
    #[schema(minimum = 0, maximum = 276)]
    pub max: i64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DateRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

pub(super) fn matches(
    audience: &Audience,
    family: &FamilyRow,
    kids: &[ChildRow],
    open: &HashSet<String>,
    today: NaiveDate,
) -> bool {
    let born: Vec<NaiveDate> =
        kids.iter().filter(|c| c.status == ChildStatus::Born.as_str()).filter_map(|c| c.birth_date).collect();
    let due: Vec<NaiveDate> =
        kids.iter().filter(|c| c.status == ChildStatus::Expected.as_str()).filter_map(|c| c.due_date).collect();
    audience
        .child_age_months
        .is_none_or(|r| born.iter().any(|b| (r.min..=r.max).contains(&periods::age_in_months(*b, today))))
        && audience.child_born_between.is_none_or(|r| born.iter().any(|b| (r.from..=r.to).contains(b)))
        && audience.due_between.is_none_or(|r| due.iter().any(|d| (r.from..=r.to).contains(d)))
        && (audience.open_procedure.is_none() || open.contains(&family.id))
        && audience.health_insurance.is_none_or(|h| family.health_insurance.as_deref() == Some(h.as_str()))
        && audience.single_parent.is_none_or(|s| family.single_parent == s)
}

/// Streams the resident families matching the audience to `each`, a batch at a time.
pub(super) fn for_each_recipient(
    conn: &mut DbConnection,
    code: &str,
    audience: &Audience,
    today: NaiveDate,
    mut each: impl FnMut(&mut DbConnection, &FamilyRow) -> Result<(), Error>,
) -> Result<i64, Error> {
    let mut after = String::new();
    let mut count = 0;
    loop {
        let page = recipients_after(conn, code, audience, today, &after, BATCH)?;
        for family in &page.families {
            count += 1;
            each(conn, family)?;
        }
        match page.last_read {
            Some(last) if page.read == BATCH as usize => after = last,
            _ => return Ok(count),
        }
    }
}

/// One page of an audience: of the `limit` resident families that follow `after` in id order,
/// those the audience reaches.
pub(super) struct RecipientPage {
    pub families: Vec<FamilyRow>,
    /// How many families were read (fewer than asked: the municipality's last page).
    pub read: usize,
    /// The id of the last family read, where the next page starts.
    pub last_read: Option<String>,
}

pub(super) fn recipients_after(
    conn: &mut DbConnection,
    code: &str,
    audience: &Audience,
    today: NaiveDate,
    after: &str,
    limit: i64,
) -> Result<RecipientPage, Error> {
    let batch = crate::service::batches::residents_after(conn, code, after, limit)?;
    let ids: Vec<&str> = batch.iter().map(|f| f.id.as_str()).collect();
    let kids: Vec<ChildRow> =
        children::table.filter(children::family_id.eq_any(&ids)).select(ChildRow::as_select()).load(conn)?;
    let open = with_open_procedure(conn, audience, &ids)?;
    let (read, last_read) = (batch.len(), batch.last().map(|f| f.id.clone()));
    let families = batch
        .into_iter()
        .filter(|family| {
            let own: Vec<ChildRow> = kids.iter().filter(|c| c.family_id == family.id).cloned().collect();
            matches(audience, family, &own, &open, today)
        })
        .collect();
    Ok(RecipientPage { families, read, last_read })
}

impl Audience {
    /// Refuses ranges that select nothing or lie beyond what nonstop holds; fields are named
    /// under `prefix` (`audience.` inside a notice).
    pub fn check(&self, check: &mut FieldCheck, prefix: &str) {
        if let Some(r) = self.child_age_months {
            if r.min < 0 || r.max < r.min || r.max > 12 * 23 {
                check.fail(&format!("{prefix}child_age_months"), "needs 0 <= min <= max <= 276");
            }
        }
        for (field, range) in [("child_born_between", self.child_born_between), ("due_between", self.due_between)] {
            if range.is_some_and(|r| r.to < r.from) {
                check.fail(&format!("{prefix}{field}"), "`to` must not be before `from`");
            }
        }
    }
}

/// How many resident families the audience reaches (never who): one counting query, each
/// condition on children and tasks a subquery the indexes answer (a child's age in months is
/// turned into the range of birth dates it means today), so a count reads the families the
/// conditions select rather than every resident family.
pub fn audience_size(
    conn: &mut DbConnection,
    code: &MunicipalityCode,
    audience: &Audience,
    today: NaiveDate,
) -> Result<i64, Error> {
    let mut check = FieldCheck::default();
    audience.check(&mut check, "");
    check.finish()?;
    let mut query = families::table.filter(families::municipality_code.eq(code.as_str())).into_boxed();
    if let Some(insurance) = audience.health_insurance {
        query = query.filter(families::health_insurance.eq(insurance.as_str()));
    }
    if let Some(single) = audience.single_parent {
        query = query.filter(families::single_parent.eq(single));
    }
    let mut born_ranges = Vec::new();
    if let Some(months) = audience.child_age_months {
        born_ranges.push(born_at_ages(months, today));
    }
    if let Some(range) = audience.child_born_between {
        born_ranges.push((range.from, range.to));
    }
    for (from, to) in born_ranges {
        let born = children::table
            .filter(children::status.eq(ChildStatus::Born.as_str()))
            .filter(children::birth_date.between(from, to))
            .select(children::family_id);
        query = query.filter(families::id.eq_any(born));
    }
    if let Some(range) = audience.due_between {
        let due = children::table
            .filter(children::status.eq(ChildStatus::Expected.as_str()))
            .filter(children::due_date.between(range.from, range.to))
            .select(children::family_id);
        query = query.filter(families::id.eq_any(due));
    }
    if let Some(procedure) = &audience.open_procedure {
        let open = tasks::table
            .filter(tasks::procedure_id.eq(procedure))
            .filter(tasks::status.eq(TaskStatus::Planned))
            .select(tasks::family_id);
        query = query.filter(families::id.eq_any(open));
    }
    Ok(query.count().get_result(conn)?)
}

/// An audience's size as staff see it: the count, or only that it is below the threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct AudienceSize {
    /// How many resident families the conditions reach; `null` when they are fewer than
    /// `fewer_than`.
    pub audience_size: Option<i64>,
    /// Set when the count is withheld: the conditions reach fewer families than this (none
    /// included), so that conditions narrowed down to one family never tell whether it exists
    /// (the operator's `notices.audience_count_threshold`, 5 unless set). `null` otherwise.
    pub fewer_than: Option<i64>,
}

impl AudienceSize {
    /// `count` as shown under `threshold`: exact from the threshold up.
    pub fn shown(count: i64, threshold: i64) -> Self {
        if count < threshold {
            Self { audience_size: None, fewer_than: Some(threshold) }
        } else {
            Self { audience_size: Some(count), fewer_than: None }
        }
    }
}

/// Audience counts made lately, per municipality, conditions and day, each reused for a short
/// life: a composer that asks again on every change, or several members of staff previewing
/// the same conditions, count once. In this process's memory, at most `MAX_KEPT` of them.
pub struct AudienceCounts {
    life: chrono::Duration,
    kept: Mutex<HashMap<CountKey, (i64, NaiveDateTime)>>,
}

/// A count's municipality, conditions (as JSON) and day; kept with the count and its instant.
type CountKey = (String, String, NaiveDate);

/// Counts kept at most; beyond, the expired ones go, and all of them if none has.
const MAX_KEPT: usize = 10_000;

impl AudienceCounts {
    pub fn new(life_seconds: u64) -> Self {
        let life = chrono::Duration::seconds(i64::try_from(life_seconds).unwrap_or(i64::MAX / 1_000_000));
        Self { life, kept: Mutex::new(HashMap::new()) }
    }

    fn key(code: &MunicipalityCode, audience: &Audience, today: NaiveDate) -> (String, String, NaiveDate) {
        // Serialized in the fields' declared order: the same conditions, the same text.
        (code.as_str().to_owned(), serde_json::to_string(audience).unwrap_or_default(), today)
    }

    /// The count made for these conditions today, while it is younger than its life at `now`.
    pub fn get(
        &self,
        code: &MunicipalityCode,
        audience: &Audience,
        today: NaiveDate,
        now: NaiveDateTime,
    ) -> Option<i64> {
        let kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.get(&Self::key(code, audience, today))
            .filter(|(_, made)| now >= *made && now - *made < self.life)
            .map(|(count, _)| *count)
    }

    /// Keeps a count made at `now`.
    pub fn put(&self, code: &MunicipalityCode, audience: &Audience, today: NaiveDate, now: NaiveDateTime, count: i64) {
        if self.life <= chrono::Duration::zero() {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.len() >= MAX_KEPT {
            let life = self.life;
            kept.retain(|_, (_, made)| now >= *made && now - *made < life);
            if kept.len() >= MAX_KEPT {
                kept.clear();
            }
        }
        kept.insert(Self::key(code, audience, today), (count, now));
    }
}

/// The same count made the way a notice's recording finds its audience: every resident family
/// read and matched (what `audience_size` must always agree with; tests and the benchmark
/// compare the two).
pub fn audience_size_walked(
    conn: &mut DbConnection,
    code: &MunicipalityCode,
    audience: &Audience,
    today: NaiveDate,
) -> Result<i64, Error> {
    let mut check = FieldCheck::default();
    audience.check(&mut check, "");
    check.finish()?;
    for_each_recipient(conn, code.as_str(), audience, today, |_, _| Ok(()))
}

/// Who a notice reaches if it goes out at `at` (UTC): the families counted the way its sending
/// finds them (`for_each_recipient`, the conditions read on `today`), and, of those whose
/// おやすみ時間 hold the push back, how many first get it at each later instant (the sender's
/// own rule, `inbox::first_attempt_for`). Staff read it before they send, schedule or save.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reach {
    pub families: i64,
    /// Instant (UTC) at which the held-back families' pushes may first go out, and how many.
    pub held_until: std::collections::BTreeMap<NaiveDateTime, i64>,
}

pub fn reach(
    conn: &mut DbConnection,
    code: &MunicipalityCode,
    audience: &Audience,
    today: NaiveDate,
    at: NaiveDateTime,
) -> Result<Reach, Error> {
    let mut check = FieldCheck::default();
    audience.check(&mut check, "");
    check.finish()?;
    let mut held_until = std::collections::BTreeMap::new();
    let families = for_each_recipient(conn, code.as_str(), audience, today, |_, family| {
        let first = crate::service::inbox::first_attempt_for(family, at);
        if first > at {
            *held_until.entry(first).or_insert(0) += 1;
        }
        Ok(())
    })?;
    Ok(Reach { families, held_until })
}

/// The first and last birth dates of a child whose age in completed months lies in `months`
/// today. Age falls as the birth date is later, so the dates form one range; its ends are
/// found by bisection over the age function itself, so the range means exactly what `matches`
/// does.
fn born_at_ages(months: MonthRange, today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let day = |offset: i64| today + chrono::Duration::days(offset);
    let age = |offset: i64| periods::age_in_months(day(offset), today);
    // Offsets from today: 30 years back a child is over 276 months old (the most a range may
    // name); from today on, 0 months.
    const OLDEST: i64 = -366 * 30;
    // The first offset whose age is at most `max` (today's, 0, is).
    let (mut low, mut high) = (OLDEST, 0);
    while low < high {
        let mid = low + (high - low) / 2;
        if age(mid) <= months.max {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    let from = day(low);
    if months.min <= 0 {
        // Every later birth date is 0 months old: no end.
        return (from, day(366 * 200));
    }
    // The last offset whose age is at least `min` (30 years back it is; today it is not).
    let (mut low, mut high) = (OLDEST, 0);
    while low < high {
        let mid = low + (high - low + 1) / 2;
        if age(mid) >= months.min {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    (from, day(low))
}

pub(super) fn family_matches(
    conn: &mut DbConnection,
    audience: &Audience,
    family: &FamilyRow,
    today: NaiveDate,
) -> Result<bool, Error> {
    let kids: Vec<ChildRow> =
        children::table.filter(children::family_id.eq(&family.id)).select(ChildRow::as_select()).load(conn)?;
    let open = with_open_procedure(conn, audience, &[family.id.as_str()])?;
    Ok(matches(audience, family, &kids, &open, today))
}

/// The families among `ids` with a task of the audience's `open_procedure` still to do (none
/// when the audience names no procedure).
fn with_open_procedure(conn: &mut DbConnection, audience: &Audience, ids: &[&str]) -> Result<HashSet<String>, Error> {
    let Some(procedure) = &audience.open_procedure else { return Ok(HashSet::new()) };
    Ok(tasks::table
        .filter(tasks::family_id.eq_any(ids))
        .filter(tasks::procedure_id.eq(procedure))
        .filter(tasks::status.eq(TaskStatus::Planned))
        .select(tasks::family_id)
        .load::<String>(conn)?
        .into_iter()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_below_the_threshold_are_withheld_none_included() {
        assert_eq!(AudienceSize::shown(0, 5), AudienceSize { audience_size: None, fewer_than: Some(5) });
        assert_eq!(AudienceSize::shown(4, 5), AudienceSize { audience_size: None, fewer_than: Some(5) });
        assert_eq!(AudienceSize::shown(5, 5), AudienceSize { audience_size: Some(5), fewer_than: None });
        assert_eq!(AudienceSize::shown(0, 0), AudienceSize { audience_size: Some(0), fewer_than: None });
    }

    #[test]
    fn a_count_is_reused_for_its_conditions_and_day_during_its_life_only() {
        let code = MunicipalityCode::parse("131016").expect("code");
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).expect("date");
        let now = today.and_hms_opt(3, 0, 0).expect("time");
        let counts = AudienceCounts::new(30);
        let young = Audience { single_parent: Some(true), ..Audience::default() };
        counts.put(&code, &young, today, now, 42);
        assert_eq!(counts.get(&code, &young, today, now + chrono::Duration::seconds(29)), Some(42));
        assert_eq!(counts.get(&code, &young, today, now + chrono::Duration::seconds(30)), None, "expired");
        assert_eq!(counts.get(&code, &Audience::default(), today, now), None, "other conditions");
        assert_eq!(counts.get(&code, &young, today.succ_opt().expect("day"), now), None, "another day");
        let other = MunicipalityCode::parse("131130").expect("code");
        assert_eq!(counts.get(&other, &young, today, now), None, "another municipality");
        let off = AudienceCounts::new(0);
        off.put(&code, &young, today, now, 42);
        assert_eq!(off.get(&code, &young, today, now), None, "a life of 0 keeps nothing");
    }

    #[test]
    fn an_age_range_in_months_is_exactly_its_range_of_birth_dates() {
        let d = |text: &str| NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date");
        // Month ends, a leap day, the first of a month.
        for today in [d("2026-12-01"), d("2024-02-29"), d("2027-03-31"), d("2026-01-31"), d("2025-03-01")] {
            for (min, max) in [(0, 0), (0, 12), (1, 1), (17, 19), (12, 24), (5, 200), (276, 276), (0, 276)] {
                let (from, to) = born_at_ages(MonthRange { min, max }, today);
                // Every birth date from 25 years ago to a year ahead.
                for offset in -366 * 25..366 {
                    let born = today + chrono::Duration::days(offset);
                    let age = periods::age_in_months(born, today);
                    assert_eq!(
                        (min..=max).contains(&age),
                        (from..=to).contains(&born),
                        "today {today}, {min}..={max} months, born {born} ({age} months): {from}..={to}"
                    );
                }
            }
        }
    }
}
