//! 冪等キー (`Idempotency-Key`): a POST retried with the same key and the same body gets the
//! first answer again instead of acting twice. The table `idempotency_keys` is this module's
//! alone.
//!
//! A key is claimed by inserting its row before the request runs, so of two requests with one
//! key that arrive together, one inserts and runs, the other finds the row: the act happens once.
//! A successful answer is kept (sealed) for [`KEEP_HOURS`]; any other answer gives the key back,
//! since nothing was done and the caller may correct the body and retry with the same key.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::crypto::{sha256_hex, KeyRing};
use crate::db::schema::idempotency_keys;
use crate::db::{sealed, DbConnection};
use crate::error::Error;

/// How long a first answer is replayed.
pub const KEEP_HOURS: i64 = 24;
/// A first request still unanswered after this long is taken to have died with its process (a
/// request ends within the shutdown grace period, 30 s by default): its key may be claimed again.
pub const ABANDONED_AFTER_SECONDS: i64 = 120;
/// The longest key taken.
pub const MAX_KEY_LENGTH: usize = 255;

/// A key as claimed: who uses it, and what it was first used for.
pub struct Claim {
    id: String,
    request_digest: String,
}

impl Claim {
    /// `credential` is the caller's secret (only its digest is used), `key` the header's value,
    /// `request` the method, path and body the key stands for.
    pub fn new(credential: &str, key: &str, request: &[u8]) -> Self {
        let id = sha256_hex(&format!("{}\n{key}", sha256_hex(credential)));
        let request_digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(request));
        Self { id, request_digest }
    }
}

/// What a claim found.
#[derive(Debug, PartialEq, Eq)]
pub enum Claimed {
    /// The key is the caller's to use now: run the request, then [`keep`] or [`give_back`].
    Fresh,
    /// The first answer, to send again.
    Replay { status: u16, body: Option<String> },
    /// The first request with this key is still running.
    InUse,
    /// The key was first used for another request.
    OtherRequest,
}

#[derive(Queryable)]
struct Row {
    request_digest: String,
    status: Option<i32>,
    response: Option<String>,
    created_at: NaiveDateTime,
}

/// Claims `claim` for a request starting `now`.
pub fn claim(conn: &mut DbConnection, keys: &KeyRing, claim: &Claim, now: NaiveDateTime) -> Result<Claimed, Error> {
    let row = (
        idempotency_keys::id.eq(&claim.id),
        idempotency_keys::request_digest.eq(&claim.request_digest),
        idempotency_keys::created_at.eq(now),
    );
    let inserted = match conn {
        // Each PostgreSQL request waits on the other's uncommitted row, then inserts nothing.
        DbConnection::Postgresql(c) => {
            diesel::insert_into(idempotency_keys::table).values(row).on_conflict_do_nothing().execute(c)?
        }
        // SQLite's write transactions begin IMMEDIATE: no other writer looks between these two.
        DbConnection::Sqlite(c) => match idempotency_keys::table.find(&claim.id).count().get_result::<i64>(c)? {
            0 => diesel::insert_into(idempotency_keys::table).values(row).execute(c)?,
            _ => 0,
        },
    };
    if inserted == 1 {
        return Ok(Claimed::Fresh);
    }
    let row: Row = idempotency_keys::table
        .find(&claim.id)
        .select((
            idempotency_keys::request_digest,
            idempotency_keys::status,
            idempotency_keys::response,
            idempotency_keys::created_at,
        ))
        .first(conn)?;
    let expired = row.created_at <= now - Duration::hours(KEEP_HOURS);
    let abandoned = row.status.is_none() && row.created_at <= now - Duration::seconds(ABANDONED_AFTER_SECONDS);
    if expired || abandoned {
        // Taken over only if no one else took it over meanwhile (the row is still as read).
        let taken = diesel::update(
            idempotency_keys::table.find(&claim.id).filter(idempotency_keys::created_at.eq(row.created_at)),
        )
        .set((
            idempotency_keys::request_digest.eq(&claim.request_digest),
            idempotency_keys::status.eq(None::<i32>),
            idempotency_keys::response.eq(None::<String>),
            idempotency_keys::created_at.eq(now),
        ))
        .execute(conn)?;
        return Ok(if taken == 1 { Claimed::Fresh } else { Claimed::InUse });
    }
    if row.request_digest != claim.request_digest {
        return Ok(Claimed::OtherRequest);
    }
    match row.status {
        None => Ok(Claimed::InUse),
        Some(status) => Ok(Claimed::Replay {
            status: u16::try_from(status).map_err(|_| Error::internal("idempotency_keys.status out of range"))?,
            body: keys.open_opt(sealed::IDEMPOTENCY_KEYS_RESPONSE, row.response.as_deref())?,
        }),
    }
}

/// Keeps the answer to a claimed key, for its retries.
pub fn keep(
    conn: &mut DbConnection,
    keys: &KeyRing,
    claim: &Claim,
    status: u16,
    body: Option<&str>,
) -> Result<(), Error> {
    diesel::update(idempotency_keys::table.find(&claim.id))
        .set((
            idempotency_keys::status.eq(Some(i32::from(status))),
            idempotency_keys::response.eq(keys.seal_opt(sealed::IDEMPOTENCY_KEYS_RESPONSE, body)?),
        ))
        .execute(conn)?;
    Ok(())
}

/// Gives a claimed key back: its request did nothing, so a retry runs afresh.
pub fn give_back(conn: &mut DbConnection, claim: &Claim) -> Result<(), Error> {
    diesel::delete(idempotency_keys::table.find(&claim.id).filter(idempotency_keys::status.is_null())).execute(conn)?;
    Ok(())
}

/// Removes keys older than [`KEEP_HOURS`] (the daily purge).
pub fn purge(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, Error> {
    Ok(diesel::delete(
        idempotency_keys::table.filter(idempotency_keys::created_at.le(now - Duration::hours(KEEP_HOURS))),
    )
    .execute(conn)?)
}
