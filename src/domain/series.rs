//! 予防接種の系列: how the doses of one routine vaccination follow each other for a child.
//!
//! A dose procedure of the catalog (`trigger = "dose"`) comes after the dose it `follows`. Its
//! schedule may depend on how the series went (`variants`: the age at the first dose for 小児用
//! 肺炎球菌, the product for ロタウイルス), it may count from the series' first dose (`from =
//! "series_start"`: B型肝炎 3回目), and it may pass over a dose the child will not be given
//! (`follows_skipped`: the 肺炎球菌 booster after an initial series cut short). This module
//! answers, from the recorded doses alone, what the next dose counts from; the planner turns
//! that into a task, and recording a dose checks its date with the same answer.

use chrono::NaiveDate;

use super::calendar::{Calendar, MonthDay};
use super::catalog::{Catalog, CountedFrom, DateRule, DoseVariant, Procedure, Trigger};
use super::enums::VaccineProduct;
use super::periods;

/// The longest chain of doses followed (a catalog's chains are a few doses long; the bound
/// keeps a cycle from looping).
const LONGEST_SERIES: usize = 16;

/// A recorded dose (接種記録).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dose {
    /// The catalog's procedure the dose was given for.
    pub procedure: String,
    /// 接種日.
    pub given_on: NaiveDate,
    /// The product, where the vaccine's products differ (ロタ).
    pub product: Option<VaccineProduct>,
}

/// What a dose procedure counts from, for one child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NextDose {
    /// The date of the dose it follows (or, past a dose that will not be given, of the one
    /// before that).
    pub after: NaiveDate,
    /// The procedure of that dose.
    pub after_procedure: String,
    /// The series' first dose.
    pub series_start: NaiveDate,
    /// No earlier than this: the day after the window of a dose passed over ends.
    pub not_before: Option<NaiveDate>,
    /// The child's schedule, where the procedure has several.
    pub variant: Option<DoseVariant>,
    /// The doses passed over, for the task's reasons.
    pub passed_over: Vec<String>,
}

/// The window of a dose: the first day it may be given and the last day of the routine period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub opens: NaiveDate,
    pub closes: NaiveDate,
}

/// Where a dose stands for the child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Given(NaiveDate),
    /// Its window is known and it may still be given until `closes`.
    Open {
        closes: NaiveDate,
    },
    /// The series has no such dose for this child (known on that day).
    Skipped {
        known_on: NaiveDate,
    },
    /// It cannot be planned yet: the dose before is not recorded.
    Waiting,
}

/// One child's doses, read against the catalog.
pub struct Series<'c> {
    catalog: &'c Catalog,
    doses: &'c [Dose],
    birth: NaiveDate,
    calendar: &'c Calendar,
    extra_closed: &'c [MonthDay],
}

impl<'c> Series<'c> {
    pub fn new(
        catalog: &'c Catalog,
        doses: &'c [Dose],
        birth: NaiveDate,
        calendar: &'c Calendar,
        extra_closed: &'c [MonthDay],
    ) -> Self {
        Self { catalog, doses, birth, calendar, extra_closed }
    }

    /// The latest recorded dose of a procedure.
    pub fn given(&self, procedure_id: &str) -> Option<NaiveDate> {
        self.doses.iter().filter(|d| d.procedure == procedure_id).map(|d| d.given_on).max()
    }

    /// The first procedure of the series `procedure` belongs to.
    fn root(&self, procedure: &'c Procedure) -> &'c Procedure {
        let mut at = procedure;
        for _ in 0..LONGEST_SERIES {
            match at.follows.as_deref().and_then(|id| self.catalog.get(id)) {
                Some(before) => at = before,
                None => break,
            }
        }
        at
    }

    /// The product the series was recorded with (any of its doses).
    pub fn product(&self, procedure: &'c Procedure) -> Option<VaccineProduct> {
        let root = &self.root(procedure).id;
        self.doses
            .iter()
            .filter(|d| self.catalog.get(&d.procedure).is_some_and(|p| &self.root(p).id == root))
            .find_map(|d| d.product)
    }

    /// What the dose counts from, or `None` when it is not to be planned: the dose before is
    /// not recorded, or the child's series has no such dose.
    pub fn next(&self, procedure: &'c Procedure) -> Option<NextDose> {
        let start = self.given(&self.root(procedure).id)?;
        let (before, after, not_before, passed_over) = self.anchor(procedure)?;
        let variant = self.variant(procedure, start, Some(after))?.cloned();
        Some(NextDose {
            after,
            after_procedure: before.id.clone(),
            series_start: start,
            not_before,
            variant,
            passed_over,
        })
    }

    /// The window of the dose as the catalog sets it (no municipality's settings).
    pub fn window(&self, procedure: &Procedure, next: &NextDose) -> Window {
        let variant = next.variant.as_ref();
        let opens = variant.and_then(|v| v.opens.as_ref()).unwrap_or(&procedure.opens);
        let not_before = variant.and_then(|v| v.not_before.as_ref()).or(procedure.not_before.as_ref());
        let closes = variant.and_then(|v| v.closes.as_ref()).or(procedure.closes.as_ref());
        let deadline = variant.and_then(|v| v.deadline.as_ref()).or(procedure.deadline.as_ref());
        let opens = [Some(self.date(opens, next)), not_before.map(|r| self.date(r, next)), next.not_before]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(next.after);
        let closes = closes.or(deadline).map_or(opens, |r| self.date(r, next));
        Window { opens, closes }
    }

    /// A date rule of the dose, counted from the dose before, the birth or the series' start.
    pub fn date(&self, rule: &DateRule, next: &NextDose) -> NaiveDate {
        let anchor = match rule.from {
            CountedFrom::Trigger => next.after,
            CountedFrom::SeriesStart => next.series_start,
            CountedFrom::Birth | CountedFrom::DueDate => self.birth,
        };
        rule.date(anchor, self.calendar, self.extra_closed)
    }

    /// The dose this one counts from: the one it follows, or past doses that will not be given
    /// (when it `follows_skipped`), the one before them.
    fn anchor(&self, procedure: &'c Procedure) -> Option<(&'c Procedure, NaiveDate, Option<NaiveDate>, Vec<String>)> {
        let mut before = self.catalog.get(procedure.follows.as_deref()?)?;
        let mut not_before: Option<NaiveDate> = None;
        let mut passed_over = Vec::new();
        for _ in 0..LONGEST_SERIES {
            let passed_from = match self.state(before) {
                State::Given(on) => return Some((before, on, not_before, passed_over)),
                State::Waiting => return None,
                _ if !procedure.follows_skipped => return None,
                // Given in its window, it is what this dose follows (and the plan follows it then).
                State::Open { closes } => periods::shift_days(closes, 1),
                State::Skipped { known_on } => known_on,
            };
            not_before = not_before.max(Some(passed_from));
            passed_over.push(before.id.clone());
            before = self.catalog.get(before.follows.as_deref()?)?;
        }
        None
    }

    /// The child's variant of the procedure: `Some(None)` when it has none, `None` when none of
    /// its variants holds. `after` unknown, a selector on it may still hold.
    fn variant(
        &self,
        procedure: &'c Procedure,
        start: NaiveDate,
        after: Option<NaiveDate>,
    ) -> Option<Option<&'c DoseVariant>> {
        if procedure.variants.is_empty() {
            return Some(None);
        }
        let product = self.product(procedure);
        let by = |months: i64| periods::month_age_reached(self.birth, months);
        procedure
            .variants
            .iter()
            .find(|v| {
                v.started_by_month_age.is_none_or(|n| start <= by(n))
                    && v.dose_by_month_age.is_none_or(|n| after.is_none_or(|a| a <= by(n)))
                    && v.product.is_none_or(|p| product == Some(p))
                    && v.not_product.is_none_or(|p| product != Some(p))
            })
            .map(Some)
    }

    fn state(&self, procedure: &'c Procedure) -> State {
        if let Some(on) = self.given(&procedure.id) {
            return State::Given(on);
        }
        if procedure.trigger != Trigger::Dose {
            return State::Waiting;
        }
        let Some(start) = self.given(&self.root(procedure).id) else { return State::Waiting };
        // Whatever the doses before, the series' start already rules this dose out.
        if self.variant(procedure, start, None).is_none() {
            return State::Skipped { known_on: start };
        }
        let Some((_, after, _, _)) = self.anchor(procedure) else { return State::Waiting };
        match self.next(procedure) {
            None => State::Skipped { known_on: after },
            Some(next) => {
                let window = self.window(procedure, &next);
                // A dose that came too late leaves no window for this one.
                if window.closes < window.opens {
                    State::Skipped { known_on: after }
                } else {
                    State::Open { closes: window.closes }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        text.parse().expect("date")
    }

    fn dose(procedure: &str, on: &str) -> Dose {
        Dose { procedure: procedure.into(), given_on: d(on), product: None }
    }

    /// The window of `procedure` for a child born on `birth` with `doses`, or `None` when it is
    /// not planned.
    fn window(birth: &str, doses: &[Dose], procedure: &str) -> Option<(NaiveDate, NaiveDate)> {
        let catalog = Catalog::shipped();
        let calendar = Calendar::shipped();
        let series = Series::new(&catalog, doses, d(birth), &calendar, &[]);
        let p = catalog.get(procedure).expect("procedure");
        series.next(p).map(|next| series.window(p, &next)).map(|w| (w.opens, w.closes))
    }

    // 小児用肺炎球菌 (定期接種実施要領): born 2026-01-15, so 生後7月に至る日 is 2026-08-14, 生後12月
    // 2027-01-14, 生後24月 2028-01-14, 生後60月 2031-01-14.

    #[test]
    fn pneumococcal_started_at_2_to_7_months_is_three_doses_and_a_booster() {
        let doses = [dose("vaccine_pneumococcal", "2026-03-20"), dose("vaccine_pneumococcal_second", "2026-04-20")];
        // 2回目: 27日以上 → from 3/20 + 28 = 4/17, until 生後24月.
        assert_eq!(
            window("2026-01-15", &doses[..1], "vaccine_pneumococcal_second"),
            Some((d("2026-04-17"), d("2028-01-14")))
        );
        // 3回目: 27日以上 after the 2nd → 5/18.
        assert_eq!(
            window("2026-01-15", &doses, "vaccine_pneumococcal_third"),
            Some((d("2026-05-18"), d("2028-01-14")))
        );
        let all = [doses[0].clone(), doses[1].clone(), dose("vaccine_pneumococcal_third", "2026-05-20")];
        // 追加: 60日以上 after the 3rd (7/20) and 生後12月以降 (2027-01-14), until 生後60月.
        assert_eq!(
            window("2026-01-15", &all, "vaccine_pneumococcal_booster"),
            Some((d("2027-01-14"), d("2031-01-14")))
        );
    }

    #[test]
    fn pneumococcal_started_at_7_to_12_months_is_two_doses_and_a_booster() {
        let first = dose("vaccine_pneumococcal", "2026-09-01");
        assert_eq!(
            window("2026-01-15", std::slice::from_ref(&first), "vaccine_pneumococcal_second"),
            Some((d("2026-09-29"), d("2028-01-14")))
        );
        let two = [first.clone(), dose("vaccine_pneumococcal_second", "2026-10-01")];
        assert_eq!(window("2026-01-15", &two, "vaccine_pneumococcal_third"), None, "no third dose");
        // 追加: 60日以上 after the 2nd (10/1 + 61 = 12/1) and 生後12月以降 → 2027-01-14.
        assert_eq!(
            window("2026-01-15", &two, "vaccine_pneumococcal_booster"),
            Some((d("2027-01-14"), d("2031-01-14")))
        );
        // Started on 生後7月に至る日 itself (8/14): still the 2–7 month schedule.
        let on_the_day =
            [dose("vaccine_pneumococcal", "2026-08-14"), dose("vaccine_pneumococcal_second", "2026-09-11")];
        assert_eq!(
            window("2026-01-15", &on_the_day, "vaccine_pneumococcal_third"),
            Some((d("2026-10-09"), d("2028-01-14")))
        );
    }

    #[test]
    fn pneumococcal_started_at_12_to_24_months_is_two_doses_60_days_apart() {
        let first = dose("vaccine_pneumococcal", "2027-03-01");
        // 60日以上: 3/1 + 61 = 5/1, within the routine period (生後60月に至るまで).
        assert_eq!(
            window("2026-01-15", std::slice::from_ref(&first), "vaccine_pneumococcal_second"),
            Some((d("2027-05-01"), d("2031-01-14")))
        );
        let two = [first, dose("vaccine_pneumococcal_second", "2027-05-10")];
        assert_eq!(window("2026-01-15", &two, "vaccine_pneumococcal_third"), None);
        assert_eq!(window("2026-01-15", &two, "vaccine_pneumococcal_booster"), None, "no booster");
    }

    #[test]
    fn pneumococcal_started_at_24_to_60_months_is_one_dose() {
        let first = dose("vaccine_pneumococcal", "2028-03-01");
        assert_eq!(window("2026-01-15", &[first], "vaccine_pneumococcal_second"), None);
    }

    #[test]
    fn pneumococcal_series_cut_short_moves_on_to_the_booster() {
        // The 2nd after 生後12月 (2027-02-01): no 3rd; the booster 60日以上 after the 2nd.
        let late_second =
            [dose("vaccine_pneumococcal", "2026-05-01"), dose("vaccine_pneumococcal_second", "2027-02-01")];
        assert_eq!(window("2026-01-15", &late_second, "vaccine_pneumococcal_third"), None);
        assert_eq!(
            window("2026-01-15", &late_second, "vaccine_pneumococcal_booster"),
            Some((d("2027-04-03"), d("2031-01-14")))
        );
        // The 2nd on 生後12月に至る日 itself: the 3rd is still given.
        let on_the_day =
            [dose("vaccine_pneumococcal", "2026-05-01"), dose("vaccine_pneumococcal_second", "2027-01-14")];
        assert_eq!(
            window("2026-01-15", &on_the_day, "vaccine_pneumococcal_third"),
            Some((d("2027-02-11"), d("2028-01-14")))
        );
        // A 3rd not given by 生後24月: the booster follows the 2nd, once that window has ended.
        let two = [dose("vaccine_pneumococcal", "2026-03-20"), dose("vaccine_pneumococcal_second", "2026-04-20")];
        assert_eq!(
            window("2026-01-15", &two, "vaccine_pneumococcal_booster"),
            Some((d("2028-01-15"), d("2031-01-14")))
        );
        // Started at 7–12 months and no 2nd by 生後24月: the booster follows the 1st.
        let one = [dose("vaccine_pneumococcal", "2026-09-01")];
        assert_eq!(
            window("2026-01-15", &one, "vaccine_pneumococcal_booster"),
            Some((d("2028-01-15"), d("2031-01-14")))
        );
        // Started at 2–7 months with only the 1st: the 2nd is still to come, no booster yet.
        let early = [dose("vaccine_pneumococcal", "2026-03-20")];
        assert_eq!(window("2026-01-15", &early, "vaccine_pneumococcal_booster"), None);
    }

    #[test]
    fn hepatitis_b_third_dose_counts_139_days_from_the_first() {
        // Born 2026-01-15: 1歳に至るまで ends 2027-01-14.
        let doses = [dose("vaccine_hepatitis_b", "2026-03-16"), dose("vaccine_hepatitis_b_second", "2026-06-20")];
        // 139日以上 after 3/16 → 3/16 + 140 = 8/3, although the 2nd was late.
        assert_eq!(window("2026-01-15", &doses, "vaccine_hepatitis_b_third"), Some((d("2026-08-03"), d("2027-01-14"))));
        // A 2nd given after day 139: the 3rd opens the day after it, not 112 days later.
        let late = [dose("vaccine_hepatitis_b", "2026-03-16"), dose("vaccine_hepatitis_b_second", "2026-09-01")];
        assert_eq!(window("2026-01-15", &late, "vaccine_hepatitis_b_third"), Some((d("2026-09-02"), d("2027-01-14"))));
    }

    #[test]
    fn rotavirus_rotateq_has_a_third_dose_by_32_weeks_and_rotarix_none() {
        // Born 2026-11-01: 出生24週0日後 2027-04-18, 32週0日後 2027-06-13.
        let with = |product| {
            [
                Dose { product, ..dose("vaccine_rotavirus", "2027-01-05") },
                Dose { product, ..dose("vaccine_rotavirus_second", "2027-02-05") },
            ]
        };
        let rotateq = with(Some(VaccineProduct::Rotateq));
        assert_eq!(
            window("2026-11-01", &rotateq[..1], "vaccine_rotavirus_second"),
            Some((d("2027-02-02"), d("2027-06-13")))
        );
        assert_eq!(window("2026-11-01", &rotateq, "vaccine_rotavirus_third"), Some((d("2027-03-05"), d("2027-06-13"))));
        let rotarix = with(Some(VaccineProduct::Rotarix));
        assert_eq!(
            window("2026-11-01", &rotarix[..1], "vaccine_rotavirus_second"),
            Some((d("2027-02-02"), d("2027-04-18")))
        );
        assert_eq!(window("2026-11-01", &rotarix, "vaccine_rotavirus_third"), None);
        // Without the product: the earlier end for the 2nd, and a 3rd that may be needed.
        let unknown = with(None);
        assert_eq!(
            window("2026-11-01", &unknown[..1], "vaccine_rotavirus_second"),
            Some((d("2027-02-02"), d("2027-04-18")))
        );
        assert_eq!(window("2026-11-01", &unknown, "vaccine_rotavirus_third"), Some((d("2027-03-05"), d("2027-06-13"))));
        // The product recorded on the first dose only still decides.
        let first_only = [rotarix[0].clone(), unknown[1].clone()];
        assert_eq!(window("2026-11-01", &first_only, "vaccine_rotavirus_third"), None);
    }
}
