//! Where time comes from. Every decision nonstop makes about time (what is due, whether it is
//! night in Japan, which civil date "today" is, when a lease or a session ends) reads the
//! application's [`Clock`], never the system clock directly: production runs on the system
//! clock, while tests, benchmarks and rehearsals pin the instant they are about.
//!
//! This file is the only place allowed to read the system clock (clippy's `disallowed-methods`
//! in `clippy.toml` enforces it for the whole crate, its tests and its benchmarks).

#![allow(clippy::disallowed_methods)]

use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, NaiveDateTime, SubsecRound, Utc};

/// The application's clock (時計): the present instant in UTC, and the civil date in Japan.
///
/// Cloning shares the clock: a test that moves it moves it for the server, the workers and
/// the scheduler at once.
#[derive(Clone, Debug)]
pub struct Clock {
    source: Arc<Source>,
}

#[derive(Debug)]
enum Source {
    /// The machine's clock.
    System,
    /// A clock that was set: it runs from the instant set, or stands still on it.
    Set(Mutex<SetTime>),
}

#[derive(Clone, Copy, Debug)]
enum SetTime {
    /// Runs at the real rate, `offset` away from the system clock.
    Running { offset: chrono::Duration },
    /// Stands still at `at` until set or advanced.
    Frozen { at: DateTime<Utc> },
}

impl Clock {
    /// The machine's clock: production.
    pub fn system() -> Self {
        Self { source: Arc::new(Source::System) }
    }

    /// A clock that reads `at` now and runs forward at the real rate from there: for a process
    /// that must behave as at another hour (a test server, a benchmark, a rehearsal).
    pub fn starting_at(at: DateTime<Utc>) -> Self {
        Self { source: Arc::new(Source::Set(Mutex::new(SetTime::Running { offset: at - real_now() }))) }
    }

    /// A clock that stands still at `at` until a test sets or advances it: for a test about one
    /// exact instant (14:59:59 UTC is the last second of a day in Japan).
    pub fn frozen_at(at: DateTime<Utc>) -> Self {
        Self { source: Arc::new(Source::Set(Mutex::new(SetTime::Frozen { at }))) }
    }

    /// The present instant.
    pub fn now_utc(&self) -> DateTime<Utc> {
        match &*self.source {
            Source::System => real_now(),
            Source::Set(set) => match *lock(set) {
                SetTime::Running { offset } => real_now() + offset,
                SetTime::Frozen { at } => at,
            },
        }
    }

    /// The present instant in UTC, at the microsecond precision both databases store (so a
    /// value written and read back compares equal).
    pub fn now(&self) -> NaiveDateTime {
        self.now_utc().naive_utc().trunc_subsecs(6)
    }

    /// Today's civil date in Japan (Asia/Tokyo), whatever the server's time zone: it changes at
    /// 15:00 UTC.
    pub fn today(&self) -> NaiveDate {
        crate::domain::dates::tokyo_date(self.now_utc())
    }

    /// Moves a set clock to `at`; a running clock keeps running from there. The system clock
    /// cannot be moved: that is a programming error in a test, reported as a panic.
    pub fn set(&self, at: DateTime<Utc>) {
        let Source::Set(set) = &*self.source else { panic!("the system clock cannot be set") };
        let mut time = lock(set);
        *time = match *time {
            SetTime::Running { .. } => SetTime::Running { offset: at - real_now() },
            SetTime::Frozen { .. } => SetTime::Frozen { at },
        };
    }

    /// Moves a set clock forward (or back, with a negative duration).
    pub fn advance(&self, by: chrono::Duration) {
        self.set(self.now_utc() + by);
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

/// A poisoned lock only means another thread panicked while holding it; the value inside is a
/// plain `Copy` and always whole.
fn lock(set: &Mutex<SetTime>) -> std::sync::MutexGuard<'_, SetTime> {
    set.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The real instant, for timestamps another party checks against its own clock: the expiry
/// of a VAPID token, the issue time of an APNs provider token, the timestamp of a webhook
/// signature. A push service or a municipality's server compares them with the real time, so
/// a pinned application clock must not make them look expired or from the future. Nothing
/// nonstop decides reads this.
pub fn real_now() -> DateTime<Utc> {
    Utc::now()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, m, s).single().expect("instant")
    }

    #[test]
    fn the_date_in_japan_changes_at_15_utc() {
        let clock = Clock::frozen_at(at(14, 59, 59));
        assert_eq!(clock.today(), NaiveDate::from_ymd_opt(2026, 12, 1).expect("date"));
        clock.advance(chrono::Duration::seconds(1));
        assert_eq!(clock.today(), NaiveDate::from_ymd_opt(2026, 12, 2).expect("date"));
    }

    #[test]
    fn a_frozen_clock_stands_still_and_a_running_one_runs() {
        let frozen = Clock::frozen_at(at(3, 0, 0));
        assert_eq!(frozen.now_utc(), at(3, 0, 0));
        assert_eq!(frozen.now_utc(), at(3, 0, 0));
        let running = Clock::starting_at(at(3, 0, 0));
        let read = running.now_utc();
        assert!(read >= at(3, 0, 0) && read < at(3, 0, 5), "{read}");
        running.set(at(0, 0, 0));
        assert!(running.now_utc() < at(0, 0, 5), "set moves a running clock");
    }

    #[test]
    fn clones_share_one_clock() {
        let clock = Clock::frozen_at(at(3, 0, 0));
        let shared = clock.clone();
        clock.advance(chrono::Duration::hours(6));
        assert_eq!(shared.now_utc(), at(9, 0, 0));
    }

    #[test]
    fn now_keeps_the_precision_the_databases_store() {
        let clock = Clock::frozen_at(at(3, 0, 0) + chrono::Duration::nanoseconds(1_234_567));
        assert_eq!(clock.now().and_utc().timestamp_subsec_nanos(), 1_234_000);
    }
}
