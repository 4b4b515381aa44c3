//! Civil dates. Every date nonstop reasons about is a date in Asia/Tokyo, whatever the
//! server's time zone.

use chrono::{DateTime, Days, Months, NaiveDate, Utc};
use chrono_tz::Asia::Tokyo;

/// Today's date in Japan at the instant `now`.
pub fn tokyo_date(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&Tokyo).date_naive()
}

/// How far back a child's birth may lie: 児童手当 counts children up to the March after
/// their 22nd birthday, so older "children" are outside anything nonstop does.
const OLDEST_CHILD_YEARS: u32 = 23;
/// A due date lies at most about 43 weeks ahead (a pregnancy lasts 40 weeks from the last
/// period, and a due date can be known a few weeks before it is confirmed).
const DUE_DATE_MAX_AHEAD_DAYS: u64 = 300;
/// A baby may come late, and a birth may be recorded some weeks after: an expected child's due
/// date may lie this far in the past.
const DUE_DATE_MAX_PAST_DAYS: u64 = 60;

/// 生年月日 of a child: not in the future, not more than 23 years ago.
pub fn child_birth_date(date: NaiveDate, today: NaiveDate) -> Result<NaiveDate, String> {
    if date > today {
        return Err(format!("a birth date cannot be in the future (today in Japan is {today})"));
    }
    if today.checked_sub_months(Months::new(12 * OLDEST_CHILD_YEARS)).is_some_and(|oldest| date < oldest) {
        return Err(format!("a child born more than {OLDEST_CHILD_YEARS} years ago is outside what nonstop handles"));
    }
    Ok(date)
}

/// 出産予定日: within 60 days behind and 300 days ahead of today.
pub fn due_date(date: NaiveDate, today: NaiveDate) -> Result<NaiveDate, String> {
    let earliest = today - Days::new(DUE_DATE_MAX_PAST_DAYS);
    let latest = today + Days::new(DUE_DATE_MAX_AHEAD_DAYS);
    if date < earliest || date > latest {
        return Err(format!("a due date must lie between {earliest} and {latest}"));
    }
    Ok(date)
}

/// A guardian's birth date: a person at least 10 and at most 120 years old.
pub fn guardian_birth_date(date: NaiveDate, today: NaiveDate) -> Result<NaiveDate, String> {
    let youngest = today.checked_sub_months(Months::new(12 * 10));
    let oldest = today.checked_sub_months(Months::new(12 * 120));
    if youngest.is_some_and(|y| date > y) || oldest.is_some_and(|o| date < o) {
        return Err("a guardian's birth date must make them between 10 and 120 years old".into());
    }
    Ok(date)
}

/// The date of a life event: not in the future, and not more than a year ago (older history
/// changes nothing nonstop would remind of).
pub fn event_date(date: NaiveDate, today: NaiveDate) -> Result<NaiveDate, String> {
    if date > today {
        return Err(format!("an event cannot be dated in the future (today in Japan is {today})"));
    }
    if today.checked_sub_months(Months::new(12)).is_some_and(|earliest| date < earliest) {
        return Err("an event must have happened within the last year".into());
    }
    Ok(date)
}

/// 転出予定日 of a move recorded on `moved`: on or before it, and at most 90 days before (a
/// 転出届 is filed about 14 days ahead; later moves than planned happen, months apart do not).
pub fn planned_move_out(planned: NaiveDate, moved: NaiveDate) -> Result<NaiveDate, String> {
    if planned > moved {
        return Err(format!("the planned move-out date cannot be after the move ({moved})"));
    }
    if planned < moved - Days::new(90) {
        return Err(format!("the planned move-out date must be within 90 days before the move ({moved})"));
    }
    Ok(planned)
}

/// 出生体重: plausible weights of a live birth, in grams.
pub fn birth_weight_grams(grams: i32) -> Result<i32, String> {
    if (200..=7_000).contains(&grams) {
        Ok(grams)
    } else {
        Err("a birth weight must be given in grams, between 200 and 7000".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid date")
    }

    #[test]
    fn tokyo_is_nine_hours_ahead_of_utc() {
        let late_utc = Utc.with_ymd_and_hms(2026, 11, 30, 15, 30, 0).single().expect("instant");
        assert_eq!(tokyo_date(late_utc), d(2026, 12, 1));
        let early_utc = Utc.with_ymd_and_hms(2026, 11, 30, 14, 59, 0).single().expect("instant");
        assert_eq!(tokyo_date(early_utc), d(2026, 11, 30));
    }

    #[test]
    fn birth_dates_are_not_in_the_future() {
        let today = d(2026, 11, 22);
        assert!(child_birth_date(today, today).is_ok());
        assert!(child_birth_date(d(2026, 11, 23), today).unwrap_err().contains("future"));
        assert!(child_birth_date(d(2003, 11, 21), today).is_err());
        assert!(child_birth_date(d(2004, 1, 1), today).is_ok());
    }

    #[test]
    fn due_dates_are_not_decades_away() {
        let today = d(2026, 11, 22);
        assert!(due_date(d(2027, 6, 1), today).is_ok());
        assert!(due_date(d(2046, 6, 1), today).is_err());
        assert!(due_date(d(2026, 9, 1), today).is_err());
        assert!(due_date(d(2026, 10, 1), today).is_ok());
    }

    #[test]
    fn guardian_ages_are_plausible() {
        let today = d(2026, 11, 22);
        assert!(guardian_birth_date(d(1990, 4, 1), today).is_ok());
        assert!(guardian_birth_date(d(2020, 4, 1), today).is_err());
        assert!(guardian_birth_date(d(1890, 4, 1), today).is_err());
    }

    #[test]
    fn events_lie_within_the_last_year() {
        let today = d(2026, 11, 22);
        assert!(event_date(today, today).is_ok());
        assert!(event_date(d(2026, 11, 23), today).is_err());
        assert!(event_date(d(2025, 11, 1), today).is_err());
    }

    #[test]
    fn birth_weights_are_grams() {
        assert!(birth_weight_grams(2_400).is_ok());
        assert!(birth_weight_grams(3).is_err());
        assert!(birth_weight_grams(30_000).is_err());
    }
}
