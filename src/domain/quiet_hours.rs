//! おやすみ時間: the hours of the day (Asia/Tokyo) in which nothing is pushed to the family.

use chrono::{NaiveTime, Timelike};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A span of the day, `start` inclusive to `end` exclusive, that may wrap past midnight.
/// The default, 20:00–09:00, allows pushes from 9:00 to 20:00.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "QuietHoursText", into = "QuietHoursText")]
pub struct QuietHours {
    start_minute: u16,
    end_minute: u16,
}

/// Quiet hours as written on the wire: local times in Asia/Tokyo, `HH:MM`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursText {
    /// When the quiet time begins, e.g. `20:00`.
    #[schema(example = "20:00", pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub start: String,
    /// When pushes are allowed again, e.g. `09:00`; not the same as `start`.
    #[schema(example = "09:00", pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub end: String,
}

/// On the wire (and in the API document) quiet hours are their text form.
impl utoipa::PartialSchema for QuietHours {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        QuietHoursText::schema()
    }
}

impl ToSchema for QuietHours {
    fn name() -> std::borrow::Cow<'static, str> {
        "QuietHours".into()
    }
}

impl Default for QuietHours {
    fn default() -> Self {
        Self { start_minute: 20 * 60, end_minute: 9 * 60 }
    }
}

/// Exactly `HH:MM`, as the documented pattern says (chrono alone would also take `7:00`).
fn parse_hhmm(field: &str, text: &str) -> Result<u16, String> {
    let time = NaiveTime::parse_from_str(text, "%H:%M")
        .ok()
        .filter(|_| text.len() == 5)
        .ok_or_else(|| format!("{field} must be a time of day written HH:MM (00:00–23:59)"))?;
    Ok((time.hour() * 60 + time.minute()) as u16)
}

impl QuietHours {
    /// From minutes after midnight, as stored; `None` when out of range or empty.
    pub fn from_minutes(start_minute: i32, end_minute: i32) -> Option<Self> {
        let valid = |m: i32| (0..24 * 60).contains(&m);
        (valid(start_minute) && valid(end_minute) && start_minute != end_minute)
            .then_some(Self { start_minute: start_minute as u16, end_minute: end_minute as u16 })
    }

    pub fn start_minute(self) -> i32 {
        i32::from(self.start_minute)
    }

    pub fn end_minute(self) -> i32 {
        i32::from(self.end_minute)
    }

    /// The first local instant at or after `local` outside the quiet span: a push due in the
    /// night waits for the morning, it is never dropped.
    pub fn next_allowed(self, local: chrono::NaiveDateTime) -> chrono::NaiveDateTime {
        if !self.is_quiet(local.time()) {
            return local;
        }
        let end = NaiveTime::from_hms_opt(u32::from(self.end_minute / 60), u32::from(self.end_minute % 60), 0)
            .unwrap_or(NaiveTime::MIN);
        let same_day = local.date().and_time(end);
        if same_day > local {
            same_day
        } else {
            (local.date() + chrono::Days::new(1)).and_time(end)
        }
    }

    /// True when a push at this local time of day would fall in the quiet span.
    pub fn is_quiet(self, local: NaiveTime) -> bool {
        let minute = (local.hour() * 60 + local.minute()) as u16;
        if self.start_minute < self.end_minute {
            (self.start_minute..self.end_minute).contains(&minute)
        } else {
            minute >= self.start_minute || minute < self.end_minute
        }
    }
}

impl TryFrom<QuietHoursText> for QuietHours {
    type Error = String;
    fn try_from(text: QuietHoursText) -> Result<Self, String> {
        let start = parse_hhmm("start", &text.start)?;
        let end = parse_hhmm("end", &text.end)?;
        Self::from_minutes(i32::from(start), i32::from(end)).ok_or_else(|| {
            super::beyond_schema("start and end must differ: quiet hours cannot be empty or the whole day")
        })
    }
}

impl From<QuietHours> for QuietHoursText {
    fn from(q: QuietHours) -> Self {
        let show = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        Self { start: show(q.start_minute), end: show(q.end_minute) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).expect("valid time")
    }

    #[test]
    fn default_allows_nine_to_eight() {
        let q = QuietHours::default();
        assert!(q.is_quiet(at(3, 0)) && q.is_quiet(at(8, 59)) && q.is_quiet(at(20, 0)));
        assert!(!q.is_quiet(at(9, 0)) && !q.is_quiet(at(19, 59)));
    }

    #[test]
    fn a_push_due_in_the_night_waits_for_the_morning() {
        let q = QuietHours::default();
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 22).expect("date");
        assert_eq!(q.next_allowed(day.and_time(at(3, 0))), day.and_time(at(9, 0)));
        assert_eq!(q.next_allowed(day.and_time(at(21, 0))), (day + chrono::Days::new(1)).and_time(at(9, 0)));
        assert_eq!(q.next_allowed(day.and_time(at(12, 0))), day.and_time(at(12, 0)));
        let lunch = QuietHours::from_minutes(12 * 60, 13 * 60).expect("span");
        assert_eq!(lunch.next_allowed(day.and_time(at(12, 30))), day.and_time(at(13, 0)));
    }

    #[test]
    fn a_daytime_span_does_not_wrap() {
        let q = QuietHours::try_from(QuietHoursText { start: "13:00".into(), end: "15:30".into() }).expect("valid");
        assert!(q.is_quiet(at(14, 0)) && !q.is_quiet(at(15, 30)) && !q.is_quiet(at(3, 0)));
    }

    #[test]
    fn bad_spans_are_refused() {
        let bad = |s: &str, e: &str| QuietHours::try_from(QuietHoursText { start: s.into(), end: e.into() });
        assert!(bad("25:00", "09:00").unwrap_err().contains("start"));
        assert!(bad("20:00", "9h").unwrap_err().contains("end"));
        assert!(bad("08:00", "08:00").unwrap_err().contains("differ"));
    }

    #[test]
    fn round_trips_through_json() {
        let json = serde_json::to_string(&QuietHours::default()).expect("json");
        assert_eq!(json, r#"{"start":"20:00","end":"09:00"}"#);
        let back: QuietHours = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, QuietHours::default());
    }
}
