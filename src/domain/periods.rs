//! 期間の計算: how Japanese law counts days, months and ages.
//!
//! Each rule is named after the law it follows; the worked examples of
//! `shared/domain/jp-rules.md` §0 are the tests.

use chrono::{Datelike, Days, Months, NaiveDate};

use super::calendar::{Calendar, MonthDay};

/// `date` moved by `n` days (either way).
pub fn shift_days(date: NaiveDate, n: i64) -> NaiveDate {
    if n >= 0 {
        date + Days::new(n as u64)
    } else {
        date - Days::new(n.unsigned_abs())
    }
}

/// 初日算入 (戸籍法43条): the day of the event is day 1, so "within 14 days" ends on event + 13.
pub fn koseki_days(event: NaiveDate, n: i64) -> NaiveDate {
    shift_days(event, n - 1)
}

/// 初日不算入 (民法140条): counting starts the next day, so "within 14 days" ends on event + 14.
pub fn civil_days(event: NaiveDate, n: i64) -> NaiveDate {
    shift_days(event, n)
}

/// The same day number `n` months later, or the last day of that month when it has no such
/// day.
fn same_day_months_later(date: NaiveDate, n: i64) -> NaiveDate {
    let months = Months::new(n.unsigned_abs() as u32);
    let moved = if n >= 0 { date.checked_add_months(months) } else { date.checked_sub_months(months) };
    // chrono clamps to the month's last day itself; the fallback is unreachable for real dates.
    moved.unwrap_or(date)
}

/// 民法143条: a period of `n` months from an event starts the day after it (140条). Started on
/// the first of a month, it runs by the calendar and ends with the last day of its last month
/// (143条①: 4/30 + 1 month → 5/31; 2/28 + 2 years → the 29th in a leap year). Otherwise it
/// ends on the day before the start's corresponding day, which is the event's own day number
/// `n` months later, or that month's last day when it has none (143条②: 1/30 + 1 month → 2/28).
pub fn civil_months(event: NaiveDate, n: i64) -> NaiveDate {
    let start = shift_days(event, 1);
    if n > 0 && start.day() == 1 {
        return month_end(same_day_months_later(start, n - 1));
    }
    same_day_months_later(event, n)
}

/// 「N日以上の間隔をおいて」 (定期接種実施要領, jp-rules C10): N whole days between the doses, so
/// the next dose is due from the dose's date + N + 1 (27 days after 3/25 → 4/22).
pub fn interval_days(dose: NaiveDate, n: i64) -> NaiveDate {
    shift_days(dose, n + 1)
}

/// 「Nか月以上の間隔をおいて」 (jp-rules C10): from the same day number N months later, or the
/// first of the following month when that month has no such day (8/31 + 6 months → 3/1).
pub fn interval_months(dose: NaiveDate, n: i64) -> NaiveDate {
    let moved = same_day_months_later(dose, n);
    if moved.day() == dose.day() {
        moved
    } else {
        shift_days(moved, 1)
    }
}

/// The last day of `date`'s month.
fn month_end(date: NaiveDate) -> NaiveDate {
    shift_days(same_day_months_later(date.with_day(1).unwrap_or(date), 1), -1)
}

/// 生後N月に至る日 (MHLW reading used by every municipality): the day before the same date
/// `n` months after birth; when that month has no such date, its last day (born 7/31 → reaches
/// 2 months on 9/30).
pub fn month_age_reached(birth: NaiveDate, n: i64) -> NaiveDate {
    let target_month = same_day_months_later(birth.with_day(1).unwrap_or(birth), n);
    match target_month.with_day(birth.day()) {
        Some(same_date) => shift_days(same_date, -1),
        None => same_day_months_later(birth, n),
    }
}

/// 年齢計算ニ関スル法律: a child reaches `years` at the end of the day before the birthday,
/// which is the day "満N歳に達する日" names.
pub fn age_reached(birth: NaiveDate, years: i64) -> NaiveDate {
    month_age_reached(birth, 12 * years)
}

/// 「N歳に達する日以後の最初の3月31日」: the end of the school year in which a child reaches
/// `years` (児童手当's 児童 until 18). A child reaching it on 31 March itself ends that day.
pub fn first_march_31_after_reaching(birth: NaiveDate, years: i64) -> NaiveDate {
    first_on_or_after(age_reached(birth, years), 3, 31)
}

/// 「N歳となる日の属する年度の初日」: 1 April of the school year (年度, April to March) in which
/// the child reaches `years` (the day before the birthday, 年齢計算ニ関スル法律). Born 2014-04-01:
/// reaches 12 on 2026-03-31, so the year began 2025-04-01; born 2014-04-02: 2026-04-01.
pub fn fiscal_year_of_age_start(birth: NaiveDate, years: i64) -> NaiveDate {
    let end = first_march_31_after_reaching(birth, years);
    NaiveDate::from_ymd_opt(end.year() - 1, 4, 1).unwrap_or(end)
}

/// 就学の始期 (学校教育法 第17条): the beginning of the first school year (1 April) after the
/// day following the day a child reaches 6. Born 2020-04-01: 2026-04-01; born 2020-04-02:
/// 2027-04-01 (早生まれ ends on 1 April).
pub fn school_entry(birth: NaiveDate) -> NaiveDate {
    first_on_or_after(shift_days(age_reached(birth, 6), 1), 4, 1)
}

/// The first 1 April after `date` (the start of the next school year; 1 April itself gives the
/// following year's).
pub fn first_april_1_after(date: NaiveDate) -> NaiveDate {
    first_on_or_after(shift_days(date, 1), 4, 1)
}

/// The first `month`/`day` on or after `date` (a day that exists every year).
fn first_on_or_after(date: NaiveDate, month: u32, day: u32) -> NaiveDate {
    let in_year = |year: i32| NaiveDate::from_ymd_opt(year, month, day).unwrap_or(date);
    let same_year = in_year(chrono::Datelike::year(&date));
    if date <= same_year {
        same_year
    } else {
        in_year(chrono::Datelike::year(&date) + 1)
    }
}

/// 出生X週Y日後: the birth day is 0週0日.
pub fn weeks_days_after(birth: NaiveDate, weeks: i64, days: i64) -> NaiveDate {
    shift_days(birth, 7 * weeks + days)
}

/// The last open day of the month `date` lies in.
pub fn last_open_day_of_month(date: NaiveDate, calendar: &Calendar, extra_closed: &[MonthDay]) -> NaiveDate {
    let next_month = same_day_months_later(date.with_day(1).unwrap_or(date), 1);
    calendar.previous_open_day(shift_days(next_month, -1), extra_closed)
}

/// 児童手当 15日特例 (児童手当法8条3項): a claim filed within 15 days from the day after the
/// birth counts as filed in the birth month. The last day that still secures next month's
/// start is the later of the last open day of the birth month and birth + 15 days (moved to an
/// open day).
pub fn child_allowance_deadline(birth: NaiveDate, calendar: &Calendar, extra_closed: &[MonthDay]) -> NaiveDate {
    let fifteen_days = calendar.next_open_day(civil_days(birth, 15), extra_closed);
    last_open_day_of_month(birth, calendar, extra_closed).max(fifteen_days)
}

/// Completed months of age on `today` (a child reaches N months at the end of 生後N月に至る日).
pub fn age_in_months(birth: NaiveDate, today: NaiveDate) -> i64 {
    if today <= birth {
        return 0;
    }
    let mut months = (i64::from(today.year()) - i64::from(birth.year())) * 12 + i64::from(today.month0())
        - i64::from(birth.month0());
    months = months.max(0) + 1;
    while months > 0 && month_age_reached(birth, months) >= today {
        months -= 1;
    }
    months
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
    }

    /// jp-rules.md §0, worked examples: birth → (出生届 raw, effective), (国保 raw, effective),
    /// (児童手当 15日 raw, effective), 児童手当 deadline for next month's start.
    /// One row of the worked examples, all dates as text.
    type Row = [&'static str; 8];
    #[rustfmt::skip]
    const WORKED: [Row; 5] = [
        ["2026-04-20", "2026-05-03", "2026-05-07", "2026-05-04", "2026-05-07", "2026-05-05", "2026-05-07", "2026-05-07"],
        ["2026-12-18", "2026-12-31", "2027-01-04", "2027-01-01", "2027-01-04", "2027-01-02", "2027-01-04", "2027-01-04"],
        ["2026-12-20", "2027-01-02", "2027-01-04", "2027-01-03", "2027-01-04", "2027-01-04", "2027-01-04", "2027-01-04"],
        ["2026-09-10", "2026-09-23", "2026-09-24", "2026-09-24", "2026-09-24", "2026-09-25", "2026-09-25", "2026-09-30"],
        ["2026-04-30", "2026-05-13", "2026-05-13", "2026-05-14", "2026-05-14", "2026-05-15", "2026-05-15", "2026-05-15"],
    ];

    #[test]
    fn the_worked_examples_of_the_rules_file() {
        let calendar = Calendar::shipped();
        for [birth, koseki_raw, koseki, kokuho_raw, kokuho, fifteen_raw, fifteen, allowance] in WORKED {
            let birth = d(birth);
            assert_eq!(koseki_days(birth, 14), d(koseki_raw), "出生届 raw for {birth}");
            assert_eq!(calendar.next_open_day(koseki_days(birth, 14), &[]), d(koseki), "出生届 for {birth}");
            assert_eq!(civil_days(birth, 14), d(kokuho_raw), "国保 raw for {birth}");
            assert_eq!(calendar.next_open_day(civil_days(birth, 14), &[]), d(kokuho), "国保 for {birth}");
            assert_eq!(civil_days(birth, 15), d(fifteen_raw), "15日 raw for {birth}");
            assert_eq!(calendar.next_open_day(civil_days(birth, 15), &[]), d(fifteen), "15日 for {birth}");
            assert_eq!(child_allowance_deadline(birth, &calendar, &[]), d(allowance), "児童手当 for {birth}");
        }
    }

    #[test]
    fn the_koseki_example_born_12_2() {
        assert_eq!(koseki_days(d("2026-12-02"), 14), d("2026-12-15"));
    }

    #[test]
    fn municipal_examples_of_the_fifteen_day_rule() {
        let calendar = Calendar::shipped();
        // Edogawa: born 4/30 → file by 5/15 → May's allowance.
        assert_eq!(child_allowance_deadline(d("2026-04-30"), &calendar, &[]), d("2026-05-15"));
        // A birth early in a month: the last open day of that month is later than birth + 15.
        assert_eq!(child_allowance_deadline(d("2026-06-01"), &calendar, &[]), d("2026-06-30"));
    }

    #[test]
    fn month_periods_end_on_the_same_day_or_the_months_last() {
        assert_eq!(civil_months(d("2026-01-15"), 1), d("2026-02-15"));
        assert_eq!(civil_months(d("2026-01-31"), 1), d("2026-02-28"));
        assert_eq!(civil_months(d("2027-11-30"), 3), d("2028-02-29"));
        assert_eq!(civil_months(d("2026-03-31"), -1), d("2026-02-28"));
        // 143条①: counted from the first of a month, the period ends with its last month.
        assert_eq!(civil_months(d("2026-04-30"), 1), d("2026-05-31"));
        assert_eq!(civil_months(d("2026-06-30"), 2), d("2026-08-31"));
        assert_eq!(
            civil_months(d("2026-02-28"), 24),
            d("2028-02-29"),
            "出産育児一時金 (2-year 時効) of a birth on 2/28"
        );
        // 143条②: no corresponding day, the last day of that month.
        assert_eq!(civil_months(d("2026-01-30"), 1), d("2026-02-28"));
        assert_eq!(civil_months(d("2026-03-30"), 1), d("2026-04-30"));
    }

    #[test]
    fn month_ages_as_municipalities_read_them() {
        assert_eq!(month_age_reached(d("2026-07-31"), 2), d("2026-09-30"), "born 7/31 reaches 2 months on 9/30");
        assert_eq!(month_age_reached(d("2026-07-15"), 2), d("2026-09-14"));
        assert_eq!(month_age_reached(d("2026-08-01"), 1), d("2026-08-31"));
        assert_eq!(month_age_reached(d("2026-01-30"), 1), d("2026-02-28"));
        assert_eq!(month_age_reached(d("2025-05-10"), 18), d("2026-11-09"), "1歳6か月");
    }

    #[test]
    fn ages_are_reached_the_day_before_the_birthday() {
        assert_eq!(age_reached(d("2024-05-10"), 1), d("2025-05-09"));
        assert_eq!(age_reached(d("2024-02-29"), 1), d("2025-02-28"));
        assert_eq!(age_reached(d("2024-02-29"), 4), d("2028-02-28"));
        assert_eq!(age_reached(d("2024-03-01"), 3), d("2027-02-28"));
    }

    #[test]
    fn weeks_and_days_count_from_birth_as_zero() {
        // ロタ: the first dose by 出生14週6日後.
        assert_eq!(weeks_days_after(d("2026-11-01"), 14, 6), d("2027-02-13"));
        assert_eq!(weeks_days_after(d("2026-11-01"), 0, 0), d("2026-11-01"));
    }

    #[test]
    fn last_open_day_of_a_month() {
        let calendar = Calendar::shipped();
        assert_eq!(last_open_day_of_month(d("2026-05-05"), &calendar, &[]), d("2026-05-29"));
        assert_eq!(last_open_day_of_month(d("2026-12-01"), &calendar, &[]), d("2026-12-28"));
    }

    #[test]
    fn ages_in_months_follow_the_municipal_reading() {
        // Born 5/10: reaches 1 month at the end of 6/9, so is 1 month old on 6/10.
        assert_eq!(age_in_months(d("2026-05-10"), d("2026-06-09")), 0);
        assert_eq!(age_in_months(d("2026-05-10"), d("2026-06-10")), 1);
        assert_eq!(age_in_months(d("2025-05-10"), d("2026-11-22")), 18);
        assert_eq!(age_in_months(d("2026-07-31"), d("2026-10-01")), 2, "reached 2 months at the end of 9/30");
        assert_eq!(age_in_months(d("2026-11-22"), d("2026-11-22")), 0);
    }

    #[test]
    fn school_years_of_an_age_follow_the_day_before_the_birthday() {
        // HPV 定期接種: 12歳となる日の属する年度の初日から16歳となる日の属する年度の末日まで.
        // Born 4/1 reaches 12 on 3/31, in the school year before (早生まれ: 小学校6年 a year earlier).
        assert_eq!(fiscal_year_of_age_start(d("2014-04-01"), 12), d("2025-04-01"));
        assert_eq!(first_march_31_after_reaching(d("2014-04-01"), 16), d("2030-03-31"));
        assert_eq!(fiscal_year_of_age_start(d("2014-04-02"), 12), d("2026-04-01"));
        assert_eq!(first_march_31_after_reaching(d("2014-04-02"), 16), d("2031-03-31"));
        assert_eq!(fiscal_year_of_age_start(d("2014-12-25"), 12), d("2026-04-01"));
    }

    #[test]
    fn vaccine_intervals_leave_whole_days_and_months_between_doses() {
        // jp-rules C10 (名取市): 「27日以上」 after 3/25 → 4/22, the same weekday four weeks later.
        assert_eq!(interval_days(d("2026-03-25"), 27), d("2026-04-22"));
        assert_eq!(interval_days(d("2026-03-25"), 27).weekday(), d("2026-03-25").weekday());
        // 「20日以上」 (五種混合 初回) and 「6日以上」 (日本脳炎 初回).
        assert_eq!(interval_days(d("2026-12-28"), 20), d("2027-01-18"));
        assert_eq!(interval_days(d("2026-06-01"), 6), d("2026-06-08"));
        // 「6か月以上」: the same date six months later, or the first of the next month.
        assert_eq!(interval_months(d("2026-05-10"), 6), d("2026-11-10"));
        assert_eq!(interval_months(d("2026-08-31"), 6), d("2027-03-01"));
        assert_eq!(interval_months(d("2027-11-30"), 3), d("2028-03-01"), "no 30 February: 1 March");
        assert_eq!(interval_months(d("2027-11-29"), 3), d("2028-02-29"), "a leap year has the 29th");
    }
}
