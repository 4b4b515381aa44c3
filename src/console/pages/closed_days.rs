//! 閉庁日カレンダー: a year of the municipality's office days, month by month, with the days
//! its offices are closed and why (weekend, 国民の祝日, 年末年始, its own closed days), so that
//! staff see the days every deadline moves over.

use actix_web::{web, HttpResponse};
use chrono::{Datelike, NaiveDate, Weekday};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::super::render;
use super::super::session::{Failure, Staff};
use super::frame;
use crate::app::AppState;
use crate::domain::calendar::{is_year_end_closure, Calendar, MonthDay};
use crate::service::planning;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/calendar", web::get().to(show));
}

/// Why a day is open or closed, most specific first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    Open,
    Weekend,
    /// 国民の祝日・休日.
    Holiday,
    /// 年末年始 (12/29–1/3).
    YearEnd,
    /// One of the municipality's own closed days.
    Municipal,
}

#[derive(Clone, Debug, Serialize)]
pub struct Day {
    pub day: u32,
    pub date: String,
    pub kind: DayKind,
}

/// One month: weeks from Sunday, `None` before the first and after the last day.
#[derive(Clone, Debug, Serialize)]
pub struct Month {
    pub month: u32,
    pub weeks: Vec<Vec<Option<Day>>>,
    pub open_days: usize,
}

pub fn day_kind(calendar: &Calendar, date: NaiveDate, extra_closed: &[MonthDay]) -> DayKind {
    if extra_closed.contains(&(date.month(), date.day())) {
        DayKind::Municipal
    } else if is_year_end_closure(date) {
        DayKind::YearEnd
    } else if calendar.is_national_holiday(date) {
        DayKind::Holiday
    } else if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
        DayKind::Weekend
    } else {
        DayKind::Open
    }
}

/// The twelve months of `year`.
pub fn year(calendar: &Calendar, year: i32, extra_closed: &[MonthDay]) -> Vec<Month> {
    (1..=12)
        .filter_map(|month| NaiveDate::from_ymd_opt(year, month, 1))
        .map(|first| {
            let mut weeks = Vec::new();
            let mut week: Vec<Option<Day>> = vec![None; first.weekday().num_days_from_sunday() as usize];
            let mut open_days = 0;
            for date in first.iter_days().take_while(|d| d.month() == first.month()) {
                let kind = day_kind(calendar, date, extra_closed);
                open_days += usize::from(kind == DayKind::Open);
                week.push(Some(Day { day: date.day(), date: date.to_string(), kind }));
                if week.len() == 7 {
                    weeks.push(std::mem::take(&mut week));
                }
            }
            if !week.is_empty() {
                week.resize(7, None);
                weeks.push(week);
            }
            Month { month: first.month(), weeks, open_days }
        })
        .collect()
}

#[derive(Deserialize)]
struct YearQuery {
    year: Option<i32>,
}

/// The years the holiday table covers.
const YEARS: std::ops::RangeInclusive<i32> = 2000..=2100;

async fn show(state: web::Data<AppState>, staff: Staff, query: web::Query<YearQuery>) -> Result<HttpResponse, Failure> {
    let shown = query.year.filter(|y| YEARS.contains(y)).unwrap_or_else(|| state.clock.today().year());
    let code = staff.session.municipality.clone();
    let planning = state.planning.clone();
    let resolved = state.db.read(move |conn| planning::resolved_settings(conn, &planning, code.as_str())).await?;
    let months = year(&state.planning.calendar, shown, &resolved.extra_closed);
    let own: Vec<String> = resolved.extra_closed.iter().map(|(m, d)| format!("{m:02}-{d:02}")).collect();
    let context = context! {
        year => shown,
        previous => (shown > *YEARS.start()).then_some(shown - 1),
        next => (shown < *YEARS.end()).then_some(shown + 1),
        months => render::ser(&months),
        open_days => months.iter().map(|m| m.open_days).sum::<usize>(),
        own => own,
        official => state.planning.calendar.is_official_year(shown),
        ..frame(&staff, "settings")
    };
    Ok(render::page("calendar.html", context)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_on(months: &[Month], month: u32, day: u32) -> DayKind {
        months[month as usize - 1].weeks.iter().flatten().flatten().find(|d| d.day == day).expect("day").kind
    }

    #[test]
    fn a_year_shows_why_each_day_is_closed() {
        let calendar = Calendar::shipped();
        let months = year(&calendar, 2027, &[(6, 23)]);
        assert_eq!(months.len(), 12);
        // ゴールデンウィーク 2027: 5/3 憲法記念日, 5/4 みどりの日, 5/5 こどもの日.
        assert_eq!([3, 4, 5].map(|d| kind_on(&months, 5, d)), [DayKind::Holiday; 3]);
        assert_eq!(kind_on(&months, 5, 6), DayKind::Open);
        assert_eq!(kind_on(&months, 5, 8), DayKind::Weekend);
        assert_eq!(kind_on(&months, 6, 23), DayKind::Municipal);
        assert_eq!(kind_on(&months, 12, 29), DayKind::YearEnd);
        assert_eq!(kind_on(&months, 1, 1), DayKind::YearEnd);
    }

    #[test]
    fn weeks_start_on_sunday_and_are_whole() {
        let months = year(&Calendar::shipped(), 2027, &[]);
        // 2027-01-01 is a Friday: five empty days before it.
        let first_week = &months[0].weeks[0];
        assert_eq!(first_week.iter().take_while(|d| d.is_none()).count(), 5);
        assert!(months.iter().all(|m| m.weeks.iter().all(|w| w.len() == 7)));
        let days: usize = months.iter().map(|m| m.weeks.iter().flatten().flatten().count()).sum();
        assert_eq!(days, 365);
        // June 2027 has 22 weekdays; with 06-23 closed, 21 open days.
        assert_eq!(year(&Calendar::shipped(), 2027, &[(6, 23)])[5].open_days, 21);
    }
}
