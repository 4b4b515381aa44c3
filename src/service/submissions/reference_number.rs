//! 受付番号: the number a municipality's staff quote on the phone and write on the paper file,
//! sequential per municipality and calendar year in Japan (`2026-000123`). Taken in the
//! transaction that stores the submission, so a number is never given twice nor skipped by a
//! submission that was rolled back.

use chrono::{Datelike, NaiveDateTime};
use diesel::prelude::*;

use crate::db::schema::{submission_counters, submission_desk};
use crate::db::DbConnection;
use crate::domain::dates::tokyo_date;
use crate::error::Error;

/// The next number of `municipality_code` for the year of `now` in Japan.
pub fn take(conn: &mut DbConnection, municipality_code: &str, now: NaiveDateTime) -> Result<String, Error> {
    let year = tokyo_date(now.and_utc()).year();
    let first = (
        submission_counters::municipality_code.eq(municipality_code),
        submission_counters::year.eq(year),
        submission_counters::last_number.eq(0),
    );
    // Two processes storing the first submission of a year at once: one row, the other's
    // insert does nothing.
    match &mut *conn {
        DbConnection::Sqlite(c) => {
            diesel::insert_into(submission_counters::table).values(first).on_conflict_do_nothing().execute(c)?
        }
        DbConnection::Postgresql(c) => {
            diesel::insert_into(submission_counters::table).values(first).on_conflict_do_nothing().execute(c)?
        }
    };
    // The update locks the row (PostgreSQL) or runs under the one writer (SQLite): a concurrent
    // submission waits, then counts on from the number this one took.
    let counter = submission_counters::table.find((municipality_code, year));
    diesel::update(counter)
        .set(submission_counters::last_number.eq(submission_counters::last_number + 1))
        .execute(conn)?;
    let number: i32 = counter.select(submission_counters::last_number).first(conn)?;
    Ok(format(year, number))
}

/// Gives the new submission `id` its number, on the desk's record of it.
pub fn give(conn: &mut DbConnection, id: &str, municipality_code: &str, now: NaiveDateTime) -> Result<(), Error> {
    let number = take(conn, municipality_code, now)?;
    diesel::insert_into(submission_desk::table)
        .values((
            submission_desk::submission_id.eq(id),
            submission_desk::municipality_code.eq(municipality_code),
            submission_desk::reference_number.eq(number),
        ))
        .execute(conn)?;
    Ok(())
}

/// The number of submission `id`.
pub fn of(conn: &mut DbConnection, id: &str) -> Result<String, Error> {
    Ok(submission_desk::table.find(id).select(submission_desk::reference_number).first(conn)?)
}

fn format(year: i32, number: i32) -> String {
    format!("{year}-{number:06}")
}

#[cfg(test)]
mod tests {
    use super::take;
    use crate::db::{DatabaseLocation, Db};

    fn at(rfc3339: &str) -> chrono::NaiveDateTime {
        chrono::DateTime::parse_from_rfc3339(rfc3339).expect("instant").naive_utc()
    }

    #[test]
    fn numbers_run_on_per_municipality_and_start_again_with_the_year_in_japan() {
        let dir = tempfile::tempdir().expect("dir");
        let db = Db::connect(DatabaseLocation::Sqlite(dir.path().join("numbers.sqlite3")), 1, 1_000).expect("db");
        db.migrate().expect("migrations");
        let mut conn = db.get().expect("connection");
        let last_second = at("2026-12-31T23:59:59+09:00");
        assert_eq!(take(&mut conn, "131016", last_second).expect("number"), "2026-000001");
        assert_eq!(take(&mut conn, "131016", last_second).expect("number"), "2026-000002");
        assert_eq!(take(&mut conn, "271004", last_second).expect("number"), "2026-000001", "each municipality its own");
        // 00:00 on 1 January in Japan is still 31 December in UTC: the year is Japan's.
        let new_year = at("2027-01-01T00:00:00+09:00");
        assert_eq!(take(&mut conn, "131016", new_year).expect("number"), "2027-000001");
        assert_eq!(take(&mut conn, "131016", last_second).expect("number"), "2026-000003", "a year's count goes on");
    }

    #[test]
    fn a_number_reads_year_dash_six_digits() {
        assert_eq!(super::format(2026, 123), "2026-000123");
        assert_eq!(super::format(2027, 1), "2027-000001");
        assert_eq!(super::format(2026, 1_234_567), "2026-1234567", "a seventh digit rather than a wrong number");
    }
}
