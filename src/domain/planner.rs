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
    Catalog, Circumstance, Condition, CountedFrom, DateRule, DeadlineKind, FilesWith, Procedure, ReminderBase, Subject,
    Trigger,
};
use super::enums::{ChildStatus, HealthInsurance};
use super::overrides::{MunicipalityOverride, Office, ResolvedOverride, ShippedOverrides};
use super::periods;
use super::quiet_hours::QuietHours;

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
    /// Recorded vaccination doses (接種記録): the procedure each was given for, and when.
    pub doses: Vec<(String, NaiveDate)>,
}

impl ChildFacts {
    /// The latest recorded dose of a procedure.
    fn dose_of(&self, procedure_id: &str) -> Option<NaiveDate> {
        self.doses.iter().filter(|(p, _)| p == procedure_id).map(|(_, on)| *on).max()
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
    pub quiet_hours: QuietHours,
    /// The date of the latest move, if any.
    pub moved_on: Option<NaiveDate>,
    /// The latest move's 転出予定日, when it recorded one.
    pub planned_move_out_on: Option<NaiveDate>,
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
    anchor: NaiveDate,
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
        }
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
        let opens_rule = setting.and_then(|s| s.opens.as_ref()).unwrap_or(&procedure.opens);
        let closes_rule = setting.and_then(|s| s.closes.as_ref()).or(procedure.closes.as_ref());
        let deadline_rule = setting.and_then(|s| s.deadline.as_ref()).or(procedure.deadline.as_ref());
        // The round a yearly procedure is in ends by the municipality's own dates, not the catalog's.
        let ends_rule = deadline_rule.or(closes_rule).unwrap_or(opens_rule);
        for occ in occurrences(procedure, facts, ends_rule, ctx, settings, today) {
            let Some(reasons) = applies(procedure, facts, &occ, opens_rule, ctx, settings) else {
                continue;
            };
            let date = |rule: &DateRule| rule.date(occ.anchor_for(rule), &ctx.calendar, &settings.extra_closed);
            let opens_on = date(opens_rule).max(procedure.not_before.as_ref().map_or(NaiveDate::MIN, date));
            let deadline_anchor = |rule: &DateRule| match rule.from {
                CountedFrom::Trigger => occ.deadline_anchor,
                _ => occ.anchor_for(rule),
            };
            let mut deadline = deadline_rule.map(|r| r.date(deadline_anchor(r), &ctx.calendar, &settings.extra_closed));
            let raw_deadline =
                deadline_rule.map(|r| r.raw_date(deadline_anchor(r), &ctx.calendar, &settings.extra_closed));
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
            let dosed = occ.child.and_then(|c| c.dose_of(&procedure.id)).map(|_| Closure::Done);
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
                reasons: std::iter::once(occ.reason).chain(reasons).collect(),
                office: setting.and_then(|s| s.office.as_ref()),
                closure,
                closure_key,
                key,
            };
            if closure.is_none() {
                let office = (&ctx.calendar, settings.extra_closed.as_slice());
                add_reminders(&mut plan.notifications, facts, &task, occ.anchor, today, office);
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
    settings: &ResolvedOverride,
    today: NaiveDate,
) -> Vec<Occurrence<'c>> {
    let children = facts.children.iter();
    match procedure.trigger {
        Trigger::DueDate => children
            .filter(|c| c.status == ChildStatus::Expected || procedure.continues_after_birth)
            .filter_map(|c| {
                c.due_date.map(|due| Occurrence {
                    child: Some(c),
                    anchor: due,
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
                    child: Some(c),
                    anchor: born,
                    deadline_anchor: born,
                    occurrence: 0,
                    reason: format!("born {born}"),
                })
            })
            .collect(),
        Trigger::Dose => children
            .filter(|c| c.status == ChildStatus::Born)
            .filter_map(|c| {
                let follows = procedure.follows.as_deref()?;
                c.dose_of(follows).map(|given| Occurrence {
                    child: Some(c),
                    anchor: given,
                    deadline_anchor: given,
                    occurrence: 0,
                    reason: format!("{follows} given {given}"),
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
                        child: Some(c),
                        anchor: moved,
                        deadline_anchor: moved,
                        occurrence: moved.format("%Y%m%d").to_string().parse().unwrap_or(0),
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
                    child: None,
                    anchor: moved,
                    deadline_anchor: planned.unwrap_or(moved),
                    occurrence: moved.format("%Y%m%d").to_string().parse().unwrap_or(0),
                    reason,
                }
            })
            .into_iter()
            .collect(),
        Trigger::Yearly => {
            // This year's occurrence while its window has not ended, else next year's.
            let this_year = chrono::Datelike::year(&today);
            let ends = |year: i32| {
                let anchor = NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or(today);
                ends_rule.date(anchor, &ctx.calendar, &settings.extra_closed)
            };
            let year = if ends(this_year) >= today { this_year } else { this_year + 1 };
            let anchor = NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or(today);
            let reason = format!("every year ({year})");
            match procedure.subject {
                Subject::Household => {
                    vec![Occurrence { child: None, anchor, deadline_anchor: anchor, occurrence: year, reason }]
                }
                Subject::Child => children
                    .filter(|c| c.status == ChildStatus::Born)
                    .map(|c| Occurrence {
                        child: Some(c),
                        anchor,
                        deadline_anchor: anchor,
                        occurrence: year,
                        reason: reason.clone(),
                    })
                    .collect(),
            }
        }
    }
}

/// The reasons a procedure applies to this occurrence, or `None` when a condition fails.
fn applies(
    procedure: &Procedure,
    facts: &FamilyFacts,
    occ: &Occurrence<'_>,
    opens_rule: &DateRule,
    ctx: &PlanningContext,
    settings: &ResolvedOverride,
) -> Option<Vec<String>> {
    let mut reasons = Vec::with_capacity(procedure.conditions.len());
    for condition in &procedure.conditions {
        let reason = match condition {
            Condition::HealthInsurance { is } => {
                (facts.health_insurance == Some(*is)).then(|| format!("health insurance: {is}"))
            }
            Condition::BirthWeightBelow { grams } => {
                let weight = occ.child.and_then(|c| c.birth_weight_grams)?;
                (weight < *grams).then(|| format!("birth weight {weight} g, under {grams} g"))
            }
            Condition::SingleParent => facts.single_parent.then(|| "single-parent household".to_owned()),
            Condition::Circumstance { is } => facts.circumstances.contains(is).then(|| format!("circumstance: {is}")),
            Condition::ChildAgeBelow { years } => {
                let born = occ.child.and_then(|c| c.birth_date)?;
                let opens = opens_rule.date(occ.anchor, &ctx.calendar, &settings.extra_closed);
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
            Condition::NoOtherChildThroughMarchAfter { years } => {
                (!other_child_counts(facts, occ, *years)).then(|| "the first child the allowance counts".to_owned())
            }
            Condition::NotCircumstance { is } => {
                (!facts.circumstances.contains(is)).then(|| format!("not the circumstance: {is}"))
            }
            Condition::ChildForeignNational => {
                let nationalities = || facts.guardian_nationalities.iter().map(|n| n.as_deref());
                super::text::no_japanese_parent(nationalities()).then(|| {
                    let codes: Vec<&str> = nationalities().flatten().collect();
                    format!("no guardian of Japanese nationality ({})", codes.join(", "))
                })
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
        .filter(|c| Some(c.id.as_str()) != this)
        .filter_map(|c| c.birth_date)
        .any(|born| born < occ.anchor && occ.anchor <= periods::first_march_31_after_reaching(born, years))
}

/// Whether a born child of the household is, on `on`, born and not past `until(birth)`.
fn household_child_until(facts: &FamilyFacts, on: NaiveDate, until: impl Fn(NaiveDate) -> NaiveDate) -> bool {
    facts.children.iter().filter_map(|c| c.birth_date).any(|born| born <= on && on <= until(born))
}

fn add_reminders(
    out: &mut Vec<PlannedNotification>,
    facts: &FamilyFacts,
    task: &PlannedTask<'_>,
    anchor: NaiveDate,
    today: NaiveDate,
    (calendar, extra_closed): (&Calendar, &[MonthDay]),
) {
    let first = out.len();
    // The date the reminders count days left to (the template's `due`).
    let due = task.deadline.unwrap_or(task.closes_on);
    for (index, reminder) in task.procedure.reminders.iter().enumerate() {
        let base = match reminder.from {
            ReminderBase::Opens => task.opens_on,
            ReminderBase::Deadline => due,
            ReminderBase::Anchor => anchor,
        };
        let mut date = periods::shift_days(base, reminder.days);
        // 「本日が期限です」 on a day the office is closed (a municipality's own deadline, a
        // recommended date, not moved off closed days) cannot be acted on: that push goes out on
        // the last open day before, where it says how many days are left; when that day has
        // passed, or comes before the window opens, there is none.
        if date == due && !calendar.is_open_day(date, extra_closed) {
            date = calendar.previous_open_day(date, extra_closed);
            if date == due || date < task.opens_on {
                continue;
            }
        }
        let last = due.max(task.closes_on);
        // Not in the past, not after the window, and one reminder a day.
        if date < today || date > last || out[first..].iter().any(|n| n.date == date) {
            continue;
        }
        out.push(PlannedNotification {
            key: format!("{}/{}/r{index}", facts.family_id, task.key),
            task_key: task.key.clone(),
            reminder: index,
            date,
            send_at: reminder_instant(date, facts.quiet_hours),
        });
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
            quiet_hours: QuietHours::default(),
            moved_on: None,
            planned_move_out_on: None,
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
            doses: vec![],
        }
    }

    fn expected(id: &str, due: NaiveDate) -> ChildFacts {
        ChildFacts {
            id: id.into(),
            status: ChildStatus::Expected,
            due_date: Some(due),
            birth_date: None,
            birth_weight_grams: None,
            doses: vec![],
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
        child.doses = vec![("vaccine_5in1".into(), d("2026-03-25"))];
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
            ("vaccine_5in1_second".into(), d("2026-04-22")),
            ("vaccine_5in1_third".into(), d("2026-05-20")),
            ("vaccine_pneumococcal".into(), d("2026-03-25")),
            ("vaccine_pneumococcal_second".into(), d("2026-04-22")),
            ("vaccine_pneumococcal_third".into(), d("2026-05-20")),
            ("vaccine_hepatitis_b".into(), d("2026-03-25")),
            ("vaccine_hepatitis_b_second".into(), d("2026-04-22")),
        ]);
        let later = plan(&family("131016", vec![child.clone()]), &ctx, &settings, d("2026-05-21"));
        let booster = task(&later, "vaccine_5in1_booster");
        assert_eq!((booster.opens_on, booster.deadline), (d("2026-11-20"), Some(d("2027-11-20"))));
        // 小児用肺炎球菌 追加: 60日以上 after the third AND from 生後12月 (the day after reaching 12
        // months, 2027-01-09 being the day it is reached): the later; standard to 生後15月.
        let pcv = task(&later, "vaccine_pneumococcal_booster");
        assert_eq!((pcv.opens_on, pcv.deadline), (d("2027-01-09"), Some(d("2027-04-09"))));
        // B型肝炎 3回目: 139日以上 after the first (→ 8/12); counted from the second, 8/13.
        let hep_b = task(&later, "vaccine_hepatitis_b_third");
        assert!(hep_b.opens_on >= periods::interval_days(d("2026-03-25"), 139));
        assert_eq!((hep_b.opens_on, hep_b.closes_on), (d("2026-08-13"), d("2027-01-09")));

        // 水痘 2回目: 3か月以上 after the first; a first dose at 34 months leaves no routine window.
        let mut late = born("c2", d("2026-01-10"), 3000);
        late.doses = vec![("vaccine_varicella".into(), d("2028-11-15"))];
        let late_plan = plan(&family("131016", vec![late]), &ctx, &settings, d("2028-11-16"));
        assert!(!ids(&late_plan).contains(&"vaccine_varicella_second"), "3 months after is past 生後36月");
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
        // Twins are claimed together: neither is the other's older child.
        let twins = family("131016", vec![born("c1", d("2026-11-20"), 2600), born("c2", d("2026-11-20"), 2500)]);
        let plan_twins = plan(&twins, &ctx, &settings, today);
        for child in ["c1", "c2"] {
            assert!(child_task(&plan_twins, child, "child_allowance_claim").is_some(), "{child}");
        }
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
        for nationalities in [vec![Some("VN".into()), Some("JP".into())], vec![Some("VN".into()), None], vec![]] {
            let mut other = foreign.clone();
            other.guardian_nationalities = nationalities.clone();
            let planned = plan(&other, &ctx, &settings, d("2026-11-22"));
            assert!(!ids(&planned).contains(&"residence_status_on_birth"), "{nationalities:?}");
        }
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
                        ctx.calendar.is_open_day(deadline, &settings.extra_closed),
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
