//! 開庁日: which days a municipal office is open.
//!
//! Closed are Saturdays, Sundays, the 国民の祝日 and 休日 of the 祝日法 (振替休日, 国民の休日), the
//! year-end closure 12/29–1/3 (地方自治法4条の2, set by every municipality's 条例), and the
//! extra days a municipality declares (沖縄県 6/23 慰霊の日, 広島市 8/6 平和記念日). Official
//! holiday lists are shipped for the years they cover; other years follow the rules.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::Deserialize;

/// The years computed into the lookup table; beyond them a day is computed on demand.
const FIRST_YEAR: i32 = 1990;
const LAST_YEAR: i32 = 2100;

/// A day of the year (month, day) that a municipality keeps closed every year.
pub type MonthDay = (u32, u32);

/// National holidays and office closures, with a precomputed table for fast look-ups.
pub struct Calendar {
    /// One bit per day from 1 January `FIRST_YEAR`: set when the day is a national holiday.
    holidays: Vec<u64>,
    first: NaiveDate,
    official_years: BTreeSet<i32>,
}

#[derive(Deserialize)]
struct HolidayFile {
    official: BTreeMap<String, Vec<String>>,
}

impl Calendar {
    /// The calendar with the shipped official lists (`catalog/holidays.toml`).
    pub fn shipped() -> Self {
        Self::from_toml(include_str!("../../catalog/holidays.toml"))
            .unwrap_or_else(|e| panic!("catalog/holidays.toml: {e}"))
    }

    /// Official lists override the rules for the years they name.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let file: HolidayFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut official: BTreeMap<i32, BTreeSet<NaiveDate>> = BTreeMap::new();
        for (year, days) in file.official {
            let year: i32 = year.parse().map_err(|_| format!("'{year}' is not a year"))?;
            let set = official.entry(year).or_default();
            for day in days {
                let date = NaiveDate::parse_from_str(&format!("{year}-{day}"), "%Y-%m-%d")
                    .map_err(|_| format!("{year}: '{day}' is not a MM-DD date"))?;
                set.insert(date);
            }
        }
        let first = ymd(FIRST_YEAR, 1, 1);
        let days = (ymd(LAST_YEAR, 12, 31) - first).num_days() as usize + 1;
        let mut holidays = vec![0u64; days.div_ceil(64)];
        for year in FIRST_YEAR..=LAST_YEAR {
            let list = match official.get(&year) {
                Some(list) => list.clone(),
                None => holidays_by_rule(year),
            };
            for date in list {
                let index = (date - first).num_days() as usize;
                holidays[index / 64] |= 1 << (index % 64);
            }
        }
        Ok(Self { holidays, first, official_years: official.keys().copied().collect() })
    }

    /// 国民の祝日 or 休日 (including 振替休日 and 国民の休日).
    pub fn is_national_holiday(&self, date: NaiveDate) -> bool {
        let index = (date - self.first).num_days();
        if (0..(self.holidays.len() * 64) as i64).contains(&index) && (FIRST_YEAR..=LAST_YEAR).contains(&date.year()) {
            let index = index as usize;
            return self.holidays[index / 64] & (1 << (index % 64)) != 0;
        }
        holidays_by_rule(date.year()).contains(&date)
    }

    /// Whether the year's holidays come from an official list rather than the rules.
    pub fn is_official_year(&self, year: i32) -> bool {
        self.official_years.contains(&year)
    }

    /// Whether the offices of a municipality with these extra closed days are open on `date`.
    pub fn is_open_day(&self, date: NaiveDate, extra_closed: &[MonthDay]) -> bool {
        !(matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
            || is_year_end_closure(date)
            || self.is_national_holiday(date)
            || extra_closed.contains(&(date.month(), date.day())))
    }

    /// `date` itself when open, else the next open day: a deadline that falls on a closed day
    /// moves there (地方自治法4条の2④, 行政機関の休日に関する法律2条).
    pub fn next_open_day(&self, date: NaiveDate, extra_closed: &[MonthDay]) -> NaiveDate {
        self.first_open_day(date, extra_closed, |day| day.succ_opt())
    }

    /// `date` itself when open, else the open day before it.
    pub fn previous_open_day(&self, date: NaiveDate, extra_closed: &[MonthDay]) -> NaiveDate {
        self.first_open_day(date, extra_closed, |day| day.pred_opt())
    }

    /// The first open day from `date` on, stepping with `step`, within `MAX_CLOSED_RUN` days.
    /// Settings cannot close that many days in a row (`MAX_EXTRA_CLOSED_DAYS`); should a run
    /// ever be longer, the date as the law counts it stands rather than the search spinning.
    fn first_open_day(
        &self,
        date: NaiveDate,
        extra_closed: &[MonthDay],
        step: impl Fn(NaiveDate) -> Option<NaiveDate>,
    ) -> NaiveDate {
        let mut day = date;
        for _ in 0..MAX_CLOSED_RUN {
            if self.is_open_day(day, extra_closed) {
                return day;
            }
            match step(day) {
                Some(next) => day = next,
                None => break,
            }
        }
        date
    }
}

/// The longest run of closed days searched for an open one: far more than any real calendar
/// (年末年始 with a weekend and 振替休日 is under ten days).
const MAX_CLOSED_RUN: usize = 120;

/// 年末年始: 12/29–1/3, closed in every municipality.
pub fn is_year_end_closure(date: NaiveDate) -> bool {
    matches!((date.month(), date.day()), (12, 29..=31) | (1, 1..=3))
}

fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap_or(NaiveDate::MIN)
}

/// The `nth` given weekday of a month (Happy Monday: 成人の日, 海の日, 敬老の日, スポーツの日).
fn nth_weekday(year: i32, month: u32, weekday: Weekday, nth: u8) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, nth).unwrap_or(NaiveDate::MIN)
}

/// 春分日 and 秋分日 by the approximation valid 1980–2099 (the official dates come from the
/// 暦要項; shipped lists take precedence).
fn equinox_day(year: i32, base: f64) -> u32 {
    let y = f64::from(year - 1980);
    (base + 0.242194 * y - (y / 4.0).floor()).floor() as u32
}

/// The holidays of a year by the rules of the 祝日法 as in force since 2020 (天皇誕生日 2/23).
/// Earlier years are only approximated (2019's and the 2020–2021 Olympic moves are not modelled).
pub fn holidays_by_rule(year: i32) -> BTreeSet<NaiveDate> {
    let mut days: BTreeSet<NaiveDate> = [
        ymd(year, 1, 1),
        nth_weekday(year, 1, Weekday::Mon, 2),
        ymd(year, 2, 11),
        ymd(year, 2, 23),
        ymd(year, 3, equinox_day(year, 20.8431)),
        ymd(year, 4, 29),
        ymd(year, 5, 3),
        ymd(year, 5, 4),
        ymd(year, 5, 5),
        nth_weekday(year, 7, Weekday::Mon, 3),
        ymd(year, 8, 11),
        nth_weekday(year, 9, Weekday::Mon, 3),
        ymd(year, 9, equinox_day(year, 23.2488)),
        nth_weekday(year, 10, Weekday::Mon, 2),
        ymd(year, 11, 3),
        ymd(year, 11, 23),
    ]
    .into_iter()
    .collect();
    let statutory: Vec<NaiveDate> = days.iter().copied().collect();
    // 3条3項 国民の休日: a day between two 祝日 is itself a 休日.
    for pair in statutory.windows(2) {
        if (pair[1] - pair[0]).num_days() == 2 {
            days.insert(pair[0] + Days::new(1));
        }
    }
    // 3条2項 振替休日: a 祝日 on a Sunday gives the nearest following day that is no 祝日.
    for holiday in statutory {
        if holiday.weekday() == Weekday::Sun {
            let mut substitute = holiday + Days::new(1);
            while days.contains(&substitute) {
                substitute = substitute + Days::new(1);
            }
            days.insert(substitute);
        }
    }
    days
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        ymd(y, m, day)
    }

    #[test]
    fn the_rules_reproduce_the_official_lists() {
        let calendar = Calendar::shipped();
        for year in 2025..=2027 {
            assert!(calendar.is_official_year(year));
            let text = include_str!("../../catalog/holidays.toml");
            let official = Calendar::from_toml(text).expect("parse");
            let by_rule = holidays_by_rule(year);
            for day in by_rule.iter() {
                assert!(official.is_national_holiday(*day), "{day} by rule, not official");
            }
            let mut date = d(year, 1, 1);
            while date.year() == year {
                assert_eq!(official.is_national_holiday(date), by_rule.contains(&date), "{date}");
                date = date + Days::new(1);
            }
        }
    }

    #[test]
    fn substitute_and_sandwiched_holidays() {
        let calendar = Calendar::shipped();
        assert!(calendar.is_national_holiday(d(2025, 2, 24)), "振替: 2/23 was a Sunday");
        assert!(calendar.is_national_holiday(d(2026, 5, 6)), "振替: 5/3 Sunday → 5/6");
        assert!(calendar.is_national_holiday(d(2026, 9, 22)), "国民の休日 between 敬老の日 and 秋分の日");
        assert!(calendar.is_national_holiday(d(2027, 3, 22)), "振替: 春分 on Sunday");
        // Computed years: 2032 has 9/20 敬老の日 and 9/22 秋分 → 9/21 国民の休日.
        assert!(holidays_by_rule(2032).contains(&d(2032, 9, 21)));
        assert!(!calendar.is_national_holiday(d(2026, 11, 24)), "11/23/2026 is a Monday: no substitute");
    }

    #[test]
    fn offices_close_at_weekends_year_end_and_local_days() {
        let calendar = Calendar::shipped();
        assert!(!calendar.is_open_day(d(2026, 11, 21), &[]), "Saturday");
        assert!(!calendar.is_open_day(d(2026, 12, 29), &[]), "年末");
        assert!(!calendar.is_open_day(d(2027, 1, 3), &[]), "年始");
        assert!(calendar.is_open_day(d(2027, 1, 4), &[]));
        assert!(calendar.is_open_day(d(2026, 6, 23), &[]));
        assert!(!calendar.is_open_day(d(2026, 6, 23), &[(6, 23)]), "沖縄 慰霊の日");
        assert_eq!(calendar.next_open_day(d(2026, 12, 31), &[]), d(2027, 1, 4));
        assert_eq!(calendar.next_open_day(d(2026, 5, 3), &[]), d(2026, 5, 7));
        assert_eq!(calendar.previous_open_day(d(2026, 5, 31), &[]), d(2026, 5, 29));
        // Every day closed: the search ends at once with the date itself, never spinning.
        let every_day: Vec<MonthDay> = (1..=12).flat_map(|m| (1..=31).map(move |d| (m, d))).collect();
        assert_eq!(calendar.next_open_day(d(2026, 12, 31), &every_day), d(2026, 12, 31));
        assert_eq!(calendar.previous_open_day(d(2026, 5, 31), &every_day), d(2026, 5, 31));
    }

    #[test]
    fn days_beyond_the_table_are_computed() {
        let calendar = Calendar::shipped();
        assert!(calendar.is_national_holiday(d(2150, 1, 1)));
        assert!(!calendar.is_national_holiday(d(2150, 1, 5)));
    }
}
