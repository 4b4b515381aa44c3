//! 送信の記録: a sent notice reaches its audience a batch of families at a time, each batch in a
//! transaction of its own, so that a notice to a million families never holds the database's
//! write lock for more than one batch. Its `notice_recordings` row, written when it is taken for
//! sending, keeps where it got to (`recorded_until`: the families are walked in id order) and
//! who is recording it (`owner`, under a lease that each batch renews). A batch records its families and moves the cursor in one
//! transaction: after a crash the next owner starts where the last committed batch ended, so no
//! family is skipped and none is recorded twice. A recording whose owner stopped (a killed
//! process) is taken over when its lease runs out.

use std::sync::Arc;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::audience::recipients_after;
use super::lifecycle::find_by_id;
use super::send::deliver;
use super::view;
use crate::clock::Clock;
use crate::db::schema::{notice_recipients, notice_recordings};
use crate::db::{Db, DbConnection};
use crate::domain::planner::PlanningContext;
use crate::error::Error;
use crate::service::{municipalities, new_id};
use crate::templates::Templates;

/// Families read per batch: about 75 ms of writing on SQLite on a small machine, well under the
/// 200 ms a write transaction may take.
pub const RECORDING_BATCH: i64 = 1_000;

/// What one batch did.
#[derive(Debug, PartialEq, Eq)]
pub enum Batch {
    /// This many families recorded; more remain.
    More(usize),
    /// This many recorded, and the notice has reached its whole audience.
    Done(usize),
    /// Another owner has the recording (or it is finished): this one stops.
    NotMine,
}

/// What the recorder needs: the database, the words, the catalog (for the municipality's name),
/// the clock, and how long a lease lasts.
#[derive(Clone)]
pub struct Recorder {
    pub db: Db,
    pub templates: Arc<Templates>,
    pub planning: Arc<PlanningContext>,
    pub clock: Clock,
    pub lease: Duration,
}

/// Starts the recording of a notice just taken for sending (its own transaction, so it is
/// never taken without one).
pub(super) fn start(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> Result<(), Error> {
    diesel::insert_into(notice_recordings::table)
        .values((notice_recordings::notice_id.eq(id), notice_recordings::started_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

/// Takes the recording of notice `id` for `owner` when it is unfinished, and either unowned or
/// its owner's lease has run out.
pub fn claim(
    conn: &mut DbConnection,
    id: &str,
    owner: &str,
    now: NaiveDateTime,
    lease: Duration,
) -> Result<bool, Error> {
    let claimed = diesel::update(
        notice_recordings::table
            .find(id)
            .filter(notice_recordings::done_at.is_null())
            .filter(notice_recordings::lease_until.is_null().or(notice_recordings::lease_until.lt(now))),
    )
    .set((notice_recordings::owner.eq(Some(owner)), notice_recordings::lease_until.eq(Some(now + lease))))
    .execute(conn)?;
    Ok(claimed == 1)
}

/// A notice whose recording is unfinished and free to take (unowned, or its lease ran out).
pub fn unfinished(conn: &mut DbConnection, now: NaiveDateTime) -> Result<Option<String>, Error> {
    Ok(notice_recordings::table
        .filter(notice_recordings::done_at.is_null())
        .filter(notice_recordings::lease_until.is_null().or(notice_recordings::lease_until.lt(now)))
        .order(notice_recordings::started_at.asc())
        .select(notice_recordings::notice_id)
        .first(conn)
        .optional()?)
}

/// Records the next batch of notice `id`'s audience, as `owner`, in the caller's transaction.
pub fn record_batch(
    conn: &mut DbConnection,
    recorder: &Recorder,
    id: &str,
    owner: &str,
    limit: i64,
) -> Result<Batch, Error> {
    let (today, now) = (recorder.clock.today(), recorder.clock.now());
    // First statement of the transaction, so the recording's row is this batch's (PostgreSQL
    // locks it; SQLite's write lock covers the whole transaction): a second owner waits, then
    // finds the lease renewed and stops.
    let mine = notice_recordings::table
        .find(id)
        .filter(notice_recordings::owner.eq(owner))
        .filter(notice_recordings::done_at.is_null());
    let renewed =
        diesel::update(mine).set(notice_recordings::lease_until.eq(Some(now + recorder.lease))).execute(conn)?;
    if renewed == 0 {
        return Ok(Batch::NotMine);
    }
    let after: Option<String> =
        notice_recordings::table.find(id).select(notice_recordings::recorded_until).first(conn)?;
    let row = find_by_id(conn, id)?;
    let name = municipalities::display_name(conn, &recorder.planning, &row.municipality_code)?;
    let notice = view(row)?;
    let page = recipients_after(
        conn,
        &notice.municipality_code,
        &notice.audience,
        today,
        after.as_deref().unwrap_or_default(),
        limit,
    )?;
    // A family that moved in meanwhile may have had this standing notice already.
    let ids: Vec<&str> = page.families.iter().map(|f| f.id.as_str()).collect();
    let had: std::collections::HashSet<String> = notice_recipients::table
        .filter(notice_recipients::notice_id.eq(id))
        .filter(notice_recipients::family_id.eq_any(&ids))
        .select(notice_recipients::family_id)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    let mut recorded = 0;
    for family in page.families.iter().filter(|f| !had.contains(&f.id)) {
        deliver(conn, &recorder.templates, &notice, &name, family, now)?;
        recorded += 1;
    }
    let cursor = page.last_read.or(after);
    if page.read < limit as usize {
        diesel::update(notice_recordings::table.find(id))
            .set((
                notice_recordings::recorded_until.eq(cursor),
                notice_recordings::done_at.eq(Some(now)),
                notice_recordings::owner.eq(None::<String>),
                notice_recordings::lease_until.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?;
        Ok(Batch::Done(recorded))
    } else {
        diesel::update(notice_recordings::table.find(id))
            .set(notice_recordings::recorded_until.eq(cursor))
            .execute(conn)?;
        Ok(Batch::More(recorded))
    }
}

impl Recorder {
    /// Records notice `id` to the end if this process can take it, a batch per transaction.
    /// Returns the families recorded here (0 when another process has it).
    pub async fn record(&self, id: &str) -> Result<usize, Error> {
        let owner = new_id();
        let (claim_id, claim_owner, now, lease) = (id.to_owned(), owner.clone(), self.clock.now(), self.lease);
        if !self.db.write(move |conn| claim(conn, &claim_id, &claim_owner, now, lease)).await? {
            return Ok(0);
        }
        self.record_claimed(id, &owner).await
    }

    async fn record_claimed(&self, id: &str, owner: &str) -> Result<usize, Error> {
        let mut total = 0;
        loop {
            let (recorder, id, owner) = (self.clone(), id.to_owned(), owner.to_owned());
            let batch = self.db.write(move |conn| record_batch(conn, &recorder, &id, &owner, RECORDING_BATCH)).await?;
            match batch {
                Batch::More(n) => total += n,
                Batch::Done(n) => return Ok(total + n),
                Batch::NotMine => return Ok(total),
            }
        }
    }

    /// Finishes every recording left unfinished (its process stopped, or it was never taken),
    /// one notice at a time. Returns the families recorded.
    pub async fn resume(&self) -> Result<usize, Error> {
        let (mut total, mut seen) = (0, std::collections::HashSet::new());
        loop {
            let now = self.clock.now();
            let Some(id) = self.db.read(move |conn| unfinished(conn, now)).await? else { return Ok(total) };
            // One look at each: a notice another process took meanwhile is theirs to finish.
            if !seen.insert(id.clone()) {
                return Ok(total);
            }
            total += self.record(&id).await?;
        }
    }
}
