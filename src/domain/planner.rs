//! The planner: from a family's facts, the catalog, the municipality's settings and today's
//! date, every task the family faces and the reminders that go with it.
//!
//! A pure function: no clock, no I/O. Planning twice gives the same answer, and every task and
//! reminder has a stable key, so the caller can diff a new plan against the stored one.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Asia::Tokyo;

use super::calendar::{Calendar, MonthDay};
use super::catalog::{
    Catalog, Circumstance, Condition, CountedFrom, DateRule, DeadlineKind, DoseVariant, FilesWith, Procedure,
    ReminderBase, Subject, Trigger,
};
use super::enums::{ChildStatus, HealthInsurance, Relationship, Sex};
use super::nationality::{self, ChildNationality};
use super::overrides::{MunicipalityOverride, Office, ResolvedOverride, ShippedOverrides};
use super::periods;
use super::quiet_hours::QuietHours;
use super::series::{Dose, NextDose, Series};

/// Tasks whose window ended longer ago than this are no longer planned (their stored rows stay
/// as history).
pub const PAST_DAYS_KEPT: i64 = 30;

/// The local time a reminder is meant for, before quiet hours are applied.
const REMINDER_TIME: (u32, u32) = (9, 0);

/// The catalog, the calendar and the shipped municipality settings: everything the planner
/// reads besides the family.
pub struct PlanningContext {
    pub catalog: Catalog,
    pub calendar: Calendar,
    pub shipped: ShippedOverrides,
    /// The application forms drafts are made from (one per procedure that has a form).
    pub forms: super::forms::FormCatalog,
}

impl PlanningContext {
    pub fn shipped() -> Self {
        let catalog = Catalog::shipped();
        let shipped = ShippedOverrides::shipped(&catalog);
        let forms = super::forms::FormCatalog::shipped(&catalog);
        Self { catalog, calendar: Calendar::shipped(), shipped, forms }
    }

    /// The settings in force for a municipality; `staff` (set through the API) replaces the
    /// shipped settings of that exact municipality.
    pub fn resolve(&self, municipality: &str, staff: Option<&MunicipalityOverride>) -> ResolvedOverride {
        let mut layers = self.shipped.layers(municipality);
        if let Some(staff) = staff {
            if layers.last().is_some_and(|own| self.shipped.0.get(municipality).is_some_and(|s| std::ptr::eq(s, *own)))
            {
                layers.pop();
            }
            layers.push(staff);
        }
        ResolvedOverride::merge(layers)
    }
}

/// What the planner knows of a child.
#[derive(Clone, Debug)]
pub struct ChildFacts {
    pub id: String,
    pub status: ChildStatus,
    pub due_date: Option<NaiveDate>,
    pub birth_date: Option<NaiveDate>,
    pub birth_weight_grams: Option<i32>,
    /// 性別, where recorded (HPV is routine for girls).
    pub sex: Option<Sex>,
    /// Recorded vaccination doses (接種記録).
    pub doses: Vec<Dose>,
    /// How a pregnancy ended or the child died (`ChildStatus::withdrawn`), from its event.
    pub ending: Option<Ending>,
    /// The day nonstop learnt of the child (Asia/Tokyo): reminders dated before it were never
    /// sent (`Procedure::catch_up`).
    pub recorded_on: Option<NaiveDate>,
}

/// The end of a pregnancy (流産・死産) or a child's death: the day, and for a pregnancy the
/// two thresholds of the law it reached (the weeks themselves are not kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ending {
    pub on: NaiveDate,
    /// 妊娠12週0日 or later (妊娠第4月以後): a 死産 to register (死産の届出に関する規程 第2条).
    pub from_12_weeks: bool,
    /// 妊娠85日 (12週1日) or later: a 出産 for 出産育児一時金 and the 産前産後 exemptions.
    pub from_85_days: bool,
}

impl ChildFacts {
    /// Whether two children come from one pregnancy (多胎): the same due date, or born at most
    /// a day apart (twins either side of midnight; two pregnancies cannot be that close).
    fn same_pregnancy(&self, other: &ChildFacts) -> bool {
        let same_due = self.due_date.is_some() && self.due_date == other.due_date;
        let born_together = self.birth_date.zip(other.birth_date).is_some_and(|(a, b)| (a - b).num_days().abs() <= 1);
        same_due || born_together
    }

    /// The date that orders the children of one pregnancy: the birth, else the due date.
    fn first_date(&self) -> Option<NaiveDate> {
        self.birth_date.or(self.due_date)
    }

    /// Whether a dose of a procedure is recorded.
    fn dosed(&self, procedure_id: &str) -> bool {
        self.doses.iter().any(|d| d.procedure == procedure_id)
    }
}

/// A task the family closed: it stays closed whatever the planner computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closure {
    Done,
    Dismissed,
}

/// What the planner knows of a family.
#[derive(Clone, Debug)]
pub struct FamilyFacts {
    pub family_id: String,
    pub municipality_code: String,
    pub health_insurance: Option<HealthInsurance>,
    pub single_parent: bool,
    pub circumstances: Vec<Circumstance>,
    /// Each guardian's nationality (ISO 3166-1 alpha-2), where given.
    pub guardian_nationalities: Vec<Option<String>>,
    /// Each guardian's relationship to the children, in the order of `guardian_nationalities`
    /// (one missing is read as `other`: it makes no child Japanese).
    pub guardian_relationships: Vec<Relationship>,
    /// Whether the parents are married to each other (a Japanese father makes the child Japanese
    /// at birth only then, or by 胎児認知: 国籍法 第2条).
    pub parents_married: Option<bool>,
    pub quiet_hours: QuietHours,
    /// The date of the latest move, if any.
    pub moved_on: Option<NaiveDate>,
    /// The latest move's 転出予定日, when it recorded one.
    pub planned_move_out_on: Option<NaiveDate>,
    /// The latest move stayed within the municipality (市内転居): no 転入 procedures.
    pub moved_within_municipality: bool,
    pub children: Vec<ChildFacts>,
    /// Closed tasks by closure key (`subject/procedure/occurrence`).
    pub closed: BTreeMap<String, Closure>,
}

/// One task of the plan.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedTask<'a> {
    /// Stable: `subject/procedure/occurrence`, plus `@municipality` for municipal procedures, so
    /// that a move plans them anew under the new municipality.
    pub key: String,
    /// The key without the municipality: a task done before a move stays done.
    pub closure_key: String,
    pub procedure: &'a Procedure,
    pub child_id: Option<String>,
    pub municipality_code: String,
    /// 0 for once-only tasks, the year for yearly ones, YYYYMMDD of the move for moves.
    pub occurrence: i32,
    pub opens_on: NaiveDate,
    /// The end of the window (the closing date, or else the deadline).
    pub closes_on: NaiveDate,
    /// The deadline after any move off a closed day.
    pub deadline: Option<NaiveDate>,
    /// The deadline as counted (法定の期限), before any move off a closed day.
    pub raw_deadline: Option<NaiveDate>,
    /// Why the task applies, in plain words.
    pub reasons: Vec<String>,
    pub office: Option<&'a Office>,
    pub closure: Option<Closure>,
}

/// One reminder of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedNotification {
    /// Stable: `family/task key/r<reminder number>`.
    pub key: String,
    pub task_key: String,
    /// The reminder's index in the procedure's list.
    pub reminder: usize,
    /// The local date it is meant for.
    pub date: NaiveDate,
    /// When to send it: 9:00 on that date in Asia/Tokyo, moved out of the family's quiet hours.
    pub send_at: DateTime<Utc>,
}

/// Everything planned for a family.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan<'a> {
    pub tasks: Vec<PlannedTask<'a>>,
    pub notifications: Vec<PlannedNotification>,
}

/// The instant to send a reminder meant for `date`.
pub fn reminder_instant(date: NaiveDate, quiet: QuietHours) -> DateTime<Utc> {
    let nominal = date.and_time(NaiveTime::from_hms_opt(REMINDER_TIME.0, REMINDER_TIME.1, 0).unwrap_or(NaiveTime::MIN));
    local_instant(quiet.next_allowed(nominal))
}

/// A wall-clock time in Japan as an instant (Japan has no daylight saving time).
pub fn local_instant(local: chrono::NaiveDateTime) -> DateTime<Utc> {
    Tokyo.from_local_datetime(&local).single().map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
}

/// The anchor a procedure is counted from, per subject.
struct Occurrence<'c> {
    child: Option<&'c ChildFacts>,
    /// The loss a household procedure after a lost pregnancy or a child's death answers.
    ending: Option<Ending>,
    anchor: NaiveDate,
    /// A dose's series: its first dose, the schedule chosen by how it went, and the day after
    /// the window of a dose passed over (`series::NextDose`).
    series: Option<NextDose>,
    /// What the deadline counts from: the anchor, or a move's 転出予定日.
    deadline_anchor: NaiveDate,
    occurrence: i32,
    reason: String,
}

impl Occurrence<'_> {
    /// The date a rule counts from: the occurrence's anchor, or the child's birth or due date.
    fn anchor_for(&self, rule: &DateRule) -> NaiveDate {
        let child = |date: fn(&ChildFacts) -> Option<NaiveDate>| self.child.and_then(date).unwrap_or(self.anchor);
        match rule.from {
            CountedFrom::Trigger => self.anchor,
            CountedFrom::Birth => child(|c| c.birth_date),
            CountedFrom::DueDate => child(|c| c.due_date),
            CountedFrom::SeriesStart => self.series.as_ref().map_or(self.anchor, |s| s.series_start),
        }
    }

    /// A rule of the procedure for this occurrence: the municipality's setting, else the
    /// schedule of the child's series, else the catalog's.
    fn rule<'r>(
        &'r self,
        setting: Option<&'r DateRule>,
        of_variant: fn(&DoseVariant) -> Option<&DateRule>,
        catalog: Option<&'r DateRule>,
    ) -> Option<&'r DateRule> {
        setting.or_else(|| self.series.as_ref().and_then(|s| s.variant.as_ref()).and_then(of_variant)).or(catalog)
    }
}

/// Plans every task and reminder of a family.
pub fn plan<'a>(
    facts: &FamilyFacts,
    ctx: &'a PlanningContext,
    settings: &'a ResolvedOverride,
    today: NaiveDate,
) -> Plan<'a> {
    let mut plan = Plan::default();
    for procedure in &ctx.catalog.procedures {
        let setting = settings.procedure(&procedure.id);
        if setting.and_then(|s| s.enabled) == Some(false) {
            continue;
        }
        let setting_opens = setting.and_then(|s| s.opens.as_ref());
        let setting_closes = setting.and_then(|s| s.closes.as_ref());
        let setting_deadline = setting.and_then(|s| s.deadline.as_ref());
        // The round a yearly procedure is in ends by the municipality's own dates, not the catalog's.
        let ends_rule = setting_deadline
            .or(procedure.deadline.as_ref())
            .or(setting_closes)
            .or(procedure.closes.as_ref())
            .unwrap_or(setting_opens.unwrap_or(&procedure.opens));
        // Only the receiving office's closed days move a date (a national office keeps none of the
        // municipality's own).
        let extra_closed = procedure.receiving_office.extra_closed(&settings.extra_closed);
        for occ in occurrences(procedure, facts, ends_rule, ctx, extra_closed, today) {
            let opens_rule =
                occ.rule(setting_opens, |v| v.opens.as_ref(), Some(&procedure.opens)).unwrap_or(&procedure.opens);
            let closes_rule = occ.rule(setting_closes, |v| v.closes.as_ref(), procedure.closes.as_ref());
            let deadline_rule = occ.rule(setting_deadline, |v| v.deadline.as_ref(), procedure.deadline.as_ref());
            let not_before_rule = occ.rule(None, |v| v.not_before.as_ref(), procedure.not_before.as_ref());
            let Some(reasons) = applies(procedure, facts, &occ, opens_rule, ctx, extra_closed) else {
                continue;
            };
            let siblings = occ.child.filter(|_| procedure.per_pregnancy).map_or(0, |child| {
                facts.children.iter().filter(|other| other.id != child.id && child.same_pregnancy(other)).count()
            });
            let pregnancy = (siblings > 0).then(|| format!("once for the {} children of this pregnancy", siblings + 1));
            let date = |rule: &DateRule| rule.date(occ.anchor_for(rule), &ctx.calendar, extra_closed);
            let passed_over = occ.series.as_ref().and_then(|s| s.not_before).unwrap_or(NaiveDate::MIN);
            let opens_on = date(opens_rule).max(not_before_rule.map_or(NaiveDate::MIN, date)).max(passed_over);
            let deadline_anchor = |rule: &DateRule| match rule.from {
                CountedFrom::Trigger => occ.deadline_anchor,
                _ => occ.anchor_for(rule),
            };
            let mut deadline = deadline_rule.map(|r| r.date(deadline_anchor(r), &ctx.calendar, extra_closed));
            let raw_deadline = deadline_rule.map(|r| r.raw_date(deadline_anchor(r), &ctx.calendar, extra_closed));
            // A recommended date is advice: for a dose that can only open after it (a series
            // started late), the advice is to go as soon as the window opens.
            if procedure.deadline_kind == DeadlineKind::Recommended {
                deadline = deadline.map(|d| d.max(opens_on));
            }
            let closes_on = closes_rule.map(date).or(deadline).unwrap_or(opens_on);
            if closes_on < opens_on {
                // The dose came too late for the window that remains (e.g. after the legal age).
                continue;
            }
            if periods::shift_days(closes_on, PAST_DAYS_KEPT) < today {
                continue;
            }
            let subject = occ.child.map_or("household", |c| c.id.as_str());
            let closure_key = format!("{subject}/{}/{}", procedure.id, occ.occurrence);
            let key = match procedure.files_with {
                FilesWith::Municipality => format!("{closure_key}@{}", facts.municipality_code),
                _ => closure_key.clone(),
            };
            // A recorded dose closes its task, whether or not the task was ever planned.
            let dosed = occ.child.is_some_and(|c| c.dosed(&procedure.id)).then_some(Closure::Done);
            let closure = facts.closed.get(&closure_key).copied().or(dosed);
            let task = PlannedTask {
                procedure,
                child_id: occ.child.map(|c| c.id.clone()),
                municipality_code: facts.municipality_code.clone(),
                occurrence: occ.occurrence,
                opens_on,
                closes_on,
                deadline,
                raw_deadline,
                reasons: std::iter::once(occ.reason).chain(reasons).chain(pregnancy).collect(),
                office: setting.and_then(|s| s.office.as_ref()),
                closure,
                closure_key,
                key,
            };
            if closure.is_none() {
                let recorded_on = occ.child.and_then(|c| c.recorded_on);
                let office = (&ctx.calendar, extra_closed);
                add_reminders(&mut plan.notifications, facts, &task, occ.anchor, recorded_on, today, office);
            }
            plan.tasks.push(task);
        }
    }
    plan
}

/// The instances of a procedure the family has: one per matching child, the household's, or
/// this year's (next year's once this year's has passed).
fn occurrences<'c>(
    procedure: &Procedure,
    facts: &'c FamilyFacts,
    ends_rule: &DateRule,
    ctx: &PlanningContext,
    extra_closed: &[MonthDay],
    today: NaiveDate,
) -> Vec<Occurrence<'c>> {
    // A child lost is never a task's subject again (`ChildStatus::withdrawn`). A procedure per
    // pregnancy is planned for the first child of it only: the first born, and among children
    // born the same day (or still expected) the first the family recorded.
    let children = facts.children.iter().enumerate().filter(|(index, child)| {
        !child.status.withdrawn()
            && (!procedure.per_pregnancy
                || !facts.children.iter().enumerate().any(|(other_index, other)| {
                    other_index != *index
                        && !other.status.withdrawn()
                        && child.same_pregnancy(other)
                        && (other.first_date(), other_index) < (child.first_date(), *index)
                }))
    });
    let children = children.map(|(_, child)| child);
    match procedure.trigger {
        Trigger::DueDate => children
            .filter(|c| c.status == ChildStatus::Expected || procedure.continues_after_birth)
            .filter_map(|c| {
                c.due_date.map(|due| Occurrence {
                    ending: None,
                    child: Some(c),
                    anchor: due,
                    series: None,
                    deadline_anchor: due,
                    occurrence: 0,
                    reason: format!("due date {due}"),
                })
            })
            .collect(),
        Trigger::Birth => children
            .filter(|c| c.status == ChildStatus::Born)
            .filter_map(|c| {
                c.birth_date.map(|born| Occurrence {
                    ending: None,
                    child: Some(c),
                    anchor: born,
                    series: None,
                    deadline_anchor: born,
                    occurrence: 0,
                    reason: format!("born {born}"),
                })
            })
            .collect(),
        Trigger::Dose => children
            .filter(|c| c.status == ChildStatus::Born)
            .filter_map(|c| {
                let series = Series::new(&ctx.catalog, &c.doses, c.birth_date?, &ctx.calendar, extra_closed);
                let next = series.next(procedure)?;
                let mut reason = format!("{} given {}", next.after_procedure, next.after);
                for passed in &next.passed_over {
                    reason.push_str(&format!("; {passed} not given (the series moves on)"));
                }
                Some(Occurrence {
                    ending: None,
                    child: Some(c),
                    anchor: next.after,
                    deadline_anchor: next.after,
                    occurrence: 0,
                    reason,
                    series: Some(next),
                })
            })
            .collect(),
        // A move during a pregnancy: one for each child expected after the move.
        Trigger::Moved if procedure.subject == Subject::Child => facts
            .moved_on
            .map(|moved| {
                children
                    .filter(|c| c.status == ChildStatus::Expected && c.due_date.is_some_and(|due| due > moved))
                    .map(|c| Occurrence {
                        ending: None,
                        child: Some(c),
                        anchor: moved,
                        series: None,
                        deadline_anchor: moved,
                        occurrence: day_number(moved),
                        reason: format!("moved to {} on {moved} while expecting", facts.municipality_code),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        Trigger::Moved => facts
            .moved_on
            .map(|moved| {
                let planned = facts.planned_move_out_on.filter(|_| procedure.deadline_from_planned_move_out);
                let reason = match planned {
                    Some(out) => format!("moved to {} on {moved} (planned move-out {out})", facts.municipality_code),
                    None => format!("moved to {} on {moved}", facts.municipality_code),
                };
                Occurrence {
                    ending: None,
                    child: None,
                    anchor: moved,
                    series: None,
                    deadline_anchor: planned.unwrap_or(moved),
                    occurrence: day_number(moved),
                    reason,
                }
            })
            .into_iter()
            .collect(),
        Trigger::PregnancyEnded | Trigger::ChildDied => {
            let status = if procedure.trigger == Trigger::PregnancyEnded {
                ChildStatus::PregnancyEnded
            } else {
                ChildStatus::Died
            };
            // One occurrence per day of loss: twins lost together are one filing, one push.
            let mut by_day: BTreeMap<NaiveDate, Ending> = BTreeMap::new();
            for ending in facts.children.iter().filter(|c| c.status == status).filter_map(|c| c.ending) {
                by_day
                    .entry(ending.on)
                    .and_modify(|e| {
                        e.from_12_weeks |= ending.from_12_weeks;
                        e.from_85_days |= ending.from_85_days;
                    })
                    .or_insert(ending);
            }
            by_day
                .into_values()
                .map(|ending| Occurrence {
                    child: None,
                    ending: Some(ending),
                    series: None,
                    anchor: ending.on,
                    deadline_anchor: ending.on,
                    occurrence: day_number(ending.on),
                    reason: format!("{} on {}", procedure.trigger, ending.on),
                })
                .collect()
        }
        Trigger::Yearly => {
            // This year's occurrence while its window has not ended, else next year's.
            let this_year = chrono::Datelike::year(&today);
            let ends = |year: i32| {
                let anchor = NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or(today);
                ends_rule.date(anchor, &ctx.calendar, extra_closed)
            };
            let year = if ends(this_year) >= today { this_year } else { this_year + 1 };
            let anchor = NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or(today);
            let reason = format!("every year ({year})");
            match procedure.subject {
                Subject::Household => {
                    vec![Occurrence {
                        child: None,
                        ending: None,
                        anchor,
                        series: None,
                        deadline_anchor: anchor,
                        occurrence: year,
                        reason,
                    }]
                }
                Subject::Child => children
                    .filter(|c| c.status == ChildStatus::Born)
                    .map(|c| Occurrence {
                        ending: None,
                        child: Some(c),
                        anchor,
                        series: None,
                        deadline_anchor: anchor,
                        occurrence: year,
                        reason: reason.clone(),
                    })
                    .collect(),
            }
        }
    }
}

/// A day as the number YYYYMMDD: the occurrence of a task planned once per event day.
fn day_number(day: NaiveDate) -> i32 {
    day.format("%Y%m%d").to_string().parse().unwrap_or(0)
}

/// The reasons a procedure applies to this occurrence, or `None` when a condition fails.
fn applies(
    procedure: &Procedure,
    facts: &FamilyFacts,
    occ: &Occurrence<'_>,
    opens_rule: &DateRule,
    ctx: &PlanningContext,
    extra_closed: &[MonthDay],
) -> Option<Vec<String>> {
    let mut reasons = Vec::with_capacity(procedure.conditions.len());
    for condition in &procedure.conditions {
        let reason = match condition {
            Condition::HealthInsurance { is } => {
                (facts.health_insurance == Some(*is)).then(|| format!("health insurance: {is}"))
            }
            Condition::HealthInsuranceUnknown => {
                facts.health_insurance.is_none().then(|| "health insurance not given".to_owned())
            }
            Condition::BornOnOrAfter { date } => {
                let born = occ.child.and_then(|c| c.birth_date)?;
                (born >= *date).then(|| format!("born on or after {date}"))
            }
            Condition::BornBefore { date } => {
                let born = occ.child.and_then(|c| c.birth_date)?;
                (born < *date).then(|| format!("born before {date}"))
            }
            Condition::BirthWeightBelow { grams } => {
                let weight = occ.child.and_then(|c| c.birth_weight_grams)?;
                (weight < *grams).then(|| format!("birth weight {weight} g, under {grams} g"))
            }
            Condition::SingleParent => facts.single_parent.then(|| "single-parent household".to_owned()),
            Condition::Circumstance { is } => facts.circumstances.contains(is).then(|| format!("circumstance: {is}")),
            Condition::PreschoolNextApril => {
                let born = occ.child.and_then(|c| c.birth_date)?;
                let opens = opens_rule.date(occ.anchor, &ctx.calendar, extra_closed);
                let april = periods::first_april_1_after(opens);
                (periods::school_entry(born) > april).then(|| format!("not yet at school on {april}"))
            }
            Condition::ChildAgeBelow { years } => {
                let born = occ.child.and_then(|c| c.birth_date)?;
                let opens = opens_rule.date(occ.anchor, &ctx.calendar, extra_closed);
                (opens <= periods::age_reached(born, *years)).then(|| format!("younger than {years} on {opens}"))
            }
            Condition::HouseholdHasChildBelow { years } => {
                household_child_until(facts, occ.anchor, |born| periods::age_reached(born, *years))
                    .then(|| format!("a child younger than {years}"))
            }
            Condition::HouseholdHasChildThroughMarchAfter { years } => {
                household_child_until(facts, occ.anchor, |born| periods::first_march_31_after_reaching(born, *years))
                    .then(|| format!("a child until the 31 March after turning {years}"))
            }
            Condition::OtherChildThroughMarchAfter { years } => other_child_counts(facts, occ, *years)
                .then(|| format!("another child until the 31 March after turning {years}")),
            Condition::OtherChildBetweenMarchAfter { from, to } => other_child_between(facts, occ, *from, *to)
                .then(|| format!("another child past the 31 March after turning {from}, until the one after {to}")),
            Condition::NoOtherChildThroughMarchAfter { years } => {
                (!other_child_counts(facts, occ, *years)).then(|| "the first child the allowance counts".to_owned())
            }
            Condition::NotCircumstance { is } => {
                (!facts.circumstances.contains(is)).then(|| format!("not the circumstance: {is}"))
            }
            Condition::ChildSexIsNot { is } => {
                let child = occ.child?;
                (child.sex != Some(*is)).then(|| match child.sex {
                    Some(sex) => format!("sex: {sex}"),
                    None => "sex not recorded".to_owned(),
                })
            }
            Condition::ChildForeignNational => {
                let guardians = facts.guardian_nationalities.iter().enumerate().map(|(index, nationality)| {
                    let relationship = facts.guardian_relationships.get(index).copied().unwrap_or(Relationship::Other);
                    (relationship, nationality.as_deref())
                });
                let foreign: Vec<&str> =
                    facts.guardian_nationalities.iter().flatten().map(String::as_str).filter(|c| *c != "JP").collect();
                match nationality::at_birth(guardians, facts.parents_married) {
                    ChildNationality::Japanese => None,
                    ChildNationality::NotJapanese => {
                        Some(format!("no guardian of Japanese nationality ({})", foreign.join(", ")))
                    }
                    // Unsure, with a foreign parent: planned, for the case the child is not
                    // Japanese, rather than dropped on a guess.
                    ChildNationality::Unsure if !foreign.is_empty() => Some(format!(
                        "a guardian of foreign nationality ({}) and nothing recorded that makes the child Japanese at \
                         birth (a Japanese mother, or a Japanese father married to her or who acknowledged the child \
                         before the birth)",
                        foreign.join(", ")
                    )),
                    ChildNationality::Unsure => None,
                }
            }
            Condition::EndedFrom12Weeks => occ.ending?.from_12_weeks.then(|| "from 12 weeks of pregnancy".to_owned()),
            Condition::EndedFrom85Days => occ.ending?.from_85_days.then(|| "from 85 days of pregnancy".to_owned()),
            Condition::MovedFromAnotherMunicipality => {
                (!facts.moved_within_municipality).then(|| "moved in from another municipality".to_owned())
            }
            Condition::MovedWithinMunicipality => {
                facts.moved_within_municipality.then(|| "moved within the municipality".to_owned())
            }
        };
        reasons.push(reason?);
    }
    Some(reasons)
}

/// Whether an older child of the household (born before this one: twins are claimed together)
/// still counts for the child allowance on the occurrence's date.
fn other_child_counts(facts: &FamilyFacts, occ: &Occurrence<'_>, years: i64) -> bool {
    let this = occ.child.map(|c| c.id.as_str());
    facts
        .children
        .iter()
        .filter(|c| Some(c.id.as_str()) != this && c.status == ChildStatus::Born)
        .filter_map(|c| c.birth_date)
        .any(|born| born < occ.anchor && occ.anchor <= periods::first_march_31_after_reaching(born, years))
}

/// Whether another born child is, on the occurrence's day, past the 31 March after turning
/// `from` and not past the one after turning `to`.
fn other_child_between(facts: &FamilyFacts, occ: &Occurrence<'_>, from: i64, to: i64) -> bool {
    let this = occ.child.map(|c| c.id.as_str());
    facts
        .children
        .iter()
        .filter(|c| Some(c.id.as_str()) != this && c.status == ChildStatus::Born)
        .filter_map(|c| c.birth_date)
        .any(|born| {
            periods::first_march_31_after_reaching(born, from) < occ.anchor
                && occ.anchor <= periods::first_march_31_after_reaching(born, to)
        })
}

/// Whether a born child of the household is, on `on`, born and not past `until(birth)`.
fn household_child_until(facts: &FamilyFacts, on: NaiveDate, until: impl Fn(NaiveDate) -> NaiveDate) -> bool {
    // A child who died no longer makes the household a family with a child of that age.
    let living = facts.children.iter().filter(|c| c.status == ChildStatus::Born);
    living.filter_map(|c| c.birth_date).any(|born| born <= on && on <= until(born))
}

fn add_reminders(
    out: &mut Vec<PlannedNotification>,
    facts: &FamilyFacts,
    task: &PlannedTask<'_>,
    anchor: NaiveDate,
    recorded_on: Option<NaiveDate>,
    today: NaiveDate,
    (calendar, extra_closed): (&Calendar, &[MonthDay]),
) {
    let first = out.len();
    // The date the reminders count days left to (the template's `due`).
    let due = task.deadline.unwrap_or(task.closes_on);
    let last = due.max(task.closes_on);
    let dates = task.procedure.reminders.iter().map(|reminder| {
        let base = match reminder.from {
            ReminderBase::Opens => task.opens_on,
            ReminderBase::Deadline => due,
            ReminderBase::Anchor => anchor,
            ReminderBase::Closes => task.closes_on,
        };
        let date = periods::shift_days(base, reminder.days);
        // 「本日が期限です」 on a day the office is closed (a municipality's own deadline, a
        // recommended date, not moved off closed days) cannot be acted on: that push goes out on
        // the last open day before, where it says how many days are left; when that day has
        // passed, or comes before the window opens, there is none.
        if date == due && !calendar.is_open_day(date, extra_closed) {
            let before = calendar.previous_open_day(date, extra_closed);
            return (before != due && before >= task.opens_on).then_some(before);
        }
        Some(date)
    });
    let mut push = |key: String, index: usize, date: NaiveDate| {
        // Not in the past, not after the window, and one reminder a day.
        if date < today || date > last || out[first..].iter().any(|n| n.date == date) {
            return;
        }
        let send_at = reminder_instant(date, facts.quiet_hours);
        out.push(PlannedNotification { key, task_key: task.key.clone(), reminder: index, date, send_at });
    };
    let mut all_before_recorded = true;
    for (index, date) in dates.enumerate() {
        let Some(date) = date else { continue };
        all_before_recorded &= recorded_on.is_some_and(|recorded| date < recorded);
        push(format!("{}/{}/r{index}", facts.family_id, task.key), index, date);
    }
    // Every reminder fell before nonstop knew of the child: one push on the day it learnt, if
    // the window is open then. The date is the recording day, so re-planning keeps the key.
    if let (true, Some(recorded)) = (task.procedure.catch_up && all_before_recorded, recorded_on) {
        if (task.opens_on..=last).contains(&recorded) {
            push(format!("{}/{}/catch_up", facts.family_id, task.key), 0, recorded);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Days, Timelike};

    use crate::domain::catalog::{ClosedDay, FilesWith, ProcedureKind, Reminder};

    fn d(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
    }

    fn family(municipality: &str, children: Vec<ChildFacts>) -> FamilyFacts {
        FamilyFacts {
            family_id: "fam".into(),
            municipality_code: municipality.into(),
            health_insurance: Some(HealthInsurance::National),
            single_parent: false,
            circumstances: vec![],
            guardian_nationalities: vec![Some("JP".into())],
            guardian_relationships: vec![Relationship::Mother],
            parents_married: None,
            quiet_hours: QuietHours::default(),
            moved_on: None,
            planned_move_out_on: None,
            moved_within_municipality: false,
            children,
            closed: BTreeMap::new(),
        }
    }

    fn born(id: &str, date: NaiveDate, grams: i32) -> ChildFacts {
        ChildFacts {
            id: id.into(),
            status: ChildStatus::Born,
            due_date: None,
            birth_date: Some(date),
            birth_weight_grams: Some(grams),
            sex: None,
            doses: vec![],
            ending: None,
            recorded_on: None,
        }
    }

    fn expected(id: &str, due: NaiveDate) -> ChildFacts {
        ChildFacts {
            id: id.into(),
            status: ChildStatus::Expected,
            due_date: Some(due),
            birth_date: None,
            birth_weight_grams: None,
            sex: None,
            doses: vec![],
            ending: None,
            recorded_on: None,
        }
    }

    fn ids<'a>(plan: &'a Plan<'_>) -> Vec<&'a str> {
        plan.tasks.iter().map(|t| t.procedure.id.as_str()).collect()
    }

    fn task<'p, 'a>(plan: &'p Plan<'a>, id: &str) -> &'p PlannedTask<'a> {
        plan.tasks.iter().find(|t| t.procedure.id == id).unwrap_or_else(|| panic!("{id} not planned: {:?}", ids(plan)))
    }

    #[test]
    fn an_expected_child_gets_the_pregnancy_tasks_only() {
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let plan = plan(&family("131016", vec![expected("c1", d("2027-05-01"))]), &ctx, &settings, d("2026-11-22"));
        let planned = ids(&plan);
        for id in
            ["pregnancy_notification", "prenatal_checkups", "maternal_rsv_vaccine", "kokuho_prenatal_premium_exemption"]
        {
            assert!(planned.contains(&id), "{id} missing from {planned:?}");
        }
        assert!(!planned.contains(&"birth_registration"));
        let rsv = task(&plan, "maternal_rsv_vaccine");
        assert_eq!((rsv.opens_on, rsv.closes_on), (d("2027-02-06"), d("2027-04-09")), "28w0d to 36w6d");
    }

    #[test]
    fn a_birth_gets_the_post_birth_tasks_with_legal_deadlines() {
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let plan = plan(&family("131016", vec![born("c1", d("2026-12-18"), 3000)]), &ctx, &settings, d("2026-12-19"));
        let birth = task(&plan, "birth_registration");
        assert_eq!((birth.raw_deadline, birth.deadline), (Some(d("2026-12-31")), Some(d("2027-01-04"))));
        assert_eq!(task(&plan, "child_allowance_claim").deadline, Some(d("2027-01-04")));
        assert_eq!(task(&plan, "kokuho_enrollment").deadline, Some(d("2027-01-04")));
        assert!(birth.reasons[0].contains("born 2026-12-18"));
        assert_eq!(birth.key, "c1/birth_registration/0@131016");
        assert!(birth.office.is_some_and(|o| o.name.contains("千代田")), "the municipality's office");
        // 1歳6か月児健診: from the day after reaching 18 months to the day the child reaches 2.
        let checkup = task(&plan, "checkup_18_months");
        assert_eq!(checkup.opens_on, d("2028-06-18"));
        assert_eq!(checkup.raw_deadline, Some(d("2028-12-17")));
    }

    #[test]
    fn conditions_choose_the_tasks() {
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let today = d("2026-11-22");
        let light = plan(&family("131016", vec![born("c1", d("2026-11-20"), 2400)]), &ctx, &settings, today);
        assert!(ids(&light).contains(&"low_birth_weight_notification"));
        assert!(task(&light, "low_birth_weight_notification").reasons.iter().any(|r| r.contains("2400 g")));
        let heavy = plan(&family("131016", vec![born("c1", d("2026-11-20"), 3000)]), &ctx, &settings, today);
        assert!(!ids(&heavy).contains(&"low_birth_weight_notification"));

        assert!(ids(&heavy).contains(&"kokuho_enrollment") && !ids(&heavy).contains(&"employee_insurance_dependent"));
        let mut employee = family("131016", vec![born("c1", d("2026-11-20"), 3000)]);
        employee.health_insurance = Some(HealthInsurance::Employee);
        let employee = plan(&employee, &ctx, &settings, today);
        assert!(
            !ids(&employee).contains(&"kokuho_enrollment") && ids(&employee).contains(&"employee_insurance_dependent")
        );

        let mut single = family("131016", vec![born("c1", d("2024-11-20"), 3000)]);
        assert!(!ids(&plan(&single, &ctx, &settings, today)).contains(&"child_support_allowance_status_report"));
        single.single_parent = true;
        single.circumstances = vec![Circumstance::ReceivesChildSupportAllowance];
        let single = plan(&single, &ctx, &settings, today);
        let report = task(&single, "child_support_allowance_status_report");
        assert_eq!(
            (report.occurrence, report.opens_on, report.deadline),
            (2027, d("2027-08-01"), Some(d("2027-08-31")))
        );
    }

    #[test]
    fn procedures_of_the_pregnancy_that_go_on_after_the_birth_stay() {
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let mut facts = family("131016", vec![expected("c1", d("2027-03-01"))]);
        facts.health_insurance = Some(HealthInsurance::National);
        let before = plan(&facts, &ctx, &settings, d("2027-02-01"));
        for id in ["pregnancy_support_payment_second", "kokuho_prenatal_premium_exemption", "prenatal_checkups"] {
            assert!(ids(&before).contains(&id), "{id} planned during the pregnancy");
        }
        // Born early, on 2/20: the due date is kept with the child.
        facts.children[0].status = ChildStatus::Born;
        facts.children[0].birth_date = Some(d("2027-02-20"));
        facts.children[0].birth_weight_grams = Some(3000);
        let after = plan(&facts, &ctx, &settings, d("2027-02-22"));
        let second = task(&after, "pregnancy_support_payment_second");
        assert_eq!(second.deadline, Some(d("2027-03-29")), "still counted from the due date");
        assert!(ids(&after).contains(&"kokuho_prenatal_premium_exemption"));
        assert!(!ids(&after).contains(&"prenatal_checkups"), "the birth ends the checkups of the pregnancy");
    }

    #[test]
    fn a_yearly_round_runs_to_the_end_the_municipality_set() {
        let ctx = PlanningContext::shipped();
        let staff: MunicipalityOverride = toml::from_str(
            r#"
            [procedures.child_allowance_status_report]
            opens = { rule = "month_day", on = "11-04" }
            deadline = { rule = "month_day", on = "11-14" }
            "#,
        )
        .expect("override");
        let settings = ctx.resolve("131016", Some(&staff));
        let mut facts = family("131016", vec![born("c1", d("2024-11-20"), 3000)]);
        facts.circumstances = vec![Circumstance::ChildAllowanceStatusReportRequired];
        // On 11/05 this year's round (11/04–11/14) is running: it stays, next year's is not planned.
        let running = plan(&facts, &ctx, &settings, d("2026-11-05"));
        let report = task(&running, "child_allowance_status_report");
        assert_eq!((report.occurrence, report.deadline), (2026, Some(d("2026-11-14"))), "the municipality's own round");
        // Once it has ended, next year's.
        let ended = plan(&facts, &ctx, &settings, d("2026-11-17"));
        let report = task(&ended, "child_allowance_status_report");
        assert_eq!((report.occurrence, report.opens_on), (2027, d("2027-11-04")));
    }

    #[test]
    fn a_municipal_deadline_is_not_extended_past_closed_days_unless_the_municipality_says_so() {
        // 地方自治法 第4条の2第4項 extends periods set by 法律・命令. A municipality's own deadline
        // (its 募集要項, its 条例) moves only where its 休日条例 has a 期限の特例 clause.
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let toddler = family("131016", vec![born("c1", d("2025-06-01"), 3000)]);
        let nursery = plan(&toddler, &ctx, &settings, d("2026-09-20"));
        let nursery = task(&nursery, "nursery_april_application");
        assert_eq!(nursery.procedure.deadline_kind, DeadlineKind::Municipal);
        assert_eq!(nursery.deadline, Some(d("2026-10-31")), "a Saturday, kept");
        // Born 11/14: the 15-day subsidy date 11/29 is a Sunday and stays; the 国保 届出 (law,
        // 14 days) moves from Saturday 11/28 to Monday 11/30.
        let baby = plan(&family("131016", vec![born("c1", d("2026-11-14"), 3000)]), &ctx, &settings, d("2026-11-20"));
        assert_eq!(task(&baby, "infant_medical_subsidy").deadline, Some(d("2026-11-29")));
        assert_eq!(task(&baby, "kokuho_enrollment").deadline, Some(d("2026-11-30")));
        // A municipality whose 休日条例 extends its own deadlines says so in its settings.
        let extends: MunicipalityOverride = toml::from_str(
            r#"
            [procedures.nursery_april_application]
            deadline = { rule = "month_day", on = "10-31", closed_day = "next" }
            "#,
        )
        .expect("override");
        let extended = ctx.resolve("131016", Some(&extends));
        let nursery = plan(&toddler, &ctx, &extended, d("2026-09-20"));
        assert_eq!(task(&nursery, "nursery_april_application").deadline, Some(d("2026-11-02")));
        // The rotavirus date is the recommended standard, not the legal window.
        let rotavirus = task(&baby, "vaccine_rotavirus").procedure;
        assert_eq!(rotavirus.deadline_kind, DeadlineKind::Recommended);
    }

    #[test]
    fn a_single_parent_is_told_of_the_support_allowance_and_every_toddler_of_drop_in_childcare() {
        // 児童扶養手当法 第7条: paid from the month after the claim, never before it.
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let mut facts = family("131016", vec![born("c1", d("2026-11-20"), 3000)]);
        facts.single_parent = true;
        let planned = plan(&facts, &ctx, &settings, d("2026-11-20"));
        // 11/20 + 14 days (民法140条) = Friday 12/4.
        assert_eq!(task(&planned, "child_support_allowance_claim").deadline, Some(d("2026-12-04")));
        assert!(ids(&planned).contains(&"single_parent_medical_subsidy"));
        // こども誰でも通園制度: from 生後6月に至る日 (2027-05-19) to the eve of the 3rd birthday.
        let drop_in = task(&planned, "child_care_drop_in");
        assert_eq!((drop_in.opens_on, drop_in.closes_on), (d("2027-05-19"), d("2029-11-19")));
        // Already receiving it for an older child: the new child is reported, not claimed anew.
        facts.circumstances = vec![Circumstance::ReceivesChildSupportAllowance];
        let receiving = plan(&facts, &ctx, &settings, d("2026-11-20"));
        assert!(!ids(&receiving).contains(&"child_support_allowance_claim"));
        facts.single_parent = false;
        facts.circumstances = vec![];
        let two_parents = plan(&facts, &ctx, &settings, d("2026-11-20"));
        assert!(!ids(&two_parents).contains(&"child_support_allowance_claim"));
        assert!(!ids(&two_parents).contains(&"single_parent_medical_subsidy"));
        assert!(ids(&two_parents).contains(&"child_care_drop_in"));
    }

    #[test]
    fn employee_parents_hear_of_their_leave_benefits_before_the_maternity_leave() {
        // 健康保険法 第102条: 産前休業 from 42 days before the due date; nonstop tells 12 weeks before.
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let mut facts = family("131016", vec![expected("a", d("2027-05-01")), expected("b", d("2027-05-01"))]);
        facts.health_insurance = Some(HealthInsurance::Employee);
        let planned = plan(&facts, &ctx, &settings, d("2026-11-22"));
        let benefits: Vec<_> = planned.tasks.iter().filter(|t| t.procedure.id == "employee_parent_benefits").collect();
        assert_eq!(benefits.len(), 1, "one for the pregnancy");
        assert_eq!(benefits[0].opens_on, d("2027-02-06"), "2027-05-01 − 84 days");
        facts.health_insurance = Some(HealthInsurance::National);
        assert!(!ids(&plan(&facts, &ctx, &settings, d("2026-11-22"))).contains(&"employee_parent_benefits"));
    }

    #[test]
    fn an_older_child_of_19_to_22_asks_for_the_confirmation_of_the_large_family_addition() {
        // 児童手当法 第6条 (2024-10): 多子加算 counts a child until the 31 March after turning 22,
        // past the one after 18 only with the claimant's 確認書. A baby born 2026-12-01:
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let with_older = |older_born: &str| {
            let facts = family("131016", vec![born("old", d(older_born), 3000), born("baby", d("2026-12-01"), 3000)]);
            let planned = plan(&facts, &ctx, &settings, d("2026-12-01"));
            planned
                .tasks
                .iter()
                .find(|t| t.procedure.id == "child_allowance_multiple_children_confirmation")
                .map(|t| (t.child_id.clone(), t.deadline))
        };
        // Born 2006-06-01: 18 on 2024-05-31, past 2025-03-31; 22 on 2028-05-31, counted to
        // 2029-03-31. With the baby's claim, by its date: a claim in the birth month (the last
        // open day of December, 12/28, before 年末年始) is paid from January, as one within 15 days.
        assert_eq!(with_older("2006-06-01"), Some((Some("baby".to_owned()), Some(d("2026-12-28")))));
        // Born 2008-06-01: 18 on 2026-05-31, still a 児童 until 2027-03-31: no confirmation.
        assert_eq!(with_older("2008-06-01"), None);
        // Born 2003-04-02: 22 on 2025-04-01, counted to 2026-03-31, already past.
        assert_eq!(with_older("2003-04-02"), None);
        // Born 2004-04-02: 22 on 2026-04-01 (the day before the birthday), counted to 2027-03-31.
        assert_eq!(with_older("2004-04-02"), Some((Some("baby".to_owned()), Some(d("2026-12-28")))));
    }

    #[test]
    fn a_child_of_five_is_planned_for_the_five_year_old_class_until_school() {
        // 保育所 takes children until 就学 (学校教育法 第17条: the 1 April after turning 6). The
        // October 2026 round is for April 2027.
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let planned = |born_on: &str| {
            let facts = family("131016", vec![born("c1", d(born_on), 3000)]);
            ids(&plan(&facts, &ctx, &settings, d("2026-09-20"))).contains(&"nursery_april_application")
        };
        // Born 2021-04-02: 5 on 2026-04-01, at school from 2028-04-01: the 5歳児クラス of 2027.
        assert!(planned("2021-04-02"));
        // Born 2021-04-01 (早生まれ): at school from 2027-04-01: not planned.
        assert!(!planned("2021-04-01"));
        assert!(planned("2026-08-01"), "a baby");
    }

    #[test]
    fn the_hearing_screening_is_due_at_one_month_of_age_not_thirty_days() {
        // 1-3-6 rule: screened by 生後1か月. Born 1/31, the baby reaches one month on 2/28 (the
        // month has no 31st); birth + 30 days would say 3/2.
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let plan = plan(&family("131016", vec![born("c1", d("2027-01-31"), 3000)]), &ctx, &settings, d("2027-02-01"));
        assert_eq!(task(&plan, "newborn_hearing_screening").deadline, Some(d("2027-02-28")));
    }

    #[test]
    fn the_pregnancy_notification_is_recommended_by_the_end_of_week_11() {
        // 「妊娠11週以下」 includes 11w6d: due (40w0d) 2027-05-01 − 197 days = Fri 2026-10-16.
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let plan = plan(&family("131016", vec![expected("c1", d("2027-05-01"))]), &ctx, &settings, d("2026-09-01"));
        let notification = task(&plan, "pregnancy_notification");
        assert_eq!(
            (notification.deadline, notification.procedure.deadline_kind),
            (Some(d("2026-10-16")), DeadlineKind::Recommended)
        );
    }

    #[test]
    fn no_deadline_day_push_on_a_day_the_office_is_closed() {
        // 乳幼児医療費助成 (a municipal 15 days, not moved off closed days): born Sat 2026-11-14,
        // the date is Sun 2026-11-29. A push on that Sunday saying 「本日が期限です」 cannot be
        // acted on at a closed office: it goes out on Fri 11/27, the last open day, instead.
        let mut ctx = PlanningContext::shipped();
        let subsidy = ctx.catalog.procedures.iter_mut().find(|p| p.id == "infant_medical_subsidy").expect("procedure");
        subsidy.reminders = vec![
            Reminder { from: ReminderBase::Deadline, days: -7 },
            Reminder { from: ReminderBase::Deadline, days: 0 },
        ];
        let settings = ctx.resolve("131016", None);
        let baby = family("131016", vec![born("c1", d("2026-11-14"), 3000)]);
        let pushes = |today| {
            let plan = plan(&baby, &ctx, &settings, d(today));
            let key = task(&plan, "infant_medical_subsidy").key.clone();
            plan.notifications.iter().filter(|n| n.task_key == key).map(|n| n.date).collect::<Vec<_>>()
        };
        assert_eq!(pushes("2026-11-15"), vec![d("2026-11-22"), d("2026-11-27")]);
        // Planned again on the Saturday: the Friday has passed, and nothing is pushed that weekend.
        assert_eq!(pushes("2026-11-28"), Vec::<NaiveDate>::new());
        // A deadline on an open day keeps its deadline-day push: born Mon 11/16, Tue 12/1.
        let weekday = family("131016", vec![born("c1", d("2026-11-16"), 3000)]);
        let plan = plan(&weekday, &ctx, &settings, d("2026-11-17"));
        let key = task(&plan, "infant_medical_subsidy").key.clone();
        let dates: Vec<NaiveDate> = plan.notifications.iter().filter(|n| n.task_key == key).map(|n| n.date).collect();
        assert_eq!(dates, vec![d("2026-11-24"), d("2026-12-01")]);
    }

    #[test]
    fn the_mother_and_the_newborn_get_their_checks_and_the_premature_baby_its_medical_care() {
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let today = d("2026-11-22");
        // 産婦健康診査 about 2 weeks and 1 month after the birth; 新生児聴覚検査 by 1 month.
        let plan_for =
            |grams| plan(&family("131016", vec![born("c1", d("2026-11-20"), grams)]), &ctx, &settings, today);
        let term = plan_for(3000);
        let mother = task(&term, "maternal_postnatal_checkups");
        assert_eq!((mother.opens_on, mother.closes_on), (d("2026-11-30"), d("2026-12-31")));
        let hearing = task(&term, "newborn_hearing_screening");
        // 生後1か月: the day the baby reaches one month (年齢計算ニ関スル法律), 12/19 for 11/20.
        assert_eq!(
            (hearing.deadline, hearing.procedure.deadline_kind),
            (Some(d("2026-12-19")), DeadlineKind::Recommended)
        );
        // 母子保健法 第20条: 2,000 g or less at birth; 2,001 g is not (but is a 低体重児, under 2,500 g).
        assert!(ids(&plan_for(2000)).contains(&"premature_infant_medical_care"));
        let heavier = plan_for(2001);
        assert!(!ids(&heavier).contains(&"premature_infant_medical_care"));
        assert!(ids(&heavier).contains(&"low_birth_weight_notification"));
        assert!(!ids(&term).contains(&"premature_infant_medical_care"));
    }

    #[test]
    fn national_pension_exemptions_open_six_months_before_the_due_date_and_last_to_the_first_birthday() {
        // 国民年金法 第88条の2 (届出は出産予定日の6か月前から) and 第88条の3 (from 2026-10-01, until 1).
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let mut expecting = family("131016", vec![expected("c1", d("2027-05-10"))]);
        expecting.health_insurance = Some(HealthInsurance::National);
        let plan_before = plan(&expecting, &ctx, &settings, d("2026-11-22"));
        assert_eq!(task(&plan_before, "national_pension_prenatal_exemption").opens_on, d("2026-11-10"));
        let mut parents = family("131016", vec![born("c1", d("2026-11-20"), 3000)]);
        parents.health_insurance = Some(HealthInsurance::National);
        let after = plan(&parents, &ctx, &settings, d("2026-11-22"));
        assert_eq!(
            task(&after, "national_pension_childcare_exemption").closes_on,
            d("2027-11-19"),
            "the day before the 1st birthday"
        );
        // A household on employees' insurance is not asked.
        parents.health_insurance = Some(HealthInsurance::Employee);
        assert!(
            !ids(&plan(&parents, &ctx, &settings, d("2026-11-22"))).contains(&"national_pension_childcare_exemption")
        );
    }

    #[test]
    fn a_child_born_before_the_childcare_exemption_began_is_not_told_it_is_exempt() {
        // 国民年金法 第88条の3, in force from 2026-10-01: a child born before that day is the
        // transitional case (no month before October 2026 is exempt); one born a year before is
        // already 1 on that day.
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let plan_for = |born_on: &str| {
            let facts = family("131016", vec![born("c1", d(born_on), 3000)]);
            let planned = plan(&facts, &ctx, &settings, d(born_on));
            let has = |id: &str| ids(&planned).contains(&id);
            (has("national_pension_childcare_exemption"), has("national_pension_childcare_exemption_transitional"))
        };
        assert_eq!(plan_for("2026-10-01"), (true, false), "born on the 施行日");
        assert_eq!(plan_for("2026-09-30"), (false, true), "born the day before");
        assert_eq!(plan_for("2025-10-02"), (false, true), "turns 1 on 2026-10-01");
        assert_eq!(plan_for("2025-10-01"), (false, false), "already 1 on 2026-09-30");
        // A family registered in December 2026 with a child born 2026-07-15 still hears of it:
        // 120 days before the day before the first birthday (2027-07-14) is 2027-03-16.
        let facts = family("131016", vec![born("c1", d("2026-07-15"), 3000)]);
        let planned = plan(&facts, &ctx, &settings, d("2026-12-06"));
        let transitional = task(&planned, "national_pension_childcare_exemption_transitional");
        let dates: Vec<NaiveDate> =
            planned.notifications.iter().filter(|n| n.task_key == transitional.key).map(|n| n.date).collect();
        assert_eq!(dates, vec![d("2027-03-16")]);
    }

    #[test]
    fn the_second_mr_vaccine_falls_in_the_year_before_elementary_school() {
        // 予防接種法施行令 第1条の3: 就学の始期の1年前の日から前日まで (年長). A child born on
        // 1 April starts school a year before one born on 2 April.
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        for (born_on, opens, ends) in
            [("2020-04-01", "2025-04-01", "2026-03-31"), ("2020-04-02", "2026-04-01", "2027-03-31")]
        {
            let plan = plan(&family("131016", vec![born("c1", d(born_on), 3000)]), &ctx, &settings, d("2025-03-01"));
            let mr = task(&plan, "vaccine_mr_second");
            assert_eq!((mr.opens_on, mr.closes_on, mr.deadline), (d(opens), d(ends), Some(d(ends))), "born {born_on}");
        }
        assert_eq!(periods::school_entry(d("2019-12-31")), d("2026-04-01"));
    }

    fn dose(procedure: &str, on: &str) -> Dose {
        Dose { procedure: procedure.into(), given_on: d(on), product: None }
    }

    /// The task of a procedure for one child.
    fn child_task<'p, 'a>(plan: &'p Plan<'a>, child: &str, id: &str) -> Option<&'p PlannedTask<'a>> {
        plan.tasks.iter().find(|t| t.procedure.id == id && t.child_id.as_deref() == Some(child))
    }

    #[test]
    fn a_recorded_dose_closes_its_task_and_plans_the_next_at_the_legal_interval() {
        // 定期接種実施要領 and jp-rules C10: 「20日以上」 after 3/25 is from 4/15; the standard
        // upper end, 56 days, is 5/21; the window still ends at 生後90月.
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let mut child = born("c1", d("2026-01-10"), 3000);
        let before = plan(&family("131016", vec![child.clone()]), &ctx, &settings, d("2026-03-26"));
        assert!(!ids(&before).contains(&"vaccine_5in1_second"), "nothing before the first dose is recorded");
        child.doses = vec![dose("vaccine_5in1", "2026-03-25")];
        let after = plan(&family("131016", vec![child.clone()]), &ctx, &settings, d("2026-03-26"));
        assert_eq!(task(&after, "vaccine_5in1").closure, Some(Closure::Done), "the dose closes its task");
        let second = task(&after, "vaccine_5in1_second");
        assert_eq!(
            (second.opens_on, second.deadline, second.closes_on),
            (d("2026-04-15"), Some(d("2026-05-21")), d("2033-07-09"))
        );
        assert!(after.notifications.iter().any(|n| n.task_key == second.key && n.date == d("2026-04-15")));
        assert!(!ids(&after).contains(&"vaccine_5in1_third"));

        // 追加: 6か月以上 after the third (5/20 → 11/20), standard by 18 months.
        child.doses.extend([
            dose("vaccine_5in1_second", "2026-04-22"),
            dose("vaccine_5in1_third", "2026-05-20"),
            dose("vaccine_pneumococcal", "2026-03-25"),
            dose("vaccine_pneumococcal_second", "2026-04-22"),
            dose("vaccine_pneumococcal_third", "2026-05-20"),
            dose("vaccine_hepatitis_b", "2026-03-25"),
            dose("vaccine_hepatitis_b_second", "2026-04-22"),
        ]);
        let later = plan(&family("131016", vec![child.clone()]), &ctx, &settings, d("2026-05-21"));
        let booster = task(&later, "vaccine_5in1_booster");
        assert_eq!((booster.opens_on, booster.deadline), (d("2026-11-20"), Some(d("2027-11-20"))));
        // 小児用肺炎球菌 追加: 60日以上 after the third AND from 生後12月 (the day after reaching 12
        // months, 2027-01-09 being the day it is reached): the later; standard to 生後15月.
        let pcv = task(&later, "vaccine_pneumococcal_booster");
        assert_eq!((pcv.opens_on, pcv.deadline), (d("2027-01-09"), Some(d("2027-04-09"))));
        // B型肝炎 3回目: 139日以上 after the first (3/25 + 140 → 8/12), until 1歳に至る日.
        let hep_b = task(&later, "vaccine_hepatitis_b_third");
        assert_eq!((hep_b.opens_on, hep_b.closes_on), (d("2026-08-12"), d("2027-01-09")));

        // 水痘 2回目: 3か月以上 after the first; a first dose at 34 months leaves no routine window.
        let mut late = born("c2", d("2026-01-10"), 3000);
        late.doses = vec![dose("vaccine_varicella", "2028-11-15")];
        let late_plan = plan(&family("131016", vec![late]), &ctx, &settings, d("2028-11-16"));
        assert!(!ids(&late_plan).contains(&"vaccine_varicella_second"), "3 months after is past 生後36月");
    }

    #[test]
    fn the_first_hepatitis_b_dose_leaves_room_for_all_three_before_the_first_birthday() {
        // 定期接種実施要領: 1歳に至るまで, the 3rd 139日以上 after the 1st. Born 2026-01-15, the
        // routine period ends 2027-01-14; a 1st dose on 2026-08-27 puts the 3rd on 2027-01-14
        // (8/27 + 140), the last day: the latest start nonstop reminds of.
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let plan = plan(&family("131016", vec![born("c1", d("2026-01-15"), 3000)]), &ctx, &settings, d("2026-01-20"));
        let first = task(&plan, "vaccine_hepatitis_b");
        assert_eq!((first.closes_on, first.deadline), (d("2027-01-14"), Some(d("2026-08-27"))));
        assert_eq!(periods::interval_days(d("2026-08-27"), 139), d("2027-01-14"));
        assert!(
            plan.notifications.iter().any(|n| n.task_key == first.key && n.date == d("2026-07-28")),
            "30 days before"
        );
    }

    #[test]
    fn a_late_second_hepatitis_b_dose_keeps_the_third_in_the_plan() {
        // The 2nd 5 months after the 1st: the 3rd still counts 139日以上 from the 1st, so it
        // opens the day after the 2nd (it used to open 113 days later, past the first birthday,
        // and vanish).
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let mut child = born("c1", d("2026-01-15"), 3000);
        child.doses = vec![dose("vaccine_hepatitis_b", "2026-03-16"), dose("vaccine_hepatitis_b_second", "2026-10-01")];
        let plan = plan(&family("131016", vec![child]), &ctx, &settings, d("2026-10-01"));
        let third = task(&plan, "vaccine_hepatitis_b_third");
        assert_eq!((third.opens_on, third.closes_on), (d("2026-10-02"), d("2027-01-14")));
    }

    #[test]
    fn the_pneumococcal_booster_follows_the_second_dose_of_a_series_started_at_8_months() {
        // Started at 7–12 months: 2 doses and a booster 60日以上 after the 2nd, 生後12月以降.
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let mut child = born("c1", d("2026-01-15"), 3000);
        child.doses =
            vec![dose("vaccine_pneumococcal", "2026-09-20"), dose("vaccine_pneumococcal_second", "2026-12-01")];
        let plan = plan(&family("131016", vec![child]), &ctx, &settings, d("2026-12-02"));
        assert!(child_task(&plan, "c1", "vaccine_pneumococcal_third").is_none(), "no third dose");
        let booster = task(&plan, "vaccine_pneumococcal_booster");
        // 12/1 + 61 = 2027-01-31, later than 生後12月に至る日 (2027-01-14).
        assert_eq!((booster.opens_on, booster.closes_on), (d("2027-01-31"), d("2031-01-14")));
        assert!(
            booster.reasons.iter().any(|r| r.contains("vaccine_pneumococcal_third not given")),
            "{:?}",
            booster.reasons
        );
    }

    #[test]
    fn school_age_doses_follow_the_ages_the_cabinet_order_sets() {
        // 予防接種法施行令 第1条の3: 日本脳炎 第2期 9歳以上13歳未満, DT 第2期 11歳以上13歳未満 (an
        // age is reached the day before the birthday), HPV for girls from the school year of 12
        // to the end of the school year of 16. Born 2014-04-01: reaches 12 on 2026-03-31, so
        // 小学校6年 is the year from 2025-04-01.
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let mut girl = born("c1", d("2014-04-01"), 3000);
        girl.sex = Some(Sex::Female);
        let plan = plan(&family("131016", vec![girl.clone()]), &ctx, &settings, d("2023-03-01"));
        let window = |id: &str| {
            let t = task(&plan, id);
            (t.opens_on, t.deadline, t.closes_on)
        };
        assert_eq!(
            window("vaccine_japanese_encephalitis_stage2"),
            (d("2023-03-31"), Some(d("2024-03-31")), d("2027-03-31"))
        );
        assert_eq!(window("vaccine_dt_stage2"), (d("2025-03-31"), Some(d("2026-03-31")), d("2027-03-31")));
        assert_eq!(window("vaccine_hpv"), (d("2025-04-01"), Some(d("2027-03-31")), d("2030-03-31")));
        // Its last reminder: six months before the routine period ends.
        let hpv = task(&plan, "vaccine_hpv");
        assert!(plan.notifications.iter().any(|n| n.task_key == hpv.key && n.date == d("2029-09-29")));
        // Born a day later: a school year later.
        let next_day = plan_with_child(&ctx, born("c1", d("2014-04-02"), 3000), d("2023-03-01"));
        let hpv = task(&next_day, "vaccine_hpv");
        assert_eq!((hpv.opens_on, hpv.closes_on), (d("2026-04-01"), d("2031-03-31")));
        // HPV is routine for girls: not planned for a boy; planned when the sex is not recorded.
        let mut boy = girl.clone();
        boy.sex = Some(Sex::Male);
        assert!(!ids(&plan_with_child(&ctx, boy, d("2023-03-01"))).contains(&"vaccine_hpv"));
        let mut unknown = girl;
        unknown.sex = None;
        let unknown = plan_with_child(&ctx, unknown, d("2023-03-01"));
        assert!(task(&unknown, "vaccine_hpv").reasons.iter().any(|r| r == "sex not recorded"));
    }

    fn plan_with_child(ctx: &PlanningContext, child: ChildFacts, today: NaiveDate) -> Plan<'_> {
        let settings = Box::leak(Box::new(ctx.resolve("131016", None)));
        plan(&family("131016", vec![child]), ctx, settings, today)
    }

    #[test]
    fn a_further_child_is_an_amount_revision_and_a_public_servant_claims_from_the_employer() {
        // 児童手当法 第9条 (額改定) and 第17条 (公務員: 所属庁).
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let today = d("2026-11-22");
        let siblings = family("131016", vec![born("c0", d("2020-05-01"), 3000), born("c1", d("2026-11-20"), 3000)]);
        let plan_siblings = plan(&siblings, &ctx, &settings, today);
        let revision = child_task(&plan_siblings, "c1", "child_allowance_amount_revision").expect("revision");
        assert_eq!(revision.deadline, Some(d("2026-12-07")), "read like the claim: 11/20 + 15 = 12/5 (Sat) → 12/7");
        assert!(child_task(&plan_siblings, "c1", "child_allowance_claim").is_none());
        // An older child past the 31 March after turning 18 no longer counts: a first claim.
        let grown = family("131016", vec![born("c0", d("2008-03-15"), 3000), born("c1", d("2026-11-20"), 3000)]);
        let plan_grown = plan(&grown, &ctx, &settings, today);
        assert!(child_task(&plan_grown, "c1", "child_allowance_claim").is_some());
        assert!(child_task(&plan_grown, "c1", "child_allowance_amount_revision").is_none());
        // Twins are claimed together, in one claim: neither is the other's older child.
        let twins = family("131016", vec![born("c1", d("2026-11-20"), 2600), born("c2", d("2026-11-20"), 2500)]);
        let plan_twins = plan(&twins, &ctx, &settings, today);
        assert!(child_task(&plan_twins, "c1", "child_allowance_claim").is_some());
        assert!(child_task(&plan_twins, "c2", "child_allowance_claim").is_none());
        assert!(!ids(&plan_twins).contains(&"child_allowance_amount_revision"));
        // A public servant is told to claim from the employer, and the municipality asks nothing.
        let mut servant = family("131016", vec![born("c1", d("2026-11-20"), 3000)]);
        servant.circumstances = vec![Circumstance::PublicServant];
        let plan_servant = plan(&servant, &ctx, &settings, today);
        let employer = task(&plan_servant, "child_allowance_public_servant");
        assert_eq!(employer.procedure.files_with, FilesWith::Employer);
        assert!(!ids(&plan_servant).contains(&"child_allowance_claim"));
    }

    #[test]
    fn a_newborn_of_foreign_parents_needs_a_status_of_residence_within_30_days() {
        // 入管法 第22条の2②: within 30 days of the birth; 11/20 + 30 = 12/20 (Sun) → 12/21
        // (行政機関の休日に関する法律 第2条). 国籍法 第2条: a Japanese parent makes the child Japanese.
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let mut foreign = family("131016", vec![born("c1", d("2026-11-20"), 3000)]);
        foreign.guardian_nationalities = vec![Some("VN".into()), Some("VN".into())];
        let plan_foreign = plan(&foreign, &ctx, &settings, d("2026-11-22"));
        let status = task(&plan_foreign, "residence_status_on_birth");
        assert_eq!((status.raw_deadline, status.deadline), (Some(d("2026-12-20")), Some(d("2026-12-21"))));
        assert_eq!(status.procedure.files_with, FilesWith::ImmigrationBureau);
        assert!(ids(&plan_foreign).contains(&"home_country_birth_registration"));
        // 国籍法 第2条: a Japanese mother, or a Japanese father married to the mother, makes the
        // child Japanese; nothing to apply for.
        let (mother, father) = (Relationship::Mother, Relationship::Father);
        let vn_jp = vec![Some("VN".into()), Some("JP".into())];
        for (nationalities, relationships, married) in [
            (vec![Some("JP".into()), Some("VN".into())], vec![mother, father], None),
            (vn_jp.clone(), vec![mother, father], Some(true)),
            (vec![Some("JP".into())], vec![mother], None),
            (vec![None, None], vec![mother, father], None),
            (vec![], vec![], None),
        ] {
            let mut other = foreign.clone();
            other.guardian_nationalities = nationalities.clone();
            other.guardian_relationships = relationships;
            other.parents_married = married;
            let planned = plan(&other, &ctx, &settings, d("2026-11-22"));
            assert!(!ids(&planned).contains(&"residence_status_on_birth"), "{nationalities:?} {married:?}");
        }
        // A Japanese father alone does not decide it (unmarried, or marriage not given: only a
        // 胎児認知 would); nor does a parent whose nationality is not given: planned, as a child
        // who may not be Japanese.
        for (nationalities, relationships, married) in [
            (vn_jp.clone(), vec![mother, father], Some(false)),
            (vn_jp, vec![mother, father], None),
            (vec![Some("VN".into()), None], vec![mother, father], Some(true)),
            (vec![Some("PH".into()), Some("JP".into())], vec![mother, Relationship::Other], Some(true)),
        ] {
            let mut other = foreign.clone();
            other.guardian_nationalities = nationalities.clone();
            other.guardian_relationships = relationships;
            other.parents_married = married;
            let planned = plan(&other, &ctx, &settings, d("2026-11-22"));
            let status = task(&planned, "residence_status_on_birth");
            assert!(status.reasons.iter().any(|r| r.contains("nothing recorded")), "{nationalities:?} {married:?}");
        }
    }

    #[test]
    fn twins_get_one_task_per_pregnancy_and_each_their_own_registration() {
        // 妊婦のための支援給付: 1回目 per pregnancy, 2回目 one filing for all the babies; one
        // 児童手当 認定請求 names every child of the claimant (児童手当法 第7条).
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let expecting = family("131016", vec![expected("a", d("2027-05-01")), expected("b", d("2027-05-01"))]);
        let planned = plan(&expecting, &ctx, &settings, d("2026-11-22"));
        for id in ["pregnancy_support_payment_first", "pregnancy_support_payment_second", "prenatal_checkups"] {
            let tasks: Vec<_> = planned.tasks.iter().filter(|t| t.procedure.id == id).collect();
            assert_eq!(tasks.len(), 1, "{id}");
            assert_eq!(tasks[0].child_id.as_deref(), Some("a"), "{id}");
            assert!(tasks[0].reasons.iter().any(|r| r.contains("2 children")), "{id}: {:?}", tasks[0].reasons);
        }
        // Born either side of midnight, 12/31 and 1/1: one claim, counted from the first birth
        // (the later of 12/28, the last open day of December, and 12/31 + 15 = Friday 1/15).
        let mut twins = vec![born("a", d("2026-12-31"), 2400), born("b", d("2027-01-01"), 2300)];
        for child in &mut twins {
            child.due_date = Some(d("2027-01-20"));
        }
        let born_twins = family("131016", twins);
        let planned = plan(&born_twins, &ctx, &settings, d("2027-01-01"));
        let claims: Vec<_> = planned.tasks.iter().filter(|t| t.procedure.id == "child_allowance_claim").collect();
        assert_eq!(claims.len(), 1);
        assert_eq!((claims[0].child_id.as_deref(), claims[0].deadline), (Some("a"), Some(d("2027-01-15"))));
        assert_eq!(planned.tasks.iter().filter(|t| t.procedure.id == "birth_registration").count(), 2);
        assert_eq!(planned.tasks.iter().filter(|t| t.procedure.id == "pregnancy_support_payment_second").count(), 1);
        // Two pregnancies are two: a sibling born 2025-03-10 and a baby due 2027-05-01.
        let siblings = family("131016", vec![born("old", d("2025-03-10"), 3000), expected("new", d("2027-05-01"))]);
        let planned = plan(&siblings, &ctx, &settings, d("2026-11-22"));
        let first = child_task(&planned, "new", "pregnancy_support_payment_first").expect("the new pregnancy's own");
        assert_eq!(first.reasons.len(), 1, "no other child of this pregnancy: {:?}", first.reasons);
    }

    #[test]
    fn a_newborn_of_unknown_insurance_gets_one_task_naming_both() {
        // 健康保険法施行規則 第38条: 5 days; 国保: 14 days from the day after the birth (民法140条).
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let mut facts = family("131016", vec![born("c1", d("2026-12-18"), 3000)]);
        facts.health_insurance = None;
        let planned = plan(&facts, &ctx, &settings, d("2026-12-18"));
        let both = task(&planned, "health_insurance_enrollment");
        // Born Friday 12/18: the employer's 5 days end on Wednesday 12/23; the 国保 14 days on
        // 1/1, closed, so the window runs to Monday 2027-01-04.
        assert_eq!((both.deadline, both.closes_on), (Some(d("2026-12-23")), d("2027-01-04")));
        let planned_ids = ids(&planned);
        assert!(!planned_ids.contains(&"kokuho_enrollment") && !planned_ids.contains(&"employee_insurance_dependent"));
        for insurance in [HealthInsurance::National, HealthInsurance::Employee] {
            facts.health_insurance = Some(insurance);
            let planned = plan(&facts, &ctx, &settings, d("2026-12-18"));
            assert!(!ids(&planned).contains(&"health_insurance_enrollment"), "{insurance}");
        }
    }

    #[test]
    fn only_the_receiving_offices_closed_days_move_a_deadline() {
        // 入管法 第22条の2: 30 days from the birth, filed with a national office, which closes on
        // the days of 行政機関の休日に関する法律 only. 出生届 goes to the municipality, which also
        // closes on its own days (地方自治法 第4条の2).
        let ctx = PlanningContext::shipped();
        let foreign = |municipality: &str, birth: &str| {
            let mut facts = family(municipality, vec![born("c1", d(birth), 3000)]);
            facts.guardian_nationalities = vec![Some("VN".into())];
            facts
        };
        // 那覇市: born 2026-05-24, day 30 is Tuesday 2026-06-23 (慰霊の日): the bureau is open.
        let naha = ctx.resolve("472018", None);
        let planned = plan(&foreign("472018", "2026-05-24"), &ctx, &naha, d("2026-05-25"));
        assert_eq!(task(&planned, "residence_status_on_birth").deadline, Some(d("2026-06-23")));
        // The 出生届 of a child born 2026-06-10 ends on day 14, 6/23, closed in 沖縄: 6/24.
        let planned = plan(&foreign("472018", "2026-06-10"), &ctx, &naha, d("2026-06-11"));
        assert_eq!(task(&planned, "birth_registration").deadline, Some(d("2026-06-24")));
        // 広島市中区: born 2026-07-07, day 30 is Thursday 2026-08-06 (平和記念日): still 8/6.
        let hiroshima = ctx.resolve("341011", None);
        let planned = plan(&foreign("341011", "2026-07-07"), &ctx, &hiroshima, d("2026-07-08"));
        assert_eq!(task(&planned, "residence_status_on_birth").deadline, Some(d("2026-08-06")));
        // A municipality's extra closed days set by its staff do not move it either.
        let staff =
            MunicipalityOverride { extra_closed_days: vec!["06-23".into(), "06-24".into()], ..Default::default() };
        let tokyo = ctx.resolve("131016", Some(&staff));
        let planned = plan(&foreign("131016", "2026-05-24"), &ctx, &tokyo, d("2026-05-25"));
        assert_eq!(task(&planned, "residence_status_on_birth").deadline, Some(d("2026-06-23")));
        // National closures still do: born 2026-11-20, day 30 is Sunday 12/20 → Monday 12/21.
        let planned = plan(&foreign("472018", "2026-11-20"), &ctx, &naha, d("2026-11-21"));
        assert_eq!(task(&planned, "residence_status_on_birth").deadline, Some(d("2026-12-21")));
    }

    #[test]
    fn a_move_while_pregnant_asks_the_new_municipality_for_the_vouchers_until_the_due_date() {
        // 母子保健法 第13条: the 妊婦健診 of the municipality where she lives.
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("141003", None);
        let mut facts = family("141003", vec![expected("c1", d("2027-03-01")), expected("c2", d("2026-12-05"))]);
        facts.moved_on = Some(d("2026-12-10"));
        let planned = plan(&facts, &ctx, &settings, d("2026-12-10"));
        let transfer = child_task(&planned, "c1", "pregnancy_transfer").expect("planned for the child still expected");
        assert_eq!(
            (transfer.opens_on, transfer.deadline, transfer.closes_on),
            (d("2026-12-10"), Some(d("2026-12-24")), d("2027-03-01"))
        );
        assert_eq!(transfer.key, "c1/pregnancy_transfer/20261210@141003");
        assert!(child_task(&planned, "c2", "pregnancy_transfer").is_none(), "due before the move");
        let mut born_before = family("141003", vec![born("c1", d("2026-11-01"), 3000)]);
        born_before.moved_on = Some(d("2026-12-10"));
        assert!(!ids(&plan(&born_before, &ctx, &settings, d("2026-12-10"))).contains(&"pregnancy_transfer"));
    }

    #[test]
    fn postpartum_care_is_offered_until_the_first_birthday() {
        // 母子保健法 第17条の2: 出産後1年を経過しない女子及び乳児.
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let planned =
            plan(&family("131016", vec![born("c1", d("2026-11-20"), 3000)]), &ctx, &settings, d("2026-11-22"));
        let care = task(&planned, "postpartum_care");
        assert_eq!((care.opens_on, care.closes_on, care.deadline), (d("2026-11-20"), d("2027-11-19"), None));
        assert!(planned.notifications.iter().any(|n| n.task_key == care.key && n.date == d("2026-12-04")));
    }

    #[test]
    fn a_move_plans_under_the_new_municipality() {
        let ctx = PlanningContext::shipped();
        let mut facts = family("131016", vec![born("c1", d("2026-11-10"), 3000)]);
        let before_settings = ctx.resolve("131016", None);
        let before = plan(&facts, &ctx, &before_settings, d("2026-11-22"));
        facts.municipality_code = "141003".into();
        facts.moved_on = Some(d("2026-11-20"));
        let settings = ctx.resolve("141003", None);
        let after = plan(&facts, &ctx, &settings, d("2026-11-22"));
        assert!(after
            .tasks
            .iter()
            .filter(|t| t.procedure.files_with == FilesWith::Municipality)
            .all(|t| t.key.ends_with("@141003")));
        assert!(before.tasks.iter().any(|t| t.key.ends_with("@131016")));
        let transfer = task(&after, "child_allowance_transfer_claim");
        assert_eq!(transfer.deadline, Some(d("2026-12-07")), "11/20 + 15 = 12/5 (Sat) → 12/7");
    }

    #[test]
    fn the_child_allowance_after_a_move_counts_from_the_planned_move_out_date() {
        // 児童手当法 第8条第3項: 15 days from the day after the 転出予定日. Planned 11/15, moved
        // 11/20: 11/30, not 12/7 (a claim on 12/1 would lose December).
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("141003", None);
        let mut facts = family("141003", vec![born("c1", d("2026-11-10"), 3000)]);
        facts.moved_on = Some(d("2026-11-20"));
        facts.planned_move_out_on = Some(d("2026-11-15"));
        let after = plan(&facts, &ctx, &settings, d("2026-11-22"));
        let transfer = task(&after, "child_allowance_transfer_claim");
        assert_eq!(transfer.deadline, Some(d("2026-11-30")));
        assert_eq!(transfer.opens_on, d("2026-11-20"), "filed at the new municipality, after moving in");
        assert!(transfer.reasons[0].contains("planned move-out 2026-11-15"), "{:?}", transfer.reasons);
        // Other procedures after the move still count from the move (国保 転入: 14 days).
        assert_eq!(task(&after, "kokuho_transfer").raw_deadline, Some(d("2026-12-04")));
    }

    #[test]
    fn a_child_counts_for_the_allowance_until_the_31_march_after_turning_18() {
        // Since 2024-10 児童手当 covers 児童 until 18歳に達する日以後の最初の3月31日.
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("141003", None);
        // Born 2008-06-02: 18 on 2026-06-01, still a 児童 until 2027-03-31.
        let mut facts = family("141003", vec![born("c1", d("2008-06-02"), 3000)]);
        facts.moved_on = Some(d("2026-11-20"));
        let after = plan(&facts, &ctx, &settings, d("2026-11-22"));
        assert!(ids(&after).contains(&"child_allowance_transfer_claim"), "{:?}", ids(&after));
        // Born 2007-06-02: past 2026-03-31, no longer.
        facts.children = vec![born("c1", d("2007-06-02"), 3000)];
        let after = plan(&facts, &ctx, &settings, d("2026-11-22"));
        assert!(!ids(&after).contains(&"child_allowance_transfer_claim"));
        assert_eq!(
            periods::first_march_31_after_reaching(d("2008-04-01"), 18),
            d("2026-03-31"),
            "reached on 3/31 itself"
        );
        assert_eq!(periods::first_march_31_after_reaching(d("2008-04-02"), 18), d("2027-03-31"));
    }

    #[test]
    fn municipality_settings_change_windows_and_switch_procedures_off() {
        let ctx = PlanningContext::shipped();
        let today = d("2026-11-22");
        let child = vec![born("c1", d("2026-11-10"), 3000)];
        let shibuya_settings = ctx.resolve("131130", None);
        let shibuya = plan(&family("131130", child.clone()), &ctx, &shibuya_settings, today);
        assert!(!ids(&shibuya).contains(&"checkup_9_10_months"), "switched off in the illustrative settings");
        assert_eq!(
            task(&shibuya, "infant_medical_subsidy").deadline,
            Some(d("2026-12-10")),
            "30 days in the illustrative settings"
        );
        let chiyoda_settings = ctx.resolve("131016", None);
        let chiyoda = plan(&family("131016", child), &ctx, &chiyoda_settings, today);
        assert_eq!(task(&chiyoda, "infant_medical_subsidy").deadline, Some(d("2026-11-25")), "15 days by default");

        let staff: MunicipalityOverride =
            toml::from_str("[procedures.checkup_9_10_months]\nenabled = true\n").expect("settings");
        let replaced_settings = ctx.resolve("131130", Some(&staff));
        let replaced =
            plan(&family("131130", vec![born("c1", d("2026-11-10"), 3000)]), &ctx, &replaced_settings, today);
        assert!(ids(&replaced).contains(&"checkup_9_10_months"));
        assert_eq!(
            task(&replaced, "infant_medical_subsidy").deadline,
            Some(d("2026-11-25")),
            "staff settings replace the shipped ones"
        );
    }

    #[test]
    fn local_closed_days_move_deadlines() {
        let ctx = PlanningContext::shipped();
        // Born 6/9/2027: 出生届 raw deadline 6/22 (Tue); 国保 raw 6/23 (Wed) — 慰霊の日 in 沖縄.
        let born_on = d("2027-06-09");
        let naha_settings = ctx.resolve("472018", None);
        let naha = plan(&family("472018", vec![born("c1", born_on, 3000)]), &ctx, &naha_settings, born_on);
        assert_eq!(task(&naha, "kokuho_enrollment").deadline, Some(d("2027-06-24")));
        let tokyo_settings = ctx.resolve("131016", None);
        let tokyo = plan(&family("131016", vec![born("c1", born_on, 3000)]), &ctx, &tokyo_settings, born_on);
        assert_eq!(task(&tokyo, "kokuho_enrollment").deadline, Some(d("2027-06-23")));
    }

    #[test]
    fn reminders_wait_for_the_allowed_hours_and_never_repeat_a_day() {
        let ctx = PlanningContext::shipped();
        let mut facts = family("131016", vec![born("c1", d("2026-11-20"), 3000)]);
        facts.quiet_hours = QuietHours::from_minutes(19 * 60, 10 * 60 + 30).expect("span");
        let settings = ctx.resolve("131016", None);
        let plan = plan(&facts, &ctx, &settings, d("2026-11-22"));
        assert!(!plan.notifications.is_empty());
        for n in &plan.notifications {
            let local = n.send_at.with_timezone(&Tokyo);
            assert_eq!((local.hour(), local.minute()), (10, 30), "{n:?}");
            assert_eq!(local.date_naive(), n.date);
            assert!(n.date >= d("2026-11-22"));
        }
        let birth: Vec<_> = plan.notifications.iter().filter(|n| n.task_key.contains("birth_registration")).collect();
        assert_eq!(birth.iter().map(|n| n.date).collect::<Vec<_>>(), [d("2026-11-30"), d("2026-12-03")]);
        assert_eq!(birth[0].key, "fam/c1/birth_registration/0@131016/r1");
    }

    fn lost(mut child: ChildFacts, on: NaiveDate, from_12_weeks: bool, from_85_days: bool) -> ChildFacts {
        child.status = if child.birth_date.is_some() { ChildStatus::Died } else { ChildStatus::PregnancyEnded };
        child.ending = Some(Ending { on, from_12_weeks, from_85_days });
        child
    }

    fn about(plan: &Plan<'_>, child: &str) -> Vec<String> {
        plan.tasks.iter().filter(|t| t.child_id.as_deref() == Some(child)).map(|t| t.key.clone()).collect()
    }

    #[test]
    fn a_lost_pregnancy_withdraws_every_task_about_the_child_and_plans_what_the_loss_asks() {
        // Due 2027-05-01, ended 2026-12-24: day 280 − 128 = 152 (21週5日). 死産の届出に関する規程
        // 第4条: within 7 days, the day itself day 1 → 12/30, a closed day (12/29–1/3) → 1/4.
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let today = d("2026-12-24");
        let pregnant = family("131016", vec![born("c0", d("2025-06-01"), 3000), expected("c1", d("2027-05-01"))]);
        let before = plan(&pregnant, &ctx, &settings, today);
        assert!(!about(&before, "c1").is_empty(), "the pregnancy had its tasks");
        let mut facts = pregnant.clone();
        facts.children[1] = lost(expected("c1", d("2027-05-01")), today, true, true);
        let after = plan(&facts, &ctx, &settings, today);
        assert_eq!(about(&after, "c1"), Vec::<String>::new(), "nothing about the lost child");
        assert!(after.notifications.iter().all(|n| !n.task_key.starts_with("c1/")));
        assert!(!about(&after, "c0").is_empty(), "the older child's tasks stay");
        let registration = task(&after, "stillbirth_registration");
        assert_eq!(registration.child_id, None, "about the household, never the child");
        assert_eq!(
            (registration.opens_on, registration.raw_deadline, registration.deadline),
            (d("2026-12-24"), Some(d("2026-12-30")), Some(d("2027-01-04")))
        );
        assert_eq!(registration.key, "household/stillbirth_registration/20261224@131016");
        for id in ["childbirth_lump_sum_after_loss", "premium_exemptions_after_loss", "support_after_loss"] {
            assert_eq!(task(&after, id).opens_on, today, "{id}");
        }
        // 出産育児一時金: 2 years (健康保険法 第193条).
        assert_eq!(task(&after, "childbirth_lump_sum_after_loss").deadline, Some(d("2028-12-24")));
        // The support is one push, a week after.
        let support = task(&after, "support_after_loss");
        let pushes: Vec<_> = after.notifications.iter().filter(|n| n.task_key == support.key).map(|n| n.date).collect();
        assert_eq!(pushes, [d("2026-12-31")]);
    }

    #[test]
    fn a_pregnancy_lost_before_12_weeks_gets_care_but_no_stillbirth_filing_or_payment() {
        // 妊娠第4月 begins at 12週0日 (day 84); 出産 for the insurance from day 85.
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let on = d("2026-12-01");
        let early = family("131016", vec![lost(expected("c1", d("2027-06-30")), on, false, false)]);
        let planned = plan(&early, &ctx, &settings, on);
        assert_eq!(ids(&planned), ["support_after_loss"]);
        // Day 84 exactly: a 死産届, not yet a 出産.
        let day_84 = family("131016", vec![lost(expected("c1", d("2027-06-30")), on, true, false)]);
        let planned = plan(&day_84, &ctx, &settings, on);
        assert!(ids(&planned).contains(&"stillbirth_registration"));
        assert!(!ids(&planned).contains(&"childbirth_lump_sum_after_loss"));
        assert!(!ids(&planned).contains(&"premium_exemptions_after_loss"));
    }

    #[test]
    fn twins_lost_the_same_day_are_one_filing() {
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let on = d("2026-12-01");
        let twins = family(
            "131016",
            vec![
                lost(expected("c1", d("2027-03-01")), on, true, true),
                lost(expected("c2", d("2027-03-01")), on, true, true),
            ],
        );
        let planned = plan(&twins, &ctx, &settings, on);
        assert_eq!(planned.tasks.iter().filter(|t| t.procedure.id == "stillbirth_registration").count(), 1);
        let keys: std::collections::BTreeSet<_> = planned.notifications.iter().map(|n| n.key.clone()).collect();
        assert_eq!(keys.len(), planned.notifications.len(), "no push twice");
    }

    #[test]
    fn a_child_who_died_is_no_one_s_subject_and_no_older_child_of_the_allowance() {
        // 戸籍法 第86条・第43条: 7 days, the day itself day 1: 12/10 → 12/16 (Wed).
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let today = d("2026-12-10");
        let facts = family("131016", vec![lost(born("c1", d("2026-11-20"), 3000), today, false, false)]);
        let planned = plan(&facts, &ctx, &settings, today);
        assert_eq!(about(&planned, "c1"), Vec::<String>::new());
        assert_eq!(ids(&planned), ["death_registration"]);
        let registration = task(&planned, "death_registration");
        assert_eq!((registration.deadline, registration.child_id.as_deref()), (Some(d("2026-12-16")), None));
        // A sibling born later is the first child the allowance counts: a 認定請求, not an 額改定
        // (児童手当法 第7条・第9条: a child who died is not a 児童 the family raises).
        let later = family(
            "131016",
            vec![
                lost(born("c0", d("2024-01-10"), 3000), d("2025-02-01"), false, false),
                born("c1", d("2026-11-20"), 3000),
            ],
        );
        let planned = plan(&later, &ctx, &settings, d("2026-11-22"));
        assert!(child_task(&planned, "c1", "child_allowance_claim").is_some());
        assert!(child_task(&planned, "c1", "child_allowance_amount_revision").is_none());
        assert!(!ids(&planned).contains(&"death_registration"), "long past: no longer planned");
    }

    #[test]
    fn a_move_within_the_municipality_plans_only_the_change_of_address() {
        // 住民基本台帳法 第23条: 14 days, from the day after the move (民法 第140条): 11/20 → 12/4.
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let today = d("2026-11-22");
        let mut facts = family("131016", vec![born("c1", d("2026-06-10"), 3000), expected("c2", d("2027-03-01"))]);
        facts.moved_on = Some(d("2026-11-20"));
        facts.moved_within_municipality = true;
        let within = plan(&facts, &ctx, &settings, today);
        assert_eq!(task(&within, "change_of_address_notification").deadline, Some(d("2026-12-04")));
        let moved_in = [
            "moving_in_notification",
            "kokuho_transfer",
            "child_allowance_transfer_claim",
            "infant_medical_subsidy_transfer",
            "pregnancy_transfer",
            "child_vouchers_transfer",
        ];
        for id in moved_in {
            assert!(!ids(&within).contains(&id), "{id} after a move within the municipality");
        }
        // From another municipality (住民基本台帳法 第22条): the 転入 procedures, no 転居届.
        facts.moved_within_municipality = false;
        let from_elsewhere = plan(&facts, &ctx, &settings, today);
        for id in moved_in {
            assert!(ids(&from_elsewhere).contains(&id), "{id} after a move in");
        }
        assert_eq!(task(&from_elsewhere, "moving_in_notification").deadline, Some(d("2026-12-04")));
        assert!(!ids(&from_elsewhere).contains(&"change_of_address_notification"));
    }

    #[test]
    fn the_child_allowance_after_a_move_is_in_time_through_the_month_of_moving_out() {
        // 児童手当法 第8条第2項・第3項: no month lost within 15 days from the day after the
        // 転出予定日, or within the month of moving out, whichever is later.
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("141003", None);
        let mut facts = family("141003", vec![born("c1", d("2026-05-10"), 3000)]);
        for (planned_out, moved, deadline) in [
            ("2026-11-03", "2026-11-05", "2026-11-30"), // 15 days: 11/18; the month runs to 11/30 (Mon)
            ("2026-11-25", "2026-11-28", "2026-12-10"), // the 15 days run past the month
            ("2026-10-05", "2026-10-07", "2026-10-30"), // 10/31 is a Saturday: the last open day
        ] {
            facts.moved_on = Some(d(moved));
            facts.planned_move_out_on = Some(d(planned_out));
            let planned = plan(&facts, &ctx, &settings, d(moved));
            assert_eq!(task(&planned, "child_allowance_transfer_claim").deadline, Some(d(deadline)), "{planned_out}");
        }
    }

    #[test]
    fn a_due_date_given_late_still_gets_one_push_for_the_prenatal_exemptions() {
        // 国民年金法 第88条の2: the 産前産後 exemption may be filed from 6 months before the due
        // date. Due 2027-03-01: it opened 2026-09-01; a pregnancy recorded on 2026-12-01 missed
        // that push and gets one on the day it was recorded.
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let mut child = expected("c1", d("2027-03-01"));
        let pushes = |child: &ChildFacts, today: NaiveDate| -> Vec<(String, NaiveDate)> {
            let planned = plan(&family("131016", vec![child.clone()]), &ctx, &settings, today);
            let exemption = task(&planned, "national_pension_prenatal_exemption");
            assert_eq!(exemption.opens_on, d("2026-09-01"));
            let key = exemption.key.clone();
            planned.notifications.into_iter().filter(|n| n.task_key == key).map(|n| (n.key, n.date)).collect()
        };
        child.recorded_on = Some(d("2026-12-01"));
        assert_eq!(
            pushes(&child, d("2026-12-01")),
            [("fam/c1/national_pension_prenatal_exemption/0@131016/catch_up".to_owned(), d("2026-12-01"))]
        );
        // Recorded before the window opened: the usual push on the opening day, and no other.
        child.recorded_on = Some(d("2026-08-20"));
        assert_eq!(pushes(&child, d("2026-08-20")).iter().map(|(_, on)| *on).collect::<Vec<_>>(), [d("2026-09-01")]);
        assert!(pushes(&child, d("2026-12-01")).is_empty(), "its push has gone: none again");
        // Recorded after the window closed (6 months after the due date): nothing.
        child.recorded_on = Some(d("2027-09-02"));
        assert!(pushes(&child, d("2027-09-02")).is_empty());
    }

    #[test]
    fn a_birth_away_from_home_plans_the_reimbursement_and_the_vaccination_request_letter() {
        let ctx = PlanningContext::shipped();
        let settings = ctx.resolve("131016", None);
        let mut away = family("131016", vec![expected("c1", d("2027-03-01")), born("c0", d("2026-11-20"), 3000)]);
        away.circumstances = vec![Circumstance::BirthAwayFromHome];
        let planned = plan(&away, &ctx, &settings, d("2026-11-22"));
        // 償還払い: recommended within 6 months of the due date (民法 第143条: 3/2 … 9/1), open a year.
        let refund = child_task(&planned, "c1", "prenatal_checkup_reimbursement").expect("reimbursement");
        assert_eq!((refund.deadline, refund.closes_on), (Some(d("2027-09-01")), d("2028-03-01")));
        let refund_pushes: Vec<_> =
            planned.notifications.iter().filter(|n| n.task_key == refund.key).map(|n| n.date).collect();
        assert_eq!(refund_pushes, [d("2027-03-31"), d("2027-08-02")], "a month after the due date, a month before");
        // 実施依頼書 before the first routine doses at 生後2か月: by day 45 (11/20 + 45 = 1/4).
        let letter = child_task(&planned, "c0", "vaccination_request_letter").expect("request letter");
        assert_eq!(letter.deadline, Some(d("2027-01-04")));
        let home = family("131016", vec![expected("c1", d("2027-03-01")), born("c0", d("2026-11-20"), 3000)]);
        let planned = plan(&home, &ctx, &settings, d("2026-11-22"));
        assert!(!ids(&planned).contains(&"prenatal_checkup_reimbursement"));
        assert!(!ids(&planned).contains(&"vaccination_request_letter"));
    }

    /// Every birth date of four years, in municipalities with and without local closed days.
    fn each_birth(mut check: impl FnMut(&PlanningContext, &str, NaiveDate)) {
        let ctx = PlanningContext::shipped();
        for municipality in ["131016", "472018", "341011"] {
            let mut birth = d("2025-01-01");
            while birth <= d("2028-12-31") {
                check(&ctx, municipality, birth);
                birth = birth + Days::new(1);
            }
        }
    }

    #[test]
    fn property_a_municipal_deadline_is_an_open_day_never_before_the_raw_deadline() {
        each_birth(|ctx, municipality, birth| {
            let settings = ctx.resolve(municipality, None);
            let plan = plan(&family(municipality, vec![born("c", birth, 2000)]), ctx, &settings, birth);
            for t in &plan.tasks {
                let (Some(deadline), Some(raw)) = (t.deadline, t.raw_deadline) else {
                    continue;
                };
                let rule = t.procedure.deadline.as_ref().map(|r| r.closed_day);
                let statutory =
                    !matches!(t.procedure.deadline_kind, DeadlineKind::Municipal | DeadlineKind::Recommended);
                if t.procedure.kind == ProcedureKind::Filing
                    && t.procedure.files_with == FilesWith::Municipality
                    && statutory
                {
                    assert_eq!(rule, Some(ClosedDay::Next), "{}", t.procedure.id);
                }
                if rule == Some(ClosedDay::Next) {
                    assert!(
                        ctx.calendar
                            .is_open_day(deadline, t.procedure.receiving_office.extra_closed(&settings.extra_closed)),
                        "{} {birth} {municipality}: {deadline}",
                        t.procedure.id
                    );
                    assert!(deadline >= raw, "{} {birth}", t.procedure.id);
                    // The longest closed stretch: a weekend before the year-end closure (12/27–1/4).
                    assert!((deadline - raw).num_days() <= 9, "{} {birth}: moved too far", t.procedure.id);
                }
            }
        });
    }

    #[test]
    fn property_planning_is_idempotent_and_done_tasks_have_no_reminders() {
        each_birth(|ctx, municipality, birth| {
            if birth.day() % 7 != 0 {
                return;
            }
            let settings = ctx.resolve(municipality, None);
            let today = birth + Days::new(2);
            let mut facts = family(municipality, vec![born("c", birth, 2400)]);
            let first = plan(&facts, ctx, &settings, today);
            assert_eq!(first, plan(&facts, ctx, &settings, today));
            let done = first.tasks.iter().find(|t| t.procedure.id == "birth_registration").expect("birth task");
            facts.closed.insert(done.closure_key.clone(), Closure::Done);
            let after = plan(&facts, ctx, &settings, today);
            assert!(after.notifications.iter().all(|n| n.task_key != done.key), "{birth}");
            assert_eq!(after.tasks.len(), first.tasks.len());
            assert_eq!(
                after.notifications.len(),
                first.notifications.len() - first.notifications.iter().filter(|n| n.task_key == done.key).count()
            );
        });
    }
}
