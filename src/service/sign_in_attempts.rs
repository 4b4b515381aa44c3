//! 試行制限: how many wrong guesses a console login may take from one client address. The table
//! `sign_in_attempts` is this module's alone.
//!
//! A guess is counted *before* its password is checked, in one row update (a reservation), so
//! guesses that arrive together cannot all slip past the count: at most [`LOCK_AFTER_FAILURES`]
//! are ever checked per lock period and pair, however many are in flight. A right guess gives
//! its reservation back (the row is removed).
//!
//! The count is per login *and* client address: a lock slows the client that guessed, not the
//! account's owner at their own desk, and the same rule applies whether the login exists or not,
//! so that the answers (status, delay, lock) say nothing about which logins are real. Neither
//! the login typed nor the address is stored: only their digests.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::crypto::sha256_hex;
use crate::db::schema::sign_in_attempts;
use crate::db::DbConnection;
use crate::error::Error;

/// Wrong guesses from one client before the pair locks.
pub const LOCK_AFTER_FAILURES: i32 = 5;
/// How long a pair stays locked; also how long a run of failures is remembered.
pub const LOCK_MINUTES: i64 = 15;

/// A login typed from a client address: the guesses counted together.
#[derive(Clone, Debug)]
pub struct Attempt {
    id: String,
    login_digest: String,
}

impl Attempt {
    pub fn new(login: &str, client: &str) -> Self {
        Attempt { id: sha256_hex(&format!("{login}\n{client}")), login_digest: login_digest(login) }
    }
}

fn login_digest(login: &str) -> String {
    sha256_hex(login)
}

/// What the count allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// The guess may be checked; should it be wrong it is the `nth` failure in a row.
    Granted { nth: i32 },
    /// Too many failures from this client: nothing is checked until then.
    Locked { until: NaiveDateTime },
}

/// A pair's count as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Queryable)]
struct Count {
    failures: i32,
    locked_until: Option<NaiveDateTime>,
    updated_at: NaiveDateTime,
}

/// The rule, on its own: the count before a guess → what is allowed and the count after it.
fn reserve_from(count: Option<Count>, now: NaiveDateTime) -> (Reservation, Count) {
    let period = Duration::minutes(LOCK_MINUTES);
    let fresh = Count { failures: 0, locked_until: None, updated_at: now };
    let count = match count {
        Some(c) if c.locked_until.is_some_and(|until| until > now) => {
            return (Reservation::Locked { until: c.locked_until.unwrap_or(now) }, c);
        }
        // A lock that ran out, or failures older than a lock period, are forgotten.
        Some(c) if c.locked_until.is_some() || c.updated_at + period <= now => fresh,
        Some(c) => c,
        None => fresh,
    };
    if count.failures >= LOCK_AFTER_FAILURES {
        let until = now + period;
        return (Reservation::Locked { until }, Count { locked_until: Some(until), updated_at: now, ..count });
    }
    let nth = count.failures + 1;
    // The guess that reaches the limit is still checked, but the pair is locked from now on:
    // guesses behind it are refused without waiting for its answer.
    let locked_until = (nth >= LOCK_AFTER_FAILURES).then(|| now + period);
    (Reservation::Granted { nth }, Count { failures: nth, locked_until, updated_at: now })
}

/// Counts a guess before it is checked, in the caller's write transaction.
pub fn reserve(conn: &mut DbConnection, attempt: &Attempt, now: NaiveDateTime) -> Result<Reservation, Error> {
    let current = sign_in_attempts::table.find(&attempt.id).select((
        sign_in_attempts::failures,
        sign_in_attempts::locked_until,
        sign_in_attempts::updated_at,
    ));
    let count: Option<Count> = match conn {
        // The write transaction began IMMEDIATE: no other writer reads this row before we commit.
        DbConnection::Sqlite(c) => current.first(c).optional()?,
        // Guesses in flight together queue on the row's lock, each reading the count the one
        // before it left.
        DbConnection::Postgresql(c) => {
            diesel::insert_into(sign_in_attempts::table)
                .values((
                    sign_in_attempts::id.eq(&attempt.id),
                    sign_in_attempts::login_digest.eq(&attempt.login_digest),
                    sign_in_attempts::failures.eq(0),
                    sign_in_attempts::updated_at.eq(now),
                ))
                .on_conflict_do_nothing()
                .execute(c)?;
            current.for_update().first(c).optional()?
        }
    };
    let existed = count.is_some();
    let (reservation, after) = reserve_from(count, now);
    let values = (
        sign_in_attempts::failures.eq(after.failures),
        sign_in_attempts::locked_until.eq(after.locked_until),
        sign_in_attempts::updated_at.eq(after.updated_at),
    );
    if existed {
        diesel::update(sign_in_attempts::table.find(&attempt.id)).set(values).execute(conn)?;
    } else {
        diesel::insert_into(sign_in_attempts::table)
            .values((
                sign_in_attempts::id.eq(&attempt.id),
                sign_in_attempts::login_digest.eq(&attempt.login_digest),
                values,
            ))
            .execute(conn)?;
    }
    Ok(reservation)
}

/// A right guess: the pair's count starts again.
pub fn clear(conn: &mut DbConnection, attempt: &Attempt) -> Result<(), Error> {
    diesel::delete(sign_in_attempts::table.find(&attempt.id)).execute(conn)?;
    Ok(())
}

/// The administrator's unlock: every client's count for the login starts again. Returns how
/// many clients were locked.
pub fn unlock(conn: &mut DbConnection, login: &str, now: NaiveDateTime) -> Result<usize, Error> {
    let locked = locked_clients(conn, login, now)?;
    diesel::delete(sign_in_attempts::table.filter(sign_in_attempts::login_digest.eq(login_digest(login))))
        .execute(conn)?;
    Ok(locked as usize)
}

/// How many client addresses are locked out of the login now.
pub fn locked_clients(conn: &mut DbConnection, login: &str, now: NaiveDateTime) -> Result<i64, Error> {
    Ok(sign_in_attempts::table
        .filter(sign_in_attempts::login_digest.eq(login_digest(login)))
        .filter(sign_in_attempts::locked_until.gt(now))
        .count()
        .get_result(conn)?)
}

/// Forgets counts that no longer matter (the daily purge): unlocked and idle for a lock period.
pub fn purge(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, Error> {
    let idle = now - Duration::minutes(LOCK_MINUTES);
    Ok(diesel::delete(
        sign_in_attempts::table
            .filter(sign_in_attempts::updated_at.le(idle))
            .filter(sign_in_attempts::locked_until.is_null().or(sign_in_attempts::locked_until.le(now))),
    )
    .execute(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 12, 1).and_then(|d| d.and_hms_opt(3, 0, 0)).expect("instant")
            + Duration::minutes(minute)
    }

    #[test]
    fn five_guesses_are_checked_then_the_pair_locks_for_fifteen_minutes() {
        let mut count = None;
        for nth in 1..=5 {
            let (reservation, after) = reserve_from(count, at(0));
            assert_eq!(reservation, Reservation::Granted { nth });
            count = Some(after);
        }
        assert_eq!(count.and_then(|c| c.locked_until), Some(at(15)), "locked as the fifth is reserved");
        let (sixth, _) = reserve_from(count, at(1));
        assert_eq!(sixth, Reservation::Locked { until: at(15) });
        let (after_lock, _) = reserve_from(count, at(15));
        assert_eq!(after_lock, Reservation::Granted { nth: 1 }, "a lock that ran out is forgotten");
    }

    #[test]
    fn failures_older_than_a_lock_period_are_forgotten() {
        let (_, once) = reserve_from(None, at(0));
        let (_, twice) = reserve_from(Some(once), at(10));
        assert_eq!(reserve_from(Some(twice), at(20)).0, Reservation::Granted { nth: 3 }, "10 minutes apart: a run");
        assert_eq!(reserve_from(Some(twice), at(25)).0, Reservation::Granted { nth: 1 }, "15 idle minutes: forgotten");
    }

    #[test]
    fn pairs_differ_by_client_and_login_and_keep_neither_in_clear() {
        let a = Attempt::new("sato", "192.0.2.1");
        assert_ne!(a.id, Attempt::new("sato", "192.0.2.2").id);
        assert_ne!(a.id, Attempt::new("suzuki", "192.0.2.1").id);
        assert_eq!(a.login_digest, Attempt::new("sato", "192.0.2.2").login_digest);
        assert!(!a.id.contains("sato") && !a.login_digest.contains("sato"));
    }
}
